/**
 * Request bodies streamed through the gateway: what reaches the provider, and when, however the body
 * is cut, wherever `model` is, however it is spelled, and when the client stops sending.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageBody, sendJson, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';
import { makeUser, startGatewayServer, waitForAudit, type GatewayServer } from './helpers/gateway-server.js';
import { startUpload, until } from './helpers/upload.js';

const ORG_API_KEY = 'sk-ant-api03-FAKE-org-key';
const ALIAS = 'claude-3-5-haiku-20241022';

let upstream: FakeUpstream;
let server: GatewayServer;
let credential: string;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  server = await startGatewayServer({
    upstream: upstream.url,
    upstreamApiKey: ORG_API_KEY,
    modelAliases: { [ALIAS]: 'claude-haiku-4-5' },
  });
  credential = (await (await makeUser(server)).mint()).credential;
  upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
});

afterAll(async () => {
  await server?.close();
  await upstream?.close();
});

const headers = (extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  'anthropic-version': '2023-06-01',
  'x-api-key': credential,
  ...extra,
});

/** A conversation of about `kb` kilobytes, with strings that test the scanner (quotes, backslashes, a fake model). */
const conversation = (kb: number) =>
  Array.from({ length: Math.ceil((kb * 1024) / 560) }, (_, i) => ({
    role: i % 2 ? 'assistant' : 'user',
    content: `turn ${i}: "model": "gpt-4o" \\ ${'x'.repeat(500)}`,
  })).concat([{ role: 'user', content: 'Go on.' }]);

/** Sends `body` in pieces of `size` bytes, each after the previous has left; returns the answer. */
async function sendInPieces(body: Buffer, size: number, extraHeaders: Record<string, string> = {}) {
  const upload = startUpload(server.url, '/v1/messages', headers(extraHeaders));
  for (let i = 0; i < body.length; i += size) {
    await upload.write(body.subarray(i, i + size));
    await new Promise((resolve) => setImmediate(resolve));
  }
  upload.end();
  const answer = await upload.response;
  if ('error' in answer) throw answer.error;
  return answer;
}

