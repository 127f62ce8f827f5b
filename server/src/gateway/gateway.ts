/**
 * The gateway's state for one app: where it forwards and with which credential, the key cache, the
 * limiters, the write-behind for "last used" and audit rows, and the requests whose bodies are still
 * arriving. Made once in the route plugin and closed with the app; everything a request would
 * otherwise compute again (the credential headers, model resolutions) is computed here once.
 */
import { DEFAULT_AUTH_FAILURES_PER_MINUTE, type ServerConfig } from '../config.js';
import { BodyDeadlines } from '../http/body-deadline.js';
import { limiterAddress, trustedProxyMatcher } from '../http/client-address.js';
import type { AuditInput, Bucket, LimitDecision, Store } from '../store/store.js';
import { GatewayError } from './errors.js';
import { KeyCache } from './key-cache.js';
import { findModel, type FoundModel } from './models.js';
import { UpstreamClient } from './proxy.js';
import { parseUpstream, upstreamAuth, type UpstreamAuth } from './upstreams.js';
import { WriteBehind } from './write-behind.js';

/** The gateway reads the core settings plus its optional ones (upstreamTimeoutMs, modelAliases, writeBehindMs, closeGraceMs). */
export type GatewayServerConfig = ServerConfig;

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
const ALLOWED: LimitDecision = { allowed: true };
export const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** Audit rows and "last used" times wait at most this long to be written (the crash-loss window; docs/api.md). */
export const DEFAULT_WRITE_BEHIND_MS = 50;
/** Nesting deeper than this is refused by the offline model's parser (the only place bodies are parsed). */
export const MAX_JSON_DEPTH = 512;

export class Gateway {
  readonly upstream: UpstreamClient | undefined;
  /** The organization's credential as header pairs, made once. */
  readonly upstreamAuth: UpstreamAuth;
  /** Failed authentications allowed per client address and minute (the member limit only sees keys that exist). */
  readonly authFailuresPerMinute: number;
  /** Whether a socket's peer is one of the trusted proxies (--trust-proxy): the client address rule every limiter uses. */
  readonly isTrustedProxy: (address: string | undefined) => boolean;
  readonly writes: WriteBehind<AuditInput>;
  readonly keys: KeyCache;
  /** Request bodies still arriving, each refused past config.gatewayBodyTimeoutMs (the server's one deadline mechanism). */
  readonly bodyDeadlines: BodyDeadlines;
  /** Set when the server starts closing: /v1 answers then end their connections. */
  closing = false;
  private readonly aliases: Record<string, string>;
  private readonly resolved = new Map<string, FoundModel | null>();
  /** Each member's request bucket, made once. */
  private readonly memberBuckets = new Map<string, Bucket>();
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
    this.authFailuresPerMinute = config.authFailuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE;
    this.isTrustedProxy = trustedProxyMatcher(config.trustProxy);
    this.writes = new WriteBehind<AuditInput>(
      {
        writeBatch: (lastUsed, rows) => store.keys.writeBatch(lastUsed, rows),
        touchLastUsed: (keyId, at) => store.keys.touchLastUsed(keyId, at),
        insertAudit: (rows) => store.audit.insertMany(rows),
      },
      { flushMs: config.writeBehindMs ?? DEFAULT_WRITE_BEHIND_MS, onError },
    );
    this.keys = new KeyCache(store);
    this.bodyDeadlines = new BodyDeadlines(config.gatewayBodyTimeoutMs);
    this.aliases = config.modelAliases ?? {};
  }

  /** A bug: logged, and answered as Anthropic answers its own (500 api_error), without detail. */
  internalError(error: unknown): GatewayError {
    this.onError(error);
    return new GatewayError(500, 'api_error', 'Internal error in the Third Loop gateway.');
  }

  /**
   * One of the member's requests this minute (all of a member's keys share the bucket, so rotating
   * a key does not reset it), from the store: at once on the SQLite store (Store.limits.takeRequest).
   */
  takeRequest(userId: string, at: Date): LimitDecision | Promise<LimitDecision> {
    const limit = this.config.rateLimitPerMinute;
    if (!(limit > 0)) return ALLOWED;
    let bucket = this.memberBuckets.get(userId);
    if (!bucket) {
      if (this.memberBuckets.size >= 10_000) this.memberBuckets.clear();
      bucket = { key: `v1-requests:${userId}`, limit, windowMs: 60_000 };
      this.memberBuckets.set(userId, bucket);
    }
    return this.store.limits.takeRequest(bucket, at);
  }

  /** One failed authentication from the client's address, in the store's shared buckets (as /api counts its own). */
  takeAuthFailure(address: string, at: Date): Promise<LimitDecision> {
    return this.store.limits.take([{ key: `v1-auth-failures:${limiterAddress(address)}`, limit: this.authFailuresPerMinute, windowMs: 60_000 }], at);
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

  /**
   * The server is stopping: requests that still arrive are served and end their connection; answers get the grace period, then
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
    this.bodyDeadlines.close();
    this.keys.close();
    await this.upstream?.destroy();
    await this.writes.flush();
  }
}
