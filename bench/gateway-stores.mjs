#!/usr/bin/env node
// The gateway on PostgreSQL beside the gateway on SQLite, in one run: two built servers with the same
// settings in front of one local upstream, the SQLite one on its data directory and the PostgreSQL one
// on a throwaway cluster (test/helpers/postgres-cluster.mjs), the same key traffic to each, in
// interleaved slices so drift on a shared machine hits both alike. POST /v1/messages with a 1 KB body,
// at 1 and 50 connections: added latency over calling the upstream directly (p50), req/s, and the
// servers' CPU time per request. Target (issue 17): PostgreSQL's per-request cost within 10 % of SQLite's
// (the key cache keeps the database off the request path; last-used times and audit rows are batched).
//
//   node bench/gateway-stores.mjs [--quick] [--rows]     (--rows: a "BENCH-ROWS <json>" line for bench/run.mjs)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createDatabase, postgresBinDir, startCluster, stopCluster } from '../test/helpers/postgres-cluster.mjs';
import { SERVER_BIN, median, startChild } from './lib.mjs';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean' }, rows: { type: 'boolean' } } });
const ROUNDS = flags.quick ? 4 : 8;
const PLAN = [
  { concurrency: 1, count: flags.quick ? 400 : 1_000 },
  { concurrency: 50, count: flags.quick ? 1_500 : 4_000 },
];
const PHASE_MAX_MS = flags.quick ? 15_000 : 30_000;
const TARGET = 1.1;
const cleanups = [];
const cleanup = async () => {
  for (const fn of cleanups.reverse()) await fn();
};
process.on('SIGTERM', () => void cleanup().then(() => process.exit(1)));

if (!postgresBinDir()) {
  console.error('gateway-stores: PostgreSQL is not installed (the postgresql package); nothing measured.');
  process.exit(flags.rows ? 0 : 1);
}

const answer = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: 'Hello from the bench upstream.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 8 },
});

function startUpstream() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}

function serverCommand(args, env, input = '') {
  const r = spawnSync(process.execPath, [SERVER_BIN, ...args], { input, encoding: 'utf8', env, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`thirdloop-server ${args.slice(0, 2).join(' ')} exited ${r.status}: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

/** A built server on `where` (its data dir, and a database URL or none), with a member and a key. */
async function startGateway(name, upstream, databaseUrl) {
  const dataDir = mkdtempSync(join(tmpdir(), `thirdloop-bench-${name}-`));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('THIRDLOOP_')));
  Object.assign(env, { THIRDLOOP_SERVER_DATA_DIR: dataDir, THIRDLOOP_RATE_LIMIT_PER_MINUTE: '100000000' }, databaseUrl ? { THIRDLOOP_DATABASE_URL: databaseUrl } : {});
  serverCommand(['users', 'add', '--email', 'bench@example.com', '--password-stdin'], env, 'bench password 123');
  const { credential } = JSON.parse(serverCommand(['keys', 'create', '--user', 'bench@example.com', '--json'], env));
  const { child, ready } = startChild(process.execPath, [SERVER_BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--upstream', upstream], {
    pattern: /listening on (http:\/\/\S+)/,
    env,
  });
  const url = (await ready)[1];
  child.stdout.resume();
  cleanups.push(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { name, url, pid: child.pid, headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' } };
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'x'.repeat(900) }] });

async function load(side, count, concurrency, maxMs) {
  const pool = new Pool(side.url, { connections: concurrency, pipelining: 1 });
  const deadline = performance.now() + maxMs;
  const cpuBefore = side.pid ? cpuMs(side.pid) : 0;
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < count && performance.now() < deadline) {
      issued++;
      const t = performance.now();
      const res = await pool.request({ path: '/v1/messages', method: 'POST', headers: side.headers, body });
      await res.body.text();
      side.latencies.push(performance.now() - t);
      if (res.statusCode !== 200) side.errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  side.seconds += (performance.now() - started) / 1000;
  side.done += issued;
  if (side.pid) side.cpu += cpuMs(side.pid) - cpuBefore;
  await pool.close();
}

async function main() {
  const runDir = mkdtempSync(join(tmpdir(), 'thirdloop-bench-pg-'));
  cleanups.push(() => stopCluster(runDir));
  const cluster = await startCluster(runDir);
  const databaseUrl = await createDatabase(cluster, 'bench');
  const upstream = await startUpstream();
  cleanups.push(() => new Promise((r) => upstream.server.close(r)));
  const [sqlite, pg] = await Promise.all([startGateway('sqlite', upstream.url), startGateway('postgres', upstream.url, databaseUrl)]);
  const direct = { name: 'direct', url: upstream.url, headers: { 'content-type': 'application/json' } };

  const rows = [];
  const lines = [];
  for (const { concurrency, count } of PLAN) {
    const sides = [direct, sqlite, pg].map((s) => ({ ...s, latencies: [], errors: 0, seconds: 0, done: 0, cpu: 0 }));
    for (const s of sides) await load(s, Math.ceil(count / 10), concurrency, 3_000);
    for (const s of sides) Object.assign(s, { latencies: [], errors: 0, seconds: 0, done: 0, cpu: 0 });
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of sides) await load(s, Math.ceil(count / ROUNDS), concurrency, PHASE_MAX_MS / (ROUNDS * sides.length));
    }
    const [d, l, p] = sides;
    const added = (s) => median(s.latencies) - median(d.latencies);
    const rps = (s) => s.done / s.seconds;
    const cpu = (s) => s.cpu / s.done;
    for (const s of [l, p]) if (s.errors) lines.push(`note: ${s.name} answered ${s.errors} of ${s.done} requests with a non-200 status`);
    const cpuRatio = cpu(p) / cpu(l);
    lines.push(
      `1 KB × ${concurrency}: added p50 SQLite ${added(l).toFixed(2)} ms, PostgreSQL ${added(p).toFixed(2)} ms; ` +
        `req/s SQLite ${rps(l).toFixed(0)}, PostgreSQL ${rps(p).toFixed(0)}; CPU/request SQLite ${cpu(l).toFixed(3)} ms, PostgreSQL ${cpu(p).toFixed(3)} ms ` +
        `(${l.done}/${p.done} requests)`,
    );
    rows.push({
      figure: `gateway on PostgreSQL vs SQLite (1 KB × ${concurrency}): server CPU per request`,
      measured: `${cpu(p).toFixed(3)} ms vs ${cpu(l).toFixed(3)} ms`,
      ratio: `${cpuRatio.toFixed(2)}×`,
      target: `≤ ${TARGET}×`,
      pass: cpuRatio <= TARGET,
    });
    rows.push({
      figure: `gateway on PostgreSQL vs SQLite (1 KB × ${concurrency}): req/s`,
      measured: `${rps(p).toFixed(0)} vs ${rps(l).toFixed(0)}`,
      ratio: `${(rps(p) / rps(l)).toFixed(2)}×`,
      target: 'for information',
    });
  }
  await cleanup();
  console.log(`gateway on both stores: ${process.version}, loopback, POST /v1/messages (1 KB), ${ROUNDS} interleaved slices per side`);
  for (const line of lines) console.log(line);
  if (flags.rows) console.log(`BENCH-ROWS ${JSON.stringify(rows)}`);
  else for (const r of rows) console.log(`${r.figure}: ${r.measured} (${r.ratio}; target ${r.target})`);
}

main().catch(async (error) => {
  console.error(`gateway-stores: ${error.message}`);
  await cleanup();
  process.exit(1);
});