describe('request bodies are streamed', () => {
  it('the provider gets the request while the client is still sending it', async () => {
    const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: conversation(1024) }));
    const before = upstream.arriving.length;
    const upload = startUpload(server.url, '/v1/messages', headers({ 'content-length': String(body.length) }));
    const firstPart = 64 * 1024;
    await upload.write(body.subarray(0, firstPart));
    // Nothing more is sent until the provider has seen bytes: a buffering gateway never gets here.
    await until(() => upstream.arriving.length > before && upstream.arriving.at(-1)!.bytes() > 0, 'the provider receives the first bytes');
    expect(upstream.arriving.at(-1)!.bytes()).toBeLessThanOrEqual(firstPart);
    await upload.write(body.subarray(firstPart));
    upload.end();
    const answer = await upload.response;
    expect(answer).toMatchObject({ status: 200 });
    expect(upstream.received.at(-1)!.body).toBe(body.toString());
    expect(upstream.arriving.at(-1)!.headers['content-length']).toBe(String(body.length));
  });

  it('a body split across many small chunks arrives whole, with an alias split across chunks rewritten', async () => {
    const request = { model: ALIAS, max_tokens: 5, messages: [{ role: 'user', content: 'tiny "pieces" \\ of text' }] };
    const body = Buffer.from(JSON.stringify(request));
    for (const framing of ['chunked', 'content-length'] as const) {
      const extra: Record<string, string> = framing === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) };
      const answer = await sendInPieces(body, 3, extra);
      expect(answer.status, framing).toBe(200);
      const got = upstream.received.at(-1)!;
      expect(got.body, framing).toBe(JSON.stringify({ ...request, model: 'claude-haiku-4-5' }));
      if (framing === 'content-length') expect(got.headers['content-length']).toBe(String(Buffer.byteLength(got.body)));
    }
  });

  it('finds model placed after a 1 MB messages array, forwarding the body byte for byte (or with the alias rewritten)', async () => {
    const messages = conversation(1024);
    for (const model of ['claude-sonnet-4-5', ALIAS]) {
      const sessionId = randomUUID();
      const text = JSON.stringify({ messages, max_tokens: 5, model, stream: false });
      expect(text.length).toBeGreaterThan(1024 * 1024);
      const answer = await sendInPieces(Buffer.from(text), 65_536, { 'content-length': String(Buffer.byteLength(text)), 'x-claude-code-session-id': sessionId });
      expect(answer.status, model).toBe(200);
      const expected = model === ALIAS ? text.replace(`"model":"${ALIAS}"`, '"model":"claude-haiku-4-5"') : text;
      expect(upstream.received.at(-1)!.body === expected, model).toBe(true);
      expect((await waitForAudit(server.store, (r) => r.session_id === sessionId)).model).toBe(model);
    }
  });

  it('reads escaped characters in the model string as JSON does', async () => {
    const escaped = '{"model":"claude-\\u0073onnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';
    let answer = await sendInPieces(Buffer.from(escaped), 5);
    expect(answer.status).toBe(200);
    // Not an alias: the provider gets the bytes as sent, and decodes the same id.
    expect(upstream.received.at(-1)!.body).toBe(escaped);

    const aliased = `{"m\\u006fdel":"${ALIAS.slice(0, -1)}\\u0032","max_tokens":5,"messages":[]}`;
    answer = await sendInPieces(Buffer.from(aliased), 4);
    expect(answer.status).toBe(200);
    expect(JSON.parse(upstream.received.at(-1)!.body)).toEqual({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] });

    const before = upstream.received.length;
    answer = await sendInPieces(Buffer.from('{"model":"gpt-\\u0034o"}'), 2);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text).error.message).toContain('model: gpt-4o is not offered');
    expect(upstream.received.length).toBe(before);
  });

  it('refuses bodies that are not an object with a model with the same 400s as before', async () => {
    const cases: Array<[string, string]> = [
      ['', 'The request body must be a JSON object.'],
      ['[{"model":"claude-sonnet-4-5"}]', 'The request body must be a JSON object.'],
      ['{"model":', 'The request body is not valid JSON.'],
      ['{"model":"claude-sonnet-4-5"} trailing', 'The request body is not valid JSON.'],
      ['{}', 'model: Field required'],
      ['{"model": 5}', 'model: Field required'],
      ['{"messages":[{"model":"claude-sonnet-4-5"}]}', 'model: Field required'],
    ];
    const before = upstream.received.length;
    for (const [text, message] of cases) {
      const answer = await sendInPieces(Buffer.from(text), 3, { 'content-length': String(Buffer.byteLength(text)) });
      expect(answer.status, text).toBe(400);
      expect(JSON.parse(answer.text), text).toEqual({ type: 'error', error: { type: 'invalid_request_error', message } });
    }
    expect(upstream.received.length).toBe(before);
  });
});

