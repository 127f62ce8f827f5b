/**
 * Slows password guessing without locking the owner out. Buckets (in the store, so every replica
 * counts alike), each allowing `maxFailures`-based bursts that refill over `windowMs`:
 *
 * - a known device (a valid device cookie for this account, see device-cookie.ts) has its own
 *   budget of `maxFailures` and nothing else applies to it: an attack from anywhere else never
 *   refuses the owner's browser;
 * - any other client: `maxFailures` per (account, address), 4× that per address over all accounts,
 *   and 10× per account over all unknown devices, so only an attack from many addresses closes an
 *   account to new devices (and then known devices still get in).
 *
 * An attempt takes a token from each bucket before the slow password check, so parallel guesses
 * cannot slip past the limit; a successful attempt gives its tokens back (only failures count).
 */
import type { Bucket, LimitDecision, Store } from '../store/store.js';
import { sha256Hex } from './hashing.js';

export interface SignInSource {
  /** The email as typed; unknown emails are throttled exactly like real ones. */
  email: string;
  /** The client address as limiters see it (limiterAddress). */
  address: string;
  /** The nonce of a device cookie valid for this account. */
  device?: string;
}

export const PER_ADDRESS_FACTOR = 4;
export const PER_ACCOUNT_FACTOR = 10;

export class SignInThrottle {
  constructor(
    private readonly store: Store,
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  buckets(source: SignInSource): Bucket[] {
    const bucket = (key: string, factor = 1): Bucket => ({ key: `sign-in:${key}`, limit: this.maxFailures * factor, windowMs: this.windowMs });
    if (source.device) return [bucket(`device:${source.device}`)];
    // Hashed: the table then holds no typed-in emails, and keys stay short.
    const account = sha256Hex(source.email.trim().toLowerCase()).slice(0, 32);
    return [
      bucket(`account+address:${account}:${source.address}`),
      bucket(`address:${source.address}`, PER_ADDRESS_FACTOR),
      bucket(`account:${account}`, PER_ACCOUNT_FACTOR),
    ];
  }

  /** Counts the attempt as a failure up front; refused (nothing counted) when a bucket is empty. */
  async reserve(source: SignInSource, now: Date): Promise<LimitDecision & { buckets: Bucket[] }> {
    const buckets = this.buckets(source);
    return { ...(await this.store.limits.take(buckets, now)), buckets };
  }

  /** The reserved attempt succeeded: it was no failure. */
  async succeeded(buckets: Bucket[], now: Date): Promise<void> {
    await this.store.limits.refund(buckets, now);
  }
}
