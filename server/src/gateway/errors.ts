/**
 * Errors in the shape Anthropic's API uses, so that Claude Code, opencode and the SDKs show our
 * message and apply their own retry rules (they retry 408/409/429/5xx/529, not 4xx).
 */
import type { ServerResponse } from 'node:http';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

export const anthropicError = (type: AnthropicErrorType, message: string): AnthropicErrorBody => ({
  type: 'error',
  error: { type, message },
});

/** A failure the gateway answers itself; `status` and `type` follow Anthropic's table. */
export class GatewayError extends Error {
  readonly status: number;
  readonly type: AnthropicErrorType;
  readonly headers: Record<string, string>;

  constructor(status: number, type: AnthropicErrorType, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'GatewayError';
    this.status = status;
    this.type = type;
    this.headers = headers;
  }

  body(): AnthropicErrorBody {
    return anthropicError(this.type, this.message);
  }
}

/** The error type Anthropic uses for a status, for errors raised by the framework (bad JSON, 413, 415). */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 408 || status === 504) return 'timeout_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** Headers on every JSON answer under /v1, errors included (http/error-shapes.ts uses them too). */
export const V1_JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' } as const;

/** Writes a JSON answer on a raw response (the gateway serves /v1 below the framework). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>, head = false): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...V1_JSON_HEADERS, 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(head ? undefined : payload);
}

/** Answers `error` in Anthropic's shape, unless an answer has already started (then the connection is cut). */
export function sendGatewayError(res: ServerResponse, error: GatewayError, headers?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, error.body(), headers ? { ...error.headers, ...headers } : error.headers);
}
