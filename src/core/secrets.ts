/**
 * Where the credential lives. Order of preference:
 *   1. THIRDLOOP_API_KEY (`<id>;<secret>`): CI and scripts, never written anywhere.
 *   2. The OS keychain through keytar: service "thirdloop", account = profile.
 *   3. A 0600 credentials file in the config directory, when the keychain cannot
 *      be used (addon missing, no Secret Service, locked) or `--insecure-storage`.
 * keytar is a native optional dependency: imported lazily, inside a try, with a
 * deadline, because a half-configured D-Bus can make libsecret hang.
 */
import { promises as fs } from 'node:fs';
import type { SecretStore, StoredSecret } from './stores.js';
import { readTextIfExists, writeFileAtomic } from '../files/atomic-write.js';
import { UserError } from './errors.js';
import { FILE_MODE, credentialsFilePath, ensurePrivateDir } from './paths.js';

export const KEYCHAIN_SERVICE = 'thirdloop';
const KEYCHAIN_DEADLINE_MS = 5_000;

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export type KeytarLoader = () => Promise<Keytar>;

// A variable specifier keeps the bundler from inlining the addon's loader: the
// native binary must be found next to the installed package, not under dist/.
const KEYTAR_MODULE = '@github/keytar';

const defaultLoader: KeytarLoader = async () => {
  const mod = (await import(KEYTAR_MODULE)) as Keytar & { default?: Keytar };
  const keytar = mod.default ?? mod;
  if (typeof keytar.getPassword !== 'function') throw new Error('keytar has no getPassword');
  return keytar;
};

export interface SecretStoreOptions {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Tests inject a failing loader to exercise the fallback. */
  loadKeytar?: KeytarLoader;
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
  if (/libsecret|\.so/.test(message)) return 'libsecret is not installed';
  if (/dbus|DBus|D-Bus|org\.freedesktop|secrets? service|autolaunch/i.test(message)) return 'no Secret Service is running';
  if (/locked|cancel|dismiss/i.test(message)) return 'the keychain is locked';
  return message.split('\n')[0] ?? 'unknown error';
}

export class FileAndKeychainSecretStore implements SecretStore {
  readonly file: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly loader: KeytarLoader;
  private keytar?: Promise<Keytar>;
  /** Why the keychain was not used for the last set(), for the caller to show. */
  lastFallbackReason?: string;
  keychainError?: string;

  constructor(private readonly options: SecretStoreOptions) {
    this.file = credentialsFilePath(options.dir);
    this.env = options.env;
    this.loader = options.loadKeytar ?? defaultLoader;
  }

  private loadKeytar(): Promise<Keytar> {
    this.keytar ??= this.loader().catch((error) => {
      throw new KeychainUnavailable(keychainReason(error));
    });
    return this.keytar;
  }

  prepare(): void {
    this.loadKeytar().catch(() => {});
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

  /** Reads only the keychain; undefined when absent or the keychain is unusable. */
  async keychainGet(profile: string): Promise<string | undefined> {
    const keytar = await this.loadKeytar();
    const value = await withDeadline(keytar.getPassword(KEYCHAIN_SERVICE, profile), 'a read', this.options.deadlineMs);
    return value ?? undefined;
  }

  async set(profile: string, credential: string, options: { insecure?: boolean } = {}): Promise<StoredSecret> {
    this.lastFallbackReason = undefined;
    if (!options.insecure) {
      try {
        const keytar = await this.loadKeytar();
        await withDeadline(keytar.setPassword(KEYCHAIN_SERVICE, profile, credential), 'a write', this.options.deadlineMs);
        // Read it back: some Secret Service set-ups accept writes they then lose.
        const back = await withDeadline(keytar.getPassword(KEYCHAIN_SERVICE, profile), 'a read', this.options.deadlineMs);
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
    const keytar = await this.loadKeytar();
    await withDeadline(keytar.deletePassword(KEYCHAIN_SERVICE, profile), 'a delete', this.options.deadlineMs);
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
    if (Object.keys(all).length === 0) await fs.rm(this.file, { force: true });
    else await this.writeFile(all);
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
