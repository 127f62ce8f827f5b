#!/usr/bin/env node
// The latency and throughput the /v1 gateway adds (auth + last-used + audit + proxy), measured against
// calling the same local upstream directly, on loopback, at 1 and at 50 concurrent connections.
// Needs a built server: `npm run build -w thirdloop-server`. Run: `node bench/gateway.mjs`.
// Bounded: a fixed number of requests per phase and a time cap per phase and overall.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverBin = join(root, 'server', 'bin', 'thirdloop-server.js');
const PHASE_MAX_MS = 15_000;
const ROUNDS = 10;
const OVERALL_MAX_MS = 150_000;
// Three upstreams: one that answers instantly (the gateway's pure overhead, the worst case for the
// ratio); one streaming 26 SSE events 1.5 ms apart (a stress: far denser than a model); and one
// streaming them 10 ms apart (closer to a model's pace, still faster than most).
const PLAN = [
  { scenario: 'instant JSON', gapMs: 0, concurrency: 1, warmup: 300, count: 2_000 },
  { scenario: 'instant JSON', gapMs: 0, concurrency: 50, warmup: 1_000, count: 10_000 },
  { scenario: 'instant, 200 KB in', gapMs: 0, bodyKB: 200, concurrency: 1, warmup: 50, count: 500 },
  { scenario: 'SSE 1.5 ms gaps', gapMs: 1.5, concurrency: 1, warmup: 20, count: 200 },
  { scenario: 'SSE 1.5 ms gaps', gapMs: 1.5, concurrency: 50, warmup: 200, count: 3_000 },
  { scenario: 'SSE 10 ms gaps', gapMs: 10, concurrency: 1, warmup: 4, count: 40 },
  { scenario: 'SSE 10 ms gaps', gapMs: 10, concurrency: 50, warmup: 100, count: 1_000 },
];
const TARGET_ADDED_P50_MS = 1;
const TARGET_RATIO = 0.7;

if (!existsSync(join(root, 'server', 'dist', 'main.js'))) {
  console.error('The server is not built. Run `npm run build -w thirdloop-server` first.');
  process.exit(1);
}

const overall = setTimeout(() => {
  console.error(`bench: gave up after ${OVERALL_MAX_MS / 1000} s`);
  cleanup();
  process.exit(1);
}, OVERALL_MAX_MS);

// The upstream runs on its own thread so the load generator does not steal its event loop.
const UPSTREAM = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
const body = JSON.stringify({
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
  content: [{ type: 'text', text: 'Hello from the bench upstream. '.repeat(8) }],
  stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 25, output_tokens: 64 },
});
const sse = (name, data) => 'event: ' + name + '\\ndata: ' + JSON.stringify(data) + '\\n\\n';
const head = [
  sse('message_start', { type: 'message_start', message: { id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, output_tokens: 1 } } }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('ping', { type: 'ping' }),
];
const delta = sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello from the bench upstream. ' } });
const tail = sse('content_block_stop', { type: 'content_block_stop', index: 0 })
  + sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 120 } })
  + sse('message_stop', { type: 'message_stop' });
// Event i leaves at start + i gaps on a fixed schedule, so CPU contention on the machine does not
// stretch the stream and only the gateway's own delay on the last event counts.
const stream = (res, gap) => {
  const start = performance.now();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.write(head.join(''));
  let sent = 0;
  const tick = () => {
    if (res.destroyed) return;
    if (sent < 20) {
      res.write(delta);
      sent++;
      setTimeout(tick, Math.max(0, start + (sent + 1) * gap - performance.now()));
    } else res.end(tail);
  };
  setTimeout(tick, gap);
};
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const gap = Number(req.headers['x-bench-gap-ms'] ?? 0);
    if (gap > 0) return stream(res, gap);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'request-id': 'req_bench' });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

// The floor: a pass-through proxy with no framework, auth, limits or audit, in its own process as
// the gateway is. What it loses against direct is the price of any extra hop in Node on this machine.
const BARE_PROXY = `
const { createServer } = require('node:http');
const { Pool } = require('undici');
const origin = process.argv[1];
const pool = new Pool(origin, { keepAliveTimeout: 30000 });
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const headers = { ...req.headers };
    delete headers.host; delete headers.connection; delete headers['content-length'];
    pool.dispatch({ origin, path: req.url, method: req.method, headers, body: Buffer.concat(chunks) }, {
      onRequestStart() {},
      onResponseStart(_c, status, h) { res.writeHead(status, { 'content-type': h['content-type'] }); },
      onResponseData(_c, chunk) { res.write(chunk); },
      onResponseEnd() { res.end(); },
      onResponseError() { res.destroy(); },
    });
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
`;

