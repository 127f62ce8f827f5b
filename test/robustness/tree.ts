/**
 * Small tools the robustness suites share: a byte-exact snapshot of a
 * directory tree (to prove "no file changed"), a concurrency limit, the
 * checks every failure's stderr must pass, and immutable files for root.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI_BIN, cliEnv } from '../helpers/cli.js';
import { which } from '../helpers/components.js';

/** path (relative) → what is there: file bytes' hash and mode, a symlink's target. Directories are walked, not listed. */
export type Snapshot = Map<string, string>;

export function snapshot(root: string): Snapshot {
  const out: Snapshot = new Map();
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) out.set(rel, `link -> ${readlinkSync(full)}`);
      else if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex');
        out.set(rel, `file ${(stat.mode & 0o7777).toString(8)} ${stat.size} ${hash}`);
      } else out.set(rel, `other ${stat.mode.toString(8)}`);
    }
  };
  walk(root);
  return out;
}

/** Human-readable differences between two snapshots; empty when identical. */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const lines: string[] = [];
  for (const [rel, was] of before) {
    const now = after.get(rel);
    if (now === undefined) lines.push(`removed ${rel}`);
    else if (now !== was) lines.push(`changed ${rel}: ${was} => ${now}`);
  }
  for (const rel of after.keys()) if (!before.has(rel)) lines.push(`created ${rel}`);
  return lines;
}

/** Runs `tasks` with at most `limit` at a time, keeping the order of results. */
export async function pool<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/**
 * What is wrong with a failure's stderr, if anything: it must carry one
 * error sentence, and no stack frame, internal error class, `[object
 * Object]`, or the fallback for unexpected errors; and stay short (a huge
 * input must not be echoed back).
 */
export function stderrProblems(stderr: string): string[] {
  const problems: string[] = [];
  const lines = stderr.split('\n');
  if (lines.some((l) => /^\s+at\s/.test(l))) problems.push('has a stack frame ("    at …")');
  if (stderr.includes('[object Object]')) problems.push('prints [object Object]');
  if (/Something unexpected went wrong/.test(stderr)) problems.push('reports an unexpected (non-user) error');
  if (/\b(TypeError|ReferenceError|RangeError|SyntaxError|AssertionError)\b/.test(stderr)) problems.push('names an internal error class');
  if (/Error: (Error|undefined|null)\b/.test(stderr)) problems.push('prints an empty or nested error');
  if (stderr.length > 2000) problems.push(`is ${stderr.length} characters long (echoes the input?)`);
  const sentence = lines.find((l) => /^(Error|error): \S/.test(l));
  if (!sentence) problems.push('has no "Error: …" sentence');
  else if (sentence.replace(/^(Error|error): /, '').trim().length < 10) problems.push(`the sentence is too short: ${sentence}`);
  return problems;
}

/** Whether `chattr +i` works here: root, the tool, and a file system that supports the flag (overlayfs often does not). */
export const canChattr = (() => {
  let cached: boolean | undefined;
  const probe = () => {
    if (process.getuid?.() !== 0 || !which('chattr')) return false;
    const dir = mkdtempSync(path.join(tmpdir(), 'thirdloop-chattr-'));
    const file = path.join(dir, 'probe');
    try {
      writeFileSync(file, '');
      execFileSync('chattr', ['+i', file], { stdio: 'pipe' });
      execFileSync('chattr', ['-i', file], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return () => (cached ??= probe());
})();

/** Makes a file or folder immutable: even root cannot write, rename over or delete it. */
export function makeImmutable(file: string): void {
  execFileSync('chattr', ['+i', file], { stdio: 'pipe' });
}

/** Undoes makeImmutable under `root` (before removing a temp dir). */
export function clearImmutable(root: string): void {
  try {
    execFileSync('chattr', ['-R', '-i', root], { stdio: 'pipe' });
  } catch {
    /* symlinks and special files make chattr complain; the files we marked are cleared */
  }
}

export interface Run {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the built CLI like test/helpers/cli.ts does, but tolerates a child
 * that exits before reading its stdin (a usage error with piped input), and
 * takes a cwd and extra spawn options (NODE_OPTIONS for the argv recorder).
 */
export function runCliSafe(
  args: string[],
  options: { home: string; cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number },
): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: options.cwd ?? options.home,
      env: cliEnv(options.home, options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // EPIPE: it exited without reading, which is its right
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr, ms: Math.round(performance.now() - started) });
    });
  });
}
