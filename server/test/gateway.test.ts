/**
 * The /v1 gateway against the real server and a fake provider on loopback that records what it
 * receives: forwarding, streaming, credentials, key statuses, limits, failures, audit.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  messageBody,
  sendJson,
  sendStream,
  sseText,
  startFakeUpstream,
  streamEvents,
  type FakeUpstream,
} from './helpers/fake-upstream.js';
import { makeUser, startGatewayServer, waitForAudit, type GatewayServer } from './helpers/gateway-server.js';
import { ensureServerBuilt } from '../../test/helpers/reference-server.js';

const ORG_API_KEY = 'sk-ant-api03-FAKE-org-key';
const ORG_OAUTH_TOKEN = 'sk-ant-oat01-FAKE-org-oat';
const BETA = 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14';

const messageRequest = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Say hi' }],
  ...extra,
});

function post(url: string, credential: string | undefined, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      ...(credential ? { 'x-api-key': credential } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Splits an SSE text into [event, data] pairs. */
function parseSse(text: string): Array<[string, unknown]> {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))!.slice(7);
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6));
      return [event, data];
    });
}

let upstream: FakeUpstream;
let server: GatewayServer;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  server = await startGatewayServer({
    upstream: upstream.url,
    upstreamApiKey: ORG_API_KEY,
    upstreamTimeoutMs: 400,
    modelAliases: { 'claude-3-5-haiku-20241022': 'claude-haiku-4-5', 'claude-legacy': 'claude-2.1' },
  });
});

afterAll(async () => {
  await server?.close();
  await upstream?.close();
});

