/**
 * The gateway's per-member request buckets on PostgreSQL, shared by the replicas within a bound,
 * without a transaction per request. Each replica answers from its own copy of a member's bucket,
 * with the one token-bucket arithmetic, so its own accounting is exact; it folds what it took into
 * the shared row in the `limits` table (and takes the row's state back, which includes what the
 * other replicas took):
 * - before answering, when its copy is older than SYNC_MS or missing (so an idle replica never
 *   answers from a stale full bucket), and
 * - when it has taken QUOTA of the limit since its last sync, and every SYNC_MS in the background.
 * What one replica cannot see is what the others took since their last sync: at most QUOTA of the
 * limit each. So with R replicas a member gets at most (R − 1) × 10 % more than the limit in a
 * burst, and the long-run rate is exact (every take reaches the shared row).
 */
import type postgres from 'postgres';
import type { Bucket, LimitDecision } from './store.js';
import { fullAt, msUntilToken, tokensAt } from './token-bucket.js';

const SYNC_MS = 100;
const QUOTA = 0.1;

interface Copy {
  bucket: Bucket;
  tokens: number;
  at: number;
  /** Taken here since the last sync. */
  taken: number;
  syncedAt: number;
  syncing?: Promise<void>;
}

export class SharedRequestBuckets {
  private readonly copies = new Map<string, Copy>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sql: postgres.Sql<any>,
    private readonly clock: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.flush(), SYNC_MS);
    this.timer.unref();
  }

  take(bucket: Bucket, now: Date): LimitDecision | Promise<LimitDecision> {
    const t = now.getTime();
    const copy = this.copies.get(bucket.key);
    if (!copy || this.clock() - copy.syncedAt > SYNC_MS || copy.taken >= Math.max(1, Math.floor(bucket.limit * QUOTA))) {
      // A database that does not answer leaves the copy as it was: the limit is then this replica's alone.
      const synced = this.copyOf(bucket, copy);
      return this.sync(bucket, synced, t)
        .catch(() => {})
        .then(() => this.takeLocal(synced, t));
    }
    return this.takeLocal(copy, t);
  }

  /** Folds every copy's takes into the shared rows (also on close, so none are lost). */
  async flush(): Promise<void> {
    const now = this.clock();
    await Promise.all(
      [...this.copies.values()].map((copy) => {
        // Folded in at the time of the copy's last take (the serving clock's, not this process's).
        if (copy.taken > 0) return this.sync(copy.bucket, copy, copy.at).catch(() => {});
        // Not used for a while and full: forgetting it changes no answer (the next take syncs first).
        if (!copy.syncing && copy.syncedAt > 0 && now - copy.syncedAt > 10 * SYNC_MS) this.copies.delete(copy.bucket.key);
        return undefined;
      }),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private takeLocal(copy: Copy, now: number): LimitDecision {
    const tokens = tokensAt(copy.bucket, copy, now);
    const wait = msUntilToken(copy.bucket, tokens);
    if (wait > 0) return { allowed: false, retryAfterMs: wait, key: copy.bucket.key };
    copy.tokens = tokens - 1;
    copy.at = Math.max(copy.at, now);
    copy.taken++;
    return { allowed: true };
  }

  /** One statement: subtract what was taken here from the shared row (refilled to now), read it back. */
  private copyOf(bucket: Bucket, existing: Copy | undefined): Copy {
    if (existing) return existing;
    const copy: Copy = { bucket, tokens: bucket.limit, at: 0, taken: 0, syncedAt: 0 };
    this.copies.set(bucket.key, copy);
    return copy;
  }

  /** `now`: the serving clock's time (what the bucket arithmetic uses); freshness goes by this process's. */
  private sync(bucket: Bucket, copy: Copy, now: number): Promise<void> {
    if (copy.syncing) return copy.syncing;
    const taken = copy.taken;
    const syncedAt = this.clock();
    const perMs = bucket.limit / bucket.windowMs;
    const syncing = (async () => {
      const [row] = await this.sql`
        INSERT INTO limits AS l (key, tokens, at, full_at)
        VALUES (${bucket.key}, ${bucket.limit - taken}, ${now}, ${fullAt(bucket, bucket.limit - taken, now)})
        ON CONFLICT (key) DO UPDATE SET
          tokens = LEAST(${bucket.limit}::float8, l.tokens + GREATEST(0, ${now} - l.at) * ${perMs}::float8) - ${taken},
          at = GREATEST(l.at, ${now}),
          full_at = ${now} + CEIL((${bucket.limit}::float8
            - (LEAST(${bucket.limit}::float8, l.tokens + GREATEST(0, ${now} - l.at) * ${perMs}::float8) - ${taken})) / ${perMs}::float8)
        RETURNING tokens, at`;
      // Takes made here while the statement ran are still ours to fold in next time.
      copy.taken -= taken;
      copy.tokens = Number(row!.tokens) - copy.taken;
      copy.at = Number(row!.at);
      copy.syncedAt = syncedAt;
    })().finally(() => {
      copy.syncing = undefined;
    });
    copy.syncing = syncing;
    return syncing;
  }
}
