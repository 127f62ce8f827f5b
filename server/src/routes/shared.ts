/** What every route plugin receives, and the JSON error shape of /api. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_TYPE_BY_STATUS, type ApiErrorBody, type ApiErrorType } from 'thirdloop-protocol';
import type { Signer } from '../auth/signing.js';
import type { ServerConfig } from '../config.js';
import { DomainError } from '../domain/errors.js';
import type { OperatorLog } from '../operator-log.js';
import type { Store } from '../store/store.js';

export interface RouteContext {
  store: Store;
  config: ServerConfig;
  clock: () => Date;
  /** Errors the operator must see whether or not the request log is on. */
  errorLog?: OperatorLog;
  /** Signs and checks what the server hands out without storing it (login CSRF, device cookies). */
  signer: Signer;
}

/** The documented `/api` error body; `extra` are the error's other fields: `attempts_left` of a wrong one-time code. */
export function apiErrorBody(
  status: number,
  message: string,
  type?: ApiErrorType,
  extra?: Omit<ApiErrorBody['error'], 'type' | 'message'>,
): ApiErrorBody {
  return { error: { type: type ?? ERROR_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message, ...extra } };
}

export function apiError(
  reply: FastifyReply,
  status: number,
  message: string,
  type?: ApiErrorType,
  extra?: Omit<ApiErrorBody['error'], 'type' | 'message'>,
): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send(apiErrorBody(status, message, type, extra));
}

/** A refused rule → 400/404/409. Anything else is rethrown to the 500 handler. */
export function sendDomainError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof DomainError) {
    const status = err.kind === 'invalid' ? 400 : err.kind === 'not_found' ? 404 : 409;
    return apiError(reply, status, err.message);
  }
  throw err;
}

/** The request path without its query string (audit rows never hold query values). */
export function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
