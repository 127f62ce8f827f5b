/**
 * Forwarding to the model provider: the request body streamed up as it arrives, the answer streamed
 * back chunk by chunk (the first byte leaves as soon as the provider sends it), usage read on the
 * way without holding the stream, and every failure answered in Anthropic's shape. One handler
 * object per call, on undici's dispatch API: no stream object, promise or abort signal per request,
 * and backpressure by pausing the provider's socket while the client is slow.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { errorTypeForStatus, GatewayError, sendGatewayError } from './errors.js';
import { SseUsageTracker, sseEvent, usageFromJson, type Usage } from './sse.js';
import { createUpstreamDispatcher } from './upstream-dispatcher.js';
import { describeUpstreamError, isTlsError } from './upstreams.js';

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

const keepResponseHeader = (name: string) => RESPONSE_HEADERS_KEPT.has(name) || name.startsWith('anthropic-ratelimit-');

/** Non-streaming bodies larger than this are passed on without being read for usage. */
const USAGE_SCAN_LIMIT = 4 * 1024 * 1024;

export interface UpstreamRequest {
  /** Path and query as the provider gets them, e.g. `/v1/messages?beta=true`. */
  path: string;
  /** Flat list (name, value, …) with the organization's credential, and `content-length` when known. */
  headers: string[];
  /** The whole body, or a stream of it as it arrives from the client. */
  body: Buffer | Readable;
}

/** What the gateway learns when a call is over. */
export interface CallOutcome {
  /** What the client was sent; 499 when it went away first. */
  status: number;
  usage: Usage;
}

/** The side of the exchange that owns the client connection. */
export interface CallOwner {
  /** Whether the client's body has been read to its end (if not, the connection closes after the answer). */
  readonly requestBodyDone: boolean;
  /** Called once, when the answer is finished, cut or abandoned. */
  callDone(outcome: CallOutcome): void;
}

export interface UpstreamClientOptions {
  origin: string;
  basePath: string;
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

  /** Tells the operator's log about a failure to reach the provider. */
  readonly transportFailed = (error: unknown): void => {
    this.options.onTransportError?.(error, describeUpstreamError(error, this.options.origin));
  };

  /** Abandons every request still running (shutdown after the grace period). */
  destroy(): Promise<void> {
    return this.pool.destroy().catch(() => undefined);
  }

  /** Sends `request` upstream; the answer goes to `res` (the client's response, not yet started). */
  call(request: UpstreamRequest, res: ServerResponse, owner: CallOwner): UpstreamCall {
    const call = new UpstreamCall(res, owner, this.transportFailed);
    this.pool.dispatch(
      {
        origin: this.options.origin,
        path: this.options.basePath + request.path,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      },
      call,
    );
    return call;
  }
}

