/**
 * Where the secret lives and whether the keychain works: the keychain is
 * best; the 0600 file is a fallback we name; THIRDLOOP_API_KEY overrides both.
 */
import { promises as fs } from 'node:fs';
import type { SecretStore, StoredSecret } from '../context.js';
import { KEYCHAIN_SERVICE } from '../core/secrets.js';
import { result, type CheckResult } from './types.js';

/** The part of the secret store that can probe the keychain (core/secrets.ts's store has it). */
interface KeychainProbe {
  keychainGet(profile: string): Promise<string | undefined>;
}

const canProbe = (store: SecretStore): store is SecretStore & KeychainProbe =>
  typeof (store as Partial<KeychainProbe>).keychainGet === 'function';

/** undefined when the keychain answers; else why not, in plain words. */
export async function keychainProblem(store: SecretStore, profile: string): Promise<string | undefined> {
  if (!canProbe(store)) return 'this secret store has no keychain';
  try {
    await store.keychainGet(profile);
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0] || 'unknown error';
  }
}

export async function checkStorage(store: SecretStore, secret: StoredSecret, profile: string, platform: NodeJS.Platform): Promise<CheckResult> {
  if (secret.source === 'env') {
    return result('secret-storage', 'ok', 'THIRDLOOP_API_KEY supplies the key; anything stored on this machine is not used while it is set.');
  }
  if (secret.source === 'keychain') {
    return result('secret-storage', 'ok', `The key is in the system keychain (service "${KEYCHAIN_SERVICE}", account "${profile}").`);
  }
  const file = secret.location ?? 'the credentials file';
  if (platform !== 'win32' && secret.location) {
    const mode = await fs.stat(secret.location).then((s) => s.mode & 0o777, () => undefined);
    if (mode !== undefined && (mode & 0o077) !== 0) {
      return result('secret-storage', 'fail', `${file} holds the key in plain text and others can read it (mode ${mode.toString(8)}).`, `chmod 600 ${file}`);
    }
  }
  const problem = await keychainProblem(store, profile);
  if (problem) {
    return result('secret-storage', 'warn', `The system keychain cannot be used (${problem}); the key is in plain text at ${file} (readable only by you).`,
      platform === 'linux'
        ? 'Run a Secret Service (e.g. gnome-keyring) in your session, then `thirdloop auth --rotate` to move the key into it.'
        : 'Unlock the system keychain, then `thirdloop auth --rotate` to move the key into it.',
    );
  }
  return result(
    'secret-storage',
    'warn',
    `The key is in plain text at ${file} although the system keychain works.`,
    'thirdloop auth --rotate   (without --insecure-storage, to move it into the keychain)',
  );
}

/** Not signed in yet: say whether `thirdloop auth` will be able to use the keychain. */
export async function checkKeychainReady(store: SecretStore, profile: string, platform: NodeJS.Platform): Promise<CheckResult> {
  const problem = await keychainProblem(store, profile);
  if (!problem) return result('secret-storage', 'ok', 'The system keychain works; `thirdloop auth` will keep the key there.');
  return result(
    'secret-storage',
    'warn',
    `The system keychain cannot be used (${problem}); \`thirdloop auth\` would keep the key in a plain-text file readable only by you.`,
    platform === 'linux' ? 'Run a Secret Service (e.g. gnome-keyring) in your session before `thirdloop auth`.' : 'Unlock the system keychain before `thirdloop auth`.',
  );
}
