/**
 * The storage seam. Narrow on purpose: SQLite (one process, the default) or PostgreSQL (replicas). Every
 * method is async so a networked store fits; every multi-row rule (the
 * active-key limit) goes through `keys.change`, which runs a pure decision
 * inside one transaction.
 */
import type { KeyPlan, KeyRecord } from '../domain/keys.js';

export interface User {
  id: string;
  email: string;
  passwordHash: string;
  createdAt: Date;
}

export type AuditKind = 'gateway' | 'key' | 'auth';

/** One audit row. Never bodies, never secrets. */
export interface AuditEntry {
  at: Date;
  user_id: string | null;
  key_id: string | null;
  session_id: string | null;
  kind: AuditKind;
  action: string;
  method: string | null;
  path: string | null;
  model: string | null;
  status: number | null;
  latency_ms: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** The client address (behind a trusted proxy, from X-Forwarded-For) of sign-in rows; null elsewhere. */
  source: string | null;
}

/** What callers pass: the unknown fields may be left out. */
export type AuditInput = Pick<AuditEntry, 'at' | 'kind' | 'action'> & Partial<Omit<AuditEntry, 'at' | 'kind' | 'action'>>;

export interface AuditRow extends AuditEntry {
  id: number;
}

export interface Session {
  /** SHA-256 of the cookie value; the cookie value itself is never stored. */
  idHash: string;
  userId: string;
  csrfToken: string;
  createdAt: Date;
  /** The absolute end, whatever the activity. */
  expiresAt: Date;
  /** The last request seen (recorded at most about once a minute, so page views rarely write). */
  lastSeenAt: Date;
  /** The session ends this long after `lastSeenAt`. */
  idleTimeoutMs: number;
}

/**
 * A token bucket: up to `limit` takes at once, refilled at `limit` per `windowMs`. Buckets live
 * in the store so that every replica counts against the same ones.
 */
export interface Bucket {
  key: string;
  limit: number;
  windowMs: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number; key: string };

export interface AuthCode {
  /** SHA-256 of the one-time code. */
  codeHash: string;
  userId: string;
  codeChallenge: string;
  /** null in headless (mode=code) flows. */
  redirectUri: string | null;
  keyName: string;
  expiresInDays: number;
  replaces: string | null;
  machine: string | null;
  expiresAt: Date;
}

/** What `keys.change` decides: a plan plus audit rows written in the same transaction. */
export interface KeyDecision<T> extends KeyPlan {
  audit?: AuditInput[];
  result: T;
}

/**
 * Which keys may have changed: their ids, or `null` for "any of them" (a change this process cannot
 * see in detail, such as another process writing the same database).
 */
export type KeyWatcher = (keyIds: readonly string[] | null) => void;

export interface Store {
  users: {
    /** Undefined when the email is taken. */
    create(user: User): Promise<User | undefined>;
    findByEmail(email: string): Promise<User | undefined>;
    findById(id: string): Promise<User | undefined>;
  };
  keys: {
    findById(keyId: string): Promise<KeyRecord | undefined>;
    listForUser(userId: string): Promise<KeyRecord[]>;
    /**
     * Reads all of the user's keys, calls `decide` (pure, synchronous; it may
     * throw to refuse) and applies its plan and audit rows atomically, with
     * concurrent changes for the same user serialized.
     */
    change<T>(userId: string, decide: (keys: KeyRecord[]) => KeyDecision<T>): Promise<T>;
    touchLastUsed(keyId: string, at: Date): Promise<void>;
    /**
     * The gateway's batch: "last used" times and audit rows in one transaction (times never move
     * backwards). A batch that fails as a whole is retried row by row by the caller.
     */
    writeBatch(lastUsed: ReadonlyMap<string, Date>, audit: readonly AuditInput[]): Promise<void>;
    /**
     * Calls `watcher` after every committed `change` made through this store, with the ids it
     * inserted, updated or removed, and with `null` when another process may have changed keys
     * (within a bound each store documents). The gateway's key cache is driven by it. Returns the
     * function that stops watching.
     */
    watch(watcher: KeyWatcher): () => void;
  };
  sessions: {
    insert(session: Session): Promise<void>;
    find(idHash: string): Promise<Session | undefined>;
    /** Records activity (idle timeout); never moves `lastSeenAt` back. */
    touch(idHash: string, at: Date): Promise<void>;
    /** The user's sessions that have not ended at `now`, newest first. */
    listForUser(userId: string, now: Date): Promise<Session[]>;
    delete(idHash: string): Promise<void>;
    /** Ends every session of the user ("sign out everywhere"); returns how many there were. */
    deleteForUser(userId: string): Promise<number>;
    /** Removes sessions past their absolute end or their idle timeout. */
    deleteExpired(now: Date): Promise<void>;
  };
  limits: {
    /** Takes one token from every bucket, or from none (then says which bucket refused and for how long). */
    take(buckets: readonly Bucket[], now: Date): Promise<LimitDecision>;
    /** Gives one token back to every bucket (an attempt taken ahead that turned out not to count). */
    refund(buckets: readonly Bucket[], now: Date): Promise<void>;
    /** True for the first call with `key` until `until`; false while that mark lasts. */
    markOnce(key: string, now: Date, until: Date): Promise<boolean>;
    /**
     * `take` for one bucket on a hot path (the gateway's requests per member): answered at once
     * (not a promise) when the store can, and exact for the process that serves the requests. The
     * SQLite store keeps these buckets in that process, since a transaction per request would cost
     * more than the gateway's whole hop (70–150 µs); an instance on SQLite is one serving process.
     * A store shared by replicas must make all of them count against the same bucket.
     */
    takeRequest(bucket: Bucket, now: Date): LimitDecision | Promise<LimitDecision>;
  };
  secrets: {
    /** The named 32-byte random secret, made on first use; the same for every process using this store. */
    get(name: string): Promise<Buffer>;
  };
  authCodes: {
    insert(code: AuthCode): Promise<void>;
    /** Removes and returns the code (single use); the caller checks expiry and bindings. */
    consume(codeHash: string): Promise<AuthCode | undefined>;
    /**
     * Counts a wrong code against the pending sign-ins with this PKCE challenge
     * (not expired at `now`) and removes those that reach `limit`. Returns the
     * tries left (0: it was just removed), or undefined when none is pending.
     */
    recordFailure(codeChallenge: string, now: Date, limit: number): Promise<number | undefined>;
    deleteExpired(now: Date): Promise<void>;
  };
  flashes: {
    /** Keeps one sealed message for the session until `expiresAt`, replacing any before it. */
    put(sessionHash: string, sealed: Buffer, expiresAt: Date, now: Date): Promise<void>;
    /** Removes and returns the session's message (once), unless it expired at `now`. */
    take(sessionHash: string, now: Date): Promise<Buffer | undefined>;
  };
  audit: {
    insert(entry: AuditInput): Promise<void>;
    /** Many rows in one transaction (the gateway's batched writes). */
    insertMany(entries: AuditInput[]): Promise<void>;
    /** Newest first. */
    list(filter?: { userId?: string; since?: Date; limit?: number }): Promise<AuditRow[]>;
  };
  /** Throws when the database cannot answer (the load balancer's /healthz asks). */
  health(): Promise<void>;
  close(): Promise<void>;
}
