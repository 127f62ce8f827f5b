/** Settings > Audit log: the signed-in user's rows (gateway requests, key actions, sign-ins), newest first. */
import type { AuditRow } from '../store/store.js';
import { html, type SafeHtml } from './html.js';
import { settingsPage } from './settings.js';

export interface AuditView {
  user: { email: string };
  csrfToken: string;
  rows: AuditRow[];
  /** Names of the user's current keys, to label the key column. */
  keyNames: Map<string, string>;
  limit: number;
}

const dash = html`<span class="muted" aria-label="none">–</span>`;

function cell(value: string | number | null | undefined): SafeHtml | string {
  return value === null || value === undefined || value === '' ? dash : String(value);
}

/** Date over time, to keep the column narrow. */
function timeCell(d: Date): SafeHtml {
  const iso = d.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)}<br>${iso.slice(11, 19)}</time>`;
}

function tokens(row: AuditRow): SafeHtml | string {
  if (row.input_tokens === null && row.output_tokens === null) return dash;
  return `${row.input_tokens ?? '?'} in / ${row.output_tokens ?? '?'} out`;
}

function keyCell(keyId: string | null, names: Map<string, string>): SafeHtml | string {
  if (!keyId) return dash;
  const name = names.get(keyId);
  return html`<code>${keyId}</code>${name ? html`<br><span class="muted">${name}</span>` : ''}`;
}

export function auditPage(v: AuditView): string {
  const rows = v.rows.map(
    (r) => html`<tr data-action="${r.action}" data-kind="${r.kind}">
  <td>${timeCell(r.at)}</td>
  <td>${r.action}<br><span class="muted">${r.kind}</span></td>
  <td class="wrap">${keyCell(r.key_id, v.keyNames)}</td>
  <td class="wrap">${r.session_id ? html`<code>${r.session_id}</code>` : dash}</td>
  <td>${cell(r.method)}</td>
  <td class="wrap">${r.path ? html`<code>${r.path}</code>` : dash}</td>
  <td>${cell(r.model)}</td>
  <td class="num">${cell(r.status)}</td>
  <td class="num">${r.latency_ms === null ? dash : `${r.latency_ms < 10 ? r.latency_ms.toFixed(1) : Math.round(r.latency_ms)} ms`}</td>
  <td class="num">${tokens(r)}</td>
</tr>`,
  );
  return settingsPage(
    { title: 'Audit log', tab: 'audit', user: v.user, csrfToken: v.csrfToken, wide: true },
    html`<h1>Audit log</h1>
<p class="muted">Requests made with your keys and actions on your account, newest first${v.rows.length >= v.limit ? html` (the latest ${v.limit})` : ''}. Times are UTC. Prompts and secrets are never recorded.</p>
${
  v.rows.length === 0
    ? html`<div class="card" id="audit-empty"><p>Nothing recorded yet.</p></div>`
    : html`<div class="table-scroll" role="region" aria-labelledby="audit-caption" tabindex="0">
<table class="audit" id="audit-table">
  <caption id="audit-caption" class="sr-only">Audit log for ${v.user.email}</caption>
  <thead><tr>
    <th scope="col">Time</th><th scope="col">Action</th><th scope="col">Key</th><th scope="col">Session ID</th>
    <th scope="col">Method</th><th scope="col">Path</th><th scope="col">Model</th>
    <th scope="col" class="num">Status</th><th scope="col" class="num">Latency</th><th scope="col" class="num">Tokens</th>
  </tr></thead>
  <tbody>
${rows}
  </tbody>
</table>
</div>`
}`,
  );
}
