/** An audit entry as the `audit` table's columns hold it (both stores insert exactly this). */
import type { AuditInput } from './store.js';

export const auditRow = (e: AuditInput) => ({
  at: e.at.getTime(),
  user_id: e.user_id ?? null,
  key_id: e.key_id ?? null,
  session_id: e.session_id ?? null,
  kind: e.kind,
  action: e.action,
  method: e.method ?? null,
  path: e.path ?? null,
  model: e.model ?? null,
  status: e.status ?? null,
  latency_ms: e.latency_ms ?? null,
  input_tokens: e.input_tokens ?? null,
  output_tokens: e.output_tokens ?? null,
  source: e.source ?? null,
});
