#!/usr/bin/env node
// What the /v1 gateway costs, against the floor: the cheapest Node hop (a bare pass-through proxy with no
// framework, auth, parsing, limits or audit), both measured against calling the same local upstream
// directly, in one run, interleaved, on loopback. For request bodies of 1 KB, 200 KB and 2 MB:
//   added p50/p99 latency vs direct, time to the first upstream body byte, req/s at 1 and 50 connections,
//   and the gateway's ratios to the bare hop;
// plus a model-paced SSE upstream (events 10 ms apart) for req/s against direct.
// Needs a built server: `npm run build -w thirdloop-server`. Run: `node bench/gateway.mjs [--quick]`.
// Bounded: a fixed number of requests per phase and a time cap per phase and overall.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' } } });
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverBin = join(root, 'server', 'bin', 'thirdloop-server.js');
/** Each phase (one body size and connection count, every side and round) gets at most this long; warm-up at most WARMUP_MAX_MS per side. */
const PHASE_BUDGET_MS = 24_000;
const WARMUP_MAX_MS = 2_000;
const ROUNDS = flags.quick ? 4 : 8;
const OVERALL_MAX_MS = 280_000;
const scale = flags.quick ? 0.4 : 1;
// Per phase: requests per side after warm-up (split over ROUNDS interleaved slices).
const PLAN = [
  { scenario: '1 KB', bodyKB: 1, gapMs: 0, concurrency: 1, warmup: 300, count: 2_000 },
  { scenario: '1 KB', bodyKB: 1, gapMs: 0, concurrency: 50, warmup: 1_000, count: 6_000 },
  { scenario: '200 KB', bodyKB: 200, gapMs: 0, concurrency: 1, warmup: 50, count: 400 },
  { scenario: '200 KB', bodyKB: 200, gapMs: 0, concurrency: 50, warmup: 100, count: 1_200 },
  { scenario: '2 MB', bodyKB: 2048, gapMs: 0, concurrency: 1, warmup: 10, count: 100 },
  { scenario: '2 MB', bodyKB: 2048, gapMs: 0, concurrency: 50, warmup: 50, count: 200 },
  { scenario: 'SSE 10 ms gaps', bodyKB: 1, gapMs: 10, concurrency: 1, warmup: 4, count: 40 },
  { scenario: 'SSE 10 ms gaps', bodyKB: 1, gapMs: 10, concurrency: 50, warmup: 100, count: 1_000 },
].filter((p) => !flags.only || flags.only.split(',').includes(p.scenario.split(' ')[0]));
const TARGETS = { addedP50: 1.0, rps1k: 1.0, ttfb2m: 1.2, sse: 0.98 };

if (!existsSync(join(root, 'server', 'dist', 'main.js'))) {
  console.error('The server is not built. Run `npm run build -w thirdloop-server` first.');
  process.exit(1);
}

const overall = setTimeout(() => {
  console.error(`bench: gave up after ${OVERALL_MAX_MS / 1000} s`);
  cleanup();
  process.exit(1);
}, OVERALL_MAX_MS);

// The upstream runs on its own thread so the load generator does not steal its event loop. It reads
// the whole request body, notes when its first byte came (process-wide monotonic clock, so the client
// thread can compare; reported in request-id, a header the gateway passes on), and answers JSON, or SSE
// paced like a model when asked.
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
const stream = (res, gap, ttfb) => {
  const start = performance.now();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_bench_' + ttfb });
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
  const t0 = BigInt(req.headers['x-bench-t0'] ?? '0');
  let first = 0n;
  req.on('data', () => {
    if (first === 0n) first = process.hrtime.bigint();
  });
  req.on('end', () => {
    const ttfb = String(first === 0n ? 0n : first - t0);
    const gap = Number(req.headers['x-bench-gap-ms'] ?? 0);
    if (gap > 0) return stream(res, gap, ttfb);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'request-id': 'req_bench_' + ttfb });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

// The floor: bench/bare-hop.mjs, the textbook Node pass-through proxy, in its own process as the
// gateway is (the run broker's bench measures against the same one).
const BARE_HOP = join(root, 'bench', 'bare-hop.mjs');

let upstreamWorker;
let serverProcess;
let bareProcess;
let dataDir;

function cleanup() {
  if (serverProcess && serverProcess.exitCode === null) serverProcess.kill('SIGTERM');
  // SIGINT lets a profiled bare hop write its profile (the default SIGTERM exit would not).
  if (bareProcess && bareProcess.exitCode === null) bareProcess.kill(process.env.BENCH_CPU_PROF ? 'SIGINT' : 'SIGTERM');
  void upstreamWorker?.terminate();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

// `npm run bench` stops a run that takes too long with SIGTERM: the hops must not outlive it.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
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
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_CPU_PROF, 'bare')] : [];
  bareProcess = spawn(process.execPath, [...profile, BARE_HOP, upstreamUrl], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return listeningUrl(bareProcess);
}

