/**
 * The embedded default store: one SQLite file (WAL), prepared statements,
 * and BEGIN IMMEDIATE transactions so that the server and the operator
 * commands (`thirdloop-server keys create`) can write the same file at once.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyRecord, KeyState } from '../domain/keys.js';
import { MIGRATIONS, newerSchemaMessage, SQLITE } from './migrations.js';
import { SchemaError } from './schema-error.js';
import type { AuditInput, AuditRow, AuthCode, Bucket, KeyDecision, KeyWatcher, LimitDecision, Session, Store, User } from './store.js';
import { auditRow } from './audit-row.js';
import { fullAt, msUntilToken, tokensAt, type BucketState } from './token-bucket.js';

/**
 * How often a watched store asks SQLite whether another process (an operator command on the same
 * file) committed: `PRAGMA data_version` changes only for other connections' writes. This is the
 * bound on how long such a change can go unseen by the gateway's key cache.
 */
export const OTHER_PROCESS_POLL_MS = 100;

interface KeyRow {
  id: string;
  user_id: string;
  name: string;
  state: KeyState;
  secret_hash: string;
  created_at: number;
  expires_at: number;
  expires_in_days: number;
  last_used_at: number | null;
}

const toKey = (r: KeyRow): KeyRecord => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  state: r.state,
  secretHash: r.secret_hash,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  expiresInDays: r.expires_in_days,
  lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
});

interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: number;
}
const toUser = (r: UserRow): User => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  createdAt: new Date(r.created_at),
});

interface SessionRow {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number | null;
  idle_timeout_ms: number | null;
}
const toSession = (r: SessionRow): Session => ({
  idHash: r.id_hash,
  userId: r.user_id,
  csrfToken: r.csrf_token,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  lastSeenAt: new Date(r.last_seen_at ?? r.created_at),
  // Sessions from before idle timeouts existed end at their absolute time only.
  idleTimeoutMs: r.idle_timeout_ms ?? r.expires_at - r.created_at,
});

/** Expired limit rows and marks are swept at most this often (per process; only housekeeping). */
const SWEEP_EVERY_MS = 60_000;

export function databasePath(dataDir: string): string {
  return `${dataDir}/thirdloop.db`;
}

