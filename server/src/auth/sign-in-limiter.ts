/**
 * Failed sign-ins per email and per client address in a sliding window, in
 * memory (one server process; a restart forgives). Only failures count, so
 * a user who signs in correctly is never slowed down by their own history.
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

  recordFailure(email: string, address: string, now: number): void {
    for (const key of [`e:${email.toLowerCase()}`, `a:${address}`]) {
      this.failures.set(key, [...this.recent(key, now), now]);
    }
    if (this.failures.size > 10_000) this.sweep(now);
  }

  recordSuccess(email: string): void {
    this.failures.delete(`e:${email.toLowerCase()}`);
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
