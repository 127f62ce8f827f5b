/**
 * The gateway's state for one app: where it forwards, the rate limiter, and the write-behind for
 * "last used" and audit rows. Made once in the route plugin and closed with the app.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerConfig } from '../config.js';
import type { AuditInput, Store } from '../store/store.js';
import { mockCountTokens, mockMessages, type KnowsModel } from './mock-model.js';
import { findModel, type FoundModel } from './models.js';
import { UpstreamClient } from './proxy.js';
import { RateLimiter } from './rate-limit.js';
import { parseUpstream } from './upstreams.js';
import { WriteBehind } from './write-behind.js';

/** The gateway reads the core settings plus its optional ones (upstreamTimeoutMs, modelAliases, writeBehindMs). */
export type GatewayServerConfig = ServerConfig;

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
const CLOSE_GRACE_MS = 10_000;

export class Gateway {
  readonly upstream: UpstreamClient | undefined;
  readonly limiter: RateLimiter;
  readonly writes: WriteBehind<AuditInput>;
  private readonly aliases: Record<string, string>;

  constructor(
    readonly store: Store,
    readonly config: GatewayServerConfig,
    onError: (error: unknown) => void,
  ) {
    const target = parseUpstream(config.upstream);
    this.upstream =
      target.kind === 'http'
        ? new UpstreamClient({
            origin: target.origin,
            basePath: target.basePath,
            credential: config.upstreamApiKey,
            timeoutMs: config.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
          })
        : undefined;
    this.limiter = new RateLimiter(config.rateLimitPerMinute);
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

  async close(): Promise<void> {
    await this.writes.flush();
    if (this.upstream) {
      // Answers still streaming get a grace period to finish, then are cut; their rows go too.
      const grace = new AbortController();
      await Promise.race([
        this.upstream.close(),
        sleep(CLOSE_GRACE_MS, undefined, { signal: grace.signal })
          .then(() => this.upstream!.destroy())
          .catch(() => undefined),
      ]);
      grace.abort();
    }
    await this.writes.flush();
  }
}