describe('forwarding', () => {
  it('round-trips a non-streaming request with the org credential and without the member one', async () => {
    const member = await makeUser(server);
    const { key, credential, secret } = await member.mint();
    const sessionId = randomUUID();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('Hello, member'), { 'request-id': 'req_abc', 'set-cookie': 'provider=1' }));
    const before = upstream.received.length;
    const raw = JSON.stringify(messageRequest());

    const res = await post(`${server.url}/v1/messages?beta=true`, credential, raw, {
      'anthropic-beta': BETA,
      'x-claude-code-session-id': sessionId,
      'x-app': 'cli',
    });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(messageBody('Hello, member'));
    expect(res.headers.get('request-id')).toBe('req_abc');
    expect(res.headers.get('set-cookie')).toBeNull();

    expect(upstream.received.length).toBe(before + 1);
    const got = upstream.received.at(-1)!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/v1/messages?beta=true');
    expect(got.body).toBe(raw);
    expect(got.headers['anthropic-version']).toBe('2023-06-01');
    expect(got.headers['anthropic-beta']).toBe(BETA);
    expect(got.headers['x-app']).toBe('cli');
    expect(got.headers['x-api-key']).toBe(ORG_API_KEY);
    expect(got.headers.authorization).toBeUndefined();
    const everyHeader = JSON.stringify(got.headers);
    expect(everyHeader).not.toContain(secret);
    expect(everyHeader).not.toContain(key.id);

    const row = await waitForAudit(server.store, (r) => r.kind === 'gateway' && r.session_id === sessionId);
    expect(row).toMatchObject({
      user_id: member.id,
      key_id: key.id,
      action: 'messages',
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-sonnet-4-5',
      status: 200,
      input_tokens: 11,
      output_tokens: 7,
    });
    expect(row.latency_ms).toBeGreaterThanOrEqual(0);
    const stored = await server.store.keys.findById(key.id);
    expect(stored!.lastUsedAt).not.toBeNull();
  });

  it('streams SSE events intact, in order, and as they are produced', async () => {
    const { credential } = await member();
    const words = ['One ', 'two ', 'three ', 'four ', 'five ', 'six'];
    const events = streamEvents(words, { input_tokens: 42, output_tokens: 6 });
    upstream.handle((_req, res) => sendStream(res, events, 40));
    const sessionId = randomUUID();

    const res = await post(`${server.url}/v1/messages?beta=true`, credential, messageRequest({ stream: true }), {
      'x-claude-code-session-id': sessionId,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const arrivals: number[] = [];
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(performance.now());
      text += decoder.decode(value, { stream: true });
    }
    expect(parseSse(text)).toEqual(events);
    expect(text).toBe(events.map(([name, data]) => sseText(name, data)).join(''));
    // 12 events 40 ms apart: a buffering proxy would deliver them in one go at the end.
    expect(arrivals.length).toBeGreaterThanOrEqual(6);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(250);

    const row = await waitForAudit(server.store, (r) => r.session_id === sessionId);
    expect(row).toMatchObject({ status: 200, input_tokens: 42, output_tokens: 6, action: 'messages' });
  });

  it('passes a large answer through intact to a client that reads slowly', async () => {
    const { credential } = await member();
    const text = Array.from({ length: 200_000 }, (_, i) => `w${i}`).join(' ');
    const big = messageBody(text, { input_tokens: 5, output_tokens: 200_000 });
    upstream.handle(async (_req, res) => {
      const bytes = Buffer.from(JSON.stringify(big));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
      for (let i = 0; i < bytes.length; i += 65_536) {
        if (!res.write(bytes.subarray(i, i + 65_536))) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
    });
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest());
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      if (chunks.length % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(JSON.parse(Buffer.concat(chunks).toString('utf8'))).toEqual(big);
  });

  it('forwards only to the endpoint it matched, keeping the query string', async () => {
    const { credential } = await member();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    const sessionId = randomUUID();
    const res = await post(`${server.url}/v1/%6Dessages?beta=true&x=1`, credential, messageRequest(), { 'x-claude-code-session-id': sessionId });
    expect(res.status).toBe(200);
    expect(upstream.received.at(-1)!.url).toBe('/v1/messages?beta=true&x=1');
    expect((await waitForAudit(server.store, (r) => r.session_id === sessionId)).path).toBe('/v1/messages');
  });

  it('forwards count_tokens and records the input count', async () => {
    const { credential } = await member();
    upstream.handle((_req, res) => sendJson(res, 200, { input_tokens: 1234 }));
    const sessionId = randomUUID();
    const res = await post(`${server.url}/v1/messages/count_tokens?beta=true`, credential, messageRequest(), {
      'x-claude-code-session-id': sessionId,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ input_tokens: 1234 });
    expect(upstream.received.at(-1)!.url).toBe('/v1/messages/count_tokens?beta=true');
    const row = await waitForAudit(server.store, (r) => r.session_id === sessionId);
    expect(row).toMatchObject({ action: 'count_tokens', input_tokens: 1234, output_tokens: null });
  });

  it('maps an aliased model and accepts dated forms of offered models', async () => {
    const { credential } = await member();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    let res = await post(`${server.url}/v1/messages`, credential, messageRequest({ model: 'claude-3-5-haiku-20241022' }));
    expect(res.status).toBe(200);
    expect(JSON.parse(upstream.received.at(-1)!.body).model).toBe('claude-haiku-4-5');

    res = await post(`${server.url}/v1/messages`, credential, messageRequest({ model: 'claude-sonnet-4-5-20250929' }));
    expect(res.status).toBe(200);
    expect(JSON.parse(upstream.received.at(-1)!.body).model).toBe('claude-sonnet-4-5-20250929');
  });

  it('refuses a model the instance does not offer without calling upstream', async () => {
    const { credential } = await member();
    const before = upstream.received.length;
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest({ model: 'gpt-4o' }));
    expect(res.status).toBe(404);
    const body: any = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(body.error.message).toContain('gpt-4o');
    expect(upstream.received.length).toBe(before);
  });

  it('answers bad JSON and unknown paths in Anthropic shape', async () => {
    const { credential } = await member();
    let res = await post(`${server.url}/v1/messages`, credential, '{"model":');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'The request body is not valid JSON.' } });

    res = await fetch(`${server.url}/v1/files`, { headers: { 'x-api-key': credential } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('lists the offered models in Anthropic shape', async () => {
    const { credential } = await member();
    const res = await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': credential, 'anthropic-version': '2023-06-01' } });
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.data.map((m: { id: string }) => m.id)).toEqual(['claude-sonnet-4-5', 'claude-opus-4-5', 'claude-haiku-4-5']);
    expect(body.data[0]).toEqual({ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: expect.any(String) });
    expect(body).toMatchObject({ has_more: false, first_id: 'claude-sonnet-4-5', last_id: 'claude-haiku-4-5' });
    const page: any = await (await fetch(`${server.url}/v1/models?limit=1&after_id=claude-sonnet-4-5`, { headers: { 'x-api-key': credential } })).json();
    expect(page).toMatchObject({ data: [{ id: 'claude-opus-4-5' }], has_more: true });
  });
});

