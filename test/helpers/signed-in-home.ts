/**
 * A HOME signed in the way `thirdloop auth --with-key --insecure-storage` leaves
 * one: the profile in config.json and the secret in the 0600 credentials.json
 * beside it, in the directory the CLI uses for that HOME. For tests whose
 * instance is a fake, a stopped one or a name that does not resolve, where a
 * real sign-in cannot ask it first. Tests against the reference server sign in
 * for real instead.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configDir } from '../../src/core/paths.js';

export interface SignedInHomeOptions {
  apiUrl: string;
  credential: string;
  profile?: string;
  keyName?: string;
  expiresAt?: string;
  /** As the CLI would see it (THIRDLOOP_CONFIG_DIR, XDG_CONFIG_HOME, APPDATA); default: nothing but HOME. */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** 'keychain': only the profile is written; the caller's keychain holds the secret. Default 'file'. */
  storage?: 'keychain' | 'file';
}

/** Writes the sign-in; returns the config directory. */
export function writeSignedInHome(home: string, options: SignedInHomeOptions): string {
  const dir = configDir({ env: options.env ?? { HOME: home }, platform: options.platform ?? process.platform, homedir: home });
  const profile = options.profile ?? 'default';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const merge = (file: string, update: (data: Record<string, unknown>) => void) => {
    let data: Record<string, unknown> = {};
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      /* a fresh file */
    }
    update(data);
    writeFileSync(file, `${JSON.stringify(data, null, '\t')}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  };
  merge(path.join(dir, 'config.json'), (data) => {
    const profiles = (data.profiles ?? {}) as Record<string, unknown>;
    profiles[profile] = {
      apiUrl: options.apiUrl,
      keyId: options.credential.split(';')[0],
      keyName: options.keyName ?? 'laptop',
      expiresAt: options.expiresAt ?? new Date(Date.now() + 90 * 86_400_000).toISOString(),
      storage: options.storage ?? 'file',
    };
    data.profiles = profiles;
  });
  if (options.storage !== 'keychain') {
    merge(path.join(dir, 'credentials.json'), (data) => {
      data[profile] = options.credential;
    });
  }
  return dir;
}