function startServer(upstreamUrl) {
  // BENCH_CPU_PROF=DIR: both hops write a CPU profile there (gateway/ and bare/) when they stop.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(process.env.BENCH_CPU_PROF, 'gateway')] : [];
  serverProcess = spawn(process.execPath, [...profile, serverBin, 'start', '--port', '0', '--data-dir', dataDir, '--upstream', upstreamUrl], {
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

/** A conversation the size Claude Code sends once a session has grown, `model` first as the SDKs write it. */
const request = (stream, bodyKB) => {
  const turn = 'Here is the file you asked about, with its tests and the error they print. '.repeat(13);
  const turns = Math.max(1, Math.round((bodyKB * 1024) / (turn.length + 40)));
  const messages =
    bodyKB > 1
      ? Array.from({ length: turns }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: turn }))
      : [{ role: 'user', content: 'Write one sentence about lighthouses. '.repeat(22) }];
  if (messages.at(-1).role !== 'user') messages.push({ role: 'user', content: 'Go on.' });
  return Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 256, ...(stream ? { stream: true } : {}), messages }));
};

/**
 * CPU time (user + system, ms) a process has used so far, from the kernel (Linux): what a hop costs
 * per request, which a busy machine inflates far less than wall-clock latency. Undefined elsewhere.
 */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** Sends `count` requests over `concurrency` connections; adds latencies, first-byte times, busy time and the hop's CPU time to `side`. */
async function load(side, count, gapMs, body, maxMs) {
  const cpuBefore = side.pid ? cpuMs(side.pid) : undefined;
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
    while (issued < count && performance.now() - started < maxMs) {
      issued++;
      const t = performance.now();
      const t0 = process.hrtime.bigint();
      const res = await side.pool.request({ path: '/v1/messages', method: 'POST', headers: { ...headers, 'x-bench-t0': String(t0) }, body });
      await res.body.arrayBuffer();
      side.latencies.push(performance.now() - t);
      const ttfb = Number(/^req_bench_(\d+)$/.exec(res.headers['request-id'] ?? '')?.[1] ?? NaN) / 1e6;
      if (Number.isFinite(ttfb) && ttfb > 0) side.ttfb.push(ttfb);
      done++;
      if (res.statusCode !== 200) side.errors++;
    }
    if (done > 0) rate += done / ((performance.now() - from) / 1000);
  };
  await Promise.all(Array.from({ length: side.concurrency }, (_, index) => worker(index)));
  side.seconds += rate > 0 ? Math.min(issued, count) / rate : 0;
  const cpuAfter = side.pid ? cpuMs(side.pid) : undefined;
  if (cpuBefore !== undefined && cpuAfter !== undefined) side.cpu += cpuAfter - cpuBefore;
}

const side = (origin, headers, concurrency, pid) => ({
  pool: new Pool(origin, { connections: concurrency, pipelining: 1 }),
  headers,
  concurrency,
  pid,
  latencies: [],
  ttfb: [],
  errors: 0,
  seconds: 0,
  cpu: 0,
});

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
};

const summary = (s) => ({
  n: s.latencies.length,
  errors: s.errors,
  p50: quantile(s.latencies, 0.5),
  p99: quantile(s.latencies, 0.99),
  ttfb: quantile(s.ttfb, 0.5),
  rps: s.latencies.length / s.seconds,
  /** µs of the hop process's CPU per request. */
  cpuUs: s.pid && s.latencies.length ? (1000 * s.cpu) / s.latencies.length : NaN,
});

const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
/** A ratio, or '—' when the floor it divides by is not clearly above zero (within noise of direct). */
const ratio = (a, b) => (Number.isFinite(a / b) && b > 0.05 ? `${(a / b).toFixed(2)}×` : '—');