describe('model ids', () => {
  const OFFERED = 'offered: claude-sonnet-4-5, claude-opus-4-5, claude-haiku-4-5';
  const getModel = (base: string, credential: string, id: string) =>
    fetch(`${base}/v1/models/${encodeURIComponent(id)}`, { headers: { 'x-api-key': credential } });

  it('GET /v1/models/{id} resolves the same ids as POST /v1/messages, to the offered entry', async () => {
    const { credential } = await member();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    const cases = [
      ['claude-opus-4-5', 'claude-opus-4-5'],
      ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
      ['claude-3-5-haiku-20241022', 'claude-haiku-4-5'],
      ['gpt-4o', null],
      ['claude-legacy', null],
    ] as const;
    for (const [asked, entry] of cases) {
      const one = await getModel(server.url, credential, asked);
      const message = await post(`${server.url}/v1/messages`, credential, messageRequest({ model: asked }));
      expect(one.status, asked).toBe(message.status);
      if (entry) {
        expect(one.status, asked).toBe(200);
        expect(await one.json()).toMatchObject({ type: 'model', id: entry });
      } else {
        expect(one.status, asked).toBe(404);
        const refusals = [await one.json(), await message.json()] as any[];
        for (const body of refusals) {
          expect(body).toEqual({ type: 'error', error: { type: 'not_found_error', message: `model: ${asked} is not offered by this instance (${OFFERED}).` } });
        }
      }
    }
  });

  it('refuses an alias whose target is not offered, without calling upstream', async () => {
    const { credential } = await member();
    const before = upstream.received.length;
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest({ model: 'claude-legacy' }));
    expect(res.status).toBe(404);
    expect(upstream.received.length).toBe(before);
  });

  it('with the offline model, an alias to a model not offered gets the same not_found message', async () => {
    const mock = await startGatewayServer({ upstream: 'mock', modelAliases: { 'claude-legacy': 'claude-2.1', old: 'claude-haiku-4-5' } });
    try {
      const { credential } = await (await makeUser(mock)).mint();
      for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
        const res = await post(`${mock.url}${path}`, credential, messageRequest({ model: 'claude-legacy' }));
        expect(res.status, path).toBe(404);
        expect(await res.json()).toEqual({
          type: 'error',
          error: { type: 'not_found_error', message: `model: claude-legacy is not offered by this instance (${OFFERED}).` },
        });
      }
      const ok = await post(`${mock.url}/v1/messages`, credential, messageRequest({ model: 'old' }));
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as any).model).toBe('claude-haiku-4-5');
    } finally {
      await mock.close();
    }
  });

  it('refuses after_id and before_id together with invalid_request_error', async () => {
    const { credential } = await member();
    const res = await fetch(`${server.url}/v1/models?after_id=claude-sonnet-4-5&before_id=claude-haiku-4-5`, { headers: { 'x-api-key': credential } });
    expect(res.status).toBe(400);
    const body: any = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(body.error.message).toMatch(/after_id.*before_id/);
  });
});

async function member() {
  const user = await makeUser(server);
  return user.mint();
}

