/**
 * Settings > API Keys: the count, the Create button (disabled at the limit),
 * the once-only secret after creation, and one card per key whose menu holds
 * exactly the actions its status allows (domain/keys.ts decides which).
 */
import { ACTIVE_KEY_LIMIT, DEFAULT_EXPIRY_DAYS, EXPIRY_DAYS, NAME_MAX_LENGTH, STATUS_LABEL, allowedActions, type KeyStatus } from '../domain/keys.js';
import { html, type SafeHtml } from './html.js';
import { dateCell, dateTimeCell, settingsPage } from './settings.js';

export interface KeyCardView {
  id: string;
  name: string;
  status: KeyStatus;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date | null;
}

/** The result of a creation, rendered once and then forgotten. */
export interface CreatedKey {
  id: string;
  name: string;
  secret: string;
  credential: string;
}

interface Frame {
  user: { email: string };
  csrfToken: string;
}

export interface ApiKeysView extends Frame {
  keys: KeyCardView[];
  activeCount: number;
  /** What users put in ANTHROPIC_BASE_URL. */
  baseUrl: string;
  created?: CreatedKey;
  notice?: string;
  error?: string;
}

/** Menu actions on this page: the status table's, minus the CLI-only rotate/rename. */
type MenuAction = 'disable' | 'enable' | 'delete';
export function menuActions(status: KeyStatus): MenuAction[] {
  return allowedActions(status).filter((a): a is MenuAction => a === 'disable' || a === 'enable' || a === 'delete');
}

const atLimitReason = `You have ${ACTIVE_KEY_LIMIT} active keys, the limit. Disable or delete a key to create another.`;

