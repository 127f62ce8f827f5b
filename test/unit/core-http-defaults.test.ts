/**
 * The CLI's HTTP timeouts as shipped: 10 s to connect, 30 s of silence while
 * reading, on the path every command takes (the context's environment, no
 * THIRDLOOP_HTTP_TIMEOUT, no option). The values are read from what the real
 * transports were armed with for a real request, not waited for: the
 * node:http request's idle timeout and connect timer, and the options undici's
 * proxy agent was built with.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { ClientRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createContext } from '../../src/context.js';
import { closeHttp, transportSeam } from '../../src/core/http.js';
import { apiFor } from '../../src/core/session.js';
import { tunnelHandler } from '../helpers/connect-proxy.js';

let server: Server;
let url: string;
const tunnels: string[] = [];

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
  });
  server.on('connect', tunnelHandler(tunnels));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
afterEach(async () => {
  vi.restoreAllMocks();
  await closeHttp();
});

/** The API client a command gets, from a context whose environment sets nothing about timeouts. */
const api = (env: NodeJS.ProcessEnv = {}) => apiFor(createContext({}, { env: { HOME: '/nonexistent', ...env } }), { baseUrl: url });

describe('default timeouts', () => {
  test('direct: the connect timer is 10 s and the read (idle) timeout 30 s', async () => {
    const idle = vi.spyOn(ClientRequest.prototype, 'setTimeout');
    const timers = vi.spyOn(globalThis, 'setTimeout');
    await api().http.send({ method: 'GET', path: '/healthz', auth: 'none' });
    expect(idle.mock.calls.map((call) => call[0])).toEqual([30_000]);
    expect(timers.mock.calls.map((call) => call[1])).toContain(10_000);
  });

  test('THIRDLOOP_HTTP_TIMEOUT changes the read timeout only', async () => {
    const idle = vi.spyOn(ClientRequest.prototype, 'setTimeout');
    const timers = vi.spyOn(globalThis, 'setTimeout');
    await api({ THIRDLOOP_HTTP_TIMEOUT: '5' }).http.send({ method: 'GET', path: '/healthz', auth: 'none' });
    expect(idle.mock.calls.map((call) => call[0])).toEqual([5_000]);
    expect(timers.mock.calls.map((call) => call[1])).toContain(10_000);
  });

  test('through a proxy: undici gets a 10 s connect timeout and 30 s header and body timeouts', async () => {
    const load = transportSeam.loadUndici;
    const built: unknown[] = [];
    vi.spyOn(transportSeam, 'loadUndici').mockImplementation(async () => {
      const undici = await load();
      class Recording extends undici.EnvHttpProxyAgent {
        constructor(options: ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0]) {
          built.push(options);
          super(options);
        }
      }
      return { ...undici, EnvHttpProxyAgent: Recording };
    });
    await api({ HTTP_PROXY: url }).http.send({ method: 'GET', path: '/healthz', auth: 'none' });
    expect(built).toHaveLength(1);
    expect(built[0]).toMatchObject({ connect: { timeout: 10_000 }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  });
});
