/**
 * Slow and silent clients: a body trickled a byte at a time is cut at a deadline (408 in the
 * route family's shape, connection closed), and one address cannot hold more than a bounded
 * number of idle connections. Deadlines are shortened here so the suite stays fast; the real
 * binary's defaults are checked in server-cli.test.ts.
 */
import { Agent, get as httpGet } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../src/config.js';
import { startTestServer, type TestServer } from './helpers/app.js';
import { rawRequest, silentSockets } from './helpers/raw-http.js';

const BODY_TIMEOUT_MS = 1000;
const GATEWAY_BODY_TIMEOUT_MS = 2000;
const MAX_IDLE = 8;

let server: TestServer;
let credential: string;
beforeAll(async () => {
  server = await startTestServer({ bodyTimeoutMs: BODY_TIMEOUT_MS, gatewayBodyTimeoutMs: GATEWAY_BODY_TIMEOUT_MS, maxIdleConnectionsPerAddress: MAX_IDLE });
  const user = await server.addUser();
  ({ credential } = await server.mintKey(user.id));
});
afterAll(async () => {
  await server?.close();
});

const post = (path: string, type: string, body: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: ${type}\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

/** Resolves when every socket has closed, or after `ms` with how many are still open. */
async function openAfter(sockets: Socket[], ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && sockets.some((s) => !s.destroyed && !s.readableEnded)) await new Promise((r) => setTimeout(r, 50));
  return sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
}

describe('bodies must arrive in time', () => {
  it('defaults: 10 s for a body (60 s under /v1), 10 s for headers, 64 idle connections per address', () => {
    const config = makeConfig({}, {});
    expect([config.bodyTimeoutMs, config.gatewayBodyTimeoutMs, config.headersTimeoutMs, config.maxIdleConnectionsPerAddress]).toEqual([10_000, 60_000, 10_000, 64]);
    const tuned = makeConfig({}, { THIRDLOOP_BODY_TIMEOUT_MS: '5000', THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS: '90000', THIRDLOOP_MAX_IDLE_CONNECTIONS_PER_ADDRESS: '16' });
    expect([tuned.bodyTimeoutMs, tuned.gatewayBodyTimeoutMs, tuned.maxIdleConnectionsPerAddress]).toEqual([5000, 90_000, 16]);
  });

  it('30 sockets each trickling a body to /login, /api/cli-auth/token and the telemetry route: all cut at the deadline with 408', async () => {
    const routes = [
      { path: '/login', type: 'application/x-www-form-urlencoded', body: 'email=a%40example.com&password=' + 'x'.repeat(200), html: true },
      { path: '/api/cli-auth/token', type: 'application/json', body: JSON.stringify({ code: 'x'.repeat(100), code_verifier: 'y'.repeat(60) }), html: false },
      { path: '/api/event_logging/batch', type: 'application/json', body: JSON.stringify({ events: 'z'.repeat(200) }), html: false },
    ];
    const started = performance.now();
    const answers = await Promise.all(
      routes.flatMap((route) =>
        Array.from({ length: 30 }, async () => {
          const text = post(route.path, route.type, route.body);
          // Headers and the first byte of the body, then one byte every 200 ms: never done in time.
          const answer = await rawRequest(server.url, text, { trickleAfter: text.indexOf('\r\n\r\n') + 5, trickleMs: 200, timeoutMs: 15_000 });
          return { route, answer };
        }),
      ),
    );
    const slowest = Math.max(...answers.map((a) => a.answer.ms));
    for (const { route, answer } of answers) {
      expect(answer.status, route.path).toBe(408);
      expect(answer.headers.connection, route.path).toBe('close');
      expect(answer.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      if (route.html) expect(answer.body).toContain('The request body did not arrive within 1 second.');
      else expect(JSON.parse(answer.body)).toEqual({ error: { type: 'invalid_request_error', message: 'The request body did not arrive within 1 second.' } });
    }
    // All 90 closed within the deadline plus scheduling slack, not after minutes.
    expect(slowest).toBeLessThan(BODY_TIMEOUT_MS + 4000);
    console.info(`90 trickling bodies (deadline ${BODY_TIMEOUT_MS} ms): all answered 408 and closed, the last after ${slowest.toFixed(0)} ms (whole run ${(performance.now() - started).toFixed(0)} ms)`);
  });

  it('/v1 has its own, longer deadline, and answers in Anthropic’s shape', async () => {
    const text = post('/v1/messages', 'application/json', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }), `x-api-key: ${credential}\r\n`);
    const answer = await rawRequest(server.url, text, { trickleAfter: text.indexOf('\r\n\r\n') + 5, trickleMs: 200 });
    expect(answer.status).toBe(408);
    expect(answer.ms).toBeGreaterThanOrEqual(GATEWAY_BODY_TIMEOUT_MS - 50);
    expect(JSON.parse(answer.body)).toEqual({
      type: 'error',
      error: { type: 'timeout_error', message: `The request body did not arrive within ${GATEWAY_BODY_TIMEOUT_MS / 1000} seconds.` },
    });
  });

  it('a slow body that completes in time is answered normally', async () => {
    const body = JSON.stringify({ code: 'abc', code_verifier: 'v'.repeat(43) });
    const text = post('/api/cli-auth/token', 'application/json', body);
    const answer = await rawRequest(server.url, text, { trickleAfter: text.length - 3, trickleMs: 100 });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.type).toBe('invalid_grant');
  });
});