export function openSqliteStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  // Emails and hashes are nobody else's business; -wal and -shm inherit this mode.
  if (file !== ':memory:') chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Another process (an operator command) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  const q = {
    health: db.prepare('SELECT 1'),
    userInsert: db.prepare('INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    userByEmail: db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?'),
    userById: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    keyById: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?'),
    keysForUser: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id'),
    keyInsert: db.prepare(
      `INSERT INTO api_keys (id, user_id, name, state, secret_hash, created_at, expires_at, expires_in_days, last_used_at)
       VALUES (@id, @user_id, @name, @state, @secret_hash, @created_at, @expires_at, @expires_in_days, @last_used_at)`,
    ),
    keyState: db.prepare('UPDATE api_keys SET state = ? WHERE id = ? AND user_id = ?'),
    keyName: db.prepare('UPDATE api_keys SET name = ? WHERE id = ? AND user_id = ?'),
    keyDelete: db.prepare('DELETE FROM api_keys WHERE id = ? AND user_id = ?'),
    // Never move last_used_at backwards (batched writes may arrive out of order).
    keyTouch: db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
    sessionInsert: db.prepare(
      'INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, idle_timeout_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    sessionFind: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id_hash = ?'),
    sessionTouch: db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?'),
    sessionsForUser: db.prepare<[string, number, number], SessionRow>(
      'SELECT * FROM sessions WHERE user_id = ? AND expires_at > ? AND last_seen_at + idle_timeout_ms > ? ORDER BY created_at DESC',
    ),
    sessionDelete: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
    sessionDeleteForUser: db.prepare('DELETE FROM sessions WHERE user_id = ?'),
    sessionExpire: db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at + idle_timeout_ms <= ?'),
    limitGet: db.prepare<[string], { tokens: number; at: number }>('SELECT tokens, at FROM limits WHERE key = ?'),
    limitPut: db.prepare(
      `INSERT INTO limits (key, tokens, at, full_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, full_at = excluded.full_at`,
    ),
    limitSweep: db.prepare('DELETE FROM limits WHERE full_at <= ?'),
    markPut: db.prepare(
      'INSERT INTO marks (key, until) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET until = excluded.until WHERE marks.until <= ?',
    ),
    markSweep: db.prepare('DELETE FROM marks WHERE until <= ?'),
    secretInsert: db.prepare('INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    secretGet: db.prepare<[string], { value: Buffer }>('SELECT value FROM server_secrets WHERE name = ?'),
    codeInsert: db.prepare(
      `INSERT INTO auth_codes (code_hash, user_id, code_challenge, redirect_uri, key_name, expires_in_days, replaces, machine, expires_at)
       VALUES (@code_hash, @user_id, @code_challenge, @redirect_uri, @key_name, @expires_in_days, @replaces, @machine, @expires_at)`,
    ),
    codeConsume: db.prepare<[string], Record<string, unknown>>('DELETE FROM auth_codes WHERE code_hash = ? RETURNING *'),
    flashPut: db.prepare(
      `INSERT INTO flashes (session_hash, sealed, expires_at) VALUES (?, ?, ?)
       ON CONFLICT(session_hash) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at`,
    ),
    flashSweep: db.prepare('DELETE FROM flashes WHERE expires_at <= ?'),
    flashTake: db.prepare<[string], { sealed: Buffer; expires_at: number }>('DELETE FROM flashes WHERE session_hash = ? RETURNING sealed, expires_at'),
    codeExpire: db.prepare('DELETE FROM auth_codes WHERE expires_at <= ?'),
    codeFail: db.prepare<[string, number], { failed_attempts: number }>(
      'UPDATE auth_codes SET failed_attempts = failed_attempts + 1 WHERE code_challenge = ? AND expires_at > ? RETURNING failed_attempts',
    ),
    codeRemoveFailed: db.prepare('DELETE FROM auth_codes WHERE code_challenge = ? AND failed_attempts >= ?'),
    auditInsert: db.prepare(
      `INSERT INTO audit (at, user_id, key_id, session_id, kind, action, method, path, model, status, latency_ms, input_tokens, output_tokens, source)
       VALUES (@at, @user_id, @key_id, @session_id, @kind, @action, @method, @path, @model, @status, @latency_ms, @input_tokens, @output_tokens, @source)`,
    ),
    // The gateway's batches: positional, with no object per row.
    auditInsertRow: db.prepare(
      `INSERT INTO audit (at, user_id, key_id, session_id, kind, action, method, path, model, status, latency_ms, input_tokens, output_tokens, source)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };


  const auditInsertMany = db.transaction((entries: readonly AuditInput[]) => {
    for (const e of entries) q.auditInsert.run(auditRow(e));
  });
  const batch = db.transaction((lastUsed: ReadonlyMap<string, Date>, entries: readonly AuditInput[]) => {
    for (const [keyId, at] of lastUsed) q.keyTouch.run(at.getTime(), keyId, at.getTime());
    for (const e of entries) {
      q.auditInsertRow.run(
        e.at.getTime(),
        e.user_id ?? null,
        e.key_id ?? null,
        e.session_id ?? null,
        e.kind,
        e.action,
        e.method ?? null,
        e.path ?? null,
        e.model ?? null,
        e.status ?? null,
        e.latency_ms ?? null,
        e.input_tokens ?? null,
        e.output_tokens ?? null,
        e.source ?? null,
      );
    }
  });
  /** The ids the last committed `change` touched, for the watchers. */
  let changed: string[] = [];
  const change = db.transaction(<T>(userId: string, decide: (keys: KeyRecord[]) => KeyDecision<T>): T => {
    const keys = q.keysForUser.all(userId).map(toKey);
    const decision = decide(keys);
    changed = [...(decision.remove ?? []), ...(decision.update ?? []).map((u) => u.id), ...(decision.insert ?? []).map((k) => k.id)];
    for (const id of decision.remove ?? []) q.keyDelete.run(id, userId);
    for (const u of decision.update ?? []) {
      if (u.state !== undefined) q.keyState.run(u.state, u.id, userId);
      if (u.name !== undefined) q.keyName.run(u.name, u.id, userId);
    }
    for (const k of decision.insert ?? []) {
      if (k.userId !== userId) throw new Error('a plan may only insert keys of its own user');
      q.keyInsert.run({
        id: k.id,
        user_id: k.userId,
        name: k.name,
        state: k.state,
        secret_hash: k.secretHash,
        created_at: k.createdAt.getTime(),
        expires_at: k.expiresAt.getTime(),
        expires_in_days: k.expiresInDays,
        last_used_at: k.lastUsedAt?.getTime() ?? null,
      });
    }
    for (const e of decision.audit ?? []) q.auditInsert.run(auditRow(e));
    return decision.result;
  });

  const watchers = new Set<KeyWatcher>();
  const notify = (keyIds: readonly string[] | null) => {
    for (const watcher of watchers) watcher(keyIds);
  };
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenVersion = 0;
  let poll: NodeJS.Timeout | undefined;
  const pollOtherProcesses = () => {
    if (!db.open) return;
    const version = dataVersion.get() as number;
    if (version !== seenVersion) {
      seenVersion = version;
      notify(null);
    }
  };

  const bucketState = (key: string): BucketState | undefined => q.limitGet.get(key);
  // All or none: the reads and writes of one call are one transaction, so two requests (or two
  // processes) can never both take a bucket's last token.
  const take = db.transaction((buckets: readonly Bucket[], now: number): LimitDecision => {
    const available = buckets.map((b) => tokensAt(b, bucketState(b.key), now));
    let refusal: LimitDecision = { allowed: true };
    buckets.forEach((b, i) => {
      const wait = msUntilToken(b, available[i]!);
      if (wait > 0 && (refusal.allowed || wait > refusal.retryAfterMs)) refusal = { allowed: false, retryAfterMs: wait, key: b.key };
    });
    if (!refusal.allowed) return refusal;
    buckets.forEach((b, i) => {
      const tokens = available[i]! - 1;
      q.limitPut.run(b.key, tokens, now, fullAt(b, tokens, now));
    });
    return refusal;
  });
  const refund = db.transaction((buckets: readonly Bucket[], now: number) => {
    for (const b of buckets) {
      const state = bucketState(b.key);
      if (!state) continue;
      const tokens = Math.min(b.limit, tokensAt(b, state, now) + 1);
      q.limitPut.run(b.key, tokens, now, fullAt(b, tokens, now));
    }
  });
  // takeRequest's buckets: in this process (see Store.limits.takeRequest), by the same arithmetic.
  const requestBuckets = new Map<string, BucketState>();
  const ALLOWED: LimitDecision = { allowed: true };
  const takeRequest = (bucket: Bucket, now: number): LimitDecision => {
    let state = requestBuckets.get(bucket.key);
    const tokens = tokensAt(bucket, state, now);
    const wait = msUntilToken(bucket, tokens);
    if (wait > 0) return { allowed: false, retryAfterMs: wait, key: bucket.key };
    if (state) {
      state.tokens = tokens - 1;
      state.at = now;
      return ALLOWED;
    }
    // A full bucket behaves as a missing one: forgetting those bounds the map without changing an answer.
    if (requestBuckets.size >= 10_000) {
      for (const [key, b] of requestBuckets) if (fullAt(bucket, b.tokens, b.at) <= now) requestBuckets.delete(key);
    }
    state = { tokens: tokens - 1, at: now };
    requestBuckets.set(bucket.key, state);
    return ALLOWED;
  };

  let sweptAt = 0;
  const sweep = (now: number) => {
    if (now - sweptAt < SWEEP_EVERY_MS && now >= sweptAt) return;
    sweptAt = now;
    q.limitSweep.run(now);
    q.markSweep.run(now);
  };

  return {
    users: {
      async create(user) {
        const r = q.userInsert.run(user.id, user.email, user.passwordHash, user.createdAt.getTime());
        return r.changes === 1 ? user : undefined;
      },
      async findByEmail(email) {
        const r = q.userByEmail.get(email);
        return r && toUser(r);
      },
      async findById(id) {
        const r = q.userById.get(id);
        return r && toUser(r);
      },
    },
    keys: {
      async findById(keyId) {
        const r = q.keyById.get(keyId);
        return r && toKey(r);
      },
      async listForUser(userId) {
        return q.keysForUser.all(userId).map(toKey);
      },
      async change<T>(userId: string, decide: (keys: KeyRecord[]) => KeyDecision<T>): Promise<T> {
        changed = [];
        const result = change.immediate(userId, decide) as T;
        if (changed.length > 0) notify(changed);
        return result;
      },
      watch(watcher) {
        watchers.add(watcher);
        if (!poll) {
          seenVersion = dataVersion.get() as number;
          poll = setInterval(pollOtherProcesses, OTHER_PROCESS_POLL_MS);
          // Watching must not keep a finished process alive.
          poll.unref();
        }
        return () => {
          watchers.delete(watcher);
          if (watchers.size === 0 && poll) {
            clearInterval(poll);
            poll = undefined;
          }
        };
      },
      async touchLastUsed(keyId, at) {
        q.keyTouch.run(at.getTime(), keyId, at.getTime());
      },
      async writeBatch(lastUsed, audit) {
        batch(lastUsed, audit);
      },
    },
    sessions: {
      async insert(s: Session) {
        q.sessionInsert.run(s.idHash, s.userId, s.csrfToken, s.createdAt.getTime(), s.expiresAt.getTime(), s.lastSeenAt.getTime(), s.idleTimeoutMs);
      },
      async find(idHash) {
        const r = q.sessionFind.get(idHash);
        return r && toSession(r);
      },
      async touch(idHash, at) {
        q.sessionTouch.run(at.getTime(), idHash, at.getTime());
      },
      async listForUser(userId, now) {
        return q.sessionsForUser.all(userId, now.getTime(), now.getTime()).map(toSession);
      },
      async delete(idHash) {
        q.sessionDelete.run(idHash);
      },
      async deleteForUser(userId) {
        return q.sessionDeleteForUser.run(userId).changes;
      },
      async deleteExpired(now) {
        q.sessionExpire.run(now.getTime(), now.getTime());
      },
    },
    limits: {
      async take(buckets, now) {
        sweep(now.getTime());
        return take.immediate(buckets, now.getTime());
      },
      async refund(buckets, now) {
        refund.immediate(buckets, now.getTime());
      },
      async markOnce(key, now, until) {
        sweep(now.getTime());
        return q.markPut.run(key, until.getTime(), now.getTime()).changes === 1;
      },
      takeRequest(bucket, now) {
        return takeRequest(bucket, now.getTime());
      },
    },
    secrets: {
      async get(name) {
        // Two processes may start at once: the first insert wins and both read the same value.
        q.secretInsert.run(name, randomBytes(32), Date.now());
        return q.secretGet.get(name)!.value;
      },
    },
    authCodes: {
      async insert(c: AuthCode) {
        q.codeInsert.run({
          code_hash: c.codeHash,
          user_id: c.userId,
          code_challenge: c.codeChallenge,
          redirect_uri: c.redirectUri,
          key_name: c.keyName,
          expires_in_days: c.expiresInDays,
          replaces: c.replaces,
          machine: c.machine,
          expires_at: c.expiresAt.getTime(),
        });
      },
      async recordFailure(codeChallenge, now, limit) {
        return db.transaction(() => {
          const rows = q.codeFail.all(codeChallenge, now.getTime());
          if (rows.length === 0) return undefined;
          q.codeRemoveFailed.run(codeChallenge, limit);
          return Math.max(0, limit - Math.max(...rows.map((r) => r.failed_attempts)));
        })();
      },
      async consume(codeHash) {
        const r = q.codeConsume.get(codeHash);
        if (!r) return undefined;
        return {
          codeHash: r.code_hash as string,
          userId: r.user_id as string,
          codeChallenge: r.code_challenge as string,
          redirectUri: (r.redirect_uri as string | null) ?? null,
          keyName: r.key_name as string,
          expiresInDays: r.expires_in_days as number,
          replaces: (r.replaces as string | null) ?? null,
          machine: (r.machine as string | null) ?? null,
          expiresAt: new Date(r.expires_at as number),
        };
      },
      async deleteExpired(now) {
        q.codeExpire.run(now.getTime());
      },
    },
    flashes: {
      async put(sessionHash, sealed, expiresAt, now) {
        q.flashSweep.run(now.getTime());
        q.flashPut.run(sessionHash, sealed, expiresAt.getTime());
      },
      async take(sessionHash, now) {
        const r = q.flashTake.get(sessionHash);
        return r && r.expires_at > now.getTime() ? r.sealed : undefined;
      },
    },
    audit: {
      async insert(entry) {
        q.auditInsert.run(auditRow(entry));
      },
      async insertMany(entries) {
        if (entries.length > 0) auditInsertMany(entries);
      },
      async list(filter = {}) {
        const where: string[] = [];
        const params: (string | number)[] = [];
        if (filter.userId !== undefined) {
          where.push('user_id = ?');
          params.push(filter.userId);
        }
        if (filter.since !== undefined) {
          where.push('at >= ?');
          params.push(filter.since.getTime());
        }
        const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY at DESC, id DESC LIMIT ?`;
        params.push(Math.max(1, Math.min(filter.limit ?? 1000, 100_000)));
        return (db.prepare(sql).all(...params) as Array<Omit<AuditRow, 'at'> & { at: number }>).map((r) => ({ ...r, at: new Date(r.at) }));
      },
    },
    async health() {
      q.health.get();
    },
    async close() {
      clearInterval(poll);
      poll = undefined;
      if (db.open) db.close();
    },
  };
}

function migrate(db: Database.Database): void {
  // The version is read inside the write lock: two processes opening a new file race here.
  const step = db.transaction((): boolean => {
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > MIGRATIONS.length) throw new SchemaError(newerSchemaMessage(v));
    if (v === MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[v]!(SQLITE));
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  while (step.immediate()) {
    // next version
  }
}
