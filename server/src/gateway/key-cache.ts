/**
 * The gateway's key lookups, from memory: a key is read from the store once, then served from here
 * until the store says it changed (`invalidate`, driven by `Store.keys.watch`: at once for changes
 * made through this process's store, within the store's documented bound for other processes).
 * Keys are cached in any status, so a suspended key is refused as fast as an active one is served;
 * expiry is judged on every request from the cached `expiresAt` and the clock.
 *
 * Unknown IDs are not cached: a stranger trying IDs must not fill memory (the failed-auth limit
 * bounds how often they reach the store).
 */
import type { KeyRecord } from '../domain/keys.js';
import type { Store } from '../store/store.js';

const DEFAULT_MAX_ENTRIES = 10_000;

/** A key as the gateway checks it: the record, and its secret's digest decoded once. */
export interface CachedKey {
  key: KeyRecord;
  digest: Buffer;
}

export class KeyCache {
  private readonly entries = new Map<string, CachedKey>();
  /** Bumped by every invalidation, so a read that raced one is not cached. */
  private epoch = 0;
  private readonly unwatch: () => void;

  constructor(
    private readonly store: Store,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {
    this.unwatch = store.keys.watch((keyIds) => this.invalidate(keyIds));
  }

  /**
   * The key with this ID whose owner exists, or undefined. Synchronous when cached (the common
   * case, so the request path does not wait a turn), else a promise of the store's answer.
   */
  get(keyId: string): CachedKey | undefined | Promise<CachedKey | undefined> {
    return this.entries.get(keyId) ?? this.load(keyId);
  }

  /** Forgets the given keys, or every key (`null`). The entry point a store (or a replica's notification) drives. */
  invalidate(keyIds: readonly string[] | null): void {
    this.epoch++;
    if (keyIds === null) this.entries.clear();
    else for (const id of keyIds) this.entries.delete(id);
  }

  close(): void {
    this.unwatch();
    this.entries.clear();
  }

  private async load(keyId: string): Promise<CachedKey | undefined> {
    const epoch = this.epoch;
    const key = await this.store.keys.findById(keyId);
    if (!key) return undefined;
    // A key whose owner is gone authenticates nowhere.
    if (!(await this.store.users.findById(key.userId))) return undefined;
    const entry = { key, digest: Buffer.from(key.secretHash, 'hex') };
    if (epoch === this.epoch) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(keyId, entry);
    }
    return entry;
  }
}