let upstreamWorker;
let serverProcess;
let bareProcess;
let dataDir;

function cleanup() {
  if (serverProcess && serverProcess.exitCode === null) serverProcess.kill('SIGTERM');
  if (bareProcess && bareProcess.exitCode === null) bareProcess.kill('SIGTERM');
  void upstreamWorker?.terminate();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

function startUpstream() {
  upstreamWorker = new Worker(UPSTREAM, { eval: true });
  return new Promise((resolve, reject) => {
    upstreamWorker.once('message', (port) => resolve(`http://127.0.0.1:${port}`));
    upstreamWorker.once('error', reject);
  });
}

function cli(args) {
  return execFileSync(process.execPath, [serverBin, ...args, '--data-dir', dataDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function listeningUrl(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`a bench process exited with ${code}`)));
  });
}

function startBareProxy(upstreamUrl) {
  bareProcess = spawn(process.execPath, ['-e', BARE_PROXY, upstreamUrl], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return listeningUrl(bareProcess);
}

function startServer(upstreamUrl) {
  serverProcess = spawn(process.execPath, [serverBin, 'start', '--port', '0', '--data-dir', dataDir, '--upstream', upstreamUrl], {
    env: {
      ...process.env,
      THIRDLOOP_UPSTREAM_API_KEY: 'sk-ant-api03-FAKE-bench',
      // The bench sends thousands of requests a minute with one key; the limiter itself still runs.
      THIRDLOOP_RATE_LIMIT_PER_MINUTE: '100000000',
      THIRDLOOP_SERVER_LOG: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return listeningUrl(serverProcess);
}

/** A short prompt, or (bodyKB) a conversation the size Claude Code sends once a session has grown. */
const request = (stream, bodyKB = 0) => {
  const turn = 'Here is the file you asked about, with its tests and the error they print. '.repeat(13);
  const turns = Math.ceil((bodyKB * 1024) / (turn.length + 40));
  const messages =
    bodyKB > 0
      ? Array.from({ length: turns }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: turn }))
      : [{ role: 'user', content: 'Write one sentence about lighthouses.' }];
  if (messages.at(-1).role !== 'user') messages.push({ role: 'user', content: 'Go on.' });
  return JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 256, ...(stream ? { stream: true } : {}), messages });
};

/** Sends `count` requests over `concurrency` connections; adds latencies and busy time to `side`. */
async function load(side, count, gapMs, bodyKB) {
  const body = request(gapMs > 0, bodyKB);
  const headers = gapMs > 0 ? { ...side.headers, 'x-bench-gap-ms': String(gapMs) } : side.headers;
  let issued = 0;
  const started = performance.now();
  // Streams are spread over one answer's length: started together, 50 identical streams would
  // stay in lockstep and every event would arrive as a burst of 50, which real traffic never does.
  const spread = gapMs > 0 ? (gapMs * 21) / side.concurrency : 0;
  /** Each connection's own rate (requests over its active time), so the ramp-up is not counted. */
  let rate = 0;
  const worker = async (index) => {
    if (spread > 0) await new Promise((resolve) => setTimeout(resolve, index * spread));
    const from = performance.now();
    let done = 0;
    while (issued < count && performance.now() - started < PHASE_MAX_MS) {
      issued++;
      const t = performance.now();
      const res = await side.pool.request({ path: '/v1/messages', method: 'POST', headers, body });
      await res.body.arrayBuffer();
      side.latencies.push(performance.now() - t);
      done++;
      if (res.statusCode !== 200) side.errors++;
    }
    if (done > 0) rate += done / ((performance.now() - from) / 1000);
  };
  await Promise.all(Array.from({ length: side.concurrency }, (_, index) => worker(index)));
  const requests = Math.min(issued, count);
  side.seconds += rate > 0 ? requests / rate : 0;
}

const side = (origin, headers, concurrency) => ({
  pool: new Pool(origin, { connections: concurrency, pipelining: 1 }),
  headers,
  concurrency,
  latencies: [],
  errors: 0,
  seconds: 0,
});

function summary(s) {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, errors: s.errors, p50: at(0.5), p99: at(0.99), rps: sorted.length / s.seconds };
}

const fmt = (n, digits = 2) => n.toFixed(digits);

