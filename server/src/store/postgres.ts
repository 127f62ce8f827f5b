/**
 * The store for several replicas: one PostgreSQL database shared by every server process. Loaded
 * (with its driver) only when a postgres:// URL is given, so the SQLite default pays nothing for it.
 *
 * Rules that span rows are made exact across replicas with row locks, at READ COMMITTED:
 * - `keys.change` locks the user's row (SELECT … FOR UPDATE) before reading their keys, so the
 *   changes of one member queue up whichever replica makes them, and the 2-active-key limit
 *   holds. A lock was chosen over SERIALIZABLE-with-retry because every change of one member
 *   conflicts with every other anyway: retries would be the common case under a race, each one a
 *   round trip and a fresh decision, while a lock waits once and never fails spuriously.
 * - `limits.take` creates missing buckets full (ON CONFLICT DO NOTHING), then locks them in key
 *   order (no deadlock between two takes) and decides on what it locked: exact, not approximate.
 */
import postgres from 'postgres';
import { randomBytes } from 'node:crypto';
import type { KeyRecord, KeyState } from '../domain/keys.js';
import { MIGRATIONS, newerSchemaMessage, POSTGRES } from './migrations.js';
import { KEY_CHANNEL, KeyWatch } from './postgres-key-watch.js';
import { SharedRequestBuckets } from './postgres-request-buckets.js';
import { SchemaError } from './schema-error.js';
import type { AuditInput, AuditRow, AuthCode, Bucket, KeyDecision, LimitDecision, Session, Store, User } from './store.js';
import { auditRow } from './audit-row.js';
import { fullAt, msUntilToken, tokensAt } from './token-bucket.js';

/** Any fixed number: the advisory lock that makes concurrent starts migrate one at a time. */
const MIGRATION_LOCK = 0x7468_6c70; // "thlp"

/** Expired limit rows and marks are swept at most this often (per process; only housekeeping). */
const SWEEP_EVERY_MS = 60_000;

type Sql = postgres.Sql<{ epoch: number }>;
type Tx = postgres.TransactionSql<{ epoch: number }>;
type Row = Record<string, any>;

const toUser = (r: Row): User => ({ id: r.id, email: r.email, passwordHash: r.password_hash, createdAt: new Date(r.created_at) });

const toKey = (r: Row): KeyRecord => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  state: r.state as KeyState,
  secretHash: r.secret_hash,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  expiresInDays: r.expires_in_days,
  lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
});

const toSession = (r: Row): Session => ({
  idHash: r.id_hash,
  userId: r.user_id,
  csrfToken: r.csrf_token,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  lastSeenAt: new Date(r.last_seen_at ?? r.created_at),
  idleTimeoutMs: r.idle_timeout_ms ?? r.expires_at - r.created_at,
});

const toAuthCode = (r: Row): AuthCode => ({
  codeHash: r.code_hash,
  userId: r.user_id,
  codeChallenge: r.code_challenge,
  redirectUri: r.redirect_uri ?? null,
  keyName: r.key_name,
  expiresInDays: r.expires_in_days,
  replaces: r.replaces ?? null,
  machine: r.machine ?? null,
  expiresAt: new Date(r.expires_at),
});

const AUDIT_COLUMNS = [
  'at',
  'user_id',
  'key_id',
  'session_id',
  'kind',
  'action',
  'method',
  'path',
  'model',
  'status',
  'latency_ms',
  'input_tokens',
  'output_tokens',
  'source',
] as const;


