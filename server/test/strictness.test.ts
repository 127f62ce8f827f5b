/**
 * Strictness: every error a client can cause in the documented shape of its route family, /api
 * as docs/api.md promises (JSON only, failed authentications limited, no caching, no sniffing),
 * and names that cannot hide or reorder text.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, Browser, startTestServer, type TestServer } from './helpers/app.js';
import { rawRequest, type RawAnswer } from './helpers/raw-http.js';

let server: TestServer;
let credential: string;
let keyId: string;
beforeAll(async () => {
  server = await startTestServer();
  const user = await server.addUser();
  ({ credential, id: keyId } = await server.mintKey(user.id, { name: 'strict' }));
});
afterAll(async () => {
  await server?.close();
});

type Family = 'api' | 'v1' | 'web';

/** Asserts the documented shape of `family` and returns the message. */
function expectShape(family: Family, answer: RawAnswer, status: number): string {
  expect(answer.status, answer.body.slice(0, 300)).toBe(status);
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  if (family === 'web') {
    expect(answer.headers['content-type']).toMatch(/^text\/html/);
    expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
    expect(answer.body).toMatch(/^<!doctype html>/);
    return /<p class="error" role="alert">([^<]*)<\/p>/.exec(answer.body)![1]!;
  }
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const json = JSON.parse(answer.body);
  if (family === 'v1') {
    expect(Object.keys(json)).toEqual(['type', 'error']);
    expect(json.type).toBe('error');
  } else {
    expect(Object.keys(json)).toEqual(['error']);
  }
  expect(Object.keys(json.error)).toEqual(['type', 'message']);
  expect(json.error.message).not.toMatch(/FST_|Client Error|statusCode/);
  return json.error.message as string;
}

const PREFIX: Record<Family, { param: (p: string) => string; missing: string }> = {
  api: { param: (p) => `/api/keys/${p}`, missing: '/api/no-such-route' },
  v1: { param: (p) => `/v1/models/${p}`, missing: '/v1/no-such-route' },
  web: { param: (p) => `/settings/api-keys/${p}/delete`, missing: '/no-such-page' },
};

const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`;

describe('errors a client can cause, in the shape of the route family', () => {
  for (const family of ['api', 'v1', 'web'] as const) {
    const { param } = PREFIX[family];
    it(`${family}: bad percent-encoding → 400`, async () => {
      const message = expectShape(family, await rawRequest(server.url, get(param('%E0%A4%A'))), 400);
      expect(message).toBe('The request path is not valid: it has a malformed percent-encoding.');
    });
    it(`${family}: a path segment past the length limit → 414 (/v1: its catch-all route answers)`, async () => {
      if (family === 'v1') {
        expectShape(family, await rawRequest(server.url, get(param('a'.repeat(300)), `x-api-key: ${credential}\r\n`)), 404);
        return;
      }
      const message = expectShape(family, await rawRequest(server.url, get(param('a'.repeat(300)))), 414);
      expect(message).toBe('A segment of the request path is too long.');
    });
    it(`${family}: headers past the size limit → 431, connection closed`, async () => {
      const answer = await rawRequest(server.url, get(param('x'), `x-padding: ${'a'.repeat(20_000)}\r\n`));
      expect(expectShape(family, answer, 431)).toBe('The request line and headers are too large.');
      expect(answer.headers.connection).toBe('close');
    });
    it(`${family}: not HTTP the parser accepts → 400, connection closed`, async () => {
      const answer = await rawRequest(server.url, `GET ${param('x')} HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n`);
      expect(expectShape(family, answer, 400)).toBe('The request is not valid HTTP.');
      expect(answer.headers.connection).toBe('close');
    });
  }

  it('no such route: /api JSON, pages HTML (/v1 asks for a key first, in its own shape)', async () => {
    expect(expectShape('api', await rawRequest(server.url, get(PREFIX.api.missing)), 404)).toBe('No route GET /api/no-such-route.');
    expect(expectShape('web', await rawRequest(server.url, get(PREFIX.web.missing)), 404)).toBe('There is no page at this address.');
    expectShape('v1', await rawRequest(server.url, get(PREFIX.v1.missing)), 401);
  });

  it('a body that does not match its framing → 400 in the family shape', async () => {
    const chunked = (path: string) =>
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n`;
    expectShape('api', await rawRequest(server.url, chunked('/api/cli-auth/token')), 400);
    expectShape('web', await rawRequest(server.url, chunked('/login')), 400);
  });

  it('a second request on a connection that fails to parse is shaped by that connection’s family', async () => {
    const answer = await rawRequest(server.url, `${get('/api/hello')}\x01\x02 garbage\r\n\r\n`);
    // Both answers arrive; the second is the /api shape, not the framework's default.
    expect(answer.body).toContain('"error":{"type":"invalid_request_error","message":"The request is not valid HTTP."}');
  });
});

