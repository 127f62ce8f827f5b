/**
 * Writes that the request path hands off instead of waiting on the disk: "last used" times are
 * coalesced per key (only the latest matters), audit rows are queued; both are flushed on a short
 * timer and always on close, so the last ones are never lost on shutdown.
 */
export interface WriteBehindSinks<Row> {
  touchLastUsed(keyId: string, at: Date): Promise<void> | void;
  /** All waiting rows at once (one transaction); on failure they are retried one by one. */
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
    this.flushMs = options.flushMs ?? 200;
    this.maxQueue = options.maxQueue ?? 500;
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
      const writes: Promise<void>[] = [];
      for (const [keyId, at] of lastUsed) writes.push(this.guard(() => this.sinks.touchLastUsed(keyId, at)));
      if (audit.length > 0) writes.push(this.writeAudit(audit));
      const batch = Promise.all(writes).then(() => undefined);
      this.inFlight.add(batch);
      void batch.finally(() => this.inFlight.delete(batch));
    }
    await Promise.all(this.inFlight);
  }

  private async writeAudit(rows: Row[]): Promise<void> {
    try {
      await this.sinks.insertAudit(rows);
    } catch {
      for (const row of rows) await this.guard(() => this.sinks.insertAudit([row]));
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
