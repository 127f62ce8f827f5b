/** Web sessions: one per browser, an idle timeout and an absolute lifetime, and "sign out everywhere". */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../src/config.js';
import { Browser, startTestServer, type TestServer } from './helpers/app.js';

const HOUR = 60 * 60 * 1000;
const CONSENT = `/cli-auth?mode=code&code_challenge=${'c'.repeat(43)}&code_challenge_method=S256`;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** 200 while the browser's session is alive, 302 to /login once it has ended. */
const status = async (browser: Browser) => (await browser.request(CONSENT)).status;

/** Moves the server clock, runs `fn`, and moves it back. */
async function later<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  server.advance(ms);
  try {
    return await fn();
  } finally {
    server.advance(-ms);
  }
}

describe('sessions', () => {
  it('defaults: 2 hours idle, 12 hours at most; both configurable from the environment', () => {
    const defaults = makeConfig({}, {});
    expect(defaults.sessionIdleMs).toBe(2 * HOUR);
    expect(defaults.sessionTtlMs).toBe(12 * HOUR);
    const tuned = makeConfig({}, { THIRDLOOP_SESSION_IDLE_MINUTES: '30', THIRDLOOP_SESSION_LIFETIME_MINUTES: '480' });
    expect(tuned.sessionIdleMs).toBe(30 * 60 * 1000);
    expect(tuned.sessionTtlMs).toBe(8 * HOUR);
  });

  it('signing in again ends the previous session of that browser', async () => {
    const [ada, bob] = [await server.addUser(), await server.addUser()];
    const browser = new Browser(server.url);
    // Two login tabs: the first signs in as Ada, then the second, still open, as Bob.
    const tab = Browser.csrf((await browser.get('/login')).html);
    await browser.signIn(ada.email, ada.password);
    const first = browser.cookieHeader();
    const again = await browser.request('/login', { method: 'POST', form: { csrf: tab, email: bob.email, password: bob.password, next: '/' } });
    expect(again.status).toBe(303);
    expect(browser.cookieHeader()).not.toBe(first);
    // The first cookie, replayed (copied before the second sign-in), no longer works.
    const replay = await fetch(server.url + CONSENT, { headers: { cookie: first }, redirect: 'manual' });
    expect(replay.status).toBe(302);
    expect(await status(browser)).toBe(200);
    expect((await server.store.sessions.listForUser(ada.id, server.now())).length).toBe(0);
  });

  it('a session unused for the idle timeout ends; one in use lasts until its absolute end', async () => {
    const user = await server.addUser();
    const idle = new Browser(server.url);
    const busy = new Browser(server.url);
    await idle.signIn(user.email, user.password);
    await busy.signIn(user.email, user.password);
    expect(await later(2 * HOUR - 60_000, () => status(idle))).toBe(200);
    // 2 h without a request: over.
    expect(await later(2 * HOUR - 60_000 + 2 * HOUR + 1000, () => status(idle))).toBe(302);

    // A request every 90 minutes keeps a session alive, up to 12 hours after sign-in.
    for (let t = 1.5 * HOUR; t < 12 * HOUR; t += 1.5 * HOUR) {
      expect(await later(t, () => status(busy)), `after ${t / HOUR} h`).toBe(200);
    }
    expect(await later(12 * HOUR + 1000, () => status(busy))).toBe(302);
  });

  it('Settings > Sessions lists the browsers; Sign out everywhere ends all of them, API keys untouched', async () => {
    const user = await server.addUser();
    const { credential } = await server.mintKey(user.id);
    const [laptop, phone, tablet] = [new Browser(server.url), new Browser(server.url), new Browser(server.url)];
    for (const b of [laptop, phone, tablet]) await b.signIn(user.email, user.password);
    const other = await server.addUser();
    const bystander = new Browser(server.url);
    await bystander.signIn(other.email, other.password);

    const { res, html } = await laptop.get('/settings/sessions');
    expect(res.status).toBe(200);
    expect(html).toContain('You are signed in on 3 browsers (this one and 2 others).');
    expect(html).toContain('A session ends after 2 hours without activity, and 12 hours after signing in at the latest.');
    expect(html.match(/<tr><td>/g)).toHaveLength(3);
    expect(html).toContain('this browser');

    // A forged form does nothing.
    expect((await phone.request('/logout/everywhere', { method: 'POST', form: { csrf: 'forged' } })).status).toBe(403);
    expect(await status(tablet)).toBe(200);

    const out = await phone.request('/logout/everywhere', { method: 'POST', form: { csrf: Browser.csrf(html.replace(/[\s\S]*action="\/logout\/everywhere"/, '')) } });
    // The laptop's token is the session's own: the phone's page carries its own token.
    expect(out.status).toBe(403);
    const phonePage = await phone.get('/settings/sessions');
    const done = await phone.request('/logout/everywhere', { method: 'POST', form: { csrf: Browser.csrf(phonePage.html) } });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/login');
    for (const b of [laptop, phone, tablet]) expect(await status(b)).toBe(302);
    expect(await status(bystander)).toBe(200);
    expect((await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': credential } })).status).toBe(200);
    const audit = await server.store.audit.list({ userId: user.id });
    expect(audit[0]).toMatchObject({ action: 'sign-out-everywhere', kind: 'auth', status: 303 });
  });
});
