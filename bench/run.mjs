#!/usr/bin/env node
// `npm run bench`: every figure of issue 10 measured side by side in one run, printed as one table of
// medians, ratios and targets. Plain Node and public tools only; loopback only; bounded in count and
// time (about 2–3 minutes on 2 cores). Exits 1 when a figure misses its target.
//
//   node bench/run.mjs [--no-build] [--quick] [--only everyday,login,footprint,setup,gateway,broker,stores]
//   BENCH_CLI=<dir>/bin/thirdloop.js node bench/run.mjs --no-build --only everyday   # another build, e.g. before a change
// Where a figure's time and memory go: node bench/explain.mjs [--server].
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureFootprint } from './footprint.mjs';
import { startKeyring } from './keyring.mjs';
import { measureLogin } from './login.mjs';
import { measureSetup } from './setup.mjs';
import { startServer } from './server.mjs';
import { CLI_BIN, ROOT, cpuRun, cpuSideBySide, fmtBytes, fmtMs, fmtRatio, isolatedEnv, median, mustSucceed, renderTable, sideBySide, timeRun } from './lib.mjs';

const { values: flags } = parseArgs({
  options: { 'no-build': { type: 'boolean' }, quick: { type: 'boolean' }, only: { type: 'string' } },
});
const only = flags.only ? new Set(flags.only.split(',')) : undefined;
const want = (section) => !only || only.has(section);
// startup, keys and memory were its parts' names before they became one section.
const wantEveryday = ['everyday', 'startup', 'keys', 'memory'].some(want);
const RUNS = flags.quick ? 7 : 15;
const node = process.execPath;
const rows = [];
const notes = [];
const log = (text) => process.stderr.write(`${text}\n`);
const started = performance.now();

function row(figure, measured, ratio, target, pass) {
  rows.push({ figure, measured, ratio, target, pass });
}

