#!/usr/bin/env node
// The load generator of bench/broker.mjs. It runs as the command of `thirdloop run`, as Claude Code
// would, so "broker" is the real thing: ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY as run set them.
// It measures three sides in alternating rounds, on the same upstream: direct, the bare Node hop,
// and the broker. Prints one JSON document on stdout.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 10);
const PER_ROUND = Number(env.BENCH_PER_ROUND ?? 200);
const WARMUP = Number(env.BENCH_WARMUP ?? 200);
const BIG_RUNS = Number(env.BENCH_BIG_RUNS ?? 15);
const CONCURRENCY = [1, 10];
const BIG = 2 * 1024 * 1024;
const FIRST_PART = 64 * 1024;

const base = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const sides = {
  direct: { origin: env.BENCH_UPSTREAM, headers: { ...base, 'x-api-key': 'sk-ant-api03-FAKE-bench' } },
  bare: { origin: env.BENCH_BARE, headers: { ...base, 'x-api-key': 'sk-ant-api03-FAKE-bench' } },
  broker: { origin: env.ANTHROPIC_BASE_URL, headers: { ...base, 'x-api-key': env.ANTHROPIC_API_KEY } },
};
const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Write one sentence about lighthouses.' }] });

function send(side, agent, init = {}) {
  return new Promise((resolve, reject) => {
    const req = request(`${side.origin}/v1/messages`, { method: 'POST', headers: { ...side.headers, ...init.headers }, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${side.origin} answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    if (init.write) init.write(req);
    else req.end(body);
  });
}

// CPU time the hop's process spends, from the kernel's scheduler statistics (ns; Linux): far less
// sensitive than wall time to other processes on a busy machine. The broker is this process's parent.
const hopPid = { bare: Number(env.BENCH_BARE_PID), broker: process.ppid };
function cpuNs(name) {
  try {
    return Number(readFileSync(`/proc/${hopPid[name]}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

const p50 = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const median = p50;

async function latency(concurrency) {
  const agents = Object.fromEntries(Object.keys(sides).map((name) => [name, new Agent({ keepAlive: true, maxSockets: concurrency })]));
  const batch = async (name, count) => {
    const times = [];
    let issued = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (issued < count) {
          issued++;
          const t = performance.now();
          await send(sides[name], agents[name]);
          times.push(performance.now() - t);
        }
      }),
    );
    return times;
  };
  for (const name of Object.keys(sides)) await batch(name, WARMUP);
  const perRound = { direct: [], bare: [], broker: [] };
  const all = { direct: [], bare: [], broker: [] };
  const cpu = { bare: 0, broker: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(sides)) {
      const before = name === 'direct' ? 0 : cpuNs(name);
      const times = await batch(name, PER_ROUND);
      if (name !== 'direct') cpu[name] += cpuNs(name) - before;
      perRound[name].push(p50(times));
      all[name].push(...times);
    }
  }
  for (const agent of Object.values(agents)) agent.destroy();
  // What each hop adds, round by round (drift on a shared machine hits the three sides alike), then the median.
  const added = (name) => median(perRound[name].map((v, i) => v - perRound.direct[i]));
  const requests = ROUNDS * PER_ROUND;
  return {
    concurrency,
    requests,
    p50: { direct: p50(all.direct), bare: p50(all.bare), broker: p50(all.broker) },
    added: { bare: added('bare'), broker: added('broker') },
    cpuUsPerRequest: { bare: cpu.bare / requests / 1000, broker: cpu.broker / requests / 1000 },
  };
}

/** Resolves when the upstream has received the first body byte of request `id` (asked of the upstream directly). */
function firstByte(id) {
  return new Promise((resolve, reject) => {
    request(`${env.BENCH_UPSTREAM}/__first/${id}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}

async function bigBody() {
  const payload = Buffer.alloc(BIG, 'x');
  const results = { direct: [], bare: [], broker: [] };
  let streamed = true;
  for (let run = 0; run < BIG_RUNS; run++) {
    for (const name of Object.keys(sides)) {
      const id = `${name}-${run}-${Math.random().toString(36).slice(2)}`;
      const arrived = firstByte(id);
      let ttfb;
      await send(sides[name], false, {
        headers: { 'x-bench-id': id, 'content-length': String(BIG) },
        write: (req) => {
          const t0 = performance.now();
          req.write(payload.subarray(0, FIRST_PART));
          // The rest is sent only once the upstream has seen the first bytes: a side that waits for
          // the whole body before forwarding fails this within the deadline.
          const deadline = setTimeout(() => {
            streamed = false;
            req.end(payload.subarray(FIRST_PART));
          }, 5_000);
          void arrived.then(() => {
            clearTimeout(deadline);
            ttfb ??= performance.now() - t0;
            if (!req.writableEnded) req.end(payload.subarray(FIRST_PART));
          });
        },
      });
      results[name].push(ttfb ?? Number.NaN);
    }
  }
  return { bytes: BIG, firstPart: FIRST_PART, runs: BIG_RUNS, streamed, ttfb: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) };
}

const latencies = [];
for (const c of CONCURRENCY) latencies.push(await latency(c));
const big = await bigBody();
process.stdout.write(`${JSON.stringify({ latencies, big })}\n`);
