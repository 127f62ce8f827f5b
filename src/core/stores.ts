/**
 * The two stores a command gets from the context: non-secret settings
 * (core/config.ts) and the credential (core/secrets.ts). The interfaces are
 * here, apart from the factory in src/context.ts, so the implementations
 * import them without importing the factory that loads them.
 */

/** Non-secret data for one profile, kept by core/config.ts. */
export interface ProfileConfig {
  apiUrl?: string;
  keyId?: string;
  keyName?: string;
  expiresAt?: string;
  /** Where the secret lives: "keychain", "file" (0600 credentials file). */
  storage?: 'keychain' | 'file';
}

export interface ConfigStore {
  readonly path: string;
  readonly dir: string;
  getProfile(name: string): ProfileConfig | undefined;
  setProfile(name: string, value: ProfileConfig): void;
  deleteProfile(name: string): void;
  profileNames(): string[];
  /** Extra non-secret records other commands keep, e.g. the files setup wrote. */
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): void;
}

export interface StoredSecret {
  /** `<api_key_id>;<api_secret_key>` */
  credential: string;
  /** "env" when THIRDLOOP_API_KEY supplied it. */
  source: 'keychain' | 'file' | 'env';
  /** For "file": the path of the 0600 credentials file. */
  location?: string;
  /** Set by set() when the keychain could not be used: why, in plain words. */
  fallbackReason?: string;
}

export interface SecretStore {
  get(profile: string): Promise<StoredSecret | undefined>;
  /** Stores the credential; returns where it went (keychain, or file fallback). */
  set(profile: string, credential: string, options?: { insecure?: boolean }): Promise<StoredSecret>;
  delete(profile: string): Promise<void>;
  /** Starts loading the keychain module early (e.g. while the user is in the browser); never fails. */
  prepare?(): void;
  /** Why the last keychain read failed (locked, no Secret Service…), when get() found nothing because of it. */
  readonly keychainError?: string;
}
