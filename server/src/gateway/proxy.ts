/**
 * Forwarding to the model provider: the member's credential out, the organization's in, the answer
 * streamed back chunk by chunk as it arrives (the first byte leaves as soon as the provider sends it),
 * usage read on the way without holding the stream, and every failure answered in Anthropic's shape.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { anthropicError, errorTypeForStatus, GatewayError } from './errors.js';
import { SseUsageTracker, sseEvent, usageFromJson, type Usage } from './sse.js';
import { createUpstreamDispatcher } from './upstream-dispatcher.js';
import { applyUpstreamCredential, describeUpstreamError, isTlsError } from './upstreams.js';

/** Headers that describe this hop, or carry the member's identity: never forwarded upstream. */
const REQUEST_HEADERS_DROPPED = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  'accept-encoding',
  'x-api-key',
  'authorization',
  'cookie',
]);

/** What the provider says that a client can use; its cookies, server and org identity stay here. */
const RESPONSE_HEADERS_KEPT = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'cache-control',
  'request-id',
  'x-request-id',
  'retry-after',
  'x-should-retry',
]);
type DispatchController = Dispatcher.DispatchController;

const keepResponseHeader = (name: string) =>
  RESPONSE_HEADERS_KEPT.has(name) || name.startsWith('anthropic-ratelimit-');

/** Non-streaming bodies larger than this are passed on without being read for usage. */
const USAGE_SCAN_LIMIT = 4 * 1024 * 1024;

export interface ForwardRequest {
  method: string;
  /** Path and query as the client sent them, e.g. `/v1/messages?beta=true`. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
}

export interface ForwardResult {
  /** What the client was sent; 499 when it went away first. */
  status: number;
  usage: Usage;
  clientAborted: boolean;
}

export interface UpstreamClientOptions {
  origin: string;
  basePath: string;
  credential: string | undefined;
  /** Longest wait for the provider's headers, and for each chunk after them. */
  timeoutMs: number;
  /** Extra certificate authorities to trust for the provider (`--upstream-ca`). */
  caFile?: string;
  /** Told of every failure to reach the provider (not of clients leaving), with the operator's sentence. */
  onTransportError?: (error: unknown, sentence: string) => void;
}

export class UpstreamClient {
  private readonly pool: Dispatcher;

  constructor(private readonly options: UpstreamClientOptions) {
    this.pool = createUpstreamDispatcher({ origin: options.origin, timeoutMs: options.timeoutMs, caFile: options.caFile });
  }

  close(): Promise<void> {
    return this.pool.close().catch(() => undefined);
  }

  /** Abandons every request still running (shutdown after the grace period). */
  destroy(): Promise<void> {
    return this.pool.destroy().catch(() => undefined);
  }

  /**
   * Sends `request` upstream and writes the answer to `res` (which the caller has taken over from
   * the framework). Resolves when `res` is finished or closed; never rejects, never leaves `res` open.
   * Uses undici's dispatch handler directly: no stream object or abort signal per request, and
   * backpressure by pausing the upstream socket while the client is slow.
   */
  forward(request: ForwardRequest, res: ServerResponse): Promise<ForwardResult> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || REQUEST_HEADERS_DROPPED.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    // Plain bytes, so usage can be read as they pass; compression buys little on this hop.
    headers['accept-encoding'] = 'identity';
    applyUpstreamCredential(headers, this.options.credential);

