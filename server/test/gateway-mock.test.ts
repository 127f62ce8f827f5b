/**
 * The gateway with `--upstream mock` (no network, no provider key), driven by the official
 * Anthropic SDK configured as `thirdloop setup` configures clients: base URL + `<id>;<secret>`.
 */
import Anthropic from '@anthropic-ai/sdk';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, startGatewayServer, waitForAudit, type GatewayServer } from './helpers/gateway-server.js';

let server: GatewayServer;
let credential: string;
let keyId: string;

beforeAll(async () => {
  server = await startGatewayServer({ upstream: 'mock' });
  const user = await makeUser(server);
  const minted = await user.mint();
  credential = minted.credential;
  keyId = minted.key.id;
});

afterAll(() => server?.close());

const client = (options: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) =>
  new Anthropic({ baseURL: server.url, apiKey: credential, maxRetries: 0, ...options });

describe('the official SDK through the gateway', () => {
  it('gets a non-streaming answer with usage', async () => {
    const sessionId = randomUUID();
    const message = await client({ defaultHeaders: { 'x-claude-code-session-id': sessionId } }).messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
    expect(message.type).toBe('message');
    expect(message.model).toBe('claude-sonnet-4-5');
    expect(message.stop_reason).toBe('end_turn');
    const block = message.content[0]!;
    expect(block.type).toBe('text');
    expect(block.type === 'text' && block.text).toContain('What is the capital of France?');
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);

    const row = await waitForAudit(server.store, (r) => r.session_id === sessionId);
    expect(row).toMatchObject({
      key_id: keyId,
      status: 200,
      model: 'claude-sonnet-4-5',
      input_tokens: message.usage.input_tokens,
      output_tokens: message.usage.output_tokens,
    });
    expect((await server.store.keys.findById(keyId))!.lastUsedAt).not.toBeNull();
  });

  it('streams, and the streamed text equals the non-streamed one', async () => {
    const params = {
      model: 'claude-haiku-4-5',
      max_tokens: 200,
      messages: [{ role: 'user' as const, content: 'Tell me a short story about a lighthouse.' }],
    };
    const types: string[] = [];
    const stream = client().messages.stream(params);
    stream.on('streamEvent', (event) => types.push(event.type));
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types[1]).toBe('content_block_start');
    expect(types.filter((t) => t === 'content_block_delta').length).toBeGreaterThan(1);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);

    const plain = await client().messages.create(params);
    expect(final.content).toEqual(plain.content);
    expect(final.usage.output_tokens).toBe(plain.usage.output_tokens);
    expect(final.usage.input_tokens).toBe(plain.usage.input_tokens);
  });

  it('works with the key as a Bearer token (ANTHROPIC_AUTH_TOKEN)', async () => {
    const bearer = new Anthropic({ baseURL: server.url, apiKey: null, authToken: credential, maxRetries: 0 });
    const message = await bearer.messages.create({ model: 'claude-opus-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hello there friend' }] });
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(5);
  });

  it('counts tokens and lists models', async () => {
    const count = await client().messages.countTokens({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'x'.repeat(400) }],
    });
    expect(count.input_tokens).toBe(100);
    const ids: string[] = [];
    for await (const model of client().models.list()) ids.push(model.id);
    expect(ids).toEqual(['claude-sonnet-4-5', 'claude-opus-4-5', 'claude-haiku-4-5']);
  });

  it('surfaces the gateway errors as the SDK error classes', async () => {
    await expect(
      client().messages.create({ model: 'claude-2.1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(
      client().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 0, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(
      new Anthropic({ baseURL: server.url, apiKey: 'tlk_nope;tls_nope', maxRetries: 0 }).models.list(),
    ).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });
});

describe('the offline model on the wire', () => {
  it('sends the SSE sequence in Anthropic order, ping included, and is deterministic', async () => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Same input' }] });
    const read = async () => {
      const res = await fetch(`${server.url}/v1/messages?beta=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': credential, 'anthropic-version': '2023-06-01' },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      return res.text();
    };
    const text = await read();
    const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(names.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(names.slice(3, -3).every((n) => n === 'content_block_delta')).toBe(true);
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(await read()).toBe(text);
  });
});
