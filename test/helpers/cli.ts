/**
 * Runs the built CLI (`node bin/thirdloop.js`) as a child process with a
 * temporary HOME, the way a user runs it. Builds dist/ first when it is
 * missing or older than src/ (one builder at a time across test workers).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBuildFresh, withBuildLock } from './build-lock.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_BIN = join(ROOT, 'bin', 'thirdloop.js');
const DIST_MAIN = join(ROOT, 'dist', 'main.js');

export interface CliResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The temporary HOME (also XDG_CONFIG_HOME=<home>/.config). */
  home: string;
  env?: Record<string, string | undefined>;
  /** Written to stdin, then stdin is closed; without it stdin is closed at once. */
  input?: string;
  timeoutMs?: number;
}

let buildAttempted = false;

export function ensureCliBuilt(): void {
  const fresh = () => isBuildFresh(DIST_MAIN, join(ROOT, 'src'));
  // One attempt per test process: a failed build (a file mid-edit) must not be retried on every run.
  if (buildAttempted && existsSync(DIST_MAIN)) return;
  if (fresh()) return;
  buildAttempted = true;
  withBuildLock(join(ROOT, '.tmp', 'cli-build-lock'), 'CLI', () => {
    if (fresh()) return;
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: ROOT, stdio: 'pipe' });
    } catch (error) {
      // A file someone is editing right now may not compile; an existing build still serves.
      if (!existsSync(DIST_MAIN)) throw error;
    }
  });
}

export function makeHome(prefix = 'thirdloop-home-'): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/**
 * The child's environment: the parent's minus anything that could reach the
 * developer's own config, keyring or instance, or choose the browser for it
 * (BROWSER); HOME and XDG dirs in the temp home. Nothing the product reads is
 * set here: a test sets such a variable only when it is what the test is about.
 * Tests that reach the browser step pass an opener (test/helpers/opener.ts).
 */
export function cliEnv(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('THIRDLOOP_') || name.startsWith('ANTHROPIC_') || ['DBUS_SESSION_BUS_ADDRESS', 'NO_COLOR', 'FORCE_COLOR', 'BROWSER'].includes(name)) {
      delete env[name];
    }
  }
  Object.assign(env, {
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    CI: process.env.CI,
  });
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface CliProcess {
  child: ChildProcess;
  /** Argv of the child (for "no secret in argv" checks). */
  argv: string[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the stream's output so far or to come. */
  waitFor(pattern: RegExp, options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpMatchArray>;
  write(text: string): void;
  endInput(): void;
  exited: Promise<CliResult>;
}

const shQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * `tty: true` runs the CLI inside a pseudo-terminal (util-linux `script`), so
 * stdin/stdout/stderr are TTYs and prompts appear; both streams then arrive
 * on stdout, with terminal control sequences.
 */
export function startCli(args: string[], options: CliOptions & { tty?: boolean }): CliProcess {
  ensureCliBuilt();
  const argv = [CLI_BIN, ...args];
  const env = cliEnv(options.home, options.env);
  const child = options.tty
    ? spawn('script', ['-qefc', [process.execPath, ...argv].map(shQuote).join(' '), '/dev/null'], {
        cwd: options.home,
        env: { ...env, TERM: 'xterm-256color', COLUMNS: '100', LINES: '30' },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, argv, { cwd: options.home, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((fn) => fn());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((out += d), notify()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((err += d), notify()));
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exited = new Promise<CliResult>((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      clearTimeout(timeout);
      notify();
      resolvePromise({ exitCode, signal, stdout: out, stderr: err });
    });
  });
  if (options.input !== undefined) child.stdin!.end(options.input);

  return {
    child,
    argv,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, { stream = 'stderr', timeoutMs = 15_000 } = {}) {
      return new Promise((resolvePromise, reject) => {
        let closed = false;
        const check = () => {
          const m = (stream === 'stdout' ? out : err).match(pattern);
          if (m) {
            cleanup();
            resolvePromise(m);
          } else if (closed || child.exitCode !== null) {
            cleanup();
            reject(new Error(`CLI exited before printing ${pattern}.\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}.\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const onClose = () => ((closed = true), check());
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.removeListener('close', onClose);
        };
        listeners.add(check);
        child.once('close', onClose);
        check();
      });
    },
    write: (text) => void child.stdin!.write(text),
    endInput: () => void child.stdin!.end(),
    exited,
  };
}

/** Runs the CLI to completion. stdin is closed (not a TTY) unless `input` is given. */
export async function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  const proc = startCli(args, { ...options, input: options.input ?? '' });
  return proc.exited;
}

/** The failure is one sentence on stderr: a single `Error: ….` line, no stack; returns that line. */
export function oneErrorSentence(result: CliResult): string {
  const lines = result.stderr.trim().split('\n');
  if (lines.length !== 1 || !/^Error: [^\n]+\.$/.test(lines[0]!) || /\n\s+at /.test(result.stderr)) {
    throw new Error(`expected one "Error: …." sentence on stderr, got:\n${result.stderr}`);
  }
  return lines[0]!;
}
