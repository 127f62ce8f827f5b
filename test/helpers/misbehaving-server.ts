/**
 * A loopback server that behaves like everything a Third Loop instance should
 * not: the first path segment of the request picks the misbehaviour, so one
 * server serves every case through a different base URL:
 *
 *   const bad = await startMisbehavingServer();
 *   bad.url('html')      // http://127.0.0.1:<port>/html, every request answers an HTML page
 *   bad.tlsUrl('json')   // https with a self-signed certificate (a TLS error for the CLI)
 *   bad.refusedUrl       // a port nobody listens on
 *
 * The certificate is made at test time with `openssl` (undefined tlsUrl
 * when it is not installed); no file of the machine is used.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from './components.js';

export type Misbehaviour =
  /** 200 with a login portal's HTML page. */
  | 'html'
  /** 404 with an HTML page (a web server at the wrong path). */
  | 'html404'
  /** 200, complete HTTP answer, but the JSON stops half-way. */
  | 'truncated'
  /** Content-Length promises more than is sent, then the connection closes. */
  | 'cut'
  /** 200 with an empty body. */
  | 'empty'
  /** 200 with `{}`: JSON, but none of the fields the CLI expects. */
  | 'object'
  /** 200 with `[]`. */
  | 'array'
  /** 200 with fields of the wrong types. */
  | 'wrongtypes'
  /** 500 with a plain-text body. */
  | 'status500'
  /** 503 with the server's JSON error shape. */
  | 'status503json'
  /** 429 with `Retry-After: 1` (the CLI may retry idempotent requests). */
  | 'status429'
  /** 429 with `Retry-After: 3600` (too long to wait for). */
  | 'status429long'
  /** 401 with the JSON error shape. */
  | 'status401'
  /** Accepts and reads the request, never answers. */
  | 'hang'
  /** Closes the connection as soon as the request arrives. */
  | 'reset'
  /** A proper-looking answer (used over TLS, where the certificate is the problem). */
  | 'json';

export interface MisbehavingServer {
  /** Base URL whose requests get `mode`. */
  url(mode: Misbehaviour): string;
  /** Same over HTTPS with a self-signed certificate; undefined without openssl. */
  tlsUrl(mode: Misbehaviour): string | undefined;
  /** http://127.0.0.1:<port> where nothing listens (connection refused). */
  refusedUrl: string;
  /** How many requests each mode received (to prove the CLI really asked). */
  hits: Map<string, number>;
  stop(): Promise<void>;
}

const HTML = '<!doctype html><html><head><title>Sign in</title></head><body><form>Corporate login</form></body></html>\n';

function handler(hits: Map<string, number>, held: Set<ServerResponse>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const mode = (req.url ?? '/').split('/')[1] ?? '';
    hits.set(mode, (hits.get(mode) ?? 0) + 1);
    // Drain the request body so a POST never blocks on a full socket.
    req.resume();
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      send(status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
    switch (mode as Misbehaviour) {
      case 'html':
        return send(200, 'text/html; charset=utf-8', HTML);
      case 'html404':
        return send(404, 'text/html; charset=utf-8', HTML);
      case 'truncated':
        return send(200, 'application/json', '{"keys":[{"id":"tlk_0123456789abcdefghijklmn","name":"lap');
      case 'cut':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        res.write('{"keys":[{"id":"tlk_');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      case 'empty':
        return send(200, 'application/json', '');
      case 'object':
        return json(200, {});
      case 'array':
        return json(200, []);
      case 'wrongtypes':
        return json(200, {
          keys: 'none',
          key: 42,
          user: null,
          data: { not: 'a list' },
          credential: 7,
          active_count: 'two',
        });
      case 'status500':
        return send(500, 'text/plain', 'Internal Server Error');
      case 'status503json':
        return json(503, { error: { type: 'overloaded_error', message: 'The instance is overloaded.' } }, { 'retry-after': '0' });
      case 'status429':
        return json(429, { error: { type: 'rate_limit_error', message: 'Too many requests.' } }, { 'retry-after': '1' });
      case 'status429long':
        return json(429, { error: { type: 'rate_limit_error', message: 'Too many requests.' } }, { 'retry-after': '3600' });
      case 'status401':
        return json(401, { error: { type: 'authentication_error', message: 'Invalid API key.' } });
      case 'hang':
        held.add(res);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'json':
        return json(200, { ok: true });
      default:
        return json(404, { error: { type: 'not_found_error', message: `No misbehaviour "${mode}".` } });
    }
  };
}

function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** A self-signed certificate for 127.0.0.1, made now with openssl; undefined without it. */
function selfSignedCertificate(): { key: string; cert: string } | undefined {
  if (!which('openssl')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'thirdloop-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startMisbehavingServer(): Promise<MisbehavingServer> {
  const hits = new Map<string, number>();
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const track = (server: Server) => server.on('connection', (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));

  const http = createHttpServer(handler(hits, held));
  track(http);
  const port = await listen(http);

  const pem = selfSignedCertificate();
  let tlsPort: number | undefined;
  let https: Server | undefined;
  if (pem) {
    https = createHttpsServer(pem, handler(hits, held));
    track(https);
    https.on('secureConnection', (s: Socket) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    tlsPort = await listen(https);
  }

  // Take a free port and let it go: connecting there is refused.
  const probe = createNetServer();
  const refusedPort = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  return {
    url: (mode) => `http://127.0.0.1:${port}/${mode}`,
    tlsUrl: (mode) => (tlsPort ? `https://127.0.0.1:${tlsPort}/${mode}` : undefined),
    refusedUrl: `http://127.0.0.1:${refusedPort}`,
    hits,
    async stop() {
      for (const res of held) res.destroy();
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [http, https].filter((s): s is Server => Boolean(s)).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}
