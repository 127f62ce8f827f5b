/** Schema versions, applied in order; PRAGMA user_version records the last one applied. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'compromised')),
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    expires_in_days INTEGER NOT NULL,
    last_used_at INTEGER
  );
  CREATE INDEX api_keys_user ON api_keys(user_id);
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_challenge TEXT NOT NULL,
    redirect_uri TEXT,
    key_name TEXT NOT NULL,
    expires_in_days INTEGER NOT NULL,
    replaces TEXT,
    machine TEXT,
    expires_at INTEGER NOT NULL
  );
  -- No foreign keys: audit rows outlive the keys and users they mention.
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    user_id TEXT,
    key_id TEXT,
    session_id TEXT,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    method TEXT,
    path TEXT,
    model TEXT,
    status INTEGER,
    latency_ms REAL,
    input_tokens INTEGER,
    output_tokens INTEGER
  );
  CREATE INDEX audit_at ON audit(at);
  CREATE INDEX audit_user_at ON audit(user_id, at);
  `,
  // 2: session idle timeout and "sign out everywhere"; store-held limits (sign-in throttle, /api failed
  // authentications) and one-shot marks, so any replica sees the same counts; the server's signing
  // secret (CSRF pre-sessions, device cookies); the client address of sign-in audit rows.
  `
  ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
  ALTER TABLE sessions ADD COLUMN idle_timeout_ms INTEGER;
  UPDATE sessions SET last_seen_at = created_at;
  CREATE INDEX sessions_user ON sessions(user_id);
  CREATE INDEX sessions_expires ON sessions(expires_at);
  -- Token buckets: "tokens" left at "at"; full again (and deletable) at "full_at".
  CREATE TABLE limits (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at INTEGER NOT NULL,
    full_at INTEGER NOT NULL
  );
  CREATE INDEX limits_full_at ON limits(full_at);
  CREATE TABLE marks (
    key TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  );
  CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL
  );
  ALTER TABLE audit ADD COLUMN source TEXT;
  `,
  // 3: wrong one-time codes tried against a pending sign-in (found by its PKCE challenge).
  `
  ALTER TABLE auth_codes ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX auth_codes_challenge ON auth_codes(code_challenge);
  `,
];
