// Small helpers the benchmark sections share: timing child processes, medians, the result table.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_CLI measures another build of the CLI (say, one from before a change) against the same floors.
export const CLI_BIN = process.env.BENCH_CLI || join(ROOT, 'bin', 'thirdloop.js');
export const SERVER_BIN = join(ROOT, 'server', 'bin', 'thirdloop-server.js');

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs a command to completion and returns its wall time in ms (spawn to exit), with its output. */
export function timeRun(command, args, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: 30_000, ...options });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.error) throw result.error;
  return { ms, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Interleaves A and B (A B A B …) so that machine noise hits both alike; after `warmup` unrecorded
 * pairs, records `runs` pairs. Returns each side's median and the median of the pairwise ratios B/A.
 */
export function sideBySide(a, b, { runs, warmup = 3, check }) {
  const as = [];
  const bs = [];
  for (let i = 0; i < warmup + runs; i++) {
    const ra = a();
    const rb = b();
    if (check) {
      check(ra, 'A');
      check(rb, 'B');
    }
    if (i >= warmup) {
      as.push(ra.ms);
      bs.push(rb.ms);
    }
  }
  return { a: median(as), b: median(bs), ratio: median(bs.map((v, i) => v / as[i])), runs };
}

/** Fails loudly when a measured command did not succeed: a fast failure is not a fast command. */
export function mustSucceed(label) {
  return (r, side) => {
    if (r.status !== 0) throw new Error(`${label} (${side}) exited ${r.status}: ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  };
}

/** Starts a long-running child and resolves once `pattern` appears on stdout. */
export function startChild(command, args, { pattern, env, timeoutMs = 20_000 } = {}) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} ${args[0] ?? ''} did not start in ${timeoutMs / 1000} s: ${err.trim()}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited ${code} before it was ready: ${err.trim()}`));
    });
  });
  return { child, ready };
}

export const fmtMs = (ms) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : '—');
export const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
export function fmtBytes(n) {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${n} B`;
}

/** Rows: { figure, measured, ratio, target, pass } with pass true/false, null (reported only) or undefined (skipped). */
export function renderTable(rows) {
  const header = ['figure', 'median(s)', 'ratio', 'target', 'result'];
  const cells = rows.map((r) => [r.figure, r.measured ?? '', r.ratio ?? '', r.target ?? '', r.pass === null ? 'info' : r.pass === undefined ? 'skipped' : r.pass ? 'pass' : 'FAIL']);
  const all = [header, ...cells];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...row[i]].length)));
  const line = (row) => row.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** A child environment that cannot reach the developer's own config, keyring or instance. */
export function isolatedEnv(home, extra = {}) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(THIRDLOOP_|ANTHROPIC_)/.test(name) || name === 'DBUS_SESSION_BUS_ADDRESS' || name === 'NO_COLOR' || name === 'FORCE_COLOR') delete env[name];
  }
  Object.assign(env, {
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    BROWSER: 'none',
  });
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * CPU time (user + system, ms) of one run, read inside the child at exit through a preload: far less
 * sensitive than wall time to other processes competing for the cores.
 */
export function cpuRun(args, options = {}) {
  const out = join(tmpdir(), `thirdloop-bench-cpu-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const preload = `data:text/javascript,${encodeURIComponent(
    `import{writeFileSync}from'node:fs';process.on('exit',()=>{const u=process.cpuUsage();writeFileSync(${JSON.stringify(out)},String((u.user+u.system)/1000))})`,
  )}`;
  try {
    const r = spawnSync(process.execPath, ['--import', preload, ...args], { encoding: 'utf8', timeout: 30_000, ...options });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${(r.stderr || '').trim()}`);
    return Number(readFileSync(out, 'utf8'));
  } finally {
    rmSync(out, { force: true });
  }
}

/** Interleaved CPU-time comparison: medians and the median pairwise ratio B/A. */
export function cpuSideBySide(a, b, { runs, warmup = 2 }) {
  const as = [];
  const bs = [];
  for (let i = 0; i < warmup + runs; i++) {
    const x = a();
    const y = b();
    if (i >= warmup) {
      as.push(x);
      bs.push(y);
    }
  }
  return { a: median(as), b: median(bs), ratio: median(bs.map((v, i) => v / as[i])) };
}