function build() {
  log('building the CLI (tsup) and the server…');
  const cli = spawnSync(node, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--silent'], { cwd: ROOT, encoding: 'utf8' });
  if (cli.status !== 0) {
    if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error(`the CLI does not build: ${cli.stderr.trim().slice(-400)}`);
    notes.push('The CLI build failed (a file being edited?); measured the previous dist/.');
  }
  const server = spawnSync('npm', ['run', 'build', '--silent', '-w', 'thirdloop-server'], { cwd: ROOT, encoding: 'utf8' });
  if (server.status !== 0) {
    if (!existsSync(join(ROOT, 'server', 'dist', 'main.js'))) throw new Error(`the server does not build: ${server.stderr.trim().slice(-400)}`);
    notes.push('The server build failed; measured the previous server/dist/.');
  }
}

/** Peak RSS in kB of one run: GNU time when present, else the child's own resourceUsage() via a preload. */
function peakRss(args, env) {
  const out = join(tmpdir(), `thirdloop-bench-rss-${process.pid}`);
  try {
    if (existsSync('/usr/bin/time')) {
      const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, node, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
      return Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    }
    const preload = `data:text/javascript,${encodeURIComponent(
      `import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(${JSON.stringify(out)},String(process.resourceUsage().maxRSS)))`,
    )}`;
    const r = spawnSync(node, ['--import', preload, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
    return Number(readFileSync(out, 'utf8').trim());
  } finally {
    rmSync(out, { force: true });
  }
}

async function withServer(fn) {
  log('starting the reference server…');
  const server = await startServer();
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * The everyday commands, each against its floor, pair by pair in one run: what bare node costs for the
 * commands that make no request (`token`, `--version`, `--help` vs `node -e 0`), and what one request
 * costs for those that make one (`status`, `keys list` vs the same GET in a node:http script,
 * bench/raw-get.mjs). Then CPU time (steadier on a busy machine) and peak RSS.
 */
async function everyday(server) {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-home-'));
  const keyringHome = mkdtempSync(join(tmpdir(), 'thirdloop-bench-home-'));
  let keyring;
  try {
    server.addUser('bench@example.com');
    const key = server.createKey('bench@example.com', 'bench');
    const env = isolatedEnv(home);
    const signIn = (signInEnv, extra) => {
      const r = spawnSync(node, [CLI_BIN, 'auth', '--with-key', ...extra, '--api-url', server.url], { env: signInEnv, input: key.credential, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`auth --with-key exited ${r.status}: ${r.stderr.trim()}`);
      return r.stderr;
    };
    signIn(env, ['--insecure-storage']);
    const listed = timeRun(node, [CLI_BIN, 'keys', 'list', '--json'], { env });
    mustSucceed('keys list --json')(listed, 'probe');
    if (!JSON.parse(listed.stdout).keys?.some((k) => k.id === key.id)) throw new Error('keys list --json did not list the signed-in key');

    // The same home with the secret in a real keychain (gnome-keyring over D-Bus), for `token`.
    keyring = await startKeyring();
    let keychainEnv;
    if (keyring.skipped) notes.push(`token (keychain) skipped: ${keyring.skipped}`);
    else {
      keychainEnv = isolatedEnv(keyringHome, keyring.env);
      signIn(keychainEnv, []);
      const stored = timeRun(node, [CLI_BIN, 'status', '--json'], { env: keychainEnv });
      if (JSON.parse(stored.stdout).storage?.source !== 'keychain') {
        notes.push('token (keychain) skipped: the secret did not go to the keychain');
        keychainEnv = undefined;
      }
    }

    const bare = { label: 'node -e 0', args: ['-e', '0'], env };
    const raw = (path) => ({ label: `node:http GET ${path}`, args: [join(ROOT, 'bench', 'raw-get.mjs'), `${server.url}${path}`], env: { ...env, BENCH_CREDENTIAL: key.credential } });
    const pairs = [
      { what: 'thirdloop --version', cli: ['--version'], env, floor: bare, target: 1.1 },
      { what: 'thirdloop --help', cli: ['--help'], env, floor: bare, target: 1.1 },
      { what: 'thirdloop token (0600 file)', cli: ['token'], env, floor: bare, target: 1.15 },
      ...(keychainEnv
        ? [
            { what: 'thirdloop token (keychain)', cli: ['token'], env: keychainEnv, floor: { ...bare, env: keychainEnv }, target: 1.15 },
            // What the keychain itself costs (a 3 MB native binding, a D-Bus round trip): the same read with the binding alone.
            { what: 'thirdloop token (keychain)', cli: ['token'], env: keychainEnv, floor: { label: 'the binding alone reading the item', args: [join(ROOT, 'bench', 'keychain-read.mjs')], env: keychainEnv }, target: null },
          ]
        : []),
      { what: 'thirdloop status', cli: ['status'], env, floor: raw('/api/me'), target: 1.2 },
      { what: 'thirdloop keys list --json', cli: ['keys', 'list', '--json'], env, floor: raw('/api/keys'), target: 1.2 },
      { what: 'thirdloop keys list (table)', cli: ['keys', 'list'], env, floor: raw('/api/keys'), target: 1.2 },
    ];
    log(`everyday commands against their floors: ${pairs.length} pairs, wall time…`);
    for (const p of pairs) {
      const r = sideBySide(() => timeRun(node, p.floor.args, { env: p.floor.env }), () => timeRun(node, [CLI_BIN, ...p.cli], { env: p.env }), {
        runs: RUNS,
        warmup: 3,
        check: mustSucceed(p.what),
      });
      row(`${p.what} vs ${p.floor.label}`, `${fmtMs(r.b)} vs ${fmtMs(r.a)}`, fmtRatio(r.ratio), p.target ? `≤ ${p.target}×` : '(reported)', p.target ? r.ratio <= p.target : null);
    }
    log('…CPU time (user + system)…');
    for (const p of pairs) {
      const c = cpuSideBySide(() => cpuRun(p.floor.args, { env: p.floor.env }), () => cpuRun([CLI_BIN, ...p.cli], { env: p.env }), { runs: Math.ceil(RUNS / 2) });
      row(`  CPU time: ${p.what} vs ${p.floor.label}`, `${fmtMs(c.b)} vs ${fmtMs(c.a)}`, fmtRatio(c.ratio), '(reported)', null);
    }
    log('…peak RSS against node -e 0…');
    for (const p of pairs.filter((q, i) => q.cli[0] !== '--help' && pairs.findIndex((o) => o.what === q.what) === i)) {
      const bareRss = [];
      const cliRss = [];
      for (let i = 0; i < (flags.quick ? 3 : 7); i++) {
        bareRss.push(peakRss(['-e', '0'], p.env));
        cliRss.push(peakRss([CLI_BIN, ...p.cli], p.env));
      }
      const ratio = median(cliRss.map((v, i) => v / bareRss[i]));
      row(`peak RSS: ${p.what} vs node -e 0`, `${(median(cliRss) / 1024).toFixed(1)} MB vs ${(median(bareRss) / 1024).toFixed(1)} MB`, fmtRatio(ratio), '≤ 1.2×', ratio <= 1.2);
    }
  } finally {
    keyring?.stop?.();
    rmSync(home, { recursive: true, force: true });
    rmSync(keyringHome, { recursive: true, force: true });
  }
}

async function login(server) {
  const figure = (where) => `login: callback → CLI exit, secret in ${where}`;
  log('login round trip with headless Chromium (0600 file)…');
  const file = await measureLogin(server, { runs: flags.quick ? 3 : 5 });
  if (file.skipped) {
    row(figure('file'), '—', '', '≤ 150 ms', undefined);
    notes.push(`login skipped: ${file.skipped}`);
    return;
  }
  row(figure('0600 file'), `${fmtMs(file.median)} (min ${fmtMs(file.min)}, max ${fmtMs(file.max)}, n=${file.runs})`, '', '≤ 150 ms', file.median <= 150);

  const keyring = await startKeyring();
  if (keyring.skipped) {
    row(figure('keychain'), '—', '', '≤ 150 ms', undefined);
    notes.push(`login with the keychain skipped: ${keyring.skipped}`);
    return;
  }
  try {
    log('login round trip with headless Chromium (keychain: gnome-keyring over D-Bus)…');
    const kc = await measureLogin(server, { runs: flags.quick ? 3 : 5, keyringEnv: keyring.env });
    row(figure('keychain'), `${fmtMs(kc.median)} (min ${fmtMs(kc.min)}, max ${fmtMs(kc.max)}, n=${kc.runs})`, '', '≤ 150 ms', kc.median <= 150);
  } finally {
    keyring.stop();
  }
}

function footprint() {
  log('install footprint (npm pack, npm install of the tarball)…');
  let f;
  try {
    f = measureFootprint({ log });
  } catch (error) {
    row('install: packages', '—', '', '≤ 25', undefined);
    notes.push(`footprint skipped: ${error.message}`);
    return;
  }
  row('install: npm pack tarball', `${fmtBytes(f.tarballSize)} (${f.packageFiles} files, ${fmtBytes(f.packageUnpackedSize)} unpacked)`, '', '(reported)', null);
  row('install: packages in node_modules', `${f.installedPackages} (${f.installedNames.join(', ')})`, '', '≤ 25', f.installedPackages <= 25);
  row('install: node_modules unpacked', fmtBytes(f.nodeModulesSize), '', '≤ 5 MB', f.nodeModulesSize <= 5 * 1024 * 1024);
  if (f.installNote) notes.push(`footprint: ${f.installNote}`);
}

function setupClaude() {
  log('setup claude on a typical home, each run on a fresh copy…');
  const r = measureSetup({ runs: Math.ceil(RUNS / 2) });
  row('setup claude, typical home (bash, zsh, fish: 9 shell starts checked)', fmtMs(r.setup), '', '≤ 1500 ms', r.setup <= 1500);
  row('  vs its --dry-run (same reading and planning; no writes, no shells)', `${fmtMs(r.setup)} vs ${fmtMs(r.dryRun)}`, fmtRatio(r.ratio), '', null);
  row('  of which: starting the shells to check them (all at once)', fmtMs(r.verifyMs), '', '≤ 1000 ms', r.verifyMs <= 1000);
}

function gateway() {
  const script = join(ROOT, 'bench', 'gateway.mjs');
  if (!existsSync(script)) {
    notes.push('gateway: bench/gateway.mjs is not there yet.');
    return undefined;
  }
  log('gateway (bench/gateway.mjs)…');
  return new Promise((resolve) => {
    const child = spawn(node, [script, ...(flags.quick ? ['--quick'] : [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      // S3's script prints its own table and "<what> <= target: worst X met|NOT met" lines; take those as rows.
      let found = 0;
      for (const line of out.split('\n')) {
        const label = /^(\S.*?)\s{2,}/.exec(line)?.[1] ?? '';
        for (const m of line.matchAll(/((?:[^:]*?)(?:<=|>=)[^:]*?):\s*worst(?: measured)?:?\s+([\d.]+\s*(?:ms|%|×))\s+(NOT met|met)/g)) {
          const what = m[1].replace(/^\s*(target:\s*)?/, '').replace(label, '').trim();
          row(`gateway${label && !/^target/.test(label) ? ` (${label})` : ''}: ${what.replace(/\s*(<=|>=).*$/, '')}`, `worst ${m[2]}`, '', what.replace(/^.*?(<=|>=)/, (x, op) => (op === '<=' ? '≤' : '≥')).trim(), m[3] === 'met');
          found++;
        }
      }
      if (found === 0) notes.push(`gateway bench exited ${code}${err.trim() ? `: ${err.trim().split('\n').slice(-2).join(' | ')}` : ''} (its own output is below)`);
      resolve(out.trim());
    });
  });
}

/** The gateway on PostgreSQL beside SQLite (bench/gateway-stores.mjs): rows on a "BENCH-ROWS <json>" line. */
function gatewayStores() {
  log('gateway on PostgreSQL and SQLite (bench/gateway-stores.mjs)…');
  return new Promise((resolve) => {
    const args = [join(ROOT, 'bench', 'gateway-stores.mjs'), '--rows', ...(flags.quick ? ['--quick'] : [])];
    const child = spawn(node, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 180_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH-ROWS '));
      if (line) rows.push(...JSON.parse(line.slice('BENCH-ROWS '.length)));
      else notes.push(`gateway-stores bench exited ${code}${err.trim() ? `: ${err.trim().split('\n').slice(-2).join(' | ')}` : ''}`);
      resolve(out.split('\n').filter((l) => !l.startsWith('BENCH-ROWS ')).join('\n').trim());
    });
  });
}

/** `thirdloop run`'s broker (bench/broker.mjs): its rows come back on a "BENCH-ROWS <json>" line. */
function broker() {
  log('run broker (bench/broker.mjs)…');
  return new Promise((resolve) => {
    const args = [join(ROOT, 'bench', 'broker.mjs'), '--rows', ...(flags.quick ? ['--quick'] : [])];
    const child = spawn(node, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 180_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH-ROWS '));
      if (line) rows.push(...JSON.parse(line.slice('BENCH-ROWS '.length)));
      else notes.push(`broker bench exited ${code}${err.trim() ? `: ${err.trim().split('\n').slice(-2).join(' | ')}` : ''}`);
      resolve(out.split('\n').filter((l) => !l.startsWith('BENCH-ROWS ')).join('\n').trim());
    });
  });
}

async function main() {
  if (!flags['no-build']) build();
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npx tsup` first.');
  if (wantEveryday || want('login')) {
    await withServer(async (server) => {
      if (wantEveryday) await everyday(server);
      if (want('login')) await login(server);
    });
  }
  if (want('footprint')) footprint();
  if (want('setup')) setupClaude();
  const gatewayOut = want('gateway') ? await gateway() : undefined;
  const brokerOut = want('broker') ? await broker() : undefined;
  const storesOut = want('stores') ? await gatewayStores() : undefined;

  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`\nthirdloop bench — ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs, load ${load}, ${RUNS} interleaved runs per side after warm-up, total ${seconds} s\n`);
  if (loadavg()[0] > cpus().length) notes.push(`the machine was busy (load ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs): wall times and ratios are noisy; the CPU-time rows are less affected.`);
  console.log(renderTable(rows));
  if (gatewayOut) console.log(`\n${gatewayOut}`);
  if (brokerOut) console.log(`\n${brokerOut}`);
  if (storesOut) console.log(`\n${storesOut}`);
  for (const note of notes) console.log(`note: ${note}`);
  const failed = rows.filter((r) => r.pass === false);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ rows, notes }, null, 2)}\n`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
});
