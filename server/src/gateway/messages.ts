/**
 * `POST /v1/messages` and `/v1/messages/count_tokens` once the caller is authenticated: the body is
 * read as it arrives and never parsed on the way. Until the top-level `model` has been read, the
 * bytes are held (for the SDKs, which write `model` first, that is the first chunk); then the model
 * is checked, an alias is rewritten in the held bytes, and the provider's request starts, fed the
 * rest of the body chunk by chunk as it comes. Each chunk is scanned before it goes up, so a body
 * refused late (a second `model`, over the size cap, stalled) never reaches the provider whole:
 * the provider's request is abandoned and the client gets the gateway's 4xx.
 *
 * The offline model needs the whole request as a value: it parses it chunk by chunk as it arrives
 * (bounded in depth), so no single step holds the event loop for long.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TopLevelScanner, type ScanProblem } from './body-scan.js';
import { GatewayError, sendGatewayError, sendJson } from './errors.js';
import { bodyTimeoutMessage, type ArrivingBody } from '../http/body-deadline.js';
import { MAX_JSON_DEPTH, type Gateway } from './gateway.js';
import { JsonStreamError, JsonStreamParser } from './json-stream.js';
import { answerMessages, countTokens, RequestSummary } from './mock-model.js';
import { modelNotOffered, type FoundModel } from './models.js';
import type { CallOutcome, CallOwner, UpstreamCall } from './proxy.js';
import type { RequestHeaders } from './request-headers.js';
import type { RequestRecord } from './request-record.js';
import { SSE_HEADERS, type Usage } from './sse.js';

export type MessagesEndpoint = '/v1/messages' | '/v1/messages/count_tokens';

const invalid = (message: string) => new GatewayError(400, 'invalid_request_error', message);

const PROBLEMS: Record<ScanProblem, string> = {
  'not-object': 'The request body must be a JSON object.',
  'invalid-json': 'The request body is not valid JSON.',
  'no-model': 'model: Field required',
  'duplicate-model': 'model: given more than once; send one model.',
};

/** Undeclared bodies are read to their end after a refusal up to this size, keeping the connection; larger ones close it. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * A body's turn on the event loop: once its chunks have taken this much handling time since it last
 * yielded, its reading pauses until the next turn. libuv reads up to 32 × 64 KiB from a busy socket
 * in one go, so without a bound one client uploading 10 MiB could hold the loop for tens of
 * milliseconds at a time. Only handling time counts, so a body arriving slowly never yields.
 */
const SLICE_MS = 4;

/** What the body stream may hold before the client is paused (a briefly slow provider should not stop the client per chunk). */
const PIPE_BUFFER = 256 * 1024;

/** The client's body as undici reads it: chunks pushed as they pass the scan, the client paused while the provider is slow. */
class BodyStream extends Readable {
  constructor(private readonly exchange: MessagesExchange) {
    super({ highWaterMark: PIPE_BUFFER });
  }

  override _read(): void {
    this.exchange.pipeDrained();
  }
}

const enum Phase {
  /** Bytes held until `model` is read. */
  Holding,
  /** The provider's request is running and takes the rest as it comes. */
  Streaming,
  /** The offline model: parsing as the bytes come. */
  Parsing,
  /** Answered, refused or abandoned: later bytes are ignored. */
  Done,
}

export class MessagesExchange implements CallOwner, ArrivingBody {
  requestBodyDone = false;
  readonly bodyStartedAt = performance.now();
  private phase = Phase.Holding;
  private readonly scanner = new TopLevelScanner();
  private held: Buffer[] = [];
  private received = 0;
  private found: FoundModel | undefined;
  private pipe: BodyStream | undefined;
  private call: UpstreamCall | undefined;
  private parser: JsonStreamParser | undefined;
  private summary: RequestSummary | undefined;
  private hash: Hash | undefined;
  /** Reading is paused because the provider is slower than the client, or to give others a turn. */
  private pipeFull = false;
  private yielding = false;
  /** Handling time (ms) of this body's chunks since it last yielded. */
  private busy = 0;

  constructor(
    private readonly gateway: Gateway,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly headers: RequestHeaders,
    private readonly record: RequestRecord,
    private readonly endpoint: MessagesEndpoint,
    /** `?…` as the client sent it, or ''. */
    private readonly query: string,
  ) {}

