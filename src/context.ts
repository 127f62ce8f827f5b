/**
 * The one place a command's dependencies come from (gh's Factory pattern).
 * Commands export `run(ctx, options)` and touch the outside world only
 * through this object, so a test can drive them with a temp HOME and a real
 * server, and no module keeps globals.
 *
 * Heavy dependencies are behind async getters so that loading them costs
 * nothing for commands that do not need them.
 */
import type { Writable, Readable } from 'node:stream';

export interface GlobalOptions {
  /** --api-url or THIRDLOOP_API_URL; undefined means "use the profile's". */
  apiUrl?: string;
  /** --profile or THIRDLOOP_PROFILE; default "default". */
  profile: string;
  json: boolean;
  debug: boolean;
  /** false with --no-color, NO_COLOR, or a stdout that is not a TTY. */
  color: boolean;
}

export interface IO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Terminal width, 80 when unknown. */
  columns: number;
}

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
}

export interface SecretStore {
  get(profile: string): Promise<StoredSecret | undefined>;
  /** Stores the credential; returns where it went (keychain, or file fallback). */
  set(profile: string, credential: string, options?: { insecure?: boolean }): Promise<StoredSecret>;
  delete(profile: string): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export interface Context {
  io: IO;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  homedir: string;
  cwd: string;
  clock: Clock;
  globals: GlobalOptions;
  config(): Promise<ConfigStore>;
  secrets(): Promise<SecretStore>;
  /** Opens a URL in the user's browser; resolves false when none could be opened. */
  openBrowser(url: string): Promise<boolean>;
}
