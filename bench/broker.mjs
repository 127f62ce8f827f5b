#!/usr/bin/env node
// What `thirdloop run`'s broker costs: the latency it adds to a request, beside the bare Node hop
// (bench/bare-hop.mjs: node:http in, node:http out, nothing else) measured in the same run, and the
// time until a 2 MB request body starts reaching the instance. The broker is the real one: the load
// generator (bench/broker-client.mjs) runs as the command of `thirdloop run`, against an upstream
// that answers at once, so only the hops are measured. Loopback only; bounded in time.
//   node bench/broker.mjs [--quick] [--rows]   (--rows: a last line "BENCH-ROWS <json>" for bench/run.mjs)
// Needs dist/ and server/dist/ (npm run build).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { CLI_BIN, ROOT, SERVER_BIN, isolatedEnv } from './lib.mjs';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean' }, rows: { type: 'boolean' } } });
const TARGET_RATIO = 1.2;
const OVERALL_MAX_MS = 170_000;

for (const file of [join(ROOT, 'dist', 'main.js'), join(ROOT, 'server', 'dist', 'main.js')]) {
  if (!existsSync(file)) {
    console.error(`${file} is missing: run \`npm run build\` first.`);
    process.exit(1);
  }
}

// The instance stand-in, on its own thread: answers /v1/messages at once, and tells a waiting
// `GET /__first/<id>` when the first body byte of request <id> has arrived.
const UPSTREAM = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
const answer = JSON.stringify({ id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: 'Hello from the bench upstream. '.repeat(8) }], stop_reason: 'end_turn', stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 64 } });
const seen = new Set();
const waiting = new Map();
const server = createServer((req, res) => {
  if (req.url.startsWith('/__first/')) {
    const id = req.url.slice('/__first/'.length);
    if (seen.has(id)) return res.end('seen');
    return waiting.set(id, () => res.end('seen'));
  }
  const id = req.headers['x-bench-id'];
  req.on('data', () => {
    if (!id || seen.has(id)) return;
    seen.add(id);
    waiting.get(id)?.();
    waiting.delete(id);
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer), 'request-id': 'req_bench' });
    res.end(answer);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

const cleanups = [];
const cleanup = () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
};
const overall = setTimeout(() => {
  console.error(`broker bench: gave up after ${OVERALL_MAX_MS / 1000} s`);
  cleanup();
  process.exit(1);
}, OVERALL_MAX_MS);

function startUpstream() {
  const worker = new Worker(UPSTREAM, { eval: true });
  cleanups.push(() => void worker.terminate());
  return new Promise((resolve, reject) => {
    worker.once('message', (port) => resolve(`http://127.0.0.1:${port}`));
    worker.once('error', reject);
  });
}

function startBareHop(upstream) {
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'bare-hop.mjs'), upstream], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGTERM'));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], pid: child.pid });
    });
    child.once('exit', (code) => reject(new Error(`the bare hop exited ${code}`)));
  });
}