describe('authentication', () => {
  const expect401 = async (res: Response, fragment: string) => {
    expect(res.status).toBe(401);
    const body: any = await res.json();
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('authentication_error');
    expect(body.error.message).toContain(fragment);
    return body.error.message as string;
  };

  it('refuses every key that is not active, saying which, and never calls upstream', async () => {
    const user = await makeUser(server);
    const suspended = await user.mint('suspended');
    await user.disable(suspended.key.id);
    const compromised = await user.mint('compromised');
    await user.flagCompromised(compromised.key.id);
    const deleted = await user.mint('deleted');
    await user.remove(deleted.key.id);
    const before = upstream.received.length;
    const url = `${server.url}/v1/messages`;

    await expect401(await post(url, undefined, messageRequest()), 'No API key');
    await expect401(await post(url, 'not-a-credential', messageRequest()), 'malformed');
    await expect401(await post(url, `${suspended.key.id}`, messageRequest()), 'malformed');
    await expect401(await post(url, suspended.credential, messageRequest()), 'suspended');
    await expect401(await post(url, compromised.credential, messageRequest()), 'compromised');
    const deletedMessage = await expect401(await post(url, deleted.credential, messageRequest()), 'Invalid API key');
    // Someone without the secret learns nothing about the ID: wrong secret, unknown ID and deleted read the same.
    const other = await member();
    const wrongSecret = `${suspended.key.id};${other.secret}`;
    expect(await expect401(await post(url, wrongSecret, messageRequest()), 'Invalid API key')).toBe(deletedMessage);
    const unknownId = `tlk_${'A'.repeat(24)};${other.secret}`;
    expect(await expect401(await post(url, unknownId, messageRequest()), 'Invalid API key')).toBe(deletedMessage);
    // x-api-key and Bearer that disagree are refused rather than guessed between.
    await expect401(await post(url, other.credential, messageRequest(), { authorization: `Bearer ${suspended.credential}` }), 'malformed');
    await expect401(await fetch(`${server.url}/v1/models`), 'No API key');

    expect(upstream.received.length).toBe(before);
    const denied = await waitForAudit(server.store, (r) => r.key_id === compromised.key.id && r.kind === 'gateway');
    expect(denied).toMatchObject({ status: 401, action: 'denied:compromised', user_id: null });
  });

  it('refuses an expired key', async () => {
    const user = await makeUser(server);
    const short = await user.mint('short', 30);
    server.advance(31 * 24 * 60 * 60 * 1000);
    try {
      await expect401(await post(`${server.url}/v1/messages`, short.credential, messageRequest()), 'expired');
    } finally {
      server.advance(-31 * 24 * 60 * 60 * 1000);
    }
  });

  it('accepts the key as Bearer, and in both headers as apiKeyHelper sends it', async () => {
    const { credential, secret } = await member();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    let res = await post(`${server.url}/v1/messages`, undefined, messageRequest(), { authorization: `Bearer ${credential}` });
    expect(res.status).toBe(200);
    res = await post(`${server.url}/v1/messages`, credential, messageRequest(), { authorization: `Bearer ${credential}` });
    expect(res.status).toBe(200);
    const got = upstream.received.at(-1)!;
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers['x-api-key']).toBe(ORG_API_KEY);
    expect(JSON.stringify(got.headers)).not.toContain(secret);
  });
});

describe('the organization credential by prefix', () => {
  it('sends an OAuth token as Bearer with its beta flag, keeping the client flags', async () => {
    const oauth = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_OAUTH_TOKEN });
    try {
      const user = await makeUser(oauth);
      const { credential } = await user.mint();
      upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
      const res = await post(`${oauth.url}/v1/messages?beta=true`, credential, messageRequest(), { 'anthropic-beta': BETA });
      expect(res.status).toBe(200);
      const got = upstream.received.at(-1)!;
      expect(got.headers.authorization).toBe(`Bearer ${ORG_OAUTH_TOKEN}`);
      expect(got.headers['x-api-key']).toBeUndefined();
      expect(got.headers['anthropic-beta']).toBe(`${BETA},oauth-2025-04-20`);
    } finally {
      await oauth.close();
    }
  });
});

