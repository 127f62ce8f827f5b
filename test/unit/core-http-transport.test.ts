/**
 * The direct (node:http/node:https) transport against real local servers: what
 * undici used to do for us and node:http leaves to the caller — the connect
 * timeout through a TLS handshake, a body cut short, a body that stalls,
 * keep-alive reuse, and idle sockets that never hold the process open.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { ApiError, closeHttp, createHttp } from '../../src/core/http.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const noSleep = async () => {};
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await closeHttp();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => handler(req, res, n++));
  server.on('connection', (socket) => sockets.add(socket));
  closers.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n, connections: () => sockets.size };
}

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('node:http transport', () => {
  test('a TLS handshake that never completes is a connect timeout', async () => {
    // Accepts TCP and says nothing: the TLS client waits for the server hello.
    const held: Socket[] = [];
    const silent = createNetServer((socket) => void held.push(socket));
    closers.push(() => new Promise((r) => (held.forEach((s) => s.destroy()), silent.close(r))));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const e = await failure(createHttp({ baseUrl: url, connectTimeoutMs: 150, readTimeoutMs: 60_000, retries: 0 }).send({ method: 'GET', path: '/api/keys' }));
    expect(e.message).toBe(`Timed out connecting to ${url}/api/keys.`);
    expect(e.hint).toContain('HTTPS_PROXY');
  });

  test('a body cut short of its Content-Length is a closed connection, retried for a GET', async () => {
    const s = await serve((_, res, n) => {
      if (n === 0) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"keys": [');
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"keys": []}');
      }
    });
    const ok = await createHttp({ baseUrl: s.url, sleep: noSleep }).send<{ keys: unknown[] }>({ method: 'GET', path: '/api/keys' });
    expect(ok.data.keys).toEqual([]);
    expect(s.count()).toBe(2);

    const cut = await serve((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"key": ');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const e = await failure(createHttp({ baseUrl: cut.url, sleep: noSleep }).send({ method: 'POST', path: '/api/keys', body: { name: 'x' } }));
    expect(e.message).toBe(`The connection to ${cut.url}/api/keys was closed before an answer arrived.`);
    expect(cut.count()).toBe(1);
  });

  test('a body that stalls between chunks hits the read timeout', async () => {
    const s = await serve((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys": [');
    });
    const e = await failure(createHttp({ baseUrl: s.url, readTimeoutMs: 200, retries: 0 }).send({ method: 'GET', path: '/api/keys' }));
    expect(e.message).toBe(`${s.url}/api/keys did not answer in time.`);
  });

  test('the body arrives whole with its length; requests share one keep-alive connection', async () => {
    const bodies: string[] = [];
    const s = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.headers['content-length'] ?? '-'} ${body}`);
        if (req.method === 'DELETE') return void (res.writeHead(204), res.end());
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: body }));
      });
    });
    const http = createHttp({ baseUrl: s.url });
    const name = 'clé — ünïcode';
    const posted = await http.send<{ echo: string }>({ method: 'POST', path: '/api/keys', body: { name } });
    expect(JSON.parse(posted.data.echo)).toEqual({ name });
    const deleted = await http.send({ method: 'DELETE', path: '/api/keys/k1' });
    expect(deleted.status).toBe(204);
    expect(deleted.data).toBeUndefined();
    await http.send({ method: 'GET', path: '/api/me' });
    expect(bodies).toEqual([`POST ${Buffer.byteLength(JSON.stringify({ name }))} ${JSON.stringify({ name })}`, 'DELETE - ', 'GET - ']);
    expect(s.connections()).toBe(1);
  });
});

describe('process exit', () => {
  test('an idle keep-alive socket does not keep the process alive', async () => {
    // A server that never closes idle connections: if the client's socket held the
    // event loop, the child below would never exit on its own.
    const s = await serve((_, res) => (res.writeHead(200, { 'content-type': 'application/json' }), res.end('{"ok":true}')));
    s.server.keepAliveTimeout = 0;
    const dir = mkdtempSync(path.join(tmpdir(), 'thirdloop-http-exit-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const bundle = path.join(dir, 'http.mjs');
    await build({ entryPoints: [path.join(ROOT, 'src/core/http.ts')], bundle: true, format: 'esm', platform: 'node', target: 'node20', outfile: bundle, external: ['undici'], logLevel: 'silent' });
    const script = path.join(dir, 'get.mjs');
    writeFileSync(
      script,
      `import { createHttp } from ${JSON.stringify(pathToFileURL(bundle).href)};\nconst res = await createHttp({ baseUrl: process.argv[2], env: {} }).send({ method: 'GET', path: '/x' });\nconsole.log(JSON.stringify(res.data));\n`,
    );
    const child = spawn(process.execPath, [script, s.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, sig) => r([c, sig])));
    clearTimeout(killer);
    expect(stderr).toBe('');
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('{"ok":true}');
    // The connection was still open on the server's side when the child left on its own.
    expect(s.count()).toBe(1);
  }, 30_000);
});
