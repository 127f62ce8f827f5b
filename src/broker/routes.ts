/**
 * What the broker forwards. The run token buys model access and nothing else: `/v1/*` goes to the
 * instance with the stored key; the probes clients send at start-up (docs/api.md, "Probes without
 * a key": Claude Code's `HEAD /` and `/api/hello`, its telemetry batches, `/healthz`) go without
 * any credential, since the instance answers them without one; everything else (the key API
 * under /api, the web console) is refused here, so a child cannot list, rotate or delete keys.
 */

export type Route =
  | { kind: 'model'; path: string }
  | { kind: 'probe'; path: string }
  | { kind: 'refused'; status: 400 | 404; message: string };

const PROBES_GET = new Set(['/', '/api/hello', '/healthz']);
const PROBES_POST = new Set(['/api/event_logging/batch', '/api/event_logging/v2/batch']);

/** Any base works: only the path and query of the result are used. */
const BASE = 'http://broker.invalid';

/**
 * Classifies a request target. The path is normalized first (dot segments resolved, as the WHATWG
 * URL parser does, `%2e` included) and it is the normalized path that is forwarded, so
 * `/v1/../api/keys` cannot reach the key API through a server or proxy that resolves dot segments
 * itself. Encoded slashes and backslashes, which some servers decode into separators, are refused.
 */
export function route(method: string, target: string): Route {
  if (!target.startsWith('/') || target.startsWith('//')) {
    return { kind: 'refused', status: 400, message: 'The request target must be a path (origin-form).' };
  }
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  if (/%2f|%5c|\\/i.test(rawPath)) {
    return { kind: 'refused', status: 400, message: 'Encoded slashes and backslashes are not accepted in the path.' };
  }
  const url = new URL(target, BASE);
  const path = url.pathname + url.search;
  if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) return { kind: 'model', path };
  if ((method === 'GET' || method === 'HEAD') && PROBES_GET.has(url.pathname)) return { kind: 'probe', path };
  if (method === 'POST' && PROBES_POST.has(url.pathname)) return { kind: 'probe', path };
  return {
    kind: 'refused',
    status: 404,
    message: `${method} ${url.pathname.slice(0, 200)} is not forwarded by \`thirdloop run\`: only /v1 (the model API) and the start-up probes are.`,
  };
}
