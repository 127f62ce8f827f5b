/**
 * Every error a client can cause is answered in the documented shape of its route family:
 *
 *   /api/…  {"error": {"type", "message"}}                  (docs/api.md, Errors)
 *   /v1/…   {"type": "error", "error": {"type", "message"}}  (Anthropic's shape)
 *   pages   a plain HTML error page
 *
 * One table, used by the app's error and not-found handlers, by Fastify's `frameworkErrors`
 * (bad percent-encoding, a path segment over the length limit) and by the HTTP server's
 * `clientError` (unparseable requests, 431, timeouts), which answer before any route runs.
 * A family's shape is its entry in ERROR_SHAPES; the gateway keeps its own error handler for
 * errors inside /v1 routes, and its shape here is the same one (gateway/errors.ts).
 */
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { anthropicError, errorTypeForStatus, V1_JSON_HEADERS } from '../gateway/errors.js';
import { apiErrorBody } from '../routes/shared.js';
import { errorPage, securityHeaders } from '../web/layout.js';

export type RouteFamily = 'api' | 'v1' | 'web';

/** The family of a request URL as it was sent (query and percent-encoding allowed). */
export function routeFamily(url: string): RouteFamily {
  // Every request passes here (http/front.ts routes /v1 by it): no allocation unless needed.
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // A bad escape still has its family prefix: /api/%zz is an /api error.
    }
  }
  if (path === '/v1' || path.startsWith('/v1/')) return 'v1';
  if (path === '/api' || path.startsWith('/api/')) return 'api';
  return 'web';
}

export interface ErrorResponse {
  headers: Record<string, string>;
  body: string;
}

export type ErrorShape = (status: number, message: string) => ErrorResponse;

export const ERROR_SHAPES: Record<RouteFamily, ErrorShape> = {
  api: (status, message) => ({
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    body: JSON.stringify(apiErrorBody(status, message)),
  }),
  v1: (status, message) => ({
    headers: { ...V1_JSON_HEADERS },
    body: JSON.stringify(anthropicError(errorTypeForStatus(status), message)),
  }),
  web: (status, message) => ({
    headers: { 'content-type': 'text/html; charset=utf-8', ...securityHeaders() },
    body: errorPage(status, message),
  }),
};

/** The sentence for a path whose percent-encoding does not decode (Fastify's routes, and /v1's own decoding). */
export const BAD_PERCENT_ENCODING = 'The request path is not valid: it has a malformed percent-encoding.';

/** What a framework or HTTP-parser error means for the client: a status and one sentence. */
export function describeClientError(error: { code?: string; statusCode?: number; message?: string }, bodyLimit?: number): { status: number; message: string } {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, message: BAD_PERCENT_ENCODING };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, message: 'A segment of the request path is too long.' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'The request line and headers are too large.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'The request did not arrive in time.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: `The request body is larger than ${bodyLimit ?? 'this endpoint accepts'} bytes.` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Unsupported content type: send application/json.' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: 'The request body does not match its Content-Length.' };
  }
  if (error.code?.startsWith('HPE_')) return { status: 400, message: 'The request is not valid HTTP.' };
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
  return { status, message: status === 500 ? 'Internal server error.' : (error.message ?? STATUS_CODES[status] ?? 'Bad request.') };
}

/** Sends an error in the family's shape (extra headers, e.g. retry-after, kept). */
export function sendFamilyError(reply: FastifyReply, family: RouteFamily, status: number, message: string): FastifyReply {
  const shaped = ERROR_SHAPES[family](status, message);
  return reply.code(status).headers(shaped.headers).send(shaped.body);
}

/**
 * A whole HTTP/1.1 response, for the moments before Fastify has a request to answer (the
 * server's clientError): the connection is closed after it.
 */
export function rawErrorResponse(family: RouteFamily, status: number, message: string): string {
  const { headers, body } = ERROR_SHAPES[family](status, message);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${Buffer.byteLength(body)}`, 'connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** The request target from the start of a raw request, when one is readable. */
export function urlFromRawRequest(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  const m = /^[A-Z]{1,20} (\S+)/.exec(raw.subarray(0, 8192).toString('latin1'));
  return m?.[1];
}
