/** Is the instance there? GET /healthz (no credential); an instance without it still counts if it answers at all. */
import type { Api } from '../core/api.js';
import { ApiError } from '../core/http.js';
import { result, type CheckResult } from './types.js';

export async function checkInstance(api: Api, now: () => number = () => performance.now()): Promise<CheckResult> {
  const started = now();
  try {
    await api.http.send({ method: 'GET', path: '/healthz', auth: 'none' });
    return result('instance', 'ok', `${api.baseUrl} is reachable (/healthz answered in ${Math.round(now() - started)} ms).`);
  } catch (error) {
    if (error instanceof ApiError && error.status > 0 && error.status < 500) {
      // Something answered over HTTP: reachable, just without a health endpoint.
      return result('instance', 'ok', `${api.baseUrl} is reachable (it has no /healthz: ${error.status}).`);
    }
    const message = error instanceof Error ? error.message : String(error);
    return result('instance', 'fail', message, error instanceof ApiError && error.fix ? error.fix : 'Check the instance URL (--api-url) and your network.');
  }
}
