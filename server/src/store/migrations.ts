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
  // Wrong one-time codes tried against a pending sign-in (found by its PKCE challenge).
  `
  ALTER TABLE auth_codes ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX auth_codes_challenge ON auth_codes(code_challenge);
  `,
];
