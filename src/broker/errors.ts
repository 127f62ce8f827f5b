/**
 * The broker's own answers, in the shape Anthropic's API uses (what the gateway sends too), so
 * Claude Code and the SDKs show the message and apply their usual retry rules.
 */
import type { ServerResponse } from 'node:http';

export type BrokerErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'api_error' | 'timeout_error';

/** Writes the error and ends the response; returns the status sent (0 when the client was gone). */
export function sendError(res: ServerResponse, status: number, type: BrokerErrorType, message: string): number {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return 0;
  }
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return status;
}