    const onTransportError = this.options.onTransportError;
    const origin = this.options.origin;
    return new Promise<ForwardResult>((resolve) => {
      const usage: Usage = { input_tokens: null, output_tokens: null };
      let controller: DispatchController | undefined;
      let clientAborted = false;
      let settled = false;
      let status = 0;
      let isStream = false;
      /** The provider's body is dropped because it was replaced by our own error. */
      let replaced = false;
      let tracker: SseUsageTracker | undefined;
      let copy: Buffer[] | undefined;
      let copied = 0;

      const finish = (finalStatus: number) => {
        if (settled) return;
        settled = true;
        res.off('close', onClientClose);
        if (tracker) Object.assign(usage, tracker.usage);
        else if (copy && copied <= USAGE_SCAN_LIMIT) Object.assign(usage, usageFromJson(Buffer.concat(copy).toString('utf8')));
        resolve({ status: finalStatus, usage, clientAborted });
      };
      // The client left before the answer was complete: stop the provider's work too.
      const onClientClose = () => {
        if (res.writableFinished) return;
        clientAborted = true;
        controller?.abort(new Error('client closed the connection'));
        finish(499);
      };
      res.on('close', onClientClose);
      const resume = () => controller?.resume();

      this.pool.dispatch(
        {
          origin: this.options.origin,
          path: this.options.basePath + request.url,
          method: request.method as 'POST',
          headers,
          body: request.body,
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
        },
        {
          onRequestStart(c) {
            controller = c;
            if (clientAborted) c.abort(new Error('client closed the connection'));
          },
          onResponseStart(_c, statusCode, upstreamHeaders) {
            if (statusCode < 200) return; // 1xx informational: the real answer follows.
            status = statusCode;
            const contentType = String(upstreamHeaders['content-type'] ?? '');
            isStream = contentType.startsWith('text/event-stream');
            const isJson = contentType.includes('json');
            // A provider's own errors are Anthropic-shaped JSON and pass through; anything else (an
            // HTML page from a load balancer) is replaced, so clients always get a body they can parse.
            if (status === 401) {
              // The member's key was already accepted here, so a 401 is about the organization's
              // credential. Passed on, it would tell Claude Code the member's key is wrong.
              replaced = true;
              sendError(
                res,
                new GatewayError(502, 'api_error', 'The model provider refused this instance\'s credential. Ask your Third Loop administrator to check it.'),
              );
              status = 502;
              return;
            }
            if (status >= 400 && !isJson) {
              replaced = true;
              sendError(
                res,
                new GatewayError(status, errorTypeForStatus(status), `The model provider answered ${status} without an error body.`, retryAfter(upstreamHeaders)),
              );
              return;
            }
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(upstreamHeaders)) {
              if (value !== undefined && keepResponseHeader(name)) out[name] = value;
            }
            // Node's HTTP server sets TCP_NODELAY, so each event leaves as soon as it is written.
            res.writeHead(status, out);
            if (isStream) tracker = new SseUsageTracker();
            else if (isJson) copy = [];
          },
          onResponseData(c, chunk) {
            if (replaced || settled) return;
            tracker?.push(chunk);
            if (copy && copied <= USAGE_SCAN_LIMIT) {
              copied += chunk.length;
              if (copied <= USAGE_SCAN_LIMIT) copy.push(chunk);
            }
            if (!res.write(chunk)) {
              c.pause();
              res.once('drain', resume);
            }
          },
          onResponseEnd() {
            if (replaced) finish(status);
            else res.end(() => finish(status));
          },
          onResponseError(_c, error) {
            if (clientAborted || res.destroyed) {
              finish(499);
              return;
            }
            const failure = upstreamFailure(error);
            onTransportError?.(error, describeUpstreamError(error, origin));
            if (status === 0 || replaced) {
              // Nothing sent yet (or only our own complete error): answer in Anthropic's shape.
              if (!replaced) sendError(res, failure);
              finish(replaced ? status : failure.status);
            } else if (isStream && status < 400) {
              // Headers are gone; Anthropic reports mid-stream failures as an `error` event.
              res.end(sseEvent('error', failure.body()), () => finish(failure.status));
            } else {
              // A cut JSON body cannot be repaired; a reset tells the client it is incomplete.
              res.destroy();
              finish(502);
            }
          },
        },
      );
    });
  }
}

function retryAfter(headers: IncomingHttpHeaders): Record<string, string> {
  const value = headers['retry-after'];
  return typeof value === 'string' ? { 'retry-after': value } : {};
}

/** Maps a transport failure to what Anthropic would have said, without internal detail. */
export function upstreamFailure(error: unknown): GatewayError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return new GatewayError(504, 'timeout_error', 'The model provider did not answer in time. Try again.');
  }
  if (error instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError(502, 'api_error', 'The model provider could not be reached (connection timed out).');
  }
  const code = (error as { code?: string } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
    return new GatewayError(502, 'api_error', 'The model provider could not be reached.');
  }
  if (isTlsError(error)) {
    return new GatewayError(502, 'api_error', "This instance does not trust the model provider's TLS certificate. Ask your Third Loop administrator to check it.");
  }
  return new GatewayError(502, 'api_error', 'The connection to the model provider failed.');
}

function sendError(res: ServerResponse, failure: GatewayError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(anthropicError(failure.type, failure.message));
  res.writeHead(failure.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...failure.headers,
  });
  res.end(payload);
}