describe('bodies refused after forwarding started never reach the provider whole', () => {
  it('a second top-level model, after the provider request started', async () => {
    const first = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: conversation(512) });
    const body = Buffer.from(`${first.slice(0, -1)},"model":"claude-opus-4-5"}`);
    const before = upstream.arriving.length;
    const received = upstream.received.length;
    const answer = await sendInPieces(body, 65_536, { 'content-length': String(body.length) });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'model: given more than once; send one model.' } });
    // The provider had the request (it starts with the first chunk) but never its end.
    expect(upstream.arriving.length).toBe(before + 1);
    expect(await upstream.arriving.at(-1)!.complete).toBe(false);
    expect(upstream.received.length).toBe(received);
  });

  it('a client that hangs up mid-body: the provider request is abandoned and the row says 499', async () => {
    const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: conversation(256) }));
    const sessionId = randomUUID();
    const before = upstream.arriving.length;
    const upload = startUpload(server.url, '/v1/messages', headers({ 'content-length': String(body.length), 'x-claude-code-session-id': sessionId }));
    await upload.write(body.subarray(0, 100_000));
    await until(() => upstream.arriving.length > before, 'the provider request starts');
    upload.destroy();
    expect(await upstream.arriving.at(-1)!.complete).toBe(false);
    expect((await waitForAudit(server.store, (r) => r.session_id === sessionId)).status).toBe(499);
  });

  it('a client that stops sending mid-body gets 408 once the body is past its deadline', async () => {
    const strict = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, gatewayBodyTimeoutMs: 400 });
    try {
      const member = await makeUser(strict);
      const key = (await member.mint()).credential;
      const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: conversation(256) }));
      const sessionId = randomUUID();
      const before = upstream.arriving.length;
      const upload = startUpload(strict.url, '/v1/messages', {
        ...headers({ 'content-length': String(body.length), 'x-claude-code-session-id': sessionId }),
        'x-api-key': key,
      });
      await upload.write(body.subarray(0, 100_000));
      const answer = await upload.response;
      expect(answer).toMatchObject({ status: 408, headers: { connection: 'close' } });
      expect(JSON.parse((answer as { text: string }).text)).toEqual({
        type: 'error',
        error: { type: 'timeout_error', message: 'The request body did not arrive within 0.4 seconds.' },
      });
      expect(upstream.arriving.length).toBe(before + 1);
      expect(await upstream.arriving.at(-1)!.complete).toBe(false);
      expect((await waitForAudit(strict.store, (r) => r.session_id === sessionId)).status).toBe(408);
      upload.destroy();
    } finally {
      await strict.close();
    }
  });

  it('a chunked body that grows past the cap: 413, and the provider never gets its end', async () => {
    const small = await startGatewayServer({ upstream: upstream.url, upstreamApiKey: ORG_API_KEY, bodyLimitBytes: 100_000 });
    try {
      const key = (await (await makeUser(small)).mint()).credential;
      const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: conversation(200) }));
      const before = upstream.arriving.length;
      const upload = startUpload(small.url, '/v1/messages', { ...headers(), 'x-api-key': key, 'transfer-encoding': 'chunked' });
      await upload.write(body.subarray(0, 50_000));
      // The provider has the request before the body grows past the cap.
      await until(() => upstream.arriving.length > before, 'the provider request starts');
      for (let i = 50_000; i < body.length; i += 16_384) await upload.write(body.subarray(i, i + 16_384));
      upload.end();
      const answer = await upload.response;
      expect(answer).toMatchObject({ status: 413 });
      expect(JSON.parse((answer as { text: string }).text).error.type).toBe('request_too_large');
      expect(upstream.arriving.length).toBe(before + 1);
      expect(await upstream.arriving.at(-1)!.complete).toBe(false);
    } finally {
      await small.close();
    }
  });
});

describe('the offline model reads streamed bodies too', () => {
  let mock: GatewayServer;
  let key: string;
  beforeAll(async () => {
    mock = await startGatewayServer({ upstream: 'mock' });
    key = (await (await makeUser(mock)).mint()).credential;
  });
  afterAll(() => mock?.close());

  it('answers a body sent in 3-byte pieces like the same body sent at once', async () => {
    const request = { max_tokens: 50, messages: [{ role: 'user', content: 'count these "quoted" words \\ please' }], model: 'claude-sonnet-4-5' };
    const text = JSON.stringify(request);
    const upload = startUpload(mock.url, '/v1/messages', { ...headers(), 'x-api-key': key, 'transfer-encoding': 'chunked' });
    for (let i = 0; i < text.length; i += 3) {
      await upload.write(text.slice(i, i + 3));
      await new Promise((resolve) => setImmediate(resolve));
    }
    upload.end();
    const pieces = await upload.response;
    const whole = await fetch(`${mock.url}/v1/messages`, { method: 'POST', headers: { ...headers(), 'x-api-key': key }, body: text });
    expect(pieces).toMatchObject({ status: 200 });
    expect(JSON.parse((pieces as { text: string }).text)).toEqual(await whole.json());
  });
});