describe('/api as documented', () => {
  it('a form-encoded body is 415 and changes nothing, on every /api route', async () => {
    const call = api(server.url, credential);
    const before = (await call('GET', '/api/keys')).json.keys.length;
    const form = (method: string, path: string) =>
      fetch(server.url + path, { method, headers: { 'x-api-key': credential, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=formed' });
    for (const [method, path] of [
      ['POST', '/api/keys'],
      ['PATCH', `/api/keys/${keyId}`],
      ['POST', `/api/keys/${keyId}/disable`],
      ['POST', '/api/cli-auth/token'],
    ] as const) {
      const res = await form(method, path);
      expect(res.status, `${method} ${path}`).toBe(415);
      expect(await res.json()).toEqual({ error: { type: 'unsupported_media_type', message: 'Unsupported content type: send application/json.' } });
    }
    const after = (await call('GET', '/api/keys')).json;
    expect(after.keys.length).toBe(before);
    expect(after.keys.find((k: { id: string }) => k.id === keyId)).toMatchObject({ name: 'strict', status: 'active' });
  });

  it('failed authentications are limited per address (60 a minute): 429 with retry-after; a valid key from there still works', async () => {
    const attacker = (headers: Record<string, string>, path = '/api/me') => rawRequest(server.url, get(path, Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')), { localAddress: '127.0.0.2' });
    // A bucket of 60 that refills one a second: 60 failures at once, then about one a second.
    const started = performance.now();
    let limited: RawAnswer | undefined;
    let failures = 0;
    for (let i = 0; i < 200 && !limited; i++) {
      const answer = await attacker({ 'x-api-key': i % 2 ? 'nonsense' : `tlk_${'A'.repeat(24)};tls_${'b'.repeat(38)}` });
      if (answer.status === 429) {
        limited = answer;
      } else {
        expect(answer.status).toBe(401);
        failures++;
      }
    }
    expect(failures).toBeGreaterThanOrEqual(60);
    expect(failures).toBeLessThanOrEqual(60 + Math.ceil((performance.now() - started) / 1000));
    if (!limited) throw new Error('never limited');
    const message = expectShape('api', limited, 429);
    expect(message).toMatch(/^Too many failed authentications from this address \(limit 60 per minute\)\. Retry in \d+ s\.$/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['cache-control']).toBe('no-store');
    // The owner of a real key at the same address is not refused; another address is not limited.
    expect((await attacker({ 'x-api-key': credential })).status).toBe(200);
    expect((await rawRequest(server.url, get('/api/me', 'x-api-key: nonsense\r\n'), { localAddress: '127.0.0.3' })).status).toBe(401);
    // A minute later the bucket has refilled.
    server.advance(61_000);
    try {
      expect((await attacker({ 'x-api-key': 'nonsense' })).status).toBe(401);
    } finally {
      server.advance(-61_000);
    }
  });

  it('JSON answers carry nosniff; the caller’s data is never cached', async () => {
    const headers = { 'x-api-key': credential };
    for (const path of ['/api/me', '/api/keys', `/api/keys/${keyId}`, '/v1/models', '/healthz', '/api/hello', '/api/keys/tlk_nope']) {
      const res = await fetch(server.url + path, { headers });
      expect(res.headers.get('content-type'), path).toMatch(/^application\/json/);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    for (const path of ['/api/me', '/api/keys', `/api/keys/${keyId}`, '/v1/models']) {
      expect((await fetch(server.url + path, { headers })).headers.get('cache-control'), path).toBe('no-store');
    }
    const telemetry = await fetch(`${server.url}/api/event_logging/batch`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(telemetry.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('names people read cannot hide or reorder text', () => {
  const tricks = {
    'a right-to-left override (U+202E)': 'invoice\u202Egnp.exe',
    'a zero-width space (U+200B)': 'lap\u200Btop',
    'a zero-width joiner (U+200D)': 'lap\u200Dtop',
    'a left-to-right isolate (U+2066)': '\u2066laptop',
    'a byte order mark (U+FEFF)': 'laptop\uFEFF x',
  };

  it('the API refuses them in create and rename', async () => {
    const call = api(server.url, credential);
    for (const [what, name] of Object.entries(tricks)) {
      for (const [method, path] of [
        ['POST', '/api/keys'],
        ['PATCH', `/api/keys/${keyId}`],
      ] as const) {
        const res = await call(method, path, { name });
        expect(res.status, `${what}: ${method}`).toBe(400);
        expect(res.json.error.message).toBe('name must not contain invisible formatting characters (bidirectional overrides, zero-width characters).');
      }
    }
    // Right-to-left text itself is a name like any other.
    expect((await call('PATCH', `/api/keys/${keyId}`, { name: 'מחשב נייד' })).status).toBe(200);
    await call('PATCH', `/api/keys/${keyId}`, { name: 'strict' });
  });

  it('the web console refuses them', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    await browser.signIn(user.email, user.password);
    const { html } = await browser.get('/settings/api-keys/new');
    const res = await browser.request('/settings/api-keys', { method: 'POST', form: { csrf: Browser.csrf(html), name: tricks['a right-to-left override (U+202E)'], expires_in_days: '90' } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invisible formatting characters');
    expect(await server.store.keys.listForUser(user.id)).toEqual([]);
  });

  it('the consent flow refuses them in key_name and machine, and marks what the requesting computer chose', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    await browser.signIn(user.email, user.password);
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const consent = (extra: Record<string, string>) =>
      `/cli-auth?${new URLSearchParams({ redirect_uri: 'http://127.0.0.1:53682/callback', state: 's1', code_challenge: challenge, code_challenge_method: 'S256', ...extra })}`;
    for (const extra of [{ key_name: 'x\u202Eyz' }, { machine: 'dev\u200B-laptop' }] as Record<string, string>[]) {
      const res = await browser.request(consent(extra));
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('error_description')).toMatch(/invisible formatting characters/);
    }
    const { res, html } = await browser.get(consent({ key_name: 'Approve me, I am IT', machine: 'IT-helpdesk' }));
    expect(res.status).toBe(200);
    expect(html).toContain('<h1>Authorize the thirdloop CLI?</h1>');
    expect(html).not.toMatch(/<h1>[^<]*IT-helpdesk/);
    expect(html).toContain('<h2 class="reported-title" id="consent-reported">Reported by the requesting computer</h2>');
    expect(html).toContain('<bdi id="consent-key-name">Approve me, I am IT</bdi> <span class="muted">(reported by the requesting computer)</span>');
    expect(html).toContain('<bdi id="consent-machine">IT-helpdesk</bdi> <span class="muted">(reported by the requesting computer)</span>');
  });
});