describe('idle connections per address', () => {
  it(`200 silent connections from one address: at most ${MAX_IDLE} stay open; that address is still served, others untouched`, async () => {
    const neighbours = await silentSockets(server.url, 5, '127.0.0.1');
    const flood = await silentSockets(server.url, 200, '127.0.0.2');
    // The oldest silent connections are closed once they have been idle for 2 s.
    await expect.poll(() => flood.filter((s) => !s.destroyed && !s.readableEnded).length, { timeout: 15_000, interval: 100 }).toBeLessThanOrEqual(MAX_IDLE);
    expect(server.app.connectionGuard.idleCount('127.0.0.2')).toBeLessThanOrEqual(MAX_IDLE);
    // A real request from the flooding address still gets its answer (on a fresh connection)…
    const answer = await rawRequest(server.url, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { localAddress: '127.0.0.2' });
    expect(answer.status).toBe(200);
    // …and another address's connections were never touched.
    expect(await openAfter(neighbours, 0)).toBe(5);
    console.info(`200 silent connections from one address: ${flood.filter((s) => !s.destroyed && !s.readableEnded).length} left open (bound ${MAX_IDLE})`);
    for (const s of [...flood, ...neighbours]) s.destroy();
  });

  it(`keep-alive connections past ${MAX_IDLE} from one address are closed cleanly, by their answer (Connection: close)`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 3 * MAX_IDLE, localAddress: '127.0.0.3' });
    try {
      // All at once, so each needs its own connection; each answer then says whether it stays open.
      const answers = await Promise.all(
        Array.from(
          { length: 3 * MAX_IDLE },
          () =>
            new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
              httpGet(`${server.url}/healthz`, { agent }, (res) => {
                res.resume();
                res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
              }).on('error', reject);
            }),
        ),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const kept = answers.filter((a) => a.connection === 'keep-alive').length;
      expect(kept).toBeLessThanOrEqual(MAX_IDLE);
      expect(answers.filter((a) => a.connection === 'close').length).toBe(3 * MAX_IDLE - kept);
      await expect.poll(() => server.app.connectionGuard.idleCount('127.0.0.3')).toBeLessThanOrEqual(MAX_IDLE);
    } finally {
      agent.destroy();
    }
  });

  it('a trusted proxy carries many clients: its connections are not bounded', async () => {
    const proxied = await startTestServer({ trustProxy: ['127.0.0.1'], maxIdleConnectionsPerAddress: MAX_IDLE });
    try {
      const sockets = await silentSockets(proxied.url, 3 * MAX_IDLE, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 3000));
      expect(await openAfter(sockets, 0)).toBe(3 * MAX_IDLE);
      for (const s of sockets) s.destroy();
    } finally {
      await proxied.close();
    }
  });
});
