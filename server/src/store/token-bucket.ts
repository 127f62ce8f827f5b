/**
 * Token-bucket arithmetic, pure, for every store: a bucket holds up to `limit` tokens and refills
 * at `limit` per `windowMs`, so it allows a burst of `limit` and then `limit` per window on average.
 */
import type { Bucket } from './store.js';

export interface BucketState {
  tokens: number;
  /** Epoch milliseconds of the last change. */
  at: number;
}

const perMs = (bucket: Bucket) => bucket.limit / bucket.windowMs;

/** Tokens available at `now` (a bucket never seen is full; a clock that went back refills nothing). */
export function tokensAt(bucket: Bucket, state: BucketState | undefined, now: number): number {
  if (!state) return bucket.limit;
  return Math.min(bucket.limit, state.tokens + Math.max(0, now - state.at) * perMs(bucket));
}

/** Milliseconds until one token is available. */
export function msUntilToken(bucket: Bucket, tokens: number): number {
  return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / perMs(bucket));
}

/** When a bucket with `tokens` at `now` is full again: from then on its row can be forgotten. */
export function fullAt(bucket: Bucket, tokens: number, now: number): number {
  return now + Math.ceil(Math.max(0, bucket.limit - tokens) / perMs(bucket));
}