describe('limits', () => {
  let limited: GatewayServer;
  beforeAll(async () => {
    limited = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, rateLimitPerMinute: 3, bodyLimitBytes: 4096 });
  });
  afterAll(() => limited?.close());

  it('answers 429 rate_limit_error with retry-after past the limit, per member: other keys and rotation share it', async () => {
    const user = await makeUser(limited);
    const first = await user.mint('first');
    const second = await user.mint('second');
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    for (let i = 0; i < 3; i++) {
      expect((await post(`${limited.url}/v1/messages`, first.credential, messageRequest())).status).toBe(200);
    }
    const before = upstream.received.length;
    const res = await post(`${limited.url}/v1/messages`, first.credential, messageRequest());
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringMatching(/^Your keys are limited to 3 requests per minute together\. Retry in \d+ s\.$/) },
    });
    // The member's other key, and the key that replaces a rotated one, draw on the same allowance.
    expect((await post(`${limited.url}/v1/messages`, second.credential, messageRequest())).status).toBe(429);
    const rotated = await user.rotate(first.key.id);
    expect((await post(`${limited.url}/v1/messages`, rotated.credential, messageRequest())).status).toBe(429);
    expect(upstream.received.length).toBe(before);
    const other = await (await makeUser(limited)).mint();
    expect((await post(`${limited.url}/v1/messages`, other.credential, messageRequest())).status).toBe(200);
  });

  it('limits failed authentications per client address: 429 with retry-after and no audit row past it; a valid key still works', async () => {
    const N = 5;
    const guarded = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, authFailuresPerMinute: N });
    try {
      const user = await makeUser(guarded);
      const { credential } = await user.mint();
      const wrong = credential.replace(/;.*/, ';tls_' + 'x'.repeat(40));
      const denied = async () => (await guarded.store.audit.list({ limit: 1000 })).filter((r) => r.action.startsWith('denied:'));
      const statuses: number[] = [];
      for (let i = 0; i < N + 5; i++) {
        const res = await post(`${guarded.url}/v1/messages`, i % 2 ? wrong : undefined, messageRequest());
        statuses.push(res.status);
        const body = (await res.json()) as { type: string; error: { type: string } };
        if (res.status === 429) {
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          expect(body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
        } else {
          expect(body.error.type).toBe('authentication_error');
        }
      }
      expect(statuses).toEqual([...Array(N).fill(401), ...Array(5).fill(429)]);

      upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
      expect((await post(`${guarded.url}/v1/messages`, credential, messageRequest())).status).toBe(200);
      // Rows are written in order, so once the success is in, every earlier row is too.
      await waitForAudit(guarded.store, (r) => r.action === 'messages' && r.status === 200);
      const rows = await denied();
      expect(rows).toHaveLength(N);
      expect(rows.every((r) => r.status === 401)).toBe(true);
    } finally {
      await guarded.close();
    }
  });

  it('counts failed authentications by the client address --trust-proxy names, in the store every server process on the database shares', async () => {
    const N = 3;
    const config = { upstream: upstream.url, upstreamApiKey: ORG_API_KEY, authFailuresPerMinute: N, trustProxy: ['127.0.0.1'] };
    const first = await startGatewayServer(config);
    const second = await startGatewayServer(config, { dataDir: first.dataDir });
    try {
      const from = (client: string) => ({ 'x-forwarded-for': `${client}, 127.0.0.1` });
      const statuses = async (server: GatewayServer, client: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await post(`${server.url}/v1/messages`, undefined, messageRequest(), from(client))).status);
        return out;
      };
      // One client's failures, spread over both processes, share one allowance.
      expect(await statuses(first, '203.0.113.7', 2)).toEqual([401, 401]);
      expect(await statuses(second, '203.0.113.7', 2)).toEqual([401, 429]);
      // Another client behind the same proxy has its own.
      expect(await statuses(second, '198.51.100.9', N)).toEqual(Array(N).fill(401));
      // An address in X-Forwarded-For from a client that is not a trusted proxy is ignored.
      const untrusted = await startGatewayServer({ ...config, trustProxy: [] });
      try {
        expect(await statuses(untrusted, '203.0.113.1', 1)).toEqual([401]);
        expect(await statuses(untrusted, '203.0.113.2', N)).toEqual([401, 401, 429]);
      } finally {
        await untrusted.close();
      }
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('answers 413 request_too_large for a body over the cap', async () => {
    const { credential } = await (await makeUser(limited)).mint();
    const res = await post(`${limited.url}/v1/messages`, credential, messageRequest({ system: 'x'.repeat(8192) }));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
  });
});

