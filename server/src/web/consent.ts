/** The CLI consent page (GET/POST /cli-auth) and its outcomes. */
import { ACTIVE_KEY_LIMIT, allowedActions, type KeyStatus } from '../domain/keys.js';
import { html } from './html.js';
import { page } from './layout.js';

export interface ConsentKey {
  id: string;
  name: string;
  status: KeyStatus;
  expiresAt: string;
}

export interface ConsentView {
  user: { email: string };
  csrfToken: string;
  /** Hidden fields that carry the request through the POST. */
  fields: Record<string, string>;
  /** The current consent URL, to come back to after a key action. */
  returnTo: string;
  keyName: string;
  expiresInDays: number;
  expiresOn: string;
  machine: string | null;
  activeCount: number;
  replaces: { id: string; name: string } | null;
  /** The request named a key to replace that does not exist (any more). */
  replacesMissing: string | null;
  atLimit: boolean;
  keys: ConsentKey[];
  error?: string;
}

export function consentPage(v: ConsentView): string {
  const hidden = Object.entries(v.fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
  const keyList = v.atLimit
    ? html`<section class="card" aria-labelledby="limit-title">
  <h2 id="limit-title">You are at the limit of ${ACTIVE_KEY_LIMIT} active keys</h2>
  <p>Disable or delete a key to make room, then approve.</p>
  <ul class="keys">
    ${v.keys.map(
      (k) => html`<li>
      <span><strong>${k.name}</strong> <code>${k.id}</code> <span class="badge ${k.status}">${k.status}</span></span>
      <span>
        ${allowedActions(k.status)
          .filter((a): a is 'disable' | 'delete' => a === 'disable' || a === 'delete')
          .map(
            (action) => html`<form method="post" action="/cli-auth/keys/${encodeURIComponent(k.id)}/${action}">
          <input type="hidden" name="csrf" value="${v.csrfToken}">
          <input type="hidden" name="return_to" value="${v.returnTo}">
          <button type="submit" class="${action === 'delete' ? 'danger' : ''}" aria-label="${action === 'delete' ? 'Delete' : 'Disable'} ${k.name}">${action === 'delete' ? 'Delete' : 'Disable'}</button>
        </form>`,
          )}
      </span>
    </li>`,
    )}
  </ul>
</section>`
    : '';
  return page(
    { title: 'Authorize the CLI', user: v.user, csrfToken: v.csrfToken },
    html`<div class="card">
  <h1>Authorize the thirdloop CLI?</h1>
  <p>The <code>thirdloop</code> command-line tool asks for a new API key for <strong>${v.user.email}</strong>.
  Approve only if you just ran <code>thirdloop auth</code> yourself.</p>
  ${v.error ? html`<p class="error" role="alert" id="consent-error">${v.error}</p>` : ''}
  <dl class="facts">
    <dt>Expires</dt><dd id="consent-expiry">in ${v.expiresInDays} days (${v.expiresOn})</dd>
    <dt>Active keys</dt><dd id="consent-active-count">${v.activeCount} / ${ACTIVE_KEY_LIMIT} active keys</dd>
    ${v.replaces ? html`<dt>Replaces</dt><dd id="consent-replaces">${v.replaces.name} (<code>${v.replaces.id}</code>), deleted when the new key is issued</dd>` : ''}
  </dl>
  <h2 class="reported-title" id="consent-reported">Reported by the requesting computer</h2>
  <p class="muted">Whatever computer opened this page chose these words; Third Loop cannot check them.</p>
  <dl class="facts reported" aria-labelledby="consent-reported">
    <dt>Key name</dt><dd><bdi id="consent-key-name">${v.keyName}</bdi> <span class="muted">(reported by the requesting computer)</span></dd>
    <dt>Machine</dt><dd>${v.machine ? html`<bdi id="consent-machine">${v.machine}</bdi> <span class="muted">(reported by the requesting computer)</span>` : html`<span id="consent-machine" class="muted">not given</span>`}</dd>
  </dl>
  ${v.replacesMissing ? html`<p class="notice">The key this machine used before (<code>${v.replacesMissing}</code>) no longer exists; nothing will be replaced.</p>` : ''}
</div>
${keyList}
<form method="post" action="/cli-auth" class="card">
  ${hidden}
  <input type="hidden" name="csrf" value="${v.csrfToken}">
  <p class="muted">${v.atLimit ? `Approve becomes available once you have fewer than ${ACTIVE_KEY_LIMIT} active keys.` : 'The secret goes straight to your terminal; this page never shows it.'}</p>
  <div class="actions">
    <button type="submit" name="decision" value="approve" class="primary"${v.atLimit ? html` disabled aria-disabled="true"` : ''}>Approve</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </div>
</form>`,
  );
}

export function codePage(options: { user: { email: string }; csrfToken: string; code: string; minutes: number }): string {
  return page(
    { title: 'Your one-time code', user: options.user, csrfToken: options.csrfToken },
    html`<div class="card">
  <h1>Approved</h1>
  <p>Type this code in the terminal where <code>thirdloop auth --no-browser</code> is waiting:</p>
  <p><code class="one-time-code" id="one-time-code">${options.code}</code></p>
  <p class="muted">Upper or lower case, with or without the dash. It works once and expires in ${options.minutes} minutes.</p>
</div>`,
  );
}

export function deniedPage(options: { user: { email: string }; csrfToken: string }): string {
  return page(
    { title: 'Request denied', user: options.user, csrfToken: options.csrfToken },
    html`<div class="card"><h1>Request denied</h1><p id="cli-auth-denied">No key was created. You can close this window.</p></div>`,
  );
}

export function consentErrorPage(message: string, user?: { email: string }, csrfToken?: string): string {
  return page(
    { title: 'Cannot authorize', ...(user ? { user } : {}), ...(csrfToken ? { csrfToken } : {}) },
    html`<div class="card">
  <h1>This authorization request cannot be used</h1>
  <p class="error" role="alert" id="cli-auth-error">${message}</p>
  <p>Run <code>thirdloop auth</code> again from your terminal.</p>
</div>`,
  );
}