function table(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const line of [header, ...lines]) console.log(line.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

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

  console.log(`gateway bench: ${process.version}, loopback, POST /v1/messages; latency = whole answer received; first byte = first request-body byte at the upstream`);
  const rows = [];
  for (const { scenario, bodyKB, gapMs, concurrency, warmup, count } of PLAN) {
    const body = request(gapMs > 0, bodyKB);
    const d = side(upstreamUrl, direct, concurrency);
    const b = side(bareUrl, direct, concurrency, bareProcess.pid);
    const g = side(gatewayUrl, viaGateway, concurrency, serverProcess.pid);
    const sides = [d, b, g];
    for (const s of sides) await load(s, Math.ceil(warmup * scale), gapMs, body, WARMUP_MAX_MS);
    for (const s of sides) Object.assign(s, { latencies: [], ttfb: [], errors: 0, seconds: 0, cpu: 0 });
    // Alternating slices, so drift on a shared machine hits every side alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of sides) await load(s, Math.ceil((count * scale) / ROUNDS), gapMs, body, (PHASE_BUDGET_MS * scale) / (ROUNDS * sides.length));
    }
    await Promise.all(sides.map((s) => s.pool.close()));
    rows.push({ scenario, gapMs, concurrency, bytes: body.length, d: summary(d), b: summary(b), g: summary(g) });
    process.stderr.write(`  ${scenario} × ${concurrency}: ${d.latencies.length}/${b.latencies.length}/${g.latencies.length} requests measured (direct/bare/gateway)\n`);
  }

  const bodies = rows.filter((r) => r.gapMs === 0);
  console.log('');
  table(
    ['body', 'conns', 'direct p50', 'added p50 bare', 'added p50 gateway', 'ratio', 'added p99 bare', 'added p99 gateway', 'first byte bare', 'first byte gateway', 'ratio', 'req/s direct', 'req/s bare', 'req/s gateway', 'ratio', 'CPU/req bare', 'CPU/req gateway', 'ratio'],
    bodies.map(({ scenario, concurrency, d, b, g }) => [
      scenario,
      String(concurrency),
      `${fmt(d.p50)} ms`,
      `${fmt(b.p50 - d.p50)} ms`,
      `${fmt(g.p50 - d.p50)} ms`,
      ratio(g.p50 - d.p50, b.p50 - d.p50),
      `${fmt(b.p99 - d.p99)} ms`,
      `${fmt(g.p99 - d.p99)} ms`,
      `${fmt(b.ttfb)} ms`,
      `${fmt(g.ttfb)} ms`,
      ratio(g.ttfb, b.ttfb),
      fmt(d.rps, 0),
      fmt(b.rps, 0),
      fmt(g.rps, 0),
      ratio(g.rps, b.rps),
      `${fmt(b.cpuUs, 0)} µs`,
      `${fmt(g.cpuUs, 0)} µs`,
      ratio(g.cpuUs, b.cpuUs),
    ]),
  );
  const sse = rows.filter((r) => r.gapMs > 0);
  if (sse.length) {
    console.log('');
    table(
      ['upstream', 'conns', 'direct p50', 'added p50 bare', 'added p50 gateway', 'req/s direct', 'req/s bare', 'req/s gateway', 'gateway/direct'],
      sse.map(({ scenario, concurrency, d, b, g }) => [
        scenario,
        String(concurrency),
        `${fmt(d.p50)} ms`,
        `${fmt(b.p50 - d.p50)} ms`,
        `${fmt(g.p50 - d.p50)} ms`,
        fmt(d.rps, 0),
        fmt(b.rps, 0),
        fmt(g.rps, 0),
        `${fmt((100 * g.rps) / d.rps, 0)} %`,
      ]),
    );
  }

  // Targets, one line each, in the form bench/run.mjs collects: "<what> <= target: worst X met|NOT met".
  console.log('');
  const verdict = (ok) => (ok ? 'met' : 'NOT met');
  const seq = bodies.filter((r) => r.concurrency === 1);
  // Where the bare hop's own added latency is within noise of zero (a busy machine), no ratio can be formed.
  const measurable = seq.filter((r) => r.b.p50 - r.d.p50 > 0.05);
  if (measurable.length) {
    const worst = Math.max(...measurable.map((r) => (r.g.p50 - r.d.p50) / (r.b.p50 - r.d.p50)));
    console.log(`added p50 vs bare hop (1 conn; ${measurable.map((r) => r.scenario).join(', ')})  <= ${TARGETS.addedP50}×: worst ${fmt(worst)}× ${verdict(worst <= TARGETS.addedP50)}`);
  }
  if (measurable.length < seq.length) {
    console.log(`added p50 vs bare hop: no ratio for ${seq.filter((r) => !measurable.includes(r)).map((r) => r.scenario).join(', ')} (the bare hop's own added latency was within noise of zero)`);
  }
  const small = bodies.find((r) => r.scenario === '1 KB' && r.concurrency === 50);
  if (small) {
    const r = small.g.rps / small.b.rps;
    console.log(`req/s vs bare hop (1 KB, 50 conns)  >= ${TARGETS.rps1k}×: worst ${fmt(r)}× ${verdict(r >= TARGETS.rps1k)}`);
  }
  const big = bodies.filter((r) => r.scenario === '2 MB');
  if (big.length) {
    const worst = Math.max(...big.map((r) => r.g.ttfb / r.b.ttfb));
    console.log(`first upstream byte vs bare hop (2 MB)  <= ${TARGETS.ttfb2m}×: worst ${fmt(worst)}× ${verdict(worst <= TARGETS.ttfb2m)}`);
  }
  const cpu = bodies.filter((r) => Number.isFinite(r.g.cpuUs / r.b.cpuUs));
  if (cpu.length) {
    const worst = Math.max(...cpu.map((r) => r.g.cpuUs / r.b.cpuUs));
    const median = cpu.map((r) => r.g.cpuUs / r.b.cpuUs).sort((a, b) => a - b)[Math.floor(cpu.length / 2)];
    console.log(`CPU per request vs bare hop (every body and connection count; median ${fmt(median)}×)  <= ${TARGETS.addedP50}×: worst ${fmt(worst)}× ${verdict(worst <= TARGETS.addedP50)}`);
  }
  if (sse.length) {
    const worst = Math.min(...sse.map((r) => r.g.rps / r.d.rps));
    console.log(`model-paced SSE req/s vs direct  >= ${TARGETS.sse * 100} %: worst ${fmt(100 * worst, 0)} % ${verdict(worst >= TARGETS.sse)}`);
  }
  const errors = rows.reduce((sum, r) => sum + r.d.errors + r.g.errors + r.b.errors, 0);
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
