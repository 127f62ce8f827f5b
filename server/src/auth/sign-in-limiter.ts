/**
 * Failed sign-ins per email and per client address in a sliding window, in
 * memory (one server process; a restart forgives). Only failures count, so
 * a user who signs in correctly is never slowed down by their own history.
 * Each attempt is counted as it starts and uncounted if it succeeds.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Milliseconds until another attempt is allowed, or 0. */
  retryAfterMs(email: string, address: string, now: number): number {
    const checks: Array<[string, number]> = [
      [`e:${email.toLowerCase()}`, this.maxFailures],
      [`a:${address}`, this.maxFailures * 4],
    ];
    let wait = 0;
    for (const [key, max] of checks) {
      const list = this.recent(key, now);
      if (list.length >= max) wait = Math.max(wait, list[list.length - max]! + this.windowMs - now);
    }
    return wait;
  }

  /**
   * Counts this attempt as a failure before the (slow) password check, so parallel attempts
   * cannot all slip past the limit. Returns the wait in milliseconds (nothing counted) or 0.
   */
  reserve(email: string, address: string, now: number): number {
    const wait = this.retryAfterMs(email, address, now);
    if (wait > 0) return wait;
    for (const key of [`e:${email.toLowerCase()}`, `a:${address}`]) {
      this.failures.set(key, [...this.recent(key, now), now]);
    }
    if (this.failures.size > 10_000) this.sweep(now);
    return 0;
  }

  /** The attempt reserved at `reservedAt` succeeded: it was no failure, and the email's history is forgiven. */
  recordSuccess(email: string, address: string, reservedAt: number): void {
    this.failures.delete(`e:${email.toLowerCase()}`);
    const list = this.failures.get(`a:${address}`);
    const i = list?.indexOf(reservedAt) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