function keyPath(id: string, action?: string): string {
  return `/settings/api-keys/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;
}

function copyField(id: string, label: string, value: string, note?: SafeHtml): SafeHtml {
  return html`<label for="${id}">${label}</label>
<div class="copy-row">
  <input id="${id}" type="text" readonly value="${value}" autocomplete="off" spellcheck="false"${note ? html` aria-describedby="${id}-note"` : ''}>
  <button type="button" data-copy="${id}" data-copy-name="${label}" aria-label="Copy ${label}" hidden>Copy</button>
</div>
${note ? html`<p class="muted" id="${id}-note">${note}</p>` : ''}`;
}

function createdCard(created: CreatedKey, baseUrl: string): SafeHtml {
  // Focused on arrival so a screen reader starts at the result, not at the top of the page.
  return html`<section class="card secret-card" id="created-key" aria-labelledby="created-title" aria-describedby="secret-warning" tabindex="-1" autofocus>
  <h2 id="created-title">API key “${created.name}” created</h2>
  <p class="warning" id="secret-warning">Copy the secret key now. It is shown only once: after you leave or reload this page, nobody can see it again, not even an administrator.</p>
  ${copyField('created-key-id', 'API Key ID', created.id)}
  ${copyField('created-secret', 'Secret Key', created.secret)}
  ${copyField(
    'created-credential',
    'ANTHROPIC_API_KEY',
    created.credential,
    html`The value for <code>ANTHROPIC_API_KEY</code> (<code>&lt;API Key ID&gt;;&lt;Secret Key&gt;</code>), with <code>ANTHROPIC_BASE_URL=${baseUrl}</code>. See <a href="/settings/about">About</a> for shell snippets.`,
  )}
  <p id="copy-status" class="sr-only" role="status" aria-live="polite"></p>
</section>`;
}

function keyCard(key: KeyCardView, csrfToken: string, atLimit: boolean): SafeHtml {
  const actions = menuActions(key.status);
  const dialogId = `confirm-delete-${key.id}`;
  const items = actions.map((action) => {
    if (action === 'delete') {
      return html`<li><a class="danger" href="${keyPath(key.id, 'delete')}" data-confirm="${dialogId}">Delete…</a></li>`;
    }
    const label = action === 'disable' ? 'Disable' : 'Enable';
    const blocked = action === 'enable' && atLimit;
    return html`<li><form method="post" action="${keyPath(key.id, action)}">
        <input type="hidden" name="csrf" value="${csrfToken}">
        <button type="submit"${blocked ? html` disabled aria-describedby="enable-hint-${key.id}"` : ''}>${label}</button>
      </form>${blocked ? html`<span class="hint" id="enable-hint-${key.id}">At the limit of ${ACTIVE_KEY_LIMIT} active keys: disable or delete one first.</span>` : ''}</li>`;
  });
  return html`<li class="card key-card" data-key-id="${key.id}">
  <div class="key-head">
    <div>
      <h2 id="key-name-${key.id}" class="key-name">${key.name}</h2>
      <span class="badge ${key.status}" data-status="${key.status}">${STATUS_LABEL[key.status]}</span>
    </div>
    <details class="menu">
      <summary aria-label="Actions for ${key.name}">Actions</summary>
      <ul class="menu-items">
        ${items}
      </ul>
    </details>
  </div>
  <dl class="facts">
    <dt>API Key ID</dt><dd><code class="key-id">${key.id}</code></dd>
    <dt>Created</dt><dd>${dateCell(key.createdAt)}</dd>
    <dt>${key.status === 'expired' ? 'Expired' : 'Expires'}</dt><dd>${dateCell(key.expiresAt)}</dd>
    <dt>Last used</dt><dd class="last-used">${key.lastUsedAt ? dateTimeCell(key.lastUsedAt) : 'Never used'}</dd>
  </dl>
  <dialog class="confirm" id="${dialogId}" aria-labelledby="${dialogId}-title">
    <h2 id="${dialogId}-title">Delete “${key.name}”?</h2>
    <p>Deleting is permanent. Every machine using <code>${key.id}</code> stops working at once.</p>
    <div class="actions">
      <form method="post" action="${keyPath(key.id, 'delete')}">
        <input type="hidden" name="csrf" value="${csrfToken}">
        <button type="submit" class="danger-fill">Delete key</button>
      </form>
      <form method="dialog"><button type="submit" data-cancel>Cancel</button></form>
    </div>
  </dialog>
</li>`;
}

export function apiKeysPage(v: ApiKeysView): string {
  const atLimit = v.activeCount >= ACTIVE_KEY_LIMIT;
  return settingsPage(
    { title: 'API Keys', tab: 'api-keys', user: v.user, csrfToken: v.csrfToken },
    html`<div class="page-head">
  <div>
    <h1>API Keys</h1>
    <p class="muted" id="active-count">${v.activeCount} / ${ACTIVE_KEY_LIMIT} active keys</p>
  </div>
  <form method="get" action="/settings/api-keys/new">
    <button type="submit" class="primary" id="create-key"${atLimit ? html` disabled aria-describedby="limit-reason"` : ''}>Create API Key</button>
  </form>
</div>
${atLimit ? html`<p class="notice limit-reason" id="limit-reason">${atLimitReason}</p>` : ''}
${v.error ? html`<p class="card flash error" role="alert" id="page-error">${v.error}</p>` : ''}
${v.notice ? html`<p class="card flash" role="status" id="page-notice">${v.notice}</p>` : ''}
${v.created ? createdCard(v.created, v.baseUrl) : ''}
${
  v.keys.length === 0
    ? html`<div class="card" id="no-keys"><p>You have no API keys yet.</p><p class="muted">Create one here, or run <code>npx thirdloop auth</code> on your machine.</p></div>`
    : html`<ul class="key-cards" aria-label="Your API keys">${v.keys.map((k) => keyCard(k, v.csrfToken, atLimit))}</ul>
<p class="muted" id="last-used-note">“Last used” is a key’s last model request (Claude Code, opencode or any other client of <code>/v1</code>); managing keys does not count.</p>`
}`,
  );
}

export interface NewKeyView extends Frame {
  activeCount: number;
  name?: string;
  expiresInDays?: number;
  error?: string;
}

export function newKeyPage(v: NewKeyView): string {
  const atLimit = v.activeCount >= ACTIVE_KEY_LIMIT;
  const chosen = v.expiresInDays ?? DEFAULT_EXPIRY_DAYS;
  return settingsPage(
    { title: 'Create API Key', tab: 'api-keys', user: v.user, csrfToken: v.csrfToken },
    html`<form method="post" action="/settings/api-keys" class="card" id="create-key-form" aria-labelledby="create-title" data-submit-once>
  <h1 id="create-title">Create API Key</h1>
  <p class="muted" id="active-count">${v.activeCount} / ${ACTIVE_KEY_LIMIT} active keys</p>
  ${v.error ? html`<p class="error" role="alert" id="form-error">${v.error}</p>` : ''}
  ${atLimit ? html`<p class="notice" id="limit-reason">${atLimitReason}</p>` : ''}
  <input type="hidden" name="csrf" value="${v.csrfToken}">
  <label for="key-name">Name</label>
  <input id="key-name" name="name" type="text" required maxlength="${NAME_MAX_LENGTH}" autocomplete="off" autofocus
    placeholder="e.g. work laptop" value="${v.name ?? ''}" aria-describedby="key-name-hint">
  <p class="muted" id="key-name-hint">Up to ${NAME_MAX_LENGTH} characters, so you can tell your keys apart.</p>
  <label for="key-expiry">Expires in</label>
  <select id="key-expiry" name="expires_in_days">
    ${EXPIRY_DAYS.map((d) => html`<option value="${d}"${d === chosen ? html` selected` : ''}>${d} days${d === DEFAULT_EXPIRY_DAYS ? ' (default)' : ''}</option>`)}
  </select>
  <div class="actions">
    <button type="submit" class="primary"${atLimit ? html` disabled aria-describedby="limit-reason"` : ''}>Create key</button>
    <a class="button" href="/settings/api-keys">Cancel</a>
  </div>
</form>`,
  );
}

/** The confirmation step without JavaScript (with it, a <dialog> on the keys page). */
export function confirmDeletePage(v: Frame & { key: KeyCardView }): string {
  return settingsPage(
    { title: 'Delete API Key', tab: 'api-keys', user: v.user, csrfToken: v.csrfToken },
    html`<div class="card" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <h1 id="confirm-title">Delete “${v.key.name}”?</h1>
  <p id="confirm-text">Deleting <code>${v.key.id}</code> is permanent. Every machine using it stops working at once.</p>
  <div class="actions">
    <form method="post" action="${keyPath(v.key.id, 'delete')}">
      <input type="hidden" name="csrf" value="${v.csrfToken}">
      <button type="submit" class="danger-fill">Delete key</button>
    </form>
    <a class="button" href="/settings/api-keys">Cancel</a>
  </div>
</div>`,
  );
}