/** A well-formed key from the reference server's own operator command (the upstream checks none). */
function credential() {
  const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-bench-broker-data-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const cli = (args) => execFileSync(process.execPath, [SERVER_BIN, ...args, '--data-dir', dataDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  cli(['users', 'add', '--email', 'bench@example.com']);
  return JSON.parse(cli(['keys', 'create', '--user', 'bench@example.com', '--name', 'bench', '--json'])).credential;
}

function runClient(upstream, bare, key) {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-broker-home-'));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const env = isolatedEnv(home, {
    THIRDLOOP_API_KEY: key,
    BENCH_UPSTREAM: upstream,
    BENCH_BARE: bare.url,
    BENCH_BARE_PID: String(bare.pid),
    ...(flags.quick ? { BENCH_ROUNDS: '6', BENCH_PER_ROUND: '100', BENCH_WARMUP: '100', BENCH_BIG_RUNS: '7' } : {}),
  });
  const child = spawn(process.execPath, [CLI_BIN, 'run', '--api-url', upstream, '--', process.execPath, join(ROOT, 'bench', 'broker-client.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGTERM'));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`thirdloop run -- broker-client exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const ms = (v) => `${v.toFixed(3)} ms`;

async function main() {
  const upstream = await startUpstream();
  const bare = await startBareHop(upstream);
  const result = await runClient(upstream, bare, credential());

  console.log(`broker bench: ${process.version}, loopback, POST /v1/messages to an upstream that answers at once; the broker is \`thirdloop run\`'s`);
  const header = ['conns', 'requests/side', 'direct p50', 'bare hop p50', 'broker p50', 'bare added', 'broker added', 'ratio', 'CPU/request bare', 'broker', 'ratio'];
  const lines = result.latencies.map((l) => [
    String(l.concurrency),
    String(l.requests),
    ms(l.p50.direct),
    ms(l.p50.bare),
    ms(l.p50.broker),
    ms(l.added.bare),
    ms(l.added.broker),
    `${(l.added.broker / l.added.bare).toFixed(2)}×`,
    `${l.cpuUsPerRequest.bare.toFixed(1)} µs`,
    `${l.cpuUsPerRequest.broker.toFixed(1)} µs`,
    `${(l.cpuUsPerRequest.broker / l.cpuUsPerRequest.bare).toFixed(2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const line of [header, ...lines]) console.log(line.map((c, i) => c.padStart(widths[i])).join('  '));
  const { big } = result;
  console.log(
    `\n2 MB request body, first ${big.firstPart / 1024} KB sent, the rest held until the upstream has bytes (median of ${big.runs}): ` +
      `time to first upstream byte direct ${ms(big.ttfb.direct)}, bare hop ${ms(big.ttfb.bare)}, broker ${ms(big.ttfb.broker)}; ` +
      `streamed before the body was complete: ${big.streamed ? 'yes, every time' : 'NO'}`,
  );

  const rows = [];
  for (const l of result.latencies) {
    const ratio = l.added.broker / l.added.bare;
    // The target is for one connection (a person's session); ten at once on two shared cores is reported.
    const targeted = l.concurrency === 1;
    rows.push({
      figure: `run broker: added p50 vs bare Node hop, ${l.concurrency} conn${l.concurrency > 1 ? 's' : ''}`,
      measured: `${ms(l.added.broker)} vs ${ms(l.added.bare)}`,
      ratio: `${ratio.toFixed(2)}×`,
      target: targeted ? `≤ ${TARGET_RATIO}×` : '(reported)',
      pass: targeted ? ratio <= TARGET_RATIO : null,
    });
  }
  for (const l of result.latencies) {
    const ratio = l.cpuUsPerRequest.broker / l.cpuUsPerRequest.bare;
    if (!Number.isFinite(ratio)) continue;
    rows.push({
      figure: `  CPU per request: broker vs bare Node hop, ${l.concurrency} conn${l.concurrency > 1 ? 's' : ''}`,
      measured: `${l.cpuUsPerRequest.broker.toFixed(1)} vs ${l.cpuUsPerRequest.bare.toFixed(1)} µs`,
      ratio: `${ratio.toFixed(2)}×`,
      target: '(reported)',
      pass: null,
    });
  }
  rows.push({
    figure: 'run broker: 2 MB body, time to first upstream byte',
    measured: `${ms(big.ttfb.broker)} (bare hop ${ms(big.ttfb.bare)}, direct ${ms(big.ttfb.direct)})`,
    ratio: '',
    target: 'before the body is complete',
    pass: big.streamed,
  });
  if (flags.rows) console.log(`BENCH-ROWS ${JSON.stringify(rows)}`);
  process.exitCode = rows.some((r) => r.pass === false) ? 1 : 0;
}

main()
  .catch((error) => {
    console.error(`broker bench failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    clearTimeout(overall);
    cleanup();
  });
