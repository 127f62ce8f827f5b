/**
 * The gateway's state for one app: where it forwards, the rate limiter, and the write-behind for
 * "last used" and audit rows. Made once in the route plugin and closed with the app.
 */
import { DEFAULT_AUTH_FAILURES_PER_MINUTE, type ServerConfig } from '../config.js';
import type { AuditInput, Store } from '../store/store.js';
import { mockCountTokens, mockMessages, type KnowsModel } from './mock-model.js';
import { findModel, type FoundModel } from './models.js';
import { UpstreamClient } from './proxy.js';
import { RateLimiter } from './rate-limit.js';
import { parseUpstream } from './upstreams.js';
import { WriteBehind } from './write-behind.js';

/** The gateway reads the core settings plus its optional ones (upstreamTimeoutMs, modelAliases, writeBehindMs, closeGraceMs). */
export type GatewayServerConfig = ServerConfig;

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
export const DEFAULT_CLOSE_GRACE_MS = 10_000;

export class Gateway {
  readonly upstream: UpstreamClient | undefined;
  readonly limiter: RateLimiter;
  /** Failed authentications per client address (the key limiter only sees keys that exist). */
  readonly authFailures: RateLimiter;
  readonly writes: WriteBehind<AuditInput>;
  private readonly aliases: Record<string, string>;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly store: Store,
    readonly config: GatewayServerConfig,
    onError: (error: unknown) => void,
    /** Each failure to reach the provider, with one sentence for the operator (the server log). */
    onUpstreamError?: (sentence: string, error: unknown) => void,
  ) {
    const target = parseUpstream(config.upstream);
    this.upstream =
      target.kind === 'http'
        ? new UpstreamClient({
            origin: target.origin,
            basePath: target.basePath,
            credential: config.upstreamApiKey,
            timeoutMs: config.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
            caFile: config.upstreamCaFile,
            onTransportError: onUpstreamError && ((error, sentence) => onUpstreamError(sentence, error)),
          })
        : undefined;
    this.limiter = new RateLimiter(config.rateLimitPerMinute);
    this.authFailures = new RateLimiter(config.authFailuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE);
    this.writes = new WriteBehind<AuditInput>(
      {
        touchLastUsed: (keyId, at) => store.keys.touchLastUsed(keyId, at),
        insertAudit: (rows) => store.audit.insertMany(rows),
      },
      { flushMs: config.writeBehindMs ?? 200, onError },
    );
    this.aliases = config.modelAliases ?? {};
  }

  get isMock(): boolean {
    return this.upstream === undefined;
  }

  /** The offered model for a client's id (exact, dated or alias); the one lookup every endpoint uses. */
  findModel(requested: string): FoundModel | undefined {
    return findModel(requested, this.config.models, this.aliases);
  }

  /** What the offline model answers to: anything this instance resolves. */
  readonly knowsModel: KnowsModel = (model) => this.findModel(model) !== undefined;

  mockMessages(body: unknown) {
    return mockMessages(body, this.knowsModel);
  }

  mockCountTokens(body: unknown) {
    return mockCountTokens(body, this.knowsModel);
  }

  /**
   * The server is stopping: answers still running get the grace period, then the provider's requests
   * are abandoned and `cutConnections` ends what is left, so the server can close and their rows be written.
   */
  beginClose(cutConnections: () => void): void {
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      void (this.upstream?.destroy() ?? Promise.resolve()).finally(cutConnections);
    }, this.config.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
  }

  /** After the HTTP server has closed: every answer has ended, so only the writes are left. */
  async close(): Promise<void> {
    clearTimeout(this.graceTimer);
    await this.upstream?.destroy();
    await this.writes.flush();
  }
}
