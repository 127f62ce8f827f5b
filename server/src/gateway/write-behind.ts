/**
 * Writes that the request path hands off instead of waiting on the disk: "last used" times are
 * coalesced per key (only the latest matters), audit rows are queued; both go to the store in one
 * transaction `flushMs` after the first of them was queued, and always on close.
 *
 * The price is a window: rows queued in the last `flushMs` (plus the time one batch takes to write)
 * before the process is killed are lost; a clean stop loses nothing. docs/api.md states the bound
 * and a test measures it by killing the server under load.
 */
export interface WriteBehindSinks<Row> {
  /** Everything waiting, in one transaction. */
  writeBatch(lastUsed: ReadonlyMap<string, Date>, rows: readonly Row[]): Promise<void> | void;
  /** A failed batch is retried one write at a time, so one bad row (a key deleted meanwhile) costs only itself. */
  touchLastUsed(keyId: string, at: Date): Promise<void> | void;
  insertAudit(rows: Row[]): Promise<void> | void;
}

export interface WriteBehindOptions {
  flushMs?: number;
  /** Flush early when this many audit rows are waiting. */
  maxQueue?: number;
  onError?: (error: unknown) => void;
}

export class WriteBehind<Row> {
  private lastUsed = new Map<string, Date>();
  private audit: Row[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private readonly flushMs: number;
  private readonly maxQueue: number;

  constructor(
    private readonly sinks: WriteBehindSinks<Row>,
    private readonly options: WriteBehindOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 50;
    this.maxQueue = options.maxQueue ?? 2_000;
  }

  touch(keyId: string, at: Date): void {
    const previous = this.lastUsed.get(keyId);
    if (!previous || previous.getTime() <= at.getTime()) this.lastUsed.set(keyId, at);
    this.schedule();
  }

  record(row: Row): void {
    this.audit.push(row);
    if (this.audit.length >= this.maxQueue) void this.flush();
    else this.schedule();
  }

  /** Writes everything waiting now and resolves when it (and any earlier flush) is stored. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.lastUsed.size > 0 || this.audit.length > 0) {
      const lastUsed = this.lastUsed;
      const audit = this.audit;
      this.lastUsed = new Map();
      this.audit = [];
      const batch = this.write(lastUsed, audit);
      this.inFlight.add(batch);
      void batch.finally(() => this.inFlight.delete(batch));
    }
    await Promise.all(this.inFlight);
  }

  private async write(lastUsed: Map<string, Date>, audit: Row[]): Promise<void> {
    try {
      await this.sinks.writeBatch(lastUsed, audit);
    } catch {
      for (const [keyId, at] of lastUsed) await this.guard(() => this.sinks.touchLastUsed(keyId, at));
      for (const row of audit) await this.guard(() => this.sinks.insertAudit([row]));
    }
  }

  /** One failed write (a key deleted meanwhile, a busy database) must not cost the others. */
  private async guard(fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    // A pending flush must not keep a finished process alive; the close hook flushes anyway.
    this.timer.unref();
  }
}
