/**
 * A temporary HOME and a real Context for the setup tests: real config
 * store, the credential from THIRDLOOP_API_KEY (the real secret store reads
 * it), captured stdout/stderr, and the real shells run on what was written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createContext } from '../../src/context.js';
import type { Context } from '../../src/context.js';
import { secretChecksum } from '../../src/core/credential.js';

/** A well-formed credential (checksum included); it contains ";" like every real one. */
export function makeCredential(seed = 'a'): string {
  const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let random = '';
  let id = '';
  for (let i = 0; i < 32; i++) random += base62[(seed.charCodeAt(i % seed.length) * (i + 7)) % 62];
  for (let i = 0; i < 24; i++) id += base62[(seed.charCodeAt(i % seed.length) * (i + 3)) % 62];
  return `tlk_${id};tls_${random}${secretChecksum(random)}`;
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
    ...(options.credential ? { THIRDLOOP_API_KEY: options.credential } : {}),
    ...options.env,
  };
  const ctx = createContext(
    { json: options.json ?? false, apiUrl: options.apiUrl, profile: 'default', color: false },
    {
      env,
      homedir: home,
      platform: options.platform ?? process.platform,
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
