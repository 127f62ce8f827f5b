/** Settings > Sessions: where this user is signed in, and "Sign out everywhere". */
import { html } from './html.js';
import { dateTimeCell, settingsPage } from './settings.js';

export interface SessionView {
  createdAt: Date;
  lastSeenAt: Date;
  endsAt: Date;
  current: boolean;
}

const hours = (ms: number) => {
  const h = ms / 3_600_000;
  return Number.isInteger(h) ? `${h} hour${h === 1 ? '' : 's'}` : `${Math.round(ms / 60_000)} minutes`;
};

export function sessionsPage(v: { user: { email: string }; csrfToken: string; sessions: SessionView[]; idleMs: number; lifetimeMs: number }): string {
  const others = v.sessions.filter((s) => !s.current).length;
  return settingsPage(
    { title: 'Sessions', tab: 'sessions', user: v.user, csrfToken: v.csrfToken },
    html`<h1>Sessions</h1>
<section class="card" aria-labelledby="sessions-title">
  <h2 id="sessions-title">Signed-in browsers</h2>
  <p id="sessions-summary">You are signed in on ${v.sessions.length} browser${v.sessions.length === 1 ? '' : 's'}${others ? html` (this one and ${others} other${others === 1 ? '' : 's'})` : ''}.
  A session ends after ${hours(v.idleMs)} without activity, and ${hours(v.lifetimeMs)} after signing in at the latest.</p>
  <div class="table-scroll" role="region" aria-labelledby="sessions-title" tabindex="0">
  <table class="audit" id="sessions-table">
    <thead><tr><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col">Ends at the latest</th><th scope="col"></th></tr></thead>
    <tbody>
    ${v.sessions.map(
      (s) => html`<tr><td>${dateTimeCell(s.createdAt)}</td><td>${dateTimeCell(s.lastSeenAt)}</td><td>${dateTimeCell(s.endsAt)}</td><td>${s.current ? 'this browser' : ''}</td></tr>`,
    )}
    </tbody>
  </table>
  </div>
</section>
<section class="card" aria-labelledby="everywhere-title">
  <h2 id="everywhere-title">Sign out everywhere</h2>
  <p>Ends every session of ${v.user.email}, on every browser, this one included. Your API keys keep working; disable them under API Keys.</p>
  <form method="post" action="/logout/everywhere">
    <input type="hidden" name="csrf" value="${v.csrfToken}">
    <button type="submit" class="danger" id="sign-out-everywhere">Sign out everywhere</button>
  </form>
</section>`,
  );
}