export class UpstreamCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private isStream = false;
  /** The provider's answer was replaced by our own error: its body is dropped. */
  private replaced = false;
  /** The gateway gave up on the call itself (the client left, or its body was refused). */
  private abandoned = false;
  private settled = false;
  private tracker: SseUsageTracker | undefined;
  private copy: Buffer[] | undefined;
  private copied = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly owner: CallOwner,
    private readonly transportFailed: (error: unknown) => void,
  ) {}

  /** Whether the provider's answer has started reaching the client. */
  get answering(): boolean {
    return this.status !== 0;
  }

  /**
   * Stops the call: the client went away (`status` 499), or the gateway refuses the body it was
   * streaming (then the caller answers the client itself). The provider never gets the end of the body.
   */
  abandon(status: number): void {
    if (this.settled) return;
    this.abandoned = true;
    this.controller?.abort(new Error('abandoned by the gateway'));
    this.finish(status);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(new Error('abandoned by the gateway'));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200 || this.abandoned) return; // 1xx informational: the real answer follows.
    const res = this.res;
    this.status = statusCode;
    const contentType = String(headers['content-type'] ?? '');
    this.isStream = contentType.startsWith('text/event-stream');
    const isJson = contentType.includes('json');
    const close = this.owner.requestBodyDone ? undefined : { connection: 'close' };
    const refusal = refuseAnswer(statusCode, isJson, headers);
    if (refusal) {
      // Anything a client could not act on is replaced by our own error (its body dropped).
      this.replaced = true;
      this.status = refusal.status;
      sendGatewayError(res, refusal, close);
      return;
    }
    const out: Record<string, string | string[]> = {};
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined && keepResponseHeader(name)) out[name] = value;
    }
    if (close) out.connection = 'close';
    // Every answer is read as what its content type says.
    out['x-content-type-options'] = 'nosniff';
    // Node's HTTP server sets TCP_NODELAY, so each event leaves as soon as it is written.
    res.writeHead(statusCode, out);
    if (this.isStream) this.tracker = new SseUsageTracker();
    else if (isJson) this.copy = [];
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.replaced || this.settled) return;
    this.tracker?.push(chunk);
    if (this.copy && this.copied <= USAGE_SCAN_LIMIT) {
      this.copied += chunk.length;
      if (this.copied <= USAGE_SCAN_LIMIT) this.copy.push(chunk);
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.resume);
    }
  }

  onResponseEnd(): void {
    if (this.settled) return;
    if (this.replaced) this.finish(this.status);
    else this.res.end(this.ended);
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    if (this.settled || this.abandoned) return;
    const res = this.res;
    if (res.destroyed) {
      this.finish(499);
      return;
    }
    const failure = upstreamFailure(error);
    this.transportFailed(error);
    if (this.status === 0) {
      // Nothing sent yet: answer in Anthropic's shape.
      sendGatewayError(res, failure, this.owner.requestBodyDone ? undefined : { connection: 'close' });
      this.finish(failure.status);
    } else if (this.replaced) {
      this.finish(this.status);
    } else if (this.isStream && this.status < 400) {
      // Headers are gone; Anthropic reports mid-stream failures as an `error` event.
      this.status = failure.status;
      res.end(sseEvent('error', failure.body()), this.ended);
    } else {
      // A cut JSON body cannot be repaired; a reset tells the client it is incomplete.
      res.destroy();
      this.finish(502);
    }
  }

  private readonly resume = () => this.controller?.resume();
  private readonly ended = () => this.finish(this.status);

  private finish(status: number): void {
    if (this.settled) return;
    this.settled = true;
    const usage: Usage = this.tracker
      ? this.tracker.usage
      : this.copy && this.copied <= USAGE_SCAN_LIMIT
        ? usageFromJson(Buffer.concat(this.copy).toString('utf8'))
        : { input_tokens: null, output_tokens: null };
    this.owner.callDone({ status, usage });
  }
}

/**
 * The provider's answer, unless it is one a client cannot act on; then our error in its place.
 * Its own errors are Anthropic-shaped JSON and pass through; anything else is replaced so clients
 * always get a status they understand and a body they can parse.
 */
function refuseAnswer(status: number, isJson: boolean, headers: IncomingHttpHeaders): GatewayError | undefined {
  if (status === 401) {
    // The member's key was already accepted here, so a 401 is about the organization's credential.
    // Passed on, it would tell Claude Code the member's key is wrong.
    return new GatewayError(502, 'api_error', "The model provider refused this instance's credential. Ask your Third Loop administrator to check it.");
  }
  if (status >= 300 && status < 400) {
    // The gateway does not follow redirects, and its clients cannot follow one to the provider.
    return new GatewayError(502, 'api_error', `The model provider answered with a redirect (${status}), which this instance does not follow.`);
  }
  if (status < 200 || status > 599) {
    return new GatewayError(502, 'api_error', `The model provider answered with status ${status}, which is not an HTTP status a client can act on.`);
  }
  if (status >= 400 && !isJson) {
    return new GatewayError(status, errorTypeForStatus(status), `The model provider answered ${status} without an error body.`, retryAfter(headers));
  }
  return undefined;
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
