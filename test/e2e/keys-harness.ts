/**
 * Shared by the keys e2e suites: one reference server per file, users signed
 * in on temporary HOMEs with `thirdloop auth --with-key`, direct API calls to
 * check what the CLI did, and keys made in the past to see them expired.
 */
import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { CLI_BIN, cliEnv, ensureCliBuilt, makeHome, type CliResult } from '../helpers/cli.js';
import { SERVER_BIN, shiftedClock, startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

export const DAY_MS = 86_400_000;

export interface Key {
  id: string;
  name: string;
  status: 'active' | 'suspended' | 'expired' | 'compromised';
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}
export interface KeyList {
  keys: Key[];
  active_count: number;
  active_limit: number;
}

export interface RunOptions {
  home: string;
  env?: Record<string, string | undefined>;
  input?: string;
}

/**
 * Runs the built CLI with pipes for stdin/stdout/stderr (no TTY). The build is
 * checked once per suite, not per call, so that others editing src/ do not
 * turn every call into a rebuild.
 */
export function runCli(args: string[], options: RunOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: options.home, env: cliEnv(options.home, options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface Harness {
  server: ReferenceServer;
  signedInUser(keyName?: string, env?: Record<string, string | undefined>): Promise<SignedInUser>;
  api(credential: string, path?: string, init?: RequestInit): Promise<Response>;
  listFor(credential: string): Promise<KeyList>;
  createExpiredKey(email: string, name: string): Promise<{ id: string; credential: string }>;
  stop(): Promise<void>;
}

export interface SignedInUser {
  email: string;
  home: string;
  key: { id: string; secret: string; credential: string };
  /** The CLI in this user's HOME (plus `env`). */
  cli(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
}

export async function startHarness(): Promise<Harness> {
  ensureCliBuilt();
  const server = await startReferenceServer();
  const cleanups: Array<() => void> = [];
  let seq = 0;

  const api = (credential: string, path = '/api/keys', init: RequestInit = {}) =>
    fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${credential}`, ...(init.headers ?? {}) } });

  return {
    server,
    api,
    async listFor(credential) {
      const res = await api(credential, '/api/keys');
      expect(res.status).toBe(200);
      return (await res.json()) as KeyList;
    },
    async signedInUser(keyName = 'machine', env = {}) {
      const email = `user${++seq}-${process.pid}@example.com`;
      await server.addUser(email);
      const key = await server.createKey(email, { name: keyName });
      const { home, cleanup } = makeHome('thirdloop-keys-');
      cleanups.push(cleanup);
      const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home, env, input: `${key.credential}\n` });
      expect(auth.exitCode, auth.stderr).toBe(0);
      return { email, home, key, cli: (args, more = {}) => runCli(args, { home, env: { ...env, ...more } }) };
    },
    /** The operator command run with the server's clock 31 days back: a 30-day key that expired yesterday. */
    createExpiredKey(email, name) {
      const clock = shiftedClock(-31 * DAY_MS);
      return new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [...clock.execArgv, SERVER_BIN, 'keys', 'create', '--user', email, '--name', name, '--expires', '30', '--json', '--data-dir', server.dataDir],
          { env: { ...process.env, ...clock.env }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => {
          if (code !== 0) return reject(new Error(`keys create exited ${code}: ${err}`));
          const data = JSON.parse(out) as { key: { id: string }; credential: string };
          resolve({ id: data.key.id, credential: data.credential });
        });
      });
    },
    async stop() {
      await server.stop();
      cleanups.forEach((fn) => fn());
    },
  };
}
