/**
 * Which requests go through a proxy: HTTPS_PROXY/HTTP_PROXY minus NO_PROXY,
 * matched the way undici's EnvHttpProxyAgent matches (it carries the proxied
 * requests, so both must agree), and through the dynamic-import seam: undici
 * is loaded only when a proxy applies.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as http from '../../src/core/http.js';
import { tunnelHandler } from '../helpers/connect-proxy.js';

const { proxyFor } = http;
const PROXY = 'http://proxy.corp:3128';
const SECURE_PROXY = 'http://secure-proxy.corp:3128';
const via = (target: string, env: NodeJS.ProcessEnv) => proxyFor(new URL(target), env);

describe('which proxy applies', () => {
  test('no proxy variable: direct', () => {
    expect(via('https://tl.example.com', {})).toBeUndefined();
    expect(via('https://tl.example.com', { NO_PROXY: 'other.com' })).toBeUndefined();
  });

  test('https targets use HTTPS_PROXY, falling back to HTTP_PROXY; http targets only HTTP_PROXY', () => {
    expect(via('https://tl.example.com', { HTTPS_PROXY: SECURE_PROXY, HTTP_PROXY: PROXY })).toBe(SECURE_PROXY);
    expect(via('https://tl.example.com', { HTTP_PROXY: PROXY })).toBe(PROXY);
    expect(via('http://tl.example.com', { HTTPS_PROXY: SECURE_PROXY, HTTP_PROXY: PROXY })).toBe(PROXY);
    expect(via('http://tl.example.com', { HTTPS_PROXY: SECURE_PROXY })).toBeUndefined();
  });

  test('lower-case variables count too; an empty value is no proxy', () => {
    expect(via('https://tl.example.com', { https_proxy: SECURE_PROXY })).toBe(SECURE_PROXY);
    expect(via('http://tl.example.com', { http_proxy: PROXY })).toBe(PROXY);
    expect(via('https://tl.example.com', { HTTPS_PROXY: '' })).toBeUndefined();
    expect(via('https://tl.example.com', { HTTPS_PROXY: PROXY, no_proxy: 'tl.example.com' })).toBeUndefined();
  });
});

describe('NO_PROXY', () => {
  const env = (noProxy: string) => ({ HTTPS_PROXY: PROXY, HTTP_PROXY: PROXY, NO_PROXY: noProxy });
  test.each([
    // [NO_PROXY, target, bypasses the proxy]
    ['*', 'https://tl.example.com', true],
    ['', 'https://tl.example.com', false],
    ['tl.example.com', 'https://tl.example.com', true],
    ['TL.Example.COM', 'https://tl.example.com/api', true],
    ['example.com', 'https://tl.example.com', true],
    ['.example.com', 'https://tl.example.com', true],
    ['*.example.com', 'https://tl.example.com', true],
    ['.example.com', 'https://example.com', true],
    ['example.com', 'https://badexample.com', false],
    ['ample.com', 'https://tl.example.com', false],
    ['tl.example.com', 'https://example.com', false],
    ['other.com,tl.example.com', 'https://tl.example.com', true],
    ['other.com tl.example.com', 'https://tl.example.com', true],
    ['other.com, ,  tl.example.com', 'https://tl.example.com', true],
    ['other.com', 'https://tl.example.com', false],
    ['tl.example.com:443', 'https://tl.example.com', true],
    ['tl.example.com:8443', 'https://tl.example.com', false],
    ['tl.example.com:8443', 'https://tl.example.com:8443', true],
    ['tl.example.com:80', 'http://tl.example.com', true],
    ['example.com:8787', 'http://tl.example.com:8787', true],
    ['127.0.0.1', 'http://127.0.0.1:8787', true],
    ['127.0.0.1:8787', 'http://127.0.0.1:8787', true],
    ['127.0.0.1:9999', 'http://127.0.0.1:8787', false],
    ['localhost', 'http://127.0.0.1:8787', false],
    ['[::1]', 'http://[::1]:8787', true],
    // As in undici, `*` is a wildcard only as the whole value.
    ['*,other.com', 'https://tl.example.com', false],
  ])('NO_PROXY=%j, %s: bypass %s', (noProxy, target, bypass) => {
    expect(via(target, env(noProxy))).toBe(bypass ? undefined : PROXY);
  });

  test('NO_PROXY wins over no_proxy when both are set, as HTTPS_PROXY over https_proxy', () => {
    expect(via('https://tl.example.com', { HTTPS_PROXY: PROXY, NO_PROXY: 'other.com', no_proxy: 'tl.example.com' })).toBe(PROXY);
    expect(via('https://tl.example.com', { HTTPS_PROXY: PROXY, https_proxy: SECURE_PROXY })).toBe(PROXY);
  });
});

describe('undici is loaded only for a proxied request', () => {
  let server: Server | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await http.closeHttp();
    await new Promise((r) => (server ? (server.closeAllConnections(), server.close(r)) : r(undefined)));
    server = undefined;
  });

  test('a direct request never calls the undici seam; a proxied one does', async () => {
    const tunnels: string[] = [];
    server = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    // The same server is the proxy too: a CONNECT tunnel to whatever host comes back to it.
    server.on('connect', tunnelHandler(tunnels, () => ({ host: '127.0.0.1', port })));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;
    const seam = vi.spyOn(http.transportSeam, 'loadUndici');

    const direct = await http.createHttp({ baseUrl: url, env: { HTTP_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' } }).send<{ ok: boolean }>({ method: 'GET', path: '/x' });
    expect(direct.data.ok).toBe(true);
    const none = await http.createHttp({ baseUrl: url, env: {} }).send<{ ok: boolean }>({ method: 'GET', path: '/x' });
    expect(none.data.ok).toBe(true);
    expect(seam).not.toHaveBeenCalled();

    const proxied = await http.createHttp({ baseUrl: 'http://tl.example.invalid', env: { HTTP_PROXY: url } }).send<{ ok: boolean }>({ method: 'GET', path: '/y' });
    expect(proxied.data.ok).toBe(true);
    expect(seam).toHaveBeenCalledTimes(1);
    expect(tunnels).toEqual(['tl.example.invalid:80']);
  });
});
