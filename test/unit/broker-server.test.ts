/**
 * The broker in this process, on real loopback sockets, in front of a recording stand-in for the
 * instance: what reaches the instance (headers, the key, the path), streaming in both directions
 * (a 2 MB body arrives upstream while the client is still sending it; each SSE event reaches the
 * client before the next is written), refusals in Anthropic's shape, hang-ups, failures, the
 * proxy path, and the port after close. The real chain (CLI, reference server) is in
 * test/e2e/run.test.ts.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../../src/broker/broker.js';
import { createRunToken, type RunToken } from '../../src/broker/token.js';
import { checksum as secretChecksum } from 'thirdloop-protocol';
import { closeHttp } from '../../src/core/http.js';
import { tunnelHandler } from '../helpers/connect-proxy.js';

const random = 'C'.repeat(32);
const CREDENTIAL = `tlk_${'k'.repeat(24)};tls_${random}${secretChecksum(random)}`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  req: IncomingMessage;
  res: ServerResponse;
}

/** The stand-in instance: hands each request to the test as soon as its headers arrive. */
async function startInstance() {
  const seen: Seen[] = [];
  const waiting: Array<(s: Seen) => void> = [];
  let handler: (s: Seen) => void = (s) => {
    s.req.resume();
    s.req.on('end', () => {
      s.res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_1', connection: 'keep-alive, x-internal', 'x-internal': 'secret-ish' });
      s.res.end('{"ok":true}');
    });
  };
  const server: Server = createServer((req, res) => {
    const s = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, req, res };
    seen.push(s);
    waiting.shift()?.(s);
    handler(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    handle(next: (s: Seen) => void) {
      handler = next;
    },
    next: () => new Promise<Seen>((resolve) => waiting.push(resolve)),
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

type Instance = Awaited<ReturnType<typeof startInstance>>;

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A request to the broker with node:http (no client-side magic), body as given. */
function call(url: string, init: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url + init.path, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('the broker in front of a recording instance', () => {
  let instance: Instance;
  let broker: Broker;
  let token: RunToken;

  beforeEach(async () => {
    instance = await startInstance();
    token = createRunToken();
    broker = await startBroker({ instance: `${instance.url}/prefix`, credential: CREDENTIAL, token, env: {} });
  });
  afterEach(async () => {
    await broker.close();
    await instance.close();
    await closeHttp();
  });

  it('listens on 127.0.0.1 only, on a port of its own', async () => {
    expect(broker.url).toBe(`http://127.0.0.1:${broker.port}`);
    expect(broker.port).toBeGreaterThan(0);
    // 127.0.0.2 is this machine too (the whole 127/8 is loopback on Linux), but not the bound address.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(broker.port, '127.0.0.2');
      socket.once('connect', () => (socket.destroy(), resolve('connected')));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('a /v1 request with the token reaches the instance with the key instead, under its base path', async () => {
    const answer = await call(broker.url, {
      method: 'POST',
      path: '/v1/messages?beta=true',
      headers: { 'x-api-key': token.value, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219', 'x-claude-code-session-id': 's-1', 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': '1' },
      body: '{"model":"claude-sonnet-4-5"}',
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('{"ok":true}');
    // The instance's end-to-end headers come back; what its Connection named does not.
    expect(answer.headers['request-id']).toBe('req_1');
    expect(answer.headers['x-internal']).toBeUndefined();
    const [got] = instance.seen;
    expect(got!.method).toBe('POST');
    expect(got!.url).toBe('/prefix/v1/messages?beta=true');
    expect(got!.headers['x-api-key']).toBe(CREDENTIAL);
    expect(got!.headers.authorization).toBeUndefined();
    expect(got!.headers.host).toBe(new URL(instance.url).host);
    expect(got!.headers['anthropic-version']).toBe('2023-06-01');
    expect(got!.headers['anthropic-beta']).toBe('claude-code-20250219');
    expect(got!.headers['x-claude-code-session-id']).toBe('s-1');
    expect(got!.headers['content-length']).toBe('29');
    expect(got!.headers['x-hop']).toBeUndefined();
    expect(got!.headers.via).toBe('1.1 thirdloop-run');
    expect(got!.rawHeaders.join('\n')).not.toContain(token.value);
  });

  it('the token works as Authorization: Bearer too', async () => {
    const answer = await call(broker.url, { path: '/v1/models', headers: { authorization: `Bearer ${token.value}` } });
    expect(answer.status).toBe(200);
    expect(instance.seen[0]!.headers['x-api-key']).toBe(CREDENTIAL);
    expect(instance.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('no token, a wrong one, the real key or two that disagree: 401 in Anthropic’s shape, nothing forwarded', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { 'x-api-key': createRunToken().value },
      { 'x-api-key': CREDENTIAL },
      { 'x-api-key': token.value, authorization: 'Bearer something-else' },
      { authorization: `Basic ${Buffer.from(`x:${token.value}`).toString('base64')}` },
    ];
    for (const headers of attempts) {
      const answer = await call(broker.url, { method: 'POST', path: '/v1/messages', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
      expect(answer.status, JSON.stringify(headers)).toBe(401);
      expect(answer.headers['content-type']).toBe('application/json');
      const body = JSON.parse(answer.body) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('authentication_error');
      expect(body.error.message).toMatch(/run token/);
    }
    expect(instance.seen).toHaveLength(0);
  });

  it('the start-up probes reach the instance without any credential', async () => {
    for (const [method, path] of [['HEAD', '/'], ['GET', '/api/hello'], ['GET', '/healthz'], ['POST', '/api/event_logging/batch']] as const) {
      const answer = await call(broker.url, { method, path, headers: { 'x-api-key': token.value, authorization: `Bearer ${token.value}` }, body: method === 'POST' ? '{"events":[]}' : undefined });
      expect(answer.status, path).toBe(200);
    }
    expect(instance.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['HEAD /prefix/', 'GET /prefix/api/hello', 'GET /prefix/healthz', 'POST /prefix/api/event_logging/batch']);
    for (const s of instance.seen) {
      expect(s.headers['x-api-key']).toBeUndefined();
      expect(s.headers.authorization).toBeUndefined();
    }
  });

  it('the key API and paths that resolve to it are refused here, whatever the token', async () => {
    for (const path of ['/api/keys', '/v1/../api/keys', '/v1/%2e%2e/api/keys', '/settings/api-keys']) {
      const answer = await call(broker.url, { path, headers: { 'x-api-key': token.value } });
      expect(answer.status, path).toBe(404);
      expect(JSON.parse(answer.body).error.type).toBe('not_found_error');
    }
    const encoded = await call(broker.url, { path: '/v1/..%2Fapi/keys', headers: { 'x-api-key': token.value } });
    expect(encoded.status).toBe(400);
    expect(JSON.parse(encoded.body).error.type).toBe('invalid_request_error');
    expect(instance.seen).toHaveLength(0);
  });

  it('a request for another host name (DNS rebinding) is refused', async () => {
    const answer = await call(broker.url, { path: '/v1/models', headers: { host: `evil.example:${broker.port}`, 'x-api-key': token.value } });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body).error.type).toBe('permission_error');
    const local = await call(broker.url, { path: '/v1/models', headers: { host: `localhost:${broker.port}`, 'x-api-key': token.value } });
    expect(local.status).toBe(200);
  });

  it('a 2 MB body starts reaching the instance before the client has finished sending it', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    const firstPart = body.subarray(0, 64 * 1024);
    let arrived = 0;
    const hash = createHash('sha256');
    const gotFirstBytes = new Promise<void>((resolve) => {
      instance.handle((s) => {
        s.req.on('data', (chunk: Buffer) => {
          arrived += chunk.length;
          hash.update(chunk);
          resolve();
        });
        s.req.on('end', () => s.res.end('{"done":true}'));
      });
    });
    const answered = new Promise<Answer>((resolve, reject) => {
      const req = request(`${broker.url}/v1/messages`, { method: 'POST', agent: false, headers: { 'x-api-key': token.value, 'content-length': String(body.length) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.write(firstPart);
      // The rest goes only once the instance has seen the first part: a buffering broker would wait forever here.
      void gotFirstBytes.then(() => req.end(body.subarray(firstPart.length)));
    });
    await gotFirstBytes;
    expect(arrived).toBeGreaterThan(0);
    expect(arrived).toBeLessThanOrEqual(firstPart.length);
    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(arrived).toBe(body.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('an SSE answer reaches the client event by event', async () => {
    let sendNext!: () => void;
    instance.handle((s) => {
      s.req.resume();
      s.res.writeHead(200, { 'content-type': 'text/event-stream' });
      s.res.write('event: message_start\ndata: {}\n\n');
      sendNext = () => s.res.end('event: message_stop\ndata: {}\n\n');
    });
    const events: string[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${broker.url}/v1/messages`, { method: 'POST', agent: false, headers: { 'x-api-key': token.value } }, (res) => {
        res.setEncoding('utf8').on('data', (chunk: string) => {
          events.push(chunk);
          // The second event is written only after the first has arrived here.
          if (events.length === 1) sendNext();
        });
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end('{"stream":true}');
    });
    expect(status).toBe(200);
    expect(events.join('')).toBe('event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n');
    expect(events[0]).toBe('event: message_start\ndata: {}\n\n');
  });

  it('a client that hangs up mid-answer ends the request to the instance', async () => {
    const upstreamClosed = new Promise<boolean>((resolve) => {
      instance.handle((s) => {
        s.req.resume();
        s.res.writeHead(200, { 'content-type': 'text/event-stream' });
        s.res.write('event: ping\ndata: {}\n\n');
        s.res.once('close', () => resolve(s.res.writableFinished));
      });
    });
    await new Promise<void>((resolve) => {
      const req = request(`${broker.url}/v1/messages`, { method: 'POST', agent: false, headers: { 'x-api-key': token.value } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end('{}');
    });
    expect(await upstreamClosed).toBe(false);
  });

  it('an answer cut by the instance is a cut connection for the client, not a short success', async () => {
    instance.handle((s) => {
      s.req.resume();
      s.res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      s.res.write('{"partial":');
      setTimeout(() => s.res.destroy(), 20);
    });
    const outcome = await new Promise<string>((resolve) => {
      const req = request(`${broker.url}/v1/messages`, { method: 'POST', agent: false, headers: { 'x-api-key': token.value } }, (res) => {
        res.resume();
        res.on('end', () => resolve('ended'));
        res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        res.on('close', () => resolve(res.complete ? 'complete' : 'cut'));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.end('{}');
    });
    expect(['cut', 'ECONNRESET', 'aborted']).toContain(outcome);
  });

  it('after close() the port refuses connections and the token is worth nothing', async () => {
    expect((await call(broker.url, { path: '/v1/models', headers: { 'x-api-key': token.value } })).status).toBe(200);
    await broker.close();
    await expect(call(broker.url, { path: '/v1/models', headers: { 'x-api-key': token.value } })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('the broker when the instance cannot be reached', () => {
  afterEach(() => closeHttp());

  it('answers 502 in Anthropic’s shape with one sentence naming the instance', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    closed.close();
    await once(closed, 'close');
    const token = createRunToken();
    const broker = await startBroker({ instance: url, credential: CREDENTIAL, token, env: {} });
    try {
      const answer = await call(broker.url, { method: 'POST', path: '/v1/messages', headers: { 'x-api-key': token.value }, body: '{"model":"m"}' });
      expect(answer.status).toBe(502);
      const body = JSON.parse(answer.body) as { error: { type: string; message: string } };
      expect(body.error.type).toBe('api_error');
      expect(body.error.message).toContain(url);
      expect(body.error.message).toMatch(/connection refused/);
      expect(answer.body).not.toContain(CREDENTIAL.split(';')[1]!);
    } finally {
      await broker.close();
    }
  });
});

describe('the broker behind a proxy (HTTPS_PROXY / HTTP_PROXY, as every CLI request)', () => {
  afterEach(() => closeHttp());

  it('reaches the instance through the proxy, streaming; NO_PROXY sends it direct', async () => {
    const instance = await startInstance();
    const tunnels: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', tunnelHandler(tunnels, () => ({ host: '127.0.0.1', port: Number(new URL(instance.url).port) })));
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const token = createRunToken();
    try {
      instance.handle((s) => {
        let size = 0;
        s.req.on('data', (c: Buffer) => (size += c.length));
        s.req.on('end', () => {
          s.res.writeHead(200, { 'content-type': 'text/event-stream' });
          s.res.write(`event: a\ndata: ${size}\n\n`);
          setTimeout(() => s.res.end('event: b\ndata: {}\n\n'), 10);
        });
      });
      // A host name the proxy resolves (here: back to the instance); it never resolves locally.
      const viaProxy = await startBroker({ instance: 'http://tl.example.invalid', credential: CREDENTIAL, token, env: { HTTP_PROXY: proxyUrl } });
      const answer = await call(viaProxy.url, { method: 'POST', path: '/v1/messages', headers: { 'x-api-key': token.value, 'content-type': 'application/json' }, body: Buffer.alloc(300_000, 'y') });
      await viaProxy.close();
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('event: a\ndata: 300000\n\nevent: b\ndata: {}\n\n');
      expect(tunnels).toEqual(['tl.example.invalid:80']);
      expect(instance.seen[0]!.headers['x-api-key']).toBe(CREDENTIAL);
      expect(instance.seen[0]!.headers.host).toBe('tl.example.invalid');

      const direct = await startBroker({ instance: instance.url, credential: CREDENTIAL, token, env: { HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' } });
      expect((await call(direct.url, { path: '/v1/models', headers: { 'x-api-key': token.value } })).status).toBe(200);
      await direct.close();
      expect(tunnels).toHaveLength(1);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
      await instance.close();
    }
  });
});