describe('provider failures', () => {
  it('answers 502 api_error when the provider is down', async () => {
    const dead = await startFakeUpstream();
    const deadUrl = dead.url;
    await dead.close();
    const down = await startGatewayServer({ upstream: deadUrl, upstreamApiKey: ORG_API_KEY });
    try {
      const { credential } = await (await makeUser(down)).mint();
      const res = await post(`${down.url}/v1/messages`, credential, messageRequest());
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    } finally {
      await down.close();
    }
  });

  it('answers 504 timeout_error when the provider does not answer in time, and does not hang', async () => {
    const { credential } = await member();
    upstream.handle(() => undefined);
    const started = performance.now();
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest());
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('ends a stream that stalls mid-way with an SSE error event', async () => {
    const { credential } = await member();
    const events = streamEvents(['partial ']).slice(0, 4);
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [name, data] of events) res.write(sseText(name, data));
      // ...and then nothing: the gateway's idle timeout must end it.
    });
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest({ stream: true }));
    expect(res.status).toBe(200);
    const parsed = parseSse(await res.text());
    expect(parsed.slice(0, 4)).toEqual(events);
    expect(parsed.at(-1)).toEqual(['error', { type: 'error', error: { type: 'timeout_error', message: expect.any(String) } }]);
  });

  it('passes the provider’s own errors through, and reshapes ones that are not JSON', async () => {
    const { credential } = await member();
    const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    upstream.handle((_req, res) => sendJson(res, 529, overloaded, { 'retry-after': '7' }));
    let res = await post(`${server.url}/v1/messages`, credential, messageRequest());
    expect(res.status).toBe(529);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toEqual(overloaded);

    upstream.handle((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad gateway</html>');
    });
    res = await post(`${server.url}/v1/messages`, credential, messageRequest());
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });

  it('aborts the provider request when the client gives up before the first byte', async () => {
    const { credential } = await member();
    upstream.handle(() => undefined);
    const before = upstream.received.length;
    const controller = new AbortController();
    const pending = fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': credential },
      body: JSON.stringify(messageRequest()),
      signal: controller.signal,
    }).catch((error: Error) => error);
    const deadline = Date.now() + 2_000;
    while (upstream.received.length === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const received = upstream.received.at(-1)!;
    const abortedAt = performance.now();
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const outcome = await Promise.race([received.ended, new Promise((resolve) => setTimeout(() => resolve('still running'), 1_000))]);
    expect(outcome).toEqual({ finished: false });
    // Well before the gateway's own 400 ms timeout: the hang-up itself ended it.
    expect(performance.now() - abortedAt).toBeLessThan(300);
  });

  it('does not blame the member for the provider refusing the organization credential', async () => {
    const { credential } = await member();
    upstream.handle((_req, res) =>
      sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }),
    );
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest());
    expect(res.status).toBe(502);
    const body: any = await res.json();
    expect(body.error.type).toBe('api_error');
    expect(body.error.message).toContain('administrator');
  });

  it('aborts the provider request when the client disconnects mid-stream', async () => {
    const { credential } = await member();
    const sessionId = randomUUID();
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [name, data] of streamEvents([]).slice(0, 3)) res.write(sseText(name, data));
      // An endless answer: only the gateway hanging up ends it.
      while (!res.destroyed) {
        res.write(sseText('ping', { type: 'ping' }));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const res = await post(`${server.url}/v1/messages`, credential, messageRequest({ stream: true }), {
      'x-claude-code-session-id': sessionId,
    });
    const reader = res.body!.getReader();
    await reader.read();
    const received = upstream.received.at(-1)!;
    await reader.cancel();

    const outcome = await Promise.race([
      received.ended,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 3_000)),
    ]);
    expect(outcome).toEqual({ finished: false });
    const row = await waitForAudit(server.store, (r) => r.session_id === sessionId);
    expect(row.status).toBe(499);
  });
});