/** The database named in a URL without its password, for messages. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? ':' + u.port : ''}${u.pathname}`;
  } catch {
    return 'the PostgreSQL database';
  }
}

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  max?: number;
}

export async function openPostgresStore(url: string, options: PostgresOptions = {}): Promise<Store> {
  const sql: Sql = postgres(url, {
    max: options.max ?? 10,
    // Epoch milliseconds are BIGINT: read them as numbers (exact up to 2^53, far past any date we store).
    types: { epoch: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    // "relation already exists, skipping" and the like are not the operator's business.
    onnotice: () => {},
    connection: { application_name: 'thirdloop-server' },
    connect_timeout: 10,
  });
  try {
    await migrate(sql);
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }

  const keyWatch = new KeyWatch(sql);
  const requestBuckets = new SharedRequestBuckets(sql);

  let sweptAt = 0;
  const sweep = async (now: number) => {
    if (now - sweptAt < SWEEP_EVERY_MS && now >= sweptAt) return;
    sweptAt = now;
    await sql`DELETE FROM limits WHERE full_at <= ${now}`;
    await sql`DELETE FROM marks WHERE until <= ${now}`;
  };

  const insertAudit = async (tx: Sql | Tx, entries: readonly AuditInput[]) => {
    if (entries.length > 0) await tx`INSERT INTO audit ${tx(entries.map(auditRow), ...AUDIT_COLUMNS)}`;
  };

  /** The buckets' state at `now`, locked until the transaction ends; missing ones are made full. */
  const lockBuckets = async (tx: Tx, buckets: readonly Bucket[], now: number, create: boolean) => {
    const keys = [...new Set(buckets.map((b) => b.key))].sort();
    if (create) {
      const rows = buckets.filter((b, i) => buckets.findIndex((o) => o.key === b.key) === i).sort((a, b) => (a.key < b.key ? -1 : 1));
      await tx`INSERT INTO limits ${tx(rows.map((b) => ({ key: b.key, tokens: b.limit, at: now, full_at: now })))} ON CONFLICT (key) DO NOTHING`;
    }
    const rows = await tx`SELECT key, tokens, at FROM limits WHERE key = ANY(${keys}) ORDER BY key FOR UPDATE`;
    return new Map(rows.map((r) => [r.key as string, { tokens: Number(r.tokens), at: Number(r.at) }]));
  };
  const putBucket = (tx: Tx, b: Bucket, tokens: number, now: number) =>
    tx`UPDATE limits SET tokens = ${tokens}, at = ${now}, full_at = ${fullAt(b, tokens, now)} WHERE key = ${b.key}`;

  // The gateway's key cache, batched writes and per-member buckets (Store.keys.watch / writeBatch,
  // Store.limits.takeRequest), spread in below.
  const keyParts = {
    watch(watcher: (keyIds: readonly string[] | null) => void): () => void {
      return keyWatch.watch(watcher);
    },
    async writeBatch(lastUsed: ReadonlyMap<string, Date>, audit: readonly AuditInput[]): Promise<void> {
      if (lastUsed.size === 0 && audit.length === 0) return;
      await sql.begin(async (tx) => {
        if (lastUsed.size > 0) {
          // One statement for the whole batch; a time never moves back.
          const rows = [...lastUsed].map(([keyId, at]) => [keyId, String(at.getTime())]);
          await tx`
            UPDATE api_keys AS k SET last_used_at = v.at::bigint
            FROM (VALUES ${tx(rows)}) AS v (id, at)
            WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at::bigint)`;
        }
        await insertAudit(tx, audit);
      });
    },
  };
  const limitParts = {
    takeRequest(bucket: Bucket, now: Date): LimitDecision | Promise<LimitDecision> {
      return requestBuckets.take(bucket, now);
    },
  };

  return {
    users: {
      async create(user) {
        const r = await sql`
          INSERT INTO users (id, email, password_hash, created_at)
          VALUES (${user.id}, ${user.email}, ${user.passwordHash}, ${user.createdAt.getTime()}) ON CONFLICT DO NOTHING`;
        return r.count === 1 ? user : undefined;
      },
      async findByEmail(email) {
        const [r] = await sql`SELECT * FROM users WHERE lower(email) = lower(${email})`;
        return r && toUser(r);
      },
      async findById(id) {
        const [r] = await sql`SELECT * FROM users WHERE id = ${id}`;
        return r && toUser(r);
      },
    },
    keys: {
      ...keyParts,
      async findById(keyId) {
        const [r] = await sql`SELECT * FROM api_keys WHERE id = ${keyId}`;
        return r && toKey(r);
      },
      async listForUser(userId) {
        return (await sql`SELECT * FROM api_keys WHERE user_id = ${userId} ORDER BY created_at, id`).map(toKey);
      },
      async change<T>(userId: string, decide: (keys: KeyRecord[]) => KeyDecision<T>): Promise<T> {
        let changed: string[] = [];
        const result = (await sql.begin(async (tx) => {
          // The member's row is the lock every change of their keys queues on (see the top of the file).
          await tx`SELECT 1 FROM users WHERE id = ${userId} FOR UPDATE`;
          const keys = (await tx`SELECT * FROM api_keys WHERE user_id = ${userId} ORDER BY created_at, id`).map(toKey);
          const decision = decide(keys);
          changed = [];
          for (const id of decision.remove ?? []) {
            await tx`DELETE FROM api_keys WHERE id = ${id} AND user_id = ${userId}`;
            changed.push(id);
          }
          for (const u of decision.update ?? []) {
            if (u.state !== undefined) await tx`UPDATE api_keys SET state = ${u.state} WHERE id = ${u.id} AND user_id = ${userId}`;
            if (u.name !== undefined) await tx`UPDATE api_keys SET name = ${u.name} WHERE id = ${u.id} AND user_id = ${userId}`;
            changed.push(u.id);
          }
          for (const k of decision.insert ?? []) {
            if (k.userId !== userId) throw new Error('a plan may only insert keys of its own user');
            await tx`
              INSERT INTO api_keys (id, user_id, name, state, secret_hash, created_at, expires_at, expires_in_days, last_used_at)
              VALUES (${k.id}, ${k.userId}, ${k.name}, ${k.state}, ${k.secretHash}, ${k.createdAt.getTime()},
                      ${k.expiresAt.getTime()}, ${k.expiresInDays}, ${k.lastUsedAt?.getTime() ?? null})`;
            changed.push(k.id);
          }
          await insertAudit(tx, decision.audit ?? []);
          // Delivered to every listening replica when (and only if) this transaction commits.
          if (changed.length > 0) await tx`SELECT pg_notify(${KEY_CHANNEL}, ${changed.join(',')})`;
          return [decision.result];
        }))[0] as T;
        // This process's watchers at once; the other replicas by the notification.
        if (changed.length > 0) keyWatch.notify(changed);
        return result;
      },
      async touchLastUsed(keyId, at) {
        await sql`UPDATE api_keys SET last_used_at = ${at.getTime()} WHERE id = ${keyId} AND (last_used_at IS NULL OR last_used_at < ${at.getTime()})`;
      },
    },
    sessions: {
      async insert(s) {
        await sql`
          INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, idle_timeout_ms)
          VALUES (${s.idHash}, ${s.userId}, ${s.csrfToken}, ${s.createdAt.getTime()}, ${s.expiresAt.getTime()},
                  ${s.lastSeenAt.getTime()}, ${s.idleTimeoutMs})`;
      },
      async find(idHash) {
        const [r] = await sql`SELECT * FROM sessions WHERE id_hash = ${idHash}`;
        return r && toSession(r);
      },
      async touch(idHash, at) {
        await sql`UPDATE sessions SET last_seen_at = ${at.getTime()} WHERE id_hash = ${idHash} AND last_seen_at < ${at.getTime()}`;
      },
      async listForUser(userId, now) {
        const t = now.getTime();
        return (
          await sql`SELECT * FROM sessions WHERE user_id = ${userId} AND expires_at > ${t} AND last_seen_at + idle_timeout_ms > ${t} ORDER BY created_at DESC`
        ).map(toSession);
      },
      async delete(idHash) {
        await sql`DELETE FROM sessions WHERE id_hash = ${idHash}`;
      },
      async deleteForUser(userId) {
        return (await sql`DELETE FROM sessions WHERE user_id = ${userId}`).count;
      },
      async deleteExpired(now) {
        const t = now.getTime();
        await sql`DELETE FROM sessions WHERE expires_at <= ${t} OR last_seen_at + idle_timeout_ms <= ${t}`;
      },
    },
    limits: {
      async take(buckets, now) {
        const t = now.getTime();
        await sweep(t);
        if (buckets.length === 0) return { allowed: true };
        return (await sql.begin(async (tx) => {
          const state = await lockBuckets(tx, buckets, t, true);
          const available = buckets.map((b) => tokensAt(b, state.get(b.key), t));
          let refusal: LimitDecision = { allowed: true };
          buckets.forEach((b, i) => {
            const wait = msUntilToken(b, available[i]!);
            if (wait > 0 && (refusal.allowed || wait > refusal.retryAfterMs)) refusal = { allowed: false, retryAfterMs: wait, key: b.key };
          });
          if (refusal.allowed) for (const [i, b] of buckets.entries()) await putBucket(tx, b, available[i]! - 1, t);
          return [refusal];
        }))[0] as LimitDecision;
      },
      async refund(buckets, now) {
        const t = now.getTime();
        if (buckets.length === 0) return;
        await sql.begin(async (tx) => {
          const state = await lockBuckets(tx, buckets, t, false);
          for (const b of buckets) {
            const s = state.get(b.key);
            if (s) await putBucket(tx, b, Math.min(b.limit, tokensAt(b, s, t) + 1), t);
          }
        });
      },
      ...limitParts,
      async markOnce(key, now, until) {
        await sweep(now.getTime());
        const r = await sql`
          INSERT INTO marks (key, until) VALUES (${key}, ${until.getTime()})
          ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE marks.until <= ${now.getTime()}`;
        return r.count === 1;
      },
    },
    secrets: {
      async get(name) {
        // Replicas may start at once: the first insert wins and every one reads the same value.
        await sql`INSERT INTO server_secrets (name, value, created_at) VALUES (${name}, ${randomBytes(32)}, ${Date.now()}) ON CONFLICT DO NOTHING`;
        const [r] = await sql`SELECT value FROM server_secrets WHERE name = ${name}`;
        return r!.value as Buffer;
      },
    },
    authCodes: {
      async insert(c) {
        await sql`
          INSERT INTO auth_codes (code_hash, user_id, code_challenge, redirect_uri, key_name, expires_in_days, replaces, machine, expires_at)
          VALUES (${c.codeHash}, ${c.userId}, ${c.codeChallenge}, ${c.redirectUri}, ${c.keyName}, ${c.expiresInDays},
                  ${c.replaces}, ${c.machine}, ${c.expiresAt.getTime()})`;
      },
      async consume(codeHash) {
        const [r] = await sql`DELETE FROM auth_codes WHERE code_hash = ${codeHash} RETURNING *`;
        return r && toAuthCode(r);
      },
      async recordFailure(codeChallenge, now, limit) {
        return (await sql.begin(async (tx) => {
          const rows = await tx`
            UPDATE auth_codes SET failed_attempts = failed_attempts + 1
            WHERE code_challenge = ${codeChallenge} AND expires_at > ${now.getTime()} RETURNING failed_attempts`;
          if (rows.length === 0) return [undefined];
          await tx`DELETE FROM auth_codes WHERE code_challenge = ${codeChallenge} AND failed_attempts >= ${limit}`;
          return [Math.max(0, limit - Math.max(...rows.map((r) => Number(r.failed_attempts))))];
        }))[0] as number | undefined;
      },
      async deleteExpired(now) {
        await sql`DELETE FROM auth_codes WHERE expires_at <= ${now.getTime()}`;
      },
    },
    flashes: {
      async put(sessionHash, sealed, expiresAt, now) {
        await sql`DELETE FROM flashes WHERE expires_at <= ${now.getTime()}`;
        await sql`
          INSERT INTO flashes (session_hash, sealed, expires_at) VALUES (${sessionHash}, ${sealed}, ${expiresAt.getTime()})
          ON CONFLICT (session_hash) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at`;
      },
      async take(sessionHash, now) {
        const [r] = await sql`DELETE FROM flashes WHERE session_hash = ${sessionHash} RETURNING sealed, expires_at`;
        return r && Number(r.expires_at) > now.getTime() ? (r.sealed as Buffer) : undefined;
      },
    },
    audit: {
      async insert(entry) {
        await insertAudit(sql, [entry]);
      },
      async insertMany(entries) {
        if (entries.length > 0) await sql.begin((tx) => insertAudit(tx, entries));
      },
      async list(filter = {}) {
        const limit = Math.max(1, Math.min(filter.limit ?? 1000, 100_000));
        const byUser = filter.userId !== undefined ? sql`AND user_id = ${filter.userId}` : sql``;
        const since = filter.since !== undefined ? sql`AND at >= ${filter.since.getTime()}` : sql``;
        const rows = await sql`SELECT * FROM audit WHERE TRUE ${byUser} ${since} ORDER BY at DESC, id DESC LIMIT ${limit}`;
        return rows.map((r) => ({ ...(r as unknown as AuditRow), id: Number(r.id), at: new Date(r.at) }));
      },
    },
    async health() {
      await sql`SELECT 1`;
    },
    async close() {
      await keyWatch.stop();
      await requestBuckets.close().catch(() => {});
      await sql.end({ timeout: 5 });
    },
  };
}

/**
 * Applies the missing steps in one transaction under an advisory lock: replicas starting at once
 * queue here, and the ones after the first find nothing left to do. DDL is transactional in
 * PostgreSQL, so a failed step leaves the schema as it was.
 */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`;
    const [row] = await tx`SELECT version FROM schema_version`;
    let version = row ? Number(row.version) : 0;
    if (!row) await tx`INSERT INTO schema_version (version) VALUES (0)`;
    if (version > MIGRATIONS.length) throw new SchemaError(newerSchemaMessage(version));
    for (; version < MIGRATIONS.length; version++) await tx.unsafe(MIGRATIONS[version]!(POSTGRES));
    await tx`UPDATE schema_version SET version = ${version}`;
  });
}