async function main() {
  dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-bench-'));
  const upstreamUrl = await startUpstream();
  cli(['users', 'add', '--email', 'bench@example.com']);
  const { credential } = JSON.parse(cli(['keys', 'create', '--user', 'bench@example.com', '--name', 'bench', '--json']));
  const gatewayUrl = await startServer(upstreamUrl);
  const bareUrl = await startBareProxy(upstreamUrl);

  const base = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
  const direct = { ...base, 'x-api-key': 'sk-ant-api03-FAKE-bench' };
  const viaGateway = { ...base, 'x-api-key': credential, 'x-claude-code-session-id': '00000000-0000-4000-8000-000000000000' };

  console.log(`gateway bench: ${process.version}, loopback, POST /v1/messages, latency = whole answer received`);
  const rows = [];
  for (const { scenario, gapMs, bodyKB, concurrency, warmup, count } of PLAN) {
    const d = side(upstreamUrl, direct, concurrency);
    const g = side(gatewayUrl, viaGateway, concurrency);
    const b = side(bareUrl, direct, concurrency);
    for (const s of [d, g, b]) await load(s, warmup, gapMs, bodyKB);
    for (const s of [d, g, b]) Object.assign(s, { latencies: [], errors: 0, seconds: 0 });
    // Alternating slices, so drift on a shared machine hits every side alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of [d, g, b]) await load(s, count / ROUNDS, gapMs, bodyKB);
    }
    await Promise.all([d.pool.close(), g.pool.close(), b.pool.close()]);
    rows.push({ scenario, concurrency, d: summary(d), g: summary(g), b: summary(b) });
  }

  const header = ['upstream', 'conns', 'requests', 'direct p50', 'gateway p50', 'added p50', 'direct p99', 'gateway p99', 'added p99', 'direct req/s', 'gateway req/s', 'ratio'];
  const lines = rows.map(({ scenario, concurrency, d, g }) => [
    scenario,
    String(concurrency),
    `${d.n}+${g.n}`,
    `${fmt(d.p50)} ms`,
    `${fmt(g.p50)} ms`,
    `${fmt(g.p50 - d.p50)} ms`,
    `${fmt(d.p99)} ms`,
    `${fmt(g.p99)} ms`,
    `${fmt(g.p99 - d.p99)} ms`,
    fmt(d.rps, 0),
    fmt(g.rps, 0),
    `${fmt((100 * g.rps) / d.rps, 0)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const line of [header, ...lines]) console.log(line.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));

  console.log('');
  console.log('reference: a bare pass-through proxy (no framework, auth, limit or audit), same machine, same run');
  const bareHeader = ['upstream', 'conns', 'bare p50', 'added p50', 'bare p99', 'bare req/s', 'ratio'];
  const bareLines = rows.map(({ scenario, concurrency, d, b }) => [
    scenario,
    String(concurrency),
    `${fmt(b.p50)} ms`,
    `${fmt(b.p50 - d.p50)} ms`,
    `${fmt(b.p99)} ms`,
    fmt(b.rps, 0),
    `${fmt((100 * b.rps) / d.rps, 0)} %`,
  ]);
  const bareWidths = bareHeader.map((h, i) => Math.max(h.length, ...bareLines.map((l) => l[i].length)));
  for (const line of [bareHeader, ...bareLines]) console.log(line.map((c, i) => (i === 0 ? c.padEnd(bareWidths[i]) : c.padStart(bareWidths[i]))).join('  '));

  const errors = rows.reduce((sum, r) => sum + r.d.errors + r.g.errors + r.b.errors, 0);
  console.log('');
  for (const scenario of new Set(rows.map((r) => r.scenario))) {
    const mine = rows.filter((r) => r.scenario === scenario);
    const worstAdded = Math.max(...mine.map((r) => r.g.p50 - r.d.p50));
    const worstRatio = Math.min(...mine.map((r) => r.g.rps / r.d.rps));
    console.log(
      `${scenario.padEnd(18)}  added p50 <= ${TARGET_ADDED_P50_MS} ms: worst ${fmt(worstAdded)} ms ${worstAdded <= TARGET_ADDED_P50_MS ? 'met' : 'NOT met'}` +
        `   req/s >= ${TARGET_RATIO * 100} % of direct: worst ${fmt(100 * worstRatio, 0)} % ${worstRatio >= TARGET_RATIO ? 'met' : 'NOT met'}`,
    );
  }
  if (errors > 0) console.log(`non-200 answers: ${errors}`);
}

main()
  .catch((error) => {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    clearTimeout(overall);
    cleanup();
  });
