/**
 * The embedded default store: one SQLite file (WAL), prepared statements,
 * and BEGIN IMMEDIATE transactions so that the server and the operator
 * commands (`thirdloop-server keys create`) can write the same file at once.
 */
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyRecord, KeyState } from '../domain/keys.js';
import { MIGRATIONS } from './migrations.js';
import type { AuditInput, AuditRow, AuthCode, KeyDecision, KeyWatcher, Session, Store, User } from './store.js';

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
  migrate(db);

  const q = {
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
    sessionInsert: db.prepare('INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
    sessionFind: db.prepare<[string], { id_hash: string; user_id: string; csrf_token: string; created_at: number; expires_at: number }>(
      'SELECT * FROM sessions WHERE id_hash = ?',
    ),
    sessionDelete: db.prepare('DELETE FROM sessions WHERE id_hash = ?'),
    sessionExpire: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
    codeInsert: db.prepare(
      `INSERT INTO auth_codes (code_hash, user_id, code_challenge, redirect_uri, key_name, expires_in_days, replaces, machine, expires_at)
       VALUES (@code_hash, @user_id, @code_challenge, @redirect_uri, @key_name, @expires_in_days, @replaces, @machine, @expires_at)`,
    ),
    codeConsume: db.prepare<[string], Record<string, unknown>>('DELETE FROM auth_codes WHERE code_hash = ? RETURNING *'),
    codeExpire: db.prepare('DELETE FROM auth_codes WHERE expires_at <= ?'),
    auditInsert: db.prepare(
      `INSERT INTO audit (at, user_id, key_id, session_id, kind, action, method, path, model, status, latency_ms, input_tokens, output_tokens)
       VALUES (@at, @user_id, @key_id, @session_id, @kind, @action, @method, @path, @model, @status, @latency_ms, @input_tokens, @output_tokens)`,
    ),
    // The gateway's batches: positional, with no object per row.
    auditInsertRow: db.prepare(
      `INSERT INTO audit (at, user_id, key_id, session_id, kind, action, method, path, model, status, latency_ms, input_tokens, output_tokens)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };

  const auditParams = (e: AuditInput) => ({
    at: e.at.getTime(),
    user_id: e.user_id ?? null,
    key_id: e.key_id ?? null,
    session_id: e.session_id ?? null,
    kind: e.kind,
    action: e.action,
    method: e.method ?? null,
    path: e.path ?? null,
    model: e.model ?? null,
    status: e.status ?? null,
    latency_ms: e.latency_ms ?? null,
    input_tokens: e.input_tokens ?? null,
    output_tokens: e.output_tokens ?? null,
  });

  const auditInsertMany = db.transaction((entries: readonly AuditInput[]) => {
    for (const e of entries) q.auditInsert.run(auditParams(e));
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
    for (const e of decision.audit ?? []) q.auditInsert.run(auditParams(e));
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
        q.sessionInsert.run(s.idHash, s.userId, s.csrfToken, s.createdAt.getTime(), s.expiresAt.getTime());
      },
      async find(idHash) {
        const r = q.sessionFind.get(idHash);
        return (
          r && {
            idHash: r.id_hash,
            userId: r.user_id,
            csrfToken: r.csrf_token,
            createdAt: new Date(r.created_at),
            expiresAt: new Date(r.expires_at),
          }
        );
      },
      async delete(idHash) {
        q.sessionDelete.run(idHash);
      },
      async deleteExpired(now) {
        q.sessionExpire.run(now.getTime());
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
    audit: {
      async insert(entry) {
        q.auditInsert.run(auditParams(entry));
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
    if (v >= MIGRATIONS.length) return false;
    db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  while (step.immediate()) {
    // next version
  }
}