describe('probes without a key', () => {
  it('answers HEAD / and GET / and /healthz and /api/hello without auth', async () => {
    for (const [method, path] of [
      ['HEAD', '/'],
      ['GET', '/'],
      ['GET', '/healthz'],
      ['HEAD', '/healthz'],
      ['HEAD', '/api/hello'],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(200);
    }
    const telemetry = await post(`${server.url}/api/event_logging/batch`, undefined, { events: [] });
    expect(telemetry.status).toBe(200);
    // Dropped unread: even a body that is not JSON is no error.
    const odd = await post(`${server.url}/api/event_logging/v2/batch`, undefined, '\u0000not json', { 'content-type': 'application/octet-stream' });
    expect(odd.status).toBe(200);
  });

  it('answers 413 to telemetry over 1 MiB, stops reading it and closes the connection', async () => {
    const MiB = 1024 * 1024;
    const atCap = await post(`${server.url}/api/event_logging/batch`, undefined, 'x'.repeat(MiB), { 'content-type': 'application/octet-stream' });
    expect(atCap.status).toBe(200);
    // Well past what loopback socket buffers hold, so a server that reads it all is caught.
    const total = 32 * MiB;
    for (const chunked of [false, true]) {
      const upload = await rawUpload(server.url, '/api/event_logging/v2/batch', total, chunked);
      expect(upload.statusLine, `chunked: ${chunked}`).toMatch(/^HTTP\/1\.1 413 /);
      expect(upload.closed, `chunked: ${chunked}`).toBe(true);
      expect(upload.sentBeforeAnswer, `chunked: ${chunked}`).toBeLessThan(total);
    }
  });

  it('sends a browser at the root to the console', async () => {
    const res = await fetch(`${server.url}/`, { headers: { accept: 'text/html,application/xhtml+xml' }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/settings/api-keys');
  });
});

describe('shutdown', () => {
  it('writes the last "last used" time on close even when the flush timer has not run', async () => {
    const lazy = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, writeBehindMs: 60_000 });
    const user = await makeUser(lazy);
    const { key, credential } = await user.mint();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
    expect((await post(`${lazy.url}/v1/messages`, credential, messageRequest())).status).toBe(200);
    expect((await lazy.store.keys.findById(key.id))!.lastUsedAt).toBeNull();
    await lazy.app.close();
    expect((await lazy.store.keys.findById(key.id))!.lastUsedAt).not.toBeNull();
    expect((await lazy.store.audit.list()).some((r) => r.kind === 'gateway' && r.key_id === key.id)).toBe(true);
    await lazy.close();
  });

  it('a stream still running at close gets the grace period, is then cut, and its audit row is written', async () => {
    const graceful = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, closeGraceMs: 300 });
    const user = await makeUser(graceful);
    const { key, credential } = await user.mint();
    // 40 words, 100 ms apart: about 4 s of streaming if nothing cuts it.
    upstream.handle((_req, res) => sendStream(res, streamEvents(Array.from({ length: 40 }, (_, i) => `w${i} `)), 100));
    const res = await post(`${graceful.url}/v1/messages`, credential, messageRequest({ stream: true }));
    expect(res.status).toBe(200);
    const body = res.text().catch(() => 'cut');
    const started = Date.now();
    await graceful.app.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2_000);
    // Cut, not finished: the client never saw the end of the answer.
    expect(await body).not.toContain('message_stop');
    const rows = await graceful.store.audit.list({ limit: 1000 });
    expect(rows.some((r) => r.kind === 'gateway' && r.key_id === key.id && r.action === 'messages')).toBe(true);
    await graceful.close();
  });
});