  start(): void {
    const { headers } = this;
    if (headers.contentEncoding !== undefined) {
      // The body is read as plain JSON on its way up, so an encoded one can be neither checked nor
      // passed on with its encoding intact; refused before a byte of it is read.
      return this.refuse(
        new GatewayError(415, 'invalid_request_error', `The request body must be sent uncompressed (content-encoding: ${headers.contentEncoding} is not accepted).`),
      );
    }
    const limit = this.gateway.config.bodyLimitBytes;
    if (headers.contentLength !== undefined && headers.contentLength > limit) return this.refuse(tooLarge(limit));
    this.res.on('close', this.onClose);
    if (headers.contentLength === 0 || (headers.contentLength === undefined && !headers.chunked)) {
      // No body at all: the same refusal as an empty one.
      this.requestBodyDone = true;
      return this.refuse(invalid(PROBLEMS[this.scanner.end()!]));
    }
    this.gateway.bodyDeadlines.watch(this);
    this.req.on('data', this.onData);
    this.req.on('end', this.onEnd);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.phase === Phase.Done) return;
    const started = performance.now();
    this.received += chunk.length;
    const limit = this.gateway.config.bodyLimitBytes;
    if (this.received > limit) return this.refuse(tooLarge(limit));
    // With a declared length the last chunk is known as it arrives, before `end`, so the whole body
    // is judged before its last byte goes up.
    const last = this.headers.contentLength !== undefined && this.received >= this.headers.contentLength;
    const problem = this.scanner.push(chunk) ?? (last ? this.scanner.end() : undefined);
    if (problem) return this.refuse(invalid(PROBLEMS[problem]));
    if (last) this.arrived();

