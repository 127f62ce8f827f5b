/**
 * The OS keychain through `@napi-rs/keyring` (macOS Keychain, Windows
 * Credential Manager, the Secret Service on Linux): service "thirdloop",
 * account = profile.
 *
 * Why this binding: it ships one prebuilt package per platform and no install
 * script, so installing the CLI prints no npm warning; it loads in a few
 * milliseconds; and a locked keychain is an error we can name ("unlock prompt
 * was dismissed") rather than an empty answer that reads as "not signed in".
 *
 * On Linux the entry is pinned to the Secret Service. The binding's default
 * would fall back to the kernel keyring, which forgets everything at logout or
 * reboot: better to fall back, visibly, to the 0600 credentials file.
 */

export interface Keychain {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export type KeychainLoader = () => Promise<Keychain>;

interface AsyncEntry {
  getPassword(): Promise<string | null>;
  setPassword(password: string): Promise<void>;
  deletePassword(): Promise<boolean>;
}

interface KeyringModule {
  AsyncEntry: new (service: string, account: string, options?: { linux?: { store?: 'secret-service' | 'keyutils' } }) => AsyncEntry;
}

// A variable specifier keeps the bundler from inlining the binding's loader: the
// native binary must be found next to the installed package, not under dist/.
const KEYRING_MODULE = '@napi-rs/keyring';

export const loadKeychain: KeychainLoader = async () => {
  const mod = (await import(KEYRING_MODULE)) as KeyringModule & { default?: KeyringModule };
  const { AsyncEntry } = mod.default ?? mod;
  if (typeof AsyncEntry !== 'function') throw new Error('@napi-rs/keyring has no AsyncEntry');
  const entry = (service: string, account: string) => new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
  return {
    getPassword: (service, account) => entry(service, account).getPassword(),
    setPassword: (service, account, password) => entry(service, account).setPassword(password),
    deletePassword: (service, account) => entry(service, account).deletePassword(),
  };
};
