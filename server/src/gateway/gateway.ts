/**
 * The gateway's state for one app: where it forwards and with which credential, the key cache, the
 * limiters, the write-behind for "last used" and audit rows, and the requests whose bodies are still
 * arriving. Made once in the route plugin and closed with the app; everything a request would
 * otherwise compute again (the credential headers, model resolutions) is computed here once.
 */
import { DEFAULT_AUTH_FAILURES_PER_MINUTE, type ServerConfig } from '../config.js';
import type { AuditInput, Store } from '../store/store.js';
import { GatewayError } from './errors.js';
import { KeyCache } from './key-cache.js';
import { findModel, type FoundModel } from './models.js';
import { UpstreamClient } from './proxy.js';
import { RateLimiter } from './rate-limit.js';
import { parseUpstream, upstreamAuth, type UpstreamAuth } from './upstreams.js';
import { WriteBehind } from './write-behind.js';

/** The gateway reads the core settings plus its optional ones (upstreamTimeoutMs, modelAliases, writeBehindMs, closeGraceMs). */
export type GatewayServerConfig = ServerConfig;

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
export const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** Audit rows and "last used" times wait at most this long to be written (the crash-loss window; docs/api.md). */
export const DEFAULT_WRITE_BEHIND_MS = 50;
/** Nesting deeper than this is refused by the offline model's parser (the only place bodies are parsed). */
export const MAX_JSON_DEPTH = 512;

/** A request whose body is still arriving, as the deadline sweep sees it. */
export interface ArrivingBody {
  /** `performance.now()` when reading it started. */
  readonly bodyStartedAt: number;
  /** The body did not arrive in time: refuse it. */
  bodyTimedOut(): void;
}

export class Gateway {
  readonly upstream: UpstreamClient | undefined;
  /** The organization's credential as header pairs, made once. */
  readonly upstreamAuth: UpstreamAuth;
  /** Requests per minute per member (all of a member's keys share it, so rotating a key does not reset it). */
  readonly limiter: RateLimiter;
  /** Failed authentications per client address (the member limiter only sees keys that exist). */
  readonly authFailures: RateLimiter;
  readonly writes: WriteBehind<AuditInput>;
  readonly keys: KeyCache;
  /** How long a body may take to arrive (config.gatewayBodyTimeoutMs). */
  readonly bodyTimeoutMs: number;
  /** Set when the server starts closing: new /v1 requests are refused with 503. */
  closing = false;
  private readonly aliases: Record<string, string>;
  private readonly resolved = new Map<string, FoundModel | null>();
  private readonly arriving = new Set<ArrivingBody>();
  private sweep: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly store: Store,
    readonly config: GatewayServerConfig,
    private readonly onError: (error: unknown) => void,
    /** Each failure to reach the provider, with one sentence for the operator (the server log). */
    onUpstreamError?: (sentence: string, error: unknown) => void,
  ) {
    const target = parseUpstream(config.upstream);
    this.upstream =
      target.kind === 'http'
        ? new UpstreamClient({
            origin: target.origin,
            basePath: target.basePath,
            timeoutMs: config.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
            caFile: config.upstreamCaFile,
            onTransportError: onUpstreamError && ((error, sentence) => onUpstreamError(sentence, error)),
          })
        : undefined;
    this.upstreamAuth = upstreamAuth(target.kind === 'http' ? config.upstreamApiKey : undefined);
    this.limiter = new RateLimiter(config.rateLimitPerMinute);
    this.authFailures = new RateLimiter(config.authFailuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE);
    this.writes = new WriteBehind<AuditInput>(
      {
        writeBatch: (lastUsed, rows) => store.keys.writeBatch(lastUsed, rows),
        touchLastUsed: (keyId, at) => store.keys.touchLastUsed(keyId, at),
        insertAudit: (rows) => store.audit.insertMany(rows),
      },
      { flushMs: config.writeBehindMs ?? DEFAULT_WRITE_BEHIND_MS, onError },
    );
    this.keys = new KeyCache(store);
    this.bodyTimeoutMs = config.gatewayBodyTimeoutMs;
    this.aliases = config.modelAliases ?? {};
  }

  /** A bug: logged, and answered as Anthropic answers its own (500 api_error), without detail. */
  internalError(error: unknown): GatewayError {
    this.onError(error);
    return new GatewayError(500, 'api_error', 'Internal error in the Third Loop gateway.');
  }

  get isMock(): boolean {
    return this.upstream === undefined;
  }

  /** The offered model for a client's id (exact, dated or alias); the one lookup every endpoint uses, remembered per id. */
  findModel(requested: string): FoundModel | undefined {
    const known = this.resolved.get(requested);
    if (known !== undefined) return known ?? undefined;
    const found = findModel(requested, this.config.models, this.aliases);
    // Clients send a handful of ids; a stranger sending many only resets the memo.
    if (this.resolved.size >= 1_000) this.resolved.clear();
    this.resolved.set(requested, found ?? null);
    return found;
  }

  /** Watches a body until it has arrived: one sweep for all of them, instead of a timer per request (the deadline may be overrun by a quarter of itself, at most 1 s). */
  bodyArriving(body: ArrivingBody): void {
    this.arriving.add(body);
    if (this.sweep) return;
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const waiting of this.arriving) {
        if (now - waiting.bodyStartedAt >= this.bodyTimeoutMs) {
          this.arriving.delete(waiting);
          waiting.bodyTimedOut();
        }
      }
    }, Math.min(1_000, Math.max(10, this.bodyTimeoutMs / 4)));
    this.sweep.unref();
  }

  bodyArrived(body: ArrivingBody): void {
    this.arriving.delete(body);
  }

  /**
   * The server is stopping: new requests get 503; answers still running get the grace period, then
   * the provider's requests are abandoned and `cutConnections` ends what is left, so the server can
   * close and their rows be written.
   */
  beginClose(cutConnections: () => void): void {
    this.closing = true;
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      void (this.upstream?.destroy() ?? Promise.resolve()).finally(cutConnections);
    }, this.config.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
  }

  /** After the HTTP server has closed: every answer has ended, so only the writes are left. */
  async close(): Promise<void> {
    clearTimeout(this.graceTimer);
    clearInterval(this.sweep);
    this.keys.close();
    await this.upstream?.destroy();
    await this.writes.flush();
  }
}
