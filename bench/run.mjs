#!/usr/bin/env node
// `npm run bench`: every figure of issue 10 measured side by side in one run, printed as one table of
// medians, ratios and targets. Plain Node and public tools only; loopback only; bounded in count and
// time (about 2–3 minutes on 2 cores). Exits 1 when a figure misses its target.
//
//   node bench/run.mjs [--no-build] [--quick] [--only startup,keys,memory,login,footprint,gateway,broker,stores]
// Where a figure's time and memory go: node bench/explain.mjs [--server].
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureFootprint } from './footprint.mjs';
import { startKeyring } from './keyring.mjs';
import { measureLogin } from './login.mjs';
import { startServer } from './server.mjs';
import { CLI_BIN, ROOT, cpuRun, cpuSideBySide, fmtBytes, fmtMs, fmtRatio, isolatedEnv, median, mustSucceed, renderTable, sideBySide, timeRun } from './lib.mjs';

const { values: flags } = parseArgs({
  options: { 'no-build': { type: 'boolean' }, quick: { type: 'boolean' }, only: { type: 'string' } },
});
const only = flags.only ? new Set(flags.only.split(',')) : undefined;
const want = (section) => !only || only.has(section);
const RUNS = flags.quick ? 7 : 15;
const RATIO_TARGET = 1.3;
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

function startup() {
  log('start-up: thirdloop --version / --help against node -e 0…');
  const bare = () => timeRun(node, ['-e', '0']);
  for (const flag of ['--version', '--help']) {
    const r = sideBySide(bare, () => timeRun(node, [CLI_BIN, flag]), { runs: RUNS, warmup: 3, check: mustSucceed(`thirdloop ${flag}`) });
    row(`start-up: thirdloop ${flag} vs node -e 0`, `${fmtMs(r.b)} vs ${fmtMs(r.a)}`, fmtRatio(r.ratio), `≤ ${RATIO_TARGET}×`, r.ratio <= RATIO_TARGET);
  }
  for (const flag of ['--version', '--help']) {
    const r = cpuSideBySide(() => cpuRun(['-e', '0']), () => cpuRun([CLI_BIN, flag]), { runs: Math.ceil(RUNS / 2) });
    row(`  CPU time: thirdloop ${flag} vs node -e 0`, `${fmtMs(r.b)} vs ${fmtMs(r.a)}`, fmtRatio(r.ratio), `≤ ${RATIO_TARGET}×`, r.ratio <= RATIO_TARGET);
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

function keysAndMemory(server) {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-home-'));
  try {
    server.addUser('bench@example.com');
    const key = server.createKey('bench@example.com', 'bench');
    const env = isolatedEnv(home);
    const auth = spawnSync(node, [CLI_BIN, 'auth', '--with-key', '--insecure-storage', '--api-url', server.url], { env, input: key.credential, encoding: 'utf8' });
    if (auth.status !== 0) throw new Error(`auth --with-key exited ${auth.status}: ${auth.stderr.trim()}`);

    const cli = [CLI_BIN, 'keys', 'list', '--json'];
    const probe = timeRun(node, cli, { env });
    if (probe.status !== 0) {
      const reason = `keys list exited ${probe.status}: ${(probe.stderr || '').trim().split('\n')[0]}`;
      if (want('keys')) row('keys list --json vs undici script', '—', '—', `≤ ${RATIO_TARGET}×`, undefined);
      if (want('memory')) row('peak RSS: keys list --json vs node -e 0', '—', '—', `≤ ${RATIO_TARGET}×`, undefined);
      notes.push(`keys list / memory skipped: ${reason}`);
      return;
    }
    const same = JSON.parse(probe.stdout).keys?.some((k) => k.id === key.id);
    if (!same) throw new Error('keys list --json did not list the signed-in key');

    if (want('keys')) {
      log('keys list --json against the undici reference script…');
      const refEnv = { ...env, BENCH_CREDENTIAL: key.credential };
      const ref = () => timeRun(node, [join(ROOT, 'bench', 'keys-list-reference.mjs'), server.url], { env: refEnv });
      const r = sideBySide(ref, () => timeRun(node, cli, { env }), { runs: RUNS, warmup: 3, check: mustSucceed('keys list') });
      row('keys list --json vs undici script', `${fmtMs(r.b)} vs ${fmtMs(r.a)}`, fmtRatio(r.ratio), `≤ ${RATIO_TARGET}×`, r.ratio <= RATIO_TARGET);
      const c = cpuSideBySide(() => cpuRun([join(ROOT, 'bench', 'keys-list-reference.mjs'), server.url], { env: refEnv }), () => cpuRun(cli, { env }), {
        runs: Math.ceil(RUNS / 2),
      });
      row('  CPU time: keys list --json vs undici script', `${fmtMs(c.b)} vs ${fmtMs(c.a)}`, fmtRatio(c.ratio), `≤ ${RATIO_TARGET}×`, c.ratio <= RATIO_TARGET);
    }
    if (want('memory')) {
      log('peak RSS of keys list --json against node -e 0…');
      const bare = [];
      const list = [];
      for (let i = 0; i < (flags.quick ? 3 : 7); i++) {
        bare.push(peakRss(['-e', '0'], env));
        list.push(peakRss(cli, env));
      }
      const a = median(bare);
      const b = median(list);
      const ratio = median(list.map((v, i) => v / bare[i]));
      row('peak RSS: keys list --json vs node -e 0', `${(b / 1024).toFixed(1)} MB vs ${(a / 1024).toFixed(1)} MB`, fmtRatio(ratio), `≤ ${RATIO_TARGET}×`, ratio <= RATIO_TARGET);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
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

function gateway() {
  const script = join(ROOT, 'bench', 'gateway.mjs');
  if (!existsSync(script)) {
    notes.push('gateway: bench/gateway.mjs is not there yet.');
    return undefined;
  }
  log('gateway (bench/gateway.mjs)…');
  return new Promise((resolve) => {
    const child = spawn(node, [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      // S3's script prints its own table and "<what> <= target: worst X met|NOT met" lines; take those as rows.
      let found = 0;
      for (const line of out.split('\n')) {
        const label = /^(\S.*?)\s{2,}/.exec(line)?.[1] ?? '';
        for (const m of line.matchAll(/((?:[^:]*?)(?:<=|>=)[^:]*?):\s*worst(?: measured)?:?\s+([\d.]+\s*(?:ms|%))\s+(NOT met|met)/g)) {
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
  if (want('startup')) startup();
  if (want('keys') || want('memory') || want('login')) {
    await withServer(async (server) => {
      if (want('keys') || want('memory')) keysAndMemory(server);
      if (want('login')) await login(server);
    });
  }
  if (want('footprint')) footprint();
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