    switch (this.phase) {
      case Phase.Holding:
        this.held.push(chunk);
        if (this.scanner.model) this.modelRead();
        break;
      case Phase.Streaming:
        if (!this.pipe!.push(chunk)) {
          this.pipeFull = true;
          this.req.pause();
        }
        if (last) this.pipe!.push(null);
        break;
      case Phase.Parsing:
        this.parse(chunk);
        if (last && this.phase === Phase.Parsing) void this.answerOffline();
        break;
    }
    if (this.requestBodyDone || (this.phase as Phase) === Phase.Done || this.yielding) return;
    this.busy += performance.now() - started;
    if (this.busy > SLICE_MS) {
      this.yielding = true;
      this.busy = 0;
      this.req.pause();
      setImmediate(this.nextSlice);
    }
  };

  private readonly nextSlice = (): void => {
    this.yielding = false;
    if (!this.pipeFull) this.req.resume();
  };

  /** The provider's side took what was pushed: read on (unless this body is waiting its turn). */
  pipeDrained(): void {
    this.pipeFull = false;
    if (!this.yielding) this.req.resume();
  }

  private readonly onEnd = (): void => {
    if (this.requestBodyDone || this.phase === Phase.Done) return;
    // A body without a declared length (chunked) ends here.
    this.arrived();
    const problem = this.scanner.end();
    if (problem) return this.refuse(invalid(PROBLEMS[problem]));
    if (this.phase === Phase.Streaming) this.pipe!.push(null);
    else if (this.phase === Phase.Parsing) void this.answerOffline();
  };

  /** The client went away before its answer was complete. */
  private readonly onClose = (): void => {
    this.gateway.bodyDeadlines.arrived(this);
    if (this.res.writableFinished || this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.pipe?.destroy();
    if (this.call) this.call.abandon(499);
    else this.record.finish(499);
  };

  bodyTimedOut(): void {
    if (this.phase === Phase.Done || this.requestBodyDone) return;
    this.refuse(new GatewayError(408, 'timeout_error', bodyTimeoutMessage(this.gateway.bodyDeadlines.timeoutMs)));
  }

  callDone(outcome: CallOutcome): void {
    this.phase = Phase.Done;
    this.gateway.bodyDeadlines.arrived(this);
    this.record.finish(outcome.status, outcome.usage);
  }

  private arrived(): void {
    this.requestBodyDone = true;
    this.gateway.bodyDeadlines.arrived(this);
  }

  /** `model` has just been read: check it, then forward or start parsing. */
  private modelRead(): void {
    const token = this.scanner.model!;
    this.record.model = token.value.slice(0, 128);
    const found = this.gateway.findModel(token.value);
    if (!found) return this.refuse(modelNotOffered(token.value, this.gateway.config.models));
    this.found = found;
    const held = this.held;
    this.held = [];
    if (this.gateway.isMock) {
      this.phase = Phase.Parsing;
      const summary = (this.summary = new RequestSummary());
      // Each top-level field and each message is summarized as it completes, then dropped: the
      // conversation is never held whole (a 10 MiB one would otherwise stall the server in GC).
      this.parser = new JsonStreamParser(MAX_JSON_DEPTH, (value, depth, key, rootKey) => {
        if (depth === 1) {
          if (key === 'messages' && Array.isArray(value)) summary.messagesArray();
          else summary.field(key!, value);
        } else if (depth === 2 && rootKey === 'messages' && key === undefined) summary.message(value);
        else return true;
        return false;
      });
      this.hash = createHash('sha256');
      for (const chunk of held) this.parse(chunk);
      if (this.requestBodyDone && this.phase === Phase.Parsing) void this.answerOffline();
      return;
    }
    this.forward(held, found);
  }

  /** Starts the provider's request with the held bytes (alias rewritten); the rest follows as it arrives. */
  private forward(held: Buffer[], found: FoundModel): void {
    const token = this.scanner.model!;
    let prefix = held.length === 1 ? held[0]! : Buffer.concat(held);
    let delta = 0;
    if (found.upstreamId !== token.value) {
      // An alias: the provider gets the offered id in place of the client's, the rest byte for byte.
      const replacement = Buffer.from(JSON.stringify(found.upstreamId));
      delta = replacement.length - (token.end - token.start);
      prefix = Buffer.concat([prefix.subarray(0, token.start), replacement, prefix.subarray(token.end)]);
    }
    const headers = this.headers.forward;
    if (this.headers.contentLength !== undefined) headers.push('content-length', String(this.headers.contentLength + delta));
    let body: Buffer | BodyStream = prefix;
    if (!this.requestBodyDone) {
      this.pipe = new BodyStream(this);
      this.pipe.push(prefix);
      body = this.pipe;
    }
    this.phase = Phase.Streaming;
    this.call = this.gateway.upstream!.call({ path: this.endpoint + this.query, headers, body }, this.res, this);
  }

  private parse(chunk: Buffer): void {
    this.hash!.update(chunk);
    try {
      this.parser!.push(chunk);
    } catch (error) {
      this.refuse(parseRefusal(error));
    }
  }

  /** The offline model's answer, once the whole body is parsed. */
  private async answerOffline(): Promise<void> {
    this.phase = Phase.Done;
    const { res, record } = this;
    try {
      this.parser!.end();
    } catch (error) {
      this.phase = Phase.Parsing;
      return this.refuse(parseRefusal(error));
    }
    const summary = this.summary!;
    try {
      if (this.endpoint === '/v1/messages/count_tokens') {
        const answer = countTokens(summary);
        sendJson(res, 200, answer);
        return record.finish(200, { input_tokens: answer.input_tokens, output_tokens: null });
      }
      // The offline model answers as the model the id resolved to.
      const answer = answerMessages(summary, this.found!.upstreamId, this.hash!.digest('hex'));
      const usage: Usage = { input_tokens: answer.input_tokens, output_tokens: answer.output_tokens };
      if (answer.json) {
        sendJson(res, 200, answer.json);
        return record.finish(200, usage);
      }
      res.writeHead(200, SSE_HEADERS);
      for (const event of answer.events!) {
        if (res.destroyed) break;
        res.write(event);
        // One event at a time on the wire, as a real model streams.
        await nextTurn();
      }
      res.end();
      record.finish(res.destroyed && !res.writableFinished ? 499 : 200, usage);
    } catch (error) {
      const refusal = error instanceof GatewayError ? error : this.gateway.internalError(error);
      sendGatewayError(res, refusal);
      record.finish(refusal.status);
    }
  }

  /**
   * Refuses the request with `error`: the provider's request, if started, is abandoned before the
   * body's end reached it. The connection is closed unless the rest of the body is small enough to
   * read and drop.
   */
  private refuse(error: GatewayError): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.gateway.bodyDeadlines.arrived(this);
    // The row names the model asked for, when one was read before the refusal.
    this.record.model ??= this.scanner.model?.value.slice(0, 128) ?? null;
    this.held = [];
    this.pipe?.destroy();
    // Paused for a slow provider, the rest of a small body must still be read off to be dropped.
    this.req.resume();
    if (this.call) {
      const answering = this.call.answering;
      this.call.abandon(error.status);
      if (answering) {
        // The provider had already started answering; its answer cannot be replaced, only cut.
        this.res.destroy();
        return;
      }
    } else this.record.finish(error.status);
    const drain = !this.requestBodyDone && this.headers.contentLength !== undefined && this.headers.contentLength <= DRAIN_LIMIT;
    sendGatewayError(this.res, error, this.requestBodyDone || drain ? undefined : { connection: 'close' });
  }
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError(413, 'request_too_large', `The request body is larger than this instance accepts (${limit} bytes).`);
}

function parseRefusal(error: unknown): GatewayError {
  if (error instanceof JsonStreamError) return invalid(error.message);
  throw error;
}