/**
 * POSTs `total` bytes over a raw socket, as fast as the server takes them, and stops at its answer:
 * the status line, how much had gone out by then, and whether the server then closed the connection.
 */
function rawUpload(base: string, path: string, total: number, chunked: boolean) {
  const { hostname, port } = new URL(base);
  return new Promise<{ statusLine: string; sentBeforeAnswer: number; closed: boolean }>((done) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    let sent = 0;
    let sentBeforeAnswer = -1;
    let closed = false;
    const finish = () => done({ statusLine: answer.split('\r\n')[0]!, sentBeforeAnswer, closed });
    socket.on('error', () => undefined); // the server may close while we are still writing
    socket.on('data', (data) => {
      if (sentBeforeAnswer === -1) sentBeforeAnswer = sent;
      answer += data;
      // A server that keeps the connection open is given a moment, then reported as such.
      if (answer.includes('\r\n\r\n')) setTimeout(() => (socket.destroy(), finish()), 2_000).unref();
    });
    socket.on('close', () => {
      closed = answer !== '';
      finish();
    });
    socket.on('connect', async () => {
      const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
      socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n${length}\r\n\r\n`);
      const piece = Buffer.alloc(64 * 1024, 'a');
      while (sent < total && answer === '' && !socket.destroyed) {
        const part = piece.subarray(0, Math.min(piece.length, total - sent));
        const flowing = socket.write(chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part);
        sent += part.length;
        if (!flowing) await new Promise((next) => (socket.once('drain', next), socket.once('close', next)));
      }
      if (chunked && sent >= total && !socket.destroyed) socket.write('0\r\n\r\n');
    });
  });
}

describe('thirdloop-server start', () => {
  const BIN = resolve(import.meta.dirname, '..', 'bin', 'thirdloop-server.js');

  /** Starts the built server, waits for its first line, stops it; what it printed on each stream. */
  async function startAndStop(args: string[], env: Record<string, string>) {
    const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-gateway-cli-'));
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!('THIRDLOOP_UPSTREAM_API_KEY' in env)) delete childEnv.THIRDLOOP_UPSTREAM_API_KEY;
    delete childEnv.THIRDLOOP_SERVER_LOG;
    const child = spawn(process.execPath, [BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((done) => child.once('close', done));
    try {
      const firstLine = await new Promise<string>((ok, fail) => {
        createInterface({ input: child.stdout }).once('line', ok);
        child.once('exit', (code) => fail(new Error(`exited ${code}: ${stderr}`)));
      });
      return { firstLine, stdout: () => stdout, stderr: async () => (child.kill('SIGTERM'), await exited, stderr) };
    } catch (error) {
      child.kill('SIGTERM');
      throw error;
    } finally {
      void exited.then(() => rmSync(dataDir, { recursive: true, force: true }));
    }
  }

  it('warns once on stderr, naming THIRDLOOP_UPSTREAM_API_KEY, when a URL upstream has no credential', async () => {
    ensureServerBuilt();
    const bare = await startAndStop(['--upstream', upstream.url], {});
    expect(bare.firstLine).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    const lines = (await bare.stderr()).split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: .*THIRDLOOP_UPSTREAM_API_KEY/);
    expect(bare.stdout()).not.toContain('THIRDLOOP_UPSTREAM_API_KEY');

    const keyed = await startAndStop(['--upstream', upstream.url], { THIRDLOOP_UPSTREAM_API_KEY: ORG_API_KEY });
    expect(await keyed.stderr()).toBe('');
    const mock = await startAndStop(['--upstream', 'mock'], {});
    expect(await mock.stderr()).toBe('');
  }, 120_000);
});
