/**
 * Where the credential lives. Order of preference:
 *   1. THIRDLOOP_API_KEY (`<id>;<secret>`): CI and scripts, never written anywhere.
 *   2. The OS keychain (core/keychain.ts): service "thirdloop", account = profile.
 *   3. A 0600 credentials file in the config directory, when the keychain cannot
 *      be used (addon missing, no Secret Service, locked) or `--insecure-storage`.
 * The keychain binding is a native optional dependency: imported lazily, inside a
 * try, with a deadline, because a half-configured D-Bus can hang a keychain call.
 *
 * Reading (`thirdloop token`, every signed-in command) loads nothing else: the
 * writer (node:fs/promises, node:crypto) and the 0.1 keychain reader
 * (node:child_process) are imported when a write or a migration needs them.
 */
import type { SecretStore, StoredSecret } from './stores.js';
import { UserError } from './errors.js';
import { loadKeychain, type Keychain, type KeychainLoader } from './keychain.js';
import { fs } from './node-fs.js';
import { FILE_MODE, credentialsFilePath, ensurePrivateDir } from './paths.js';

const { readFileSync, rmSync } = fs;

export const KEYCHAIN_SERVICE = 'thirdloop';
const KEYCHAIN_DEADLINE_MS = 5_000;


export interface SecretStoreOptions {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Tests inject a failing loader to exercise the fallback. */
  loadKeychain?: KeychainLoader;
  /** Where thirdloop 0.1's Linux keychain items are read from (tests inject it). */
  legacy?: { read(account: string): Promise<string | undefined>; clear(account: string): Promise<void> };
  /** How long a keychain call may take before we give up on it (default 5 s). */
  deadlineMs?: number;
}

/** A keychain that could not be used, with the reason in plain words. */
export class KeychainUnavailable extends Error {}

