/**
 * Key changes seen by every replica: `keys.change` announces the ids it changed with pg_notify in its
 * transaction (delivered on commit), and each watching process LISTENs on that channel. A LISTEN
 * connection can drop silently, so the listener also pings itself through the pool: when its own
 * ping has not come back for PING_LOST_MS, it tells the watchers "anything may have changed" on every
 * tick until pings return (the cache then reads every key from the database, which is correct, only
 * slower). So a change made on another replica is seen within about a second whatever happens to
 * the connection, and usually within milliseconds.
 */
import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';

/** The channel key changes are announced on. */
export const KEY_CHANNEL = 'thirdloop_keys';

const PING_EVERY_MS = 250;
/** Past this without our own ping back, the listener is taken for lost (the bound is this plus one tick). */
const PING_LOST_MS = 600;

type Watcher = (keyIds: readonly string[] | null) => void;

export class KeyWatch {
  private readonly watchers = new Set<Watcher>();
  private listening: Promise<{ unlisten(): Promise<void> }> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly me = randomBytes(6).toString('hex');
  private sent = 0;
  private lastPong = 0;

  constructor(private readonly sql: postgres.Sql<any>) {}

  /** Tells this process's watchers at once (the notification that follows from the database is a repeat). */
  notify(keyIds: readonly string[] | null): void {
    for (const watcher of this.watchers) watcher(keyIds);
  }

  watch(watcher: Watcher): () => void {
    this.watchers.add(watcher);
    if (!this.listening) this.start();
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) void this.stop();
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const listening = this.listening;
    this.listening = undefined;
    await listening?.then((l) => l.unlisten()).catch(() => {});
  }

  private start(): void {
    this.lastPong = Date.now();
    this.listening = this.sql.listen(
      KEY_CHANNEL,
      (payload) => {
        if (payload.startsWith('ping:')) {
          if (payload.startsWith(`ping:${this.me}:`)) this.lastPong = Date.now();
          return;
        }
        this.notify(payload === '' ? null : payload.split(','));
      },
      // Called on every (re)connection: what happened while it was down is unknown.
      () => this.notify(null),
    );
    this.listening.catch(() => {});
    this.timer = setInterval(() => this.tick(), PING_EVERY_MS);
    // Watching must not keep a finished process alive.
    this.timer.unref();
  }

  private tick(): void {
    if (Date.now() - this.lastPong > PING_LOST_MS) this.notify(null);
    this.sql`SELECT pg_notify(${KEY_CHANNEL}, ${`ping:${this.me}:${++this.sent}`})`.catch(() => {});
  }
}
