/**
 * The HTTP client's failure sentences and retry rules, against real local
 * servers (plain, TLS with a self-signed certificate, a CONNECT proxy).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiError, closeHttp, createHttp, normalizeApiUrl } from '../../src/core/http.js';
import { createApi } from '../../src/core/api.js';
import { needs } from '../helpers/components.js';
import { tunnelHandler } from '../helpers/connect-proxy.js';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const servers: Server[] = [];
async function serve(handler: Handler): Promise<{ url: string; count: () => number; requests: IncomingMessage[] }> {
  let n = 0;
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, n++);
  });
  servers.push(server);
  return { url: await listen(server), count: () => n, requests };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const noSleep = async () => {};
const CREDENTIAL = 'tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBCCCCCC';

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

afterEach(async () => {
  await closeHttp();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))));
});

describe('failures become one sentence naming the URL', () => {
  test('connection refused', async () => {
    const { url } = await serve(() => {});
    await new Promise((r) => (servers[0]!.close(r), servers.splice(0)));
    const e = await failure(createHttp({ baseUrl: url, sleep: noSleep }).send({ method: 'GET', path: '/api/keys' }));
    expect(e.message).toBe(`Could not connect to ${url}/api/keys: connection refused. Is the Third Loop instance running at ${url}?`);
    expect(e.status).toBe(0);
    expect(e.exitCode).toBe(1);
    expect(e.hint).toContain('--api-url');
  });

  test('401 → exit 4 and "run thirdloop auth"', async () => {
    const { url } = await serve((_, res) => json(res, 401, { error: { type: 'authentication_error', message: 'Invalid API key' } }));
    const e = await failure(createHttp({ baseUrl: url, credential: CREDENTIAL }).send({ method: 'GET', path: '/api/me' }));
    expect(e.exitCode).toBe(4);
    expect(e.status).toBe(401);
    expect(e.message).toContain(`${url}/api/me`);
    expect(e.hint).toBe('Run `thirdloop auth` to sign in again.');
    expect(e.message).not.toContain('tls_');
  });

  test('409 → the server\'s own message', async () => {
    const { url } = await serve((_, res) => json(res, 409, { error: { type: 'conflict', message: 'You already have 2 active keys. Disable or delete one first' } }));
    const e = await failure(createHttp({ baseUrl: url }).send({ method: 'POST', path: '/api/keys', body: {} }));
    expect(e.message).toBe('You already have 2 active keys. Disable or delete one first.');
    expect(e.type).toBe('conflict');
    expect(e.status).toBe(409);
  });

  test('5xx → a sentence, retried only for idempotent requests', async () => {
    const get = await serve((_, res) => json(res, 503, { error: { message: 'busy' } }));
    const e = await failure(createHttp({ baseUrl: get.url, sleep: noSleep }).send({ method: 'GET', path: '/api/keys' }));
    expect(get.count()).toBe(3);
    expect(e.message).toBe(`${get.url} had a server error (503 from ${get.url}/api/keys); try again later.`);

    const post = await serve((_, res) => json(res, 503, {}));
    await failure(createHttp({ baseUrl: post.url, sleep: noSleep }).send({ method: 'POST', path: '/api/keys', body: {} }));
    expect(post.count()).toBe(1);

    const plain500 = await serve((_, res) => json(res, 500, {}));
    await failure(createHttp({ baseUrl: plain500.url, sleep: noSleep }).send({ method: 'GET', path: '/x' }));
    expect(plain500.count()).toBe(1);
  });

  test('429 with Retry-After is waited out for a GET, then succeeds', async () => {
    const waits: number[] = [];
    const s = await serve((_, res, n) => (n === 0 ? json(res, 429, {}, { 'retry-after': '2' }) : json(res, 200, { ok: true })));
    const res = await createHttp({ baseUrl: s.url, sleep: async (ms) => void waits.push(ms) }).send<{ ok: boolean }>({ method: 'GET', path: '/x' });
    expect(res.data).toEqual({ ok: true });
    expect(waits).toEqual([2000]);
  });

  test('429 on a POST: not retried, the wait is in the sentence', async () => {
    const s = await serve((_, res) => json(res, 429, { error: { message: 'Too many requests' } }, { 'retry-after': '30' }));
    const e = await failure(createHttp({ baseUrl: s.url, sleep: noSleep }).send({ method: 'POST', path: '/x', body: {} }));
    expect(e.message).toBe(`${s.url}/x is rate limiting requests (429); try again in 30 s. Too many requests.`);
    expect(s.count()).toBe(1);
  });

  test('a reset connection is retried for GET', async () => {
    const s = await serve((req, res, n) => (n === 0 ? req.socket.destroy() : json(res, 200, { fine: 1 })));
    const res = await createHttp({ baseUrl: s.url, sleep: noSleep }).send<{ fine: number }>({ method: 'GET', path: '/x' });
    expect(res.data.fine).toBe(1);
    expect(s.count()).toBe(2);
  });

  test('HTML instead of JSON, and truncated JSON', async () => {
    const html = await serve((_, res) => (res.writeHead(200, { 'content-type': 'text/html' }), res.end('<html>login portal</html>')));
    const e1 = await failure(createHttp({ baseUrl: html.url }).send({ method: 'GET', path: '/api/keys' }));
    expect(e1.message).toBe(`${html.url}/api/keys answered 200 with an HTML page, not the JSON a Third Loop instance sends.`);
    const cut = await serve((_, res) => (res.writeHead(200, { 'content-type': 'application/json' }), res.end('{"keys": [')));
    const e2 = await failure(createHttp({ baseUrl: cut.url }).send({ method: 'GET', path: '/api/keys' }));
    expect(e2.message).toContain('something that is not valid JSON');
    const html404 = await serve((_, res) => (res.writeHead(404, { 'content-type': 'text/html' }), res.end('<html>nope</html>')));
    const e3 = await failure(createHttp({ baseUrl: html404.url }).send({ method: 'GET', path: '/api/keys' }));
    expect(e3.message).toContain('was not found (404)');
  });

  test('a server that never answers: read timeout', async () => {
    const s = await serve(() => {});
    const e = await failure(createHttp({ baseUrl: s.url, readTimeoutMs: 200, retries: 0 }).send({ method: 'POST', path: '/x', body: {} }));
    expect(e.message).toBe(`${s.url}/x did not answer in time.`);
  });
});

describe('TLS', () => {
  const missing = needs('openssl');
  let dir: string;
  beforeAll(() => {
    if (missing) return;
    dir = mkdtempSync(path.join(tmpdir(), 'tl-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  test.skipIf(missing)('an untrusted certificate is one TLS sentence with the fix', async () => {
    const server = createTlsServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (_, res) => json(res, 200, {}));
    servers.push(server as unknown as Server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const e = await failure(createHttp({ baseUrl: url }).send({ method: 'GET', path: '/api/keys' }));
    // A self-signed certificate: one sentence naming the problem and the fix, no separate hint.
    expect(e.message).toBe(
      `TLS error talking to ${url}/api/keys (DEPTH_ZERO_SELF_SIGNED_CERT): its certificate is signed by a certificate authority this machine does not trust; if your organization uses its own, set NODE_EXTRA_CA_CERTS to that authority's PEM file and run the command again.`,
    );
    expect(e.hint).toBeUndefined();
  });
});

describe('requests', () => {
  test('Bearer for the API, x-api-key for /v1, debug lines with timings and no credential', async () => {
    const s = await serve((req, res) => json(res, 200, req.url === '/v1/models' ? { data: [{ id: 'claude-x' }] } : { user: { email: 'a@b' }, key: { id: 'tlk_1', name: 'k', status: 'active', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-04-01T00:00:00Z', last_used_at: null } }));
    const lines: string[] = [];
    const api = createApi({ baseUrl: s.url, credential: CREDENTIAL, debug: (l) => lines.push(l) });
    expect((await api.me()).user.email).toBe('a@b');
    expect((await api.listModels()).data[0]!.id).toBe('claude-x');
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${CREDENTIAL}`);
    expect(s.requests[0]!.headers['x-api-key']).toBeUndefined();
    expect(s.requests[1]!.headers['x-api-key']).toBe(CREDENTIAL);
    expect(s.requests[1]!.headers.authorization).toBeUndefined();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^GET ${s.url}/api/me -> 200 \\(\\d+ ms\\)$`));
    expect(lines.join('\n')).not.toContain('tls_');
  });

  test('the token exchange sends no credential', async () => {
    const s = await serve((_, res) => json(res, 201, { key: { id: 'tlk_1' }, secret_key: 'tls_x', credential: 'tlk_1;tls_x' }));
    await createApi({ baseUrl: s.url, credential: CREDENTIAL }).exchangeCliCode({ code: 'c', code_verifier: 'v', redirect_uri: 'http://127.0.0.1:1/callback' });
    expect(s.requests[0]!.headers.authorization).toBeUndefined();
    expect(s.requests[0]!.method).toBe('POST');
  });

  test('HTTP_PROXY is honoured (CONNECT through the proxy) and NO_PROXY bypasses it', async () => {
    const target = await serve((_, res) => json(res, 200, { via: 'target' }));
    const tunnels: string[] = [];
    const proxy = createServer();
    proxy.on('connect', tunnelHandler(tunnels));
    servers.push(proxy);
    const proxyUrl = await listen(proxy);
    const host = new URL(target.url).host;

    const viaProxy = await createHttp({ baseUrl: target.url, env: { HTTP_PROXY: proxyUrl } }).send<{ via: string }>({ method: 'GET', path: '/x' });
    expect(viaProxy.data.via).toBe('target');
    expect(tunnels).toEqual([host]);

    await closeHttp();
    await createHttp({ baseUrl: target.url, env: { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' } }).send({ method: 'GET', path: '/x' });
    expect(tunnels).toEqual([host]);
  });
});

describe('--api-url', () => {
  test('normalized: trailing slashes, query and fragment dropped', () => {
    expect(normalizeApiUrl('https://tl.example.com/')).toBe('https://tl.example.com');
    expect(normalizeApiUrl(' https://tl.example.com/base// ')).toBe('https://tl.example.com/base');
    expect(normalizeApiUrl('http://127.0.0.1:8787/?x=1#y')).toBe('http://127.0.0.1:8787');
  });
  test.each([
    ['tl.example.com', /is not a URL/],
    ['ftp://tl.example.com', /must start with https:\/\//],
    ['https://user:pw@tl.example.com', /must not contain a user name or password/],
  ])('%s is a usage error', (input, message) => {
    let error: unknown;
    try {
      normalizeApiUrl(input);
    } catch (e) {
      error = e;
    }
    expect((error as ApiError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(message);
  });
});