function withDeadline<T>(promise: Promise<T>, what: string, ms = KEYCHAIN_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KeychainUnavailable(`the keychain did not answer ${what} within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function keychainReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message)) return 'the keychain module is not installed';
  // Checked before the Secret Service pattern: a locked keyring's message names the service too.
  if (/locked|cancel|dismiss/i.test(message)) return 'the keychain is locked';
  if (/dbus|DBus|D-Bus|org\.freedesktop|secrets? service|autolaunch/i.test(message)) return 'no Secret Service is running';
  return message.split('\n')[0] ?? 'unknown error';
}

export class FileAndKeychainSecretStore implements SecretStore {
  readonly file: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly loader: KeychainLoader;
  private readonly legacy: NonNullable<SecretStoreOptions['legacy']>;
  private keychain?: Promise<Keychain>;
  /** Why the keychain was not used for the last set(), for the caller to show. */
  lastFallbackReason?: string;
  keychainError?: string;

  constructor(private readonly options: SecretStoreOptions) {
    this.file = credentialsFilePath(options.dir);
    this.env = options.env;
    this.loader = options.loadKeychain ?? loadKeychain;
    this.legacy = options.legacy ?? {
      read: async (account) => (await import('./legacy-keychain.js')).readLegacyItem(KEYCHAIN_SERVICE, account, this.env),
      clear: async (account) => (await import('./legacy-keychain.js')).clearLegacyItem(KEYCHAIN_SERVICE, account, this.env),
    };
  }

  private loadKeychain(): Promise<Keychain> {
    this.keychain ??= this.loader().catch((error) => {
      throw new KeychainUnavailable(keychainReason(error));
    });
    return this.keychain;
  }

  prepare(): void {
    this.loadKeychain().catch(() => {});
  }

  async get(profile: string): Promise<StoredSecret | undefined> {
    const fromEnv = this.env.THIRDLOOP_API_KEY?.trim();
    if (fromEnv) return { credential: fromEnv, source: 'env' };
    const fromFile = (await this.readFile())[profile];
    if (fromFile) return { credential: fromFile, source: 'file', location: this.file };
    this.keychainError = undefined;
    const fromKeychain = await this.keychainGet(profile).catch((error: unknown) => {
      this.keychainError = error instanceof KeychainUnavailable ? error.message : keychainReason(error);
      return undefined;
    });
    if (fromKeychain) return { credential: fromKeychain, source: 'keychain' };
    return undefined;
  }

  /** Reads only the keychain (moving a 0.1 item over on the way); rejects when the keychain is unusable. */
  async keychainGet(profile: string): Promise<string | undefined> {
    const keychain = await this.loadKeychain();
    const value = await withDeadline(keychain.getPassword(KEYCHAIN_SERVICE, profile), 'a read', this.options.deadlineMs);
    return value ?? (await this.migrateLegacy(keychain, profile));
  }

  /** An item thirdloop 0.1 wrote: store it where we look now, then clear the old one. */
  private async migrateLegacy(keychain: Keychain, profile: string): Promise<string | undefined> {
    if (process.platform !== 'linux') return undefined;
    const old = await this.legacy.read(profile);
    if (!old) return undefined;
    try {
      await withDeadline(keychain.setPassword(KEYCHAIN_SERVICE, profile, old), 'a write', this.options.deadlineMs);
      const back = await withDeadline(keychain.getPassword(KEYCHAIN_SERVICE, profile), 'a read', this.options.deadlineMs);
      if (back === old) await this.legacy.clear(profile);
    } catch {
      // The old item stays where it is and keeps working; the move is tried again next time.
    }
    return old;
  }

  async set(profile: string, credential: string, options: { insecure?: boolean } = {}): Promise<StoredSecret> {
    this.lastFallbackReason = undefined;
    if (!options.insecure) {
      try {
        const keychain = await this.loadKeychain();
        await withDeadline(keychain.setPassword(KEYCHAIN_SERVICE, profile, credential), 'a write', this.options.deadlineMs);
        // Read it back: some Secret Service set-ups accept writes they then lose.
        const back = await withDeadline(keychain.getPassword(KEYCHAIN_SERVICE, profile), 'a read', this.options.deadlineMs);
        if (back !== credential) throw new KeychainUnavailable('the keychain did not keep the secret');
        await this.removeFromFile(profile);
        return { credential, source: 'keychain' };
      } catch (error) {
        this.lastFallbackReason = error instanceof KeychainUnavailable ? error.message : keychainReason(error);
      }
    } else {
      this.lastFallbackReason = '--insecure-storage was given';
    }
    const all = await this.readFile();
    all[profile] = credential;
    await this.writeFile(all);
    // get() prefers the file; still, do not leave an older copy behind when the
    // user chose the file on purpose (the keychain works, so this is quick).
    if (options.insecure) await this.keychainDelete(profile).catch(() => {});
    return { credential, source: 'file', location: this.file, fallbackReason: this.lastFallbackReason };
  }

  async delete(profile: string): Promise<void> {
    await this.removeFromFile(profile);
    await this.keychainDelete(profile).catch(() => {});
  }

  private async keychainDelete(profile: string): Promise<void> {
    const keychain = await this.loadKeychain();
    await withDeadline(keychain.deletePassword(KEYCHAIN_SERVICE, profile), 'a delete', this.options.deadlineMs);
    if (process.platform === 'linux') await this.legacy.clear(profile);
  }

  private async readFile(): Promise<Record<string, string>> {
    const text = await readTextIfExists(this.file);
    if (text === undefined || text.trim() === '') return {};
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new UserError(`The credentials file ${this.file} is not valid JSON.`, {
        hint: `Delete it and run \`thirdloop auth\` again.`,
      });
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      throw new UserError(`The credentials file ${this.file} is not a JSON object.`, {
        hint: `Delete it and run \`thirdloop auth\` again.`,
      });
    }
    return Object.fromEntries(
      Object.entries(data as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  }

  private async writeFile(all: Record<string, string>): Promise<void> {
    await ensurePrivateDir(this.options.dir);
    const { writeFileAtomic } = await import('../files/atomic-write.js');
    await writeFileAtomic(this.file, `${JSON.stringify(all, null, 2)}\n`, { mode: FILE_MODE, forceMode: true });
  }

  private async removeFromFile(profile: string): Promise<void> {
    let all: Record<string, string>;
    try {
      all = await this.readFile();
    } catch {
      return; // a corrupt file is reported by get(); removing must not fail on it
    }
    if (!(profile in all)) return;
    delete all[profile];
    if (Object.keys(all).length === 0) rmSync(this.file, { force: true });
    else await this.writeFile(all);
  }
}

/** The file's text; undefined when there is none. Errors as files/atomic-write.ts words them, loaded only then. */
async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR') throw new UserError(`${file} is a directory, not a file.`);
    throw (await import('../files/atomic-write.js')).describeFsError(error, file, 'read');
  }
}

export function describeStorage(secret: StoredSecret): string {
  switch (secret.source) {
    case 'env':
      return 'the THIRDLOOP_API_KEY environment variable';
    case 'file':
      return `plain text at ${secret.location}`;
    default:
      return `the system keychain (service "${KEYCHAIN_SERVICE}")`;
  }
}
