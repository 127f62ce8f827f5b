/**
 * Starts the real reference server, built, as a child process on a free
 * loopback port with a fresh data directory and the offline mock upstream.
 * The helper methods run the server's own operator commands against the same
 * data directory; passwords go on stdin, never argv.
 *
 *   const server = await startReferenceServer();
 *   const { email, password } = await server.addUser('ada@example.com');
 *   const { credential } = await server.createKey(email, { name: 'laptop' });
 *   ...
 *   await server.stop();
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { isBuildFresh, withBuildLock } from './build-lock.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVER_DIR = join(ROOT, 'server');
const BIN = join(SERVER_DIR, 'bin', 'thirdloop-server.js');
const DIST_MAIN = join(SERVER_DIR, 'dist', 'main.js');
const SHIFTED_CLOCK = join(ROOT, 'test', 'helpers', 'shifted-clock.mjs');

/**
 * How to run the server's binary with its clock moved by `offsetMs` (keys created "in the past"):
 * the test-only preload, since the shipped server honours no clock hook. Spread into spawn():
 *   spawn(process.execPath, [...clock.execArgv, BIN, …], { env: { ...env, ...clock.env } })
 */
export function shiftedClock(offsetMs: number): { execArgv: string[]; env: Record<string, string> } {
  if (!offsetMs) return { execArgv: [], env: {} };
  return { execArgv: ['--import', SHIFTED_CLOCK], env: { TEST_CLOCK_OFFSET_MS: String(offsetMs) } };
}

/** The server binary, for tests that spawn it themselves. */
export const SERVER_BIN = BIN;

export interface ReferenceServer {
  url: string;
  dataDir: string;
  addUser(email: string, password?: string): Promise<{ email: string; password: string }>;
  createKey(email: string, options?: { name?: string; expires?: number }): Promise<{ id: string; secret: string; credential: string }>;
  flagCompromised(id: string): Promise<void>;
  /** What the server printed so far (its log goes to stderr). */
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ReferenceServerOptions {
  /** Moves the server's clock (a test-only preload: shiftedClock()), e.g. to see keys expire. */
  nowOffsetMs?: number;
  /** Extra environment for the server and its commands; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** The provider's URL (default: the offline model, `mock`); false passes no --upstream (the environment decides). */
  upstream?: string | false;
  /** More `start` flags, e.g. ['--public-url', 'https://…']. */
  args?: string[];
}

/** Builds server/dist when missing or older than server/src; one builder at a time across test workers. */
export function ensureServerBuilt(): void {
  const fresh = () => isBuildFresh(DIST_MAIN, join(SERVER_DIR, 'src'));
  if (fresh()) return;
  withBuildLock(join(ROOT, '.tmp', 'server-build-lock'), 'server', () => {
    if (!fresh()) execFileSync('npm', ['run', 'build', '--silent', '-w', 'thirdloop-server'], { cwd: ROOT, stdio: 'pipe' });
  });
}

function runServerCommand(args: string[], dataDir: string, env: NodeJS.ProcessEnv, stdin?: string, execArgv: string[] = []): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...execArgv, BIN, ...args, '--data-dir', dataDir], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`thirdloop-server ${args.slice(0, 2).join(' ')} exited ${code}: ${err.trim()}`));
    });
    child.stdin.end(stdin ?? '');
  });
}

export async function startReferenceServer(options: ReferenceServerOptions = {}): Promise<ReferenceServer> {
  ensureServerBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-server-'));
  const clock = shiftedClock(options.nowOffsetMs ?? 0);
  // The server as `npm start` runs it: none of the developer's THIRDLOOP_* settings, only what a test asks for.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('THIRDLOOP_')));
  Object.assign(env, options.env, clock.env);
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const startArgs = ['start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...(options.upstream === false ? [] : ['--upstream', options.upstream ?? 'mock']), ...(options.args ?? [])];
  const child = spawn(process.execPath, [...clock.execArgv, BIN, ...startArgs], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Kept whole (and read on, so the child never blocks on a full pipe).
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));

  const url = await new Promise<string>((resolveUrl, reject) => {
    // Generous: on a loaded two-core machine a start (node, SQLite, Fastify) has taken over 20 s.
    const timer = setTimeout(() => reject(new Error(`reference server did not start in 60 s: ${stderr}`)), 60_000);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolveUrl(m[1]!);
      else reject(new Error(`unexpected first line from the server: ${line}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`reference server exited ${code}: ${stderr}`));
    });
  });

  let stopped = false;
  return {
    url,
    dataDir,
    async addUser(email, password) {
      const pw = password ?? randomBytes(12).toString('base64url');
      await runServerCommand(['users', 'add', '--email', email, '--password-stdin'], dataDir, env, pw, clock.execArgv);
      return { email, password: pw };
    },
    async createKey(email, opts = {}) {
      const args = ['keys', 'create', '--user', email, '--json'];
      if (opts.name !== undefined) args.push('--name', opts.name);
      if (opts.expires !== undefined) args.push('--expires', String(opts.expires));
      const out = JSON.parse(await runServerCommand(args, dataDir, env, undefined, clock.execArgv)) as { key: { id: string }; secret_key: string; credential: string };
      return { id: out.key.id, secret: out.secret_key, credential: out.credential };
    },
    async flagCompromised(id) {
      await runServerCommand(['keys', 'flag-compromised', id], dataDir, env, undefined, clock.execArgv);
    },
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        // 'close': the process has exited and its output has all been read.
        const exited = new Promise<void>((r) => child.once('close', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
