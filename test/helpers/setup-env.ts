/**
 * A temporary HOME and a real Context for the setup tests: the real config and
 * secret stores, the HOME signed in as `thirdloop auth` leaves it on a desktop
 * (the profile in config.json, the secret in the keychain: here an in-memory
 * one behind the real secret store; keychain.test.ts runs the real Secret
 * Service), captured stdout/stderr, and the real shells run on what was written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createContext } from '../../src/context.js';
import { configDir } from '../../src/core/paths.js';
import type { KeychainLoader } from '../../src/core/keychain.js';
import { FileAndKeychainSecretStore } from '../../src/core/secrets.js';
import type { Context } from '../../src/context.js';
import { BASE62, checksum } from 'thirdloop-protocol';
import { writeSignedInHome } from './signed-in-home.js';

/** A well-formed credential (checksum included); it contains ";" like every real one. */
export function makeCredential(seed = 'a'): string {
  const base62 = BASE62;
  let random = '';
  let id = '';
  for (let i = 0; i < 32; i++) random += base62[(seed.charCodeAt(i % seed.length) * (i + 7)) % 62];
  for (let i = 0; i < 24; i++) id += base62[(seed.charCodeAt(i % seed.length) * (i + 3)) % 62];
  return `tlk_${id};tls_${random}${checksum(random)}`;
}

export interface TempHome {
  home: string;
  cleanup(): void;
}

export function tempHome(prefix = 'thirdloop-home-'): TempHome {
  const home = mkdtempSync(path.join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

export interface TestContext {
  ctx: Context;
  stdout: Capture;
  stderr: Capture;
  /** Type answers here (with stdinIsTTY: true for prompts). */
  stdin: PassThrough;
}

export function testContext(
  home: string,
  options: {
    env?: NodeJS.ProcessEnv;
    platform?: NodeJS.Platform;
    json?: boolean;
    /** Signs the HOME in with this credential, at `apiUrl` (the profile's instance). */
    credential?: string;
    apiUrl?: string;
    stdinIsTTY?: boolean;
  } = {},
): TestContext {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = new PassThrough();
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: process.env.PATH,
    SHELL: '/bin/bash',
    NO_COLOR: '1',
    ...options.env,
  };
  const platform = options.platform ?? process.platform;
  const keychain = new Map<string, string>();
  if (options.credential) {
    writeSignedInHome(home, { apiUrl: options.apiUrl ?? 'https://thirdloop.example.com', credential: options.credential, env, platform, storage: 'keychain' });
    keychain.set('thirdloop/default', options.credential);
  }
  const loadKeychain: KeychainLoader = async () => ({
    getPassword: async (service, account) => keychain.get(`${service}/${account}`) ?? null,
    setPassword: async (service, account, password) => void keychain.set(`${service}/${account}`, password),
    deletePassword: async (service, account) => keychain.delete(`${service}/${account}`),
  });
  const legacy = { read: async () => undefined, clear: async () => {} }; // no thirdloop 0.1 items in this keychain
  const secrets = new FileAndKeychainSecretStore({ dir: configDir({ env, platform, homedir: home }), env, loadKeychain, legacy });
  const ctx = createContext(
    { json: options.json ?? false, profile: 'default', color: false },
    {
      env,
      secrets: async () => secrets,
      homedir: home,
      platform,
      io: { stdout, stderr, stdin, stdinIsTTY: options.stdinIsTTY ?? false, stdoutIsTTY: false, stderrIsTTY: false },
    },
  );
  return { ctx, stdout, stderr, stdin };
}

/** What a new shell sees (interactive by default; '-lc' for a login shell): `<base url>\n<api key>`. */
export function shellSees(shell: 'bash' | 'zsh' | 'fish', home: string, extraEnv: NodeJS.ProcessEnv = {}, flags: '-ic' | '-lc' = '-ic'): string {
  const env = { HOME: home, PATH: process.env.PATH, TERM: 'dumb', ...extraEnv };
  const print = 'printf "%s\\n%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY"';
  const args = shell === 'fish' ? [flags === '-lc' ? '-l' : '-i', '-c', print] : [flags, print];
  return execFileSync(shell, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
}
