/** The gateway's pure parts: SSE usage reading, write-behind, upstream credential, models. */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/gateway/errors.js';
import { mockCountTokens, mockMessages } from '../src/gateway/mock-model.js';
import { findModel, listModels } from '../src/gateway/models.js';
import { SseUsageTracker, sseEvent, usageFromJson } from '../src/gateway/sse.js';
import { parseUpstream, upstreamAuth, withBetaFlag } from '../src/gateway/upstreams.js';
import { WriteBehind } from '../src/gateway/write-behind.js';

describe('SseUsageTracker', () => {
  const answer = mockMessages(
    { model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'count my words please' }] },
    () => true,
  );
  const bytes = new TextEncoder().encode(answer.events!.join(''));

  it('reads input and output tokens however the stream is cut into chunks', () => {
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const tracker = new SseUsageTracker();
      for (let i = 0; i < bytes.length; i += size) tracker.push(bytes.subarray(i, i + size));
      expect(tracker.usage, `chunks of ${size}`).toEqual({ input_tokens: answer.input_tokens, output_tokens: answer.output_tokens });
    }
  });

  it('handles CRLF line ends, counts cache tokens as input, and survives garbage', () => {
    const tracker = new SseUsageTracker();
    const text =
      sseEvent('message_start', {
        type: 'message_start',
        message: { usage: { input_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 1 } },
      }).replaceAll('\n', '\r\n') +
      'event: message_delta\ndata: {not json\n\n' +
      sseEvent('message_delta', { type: 'message_delta', usage: { output_tokens: 9 } });
    tracker.push(new TextEncoder().encode(text));
    expect(tracker.usage).toEqual({ input_tokens: 123, output_tokens: 9 });
  });

  it('reads usage from a JSON message and from count_tokens', () => {
    expect(usageFromJson(JSON.stringify({ type: 'message', usage: { input_tokens: 4, output_tokens: 2 } }))).toEqual({ input_tokens: 4, output_tokens: 2 });
    expect(usageFromJson('{"input_tokens": 77}')).toEqual({ input_tokens: 77, output_tokens: null });
    expect(usageFromJson('<html>')).toEqual({ input_tokens: null, output_tokens: null });
  });
});

describe('WriteBehind', () => {
  it('keeps only the latest time per key and writes everything on flush', async () => {
    const touched: Array<[string, number]> = [];
    const rows: number[] = [];
    const batches: number[] = [];
    const writes = new WriteBehind<number>(
      {
        writeBatch: (lastUsed, batch) => {
          batches.push(batch.length);
          for (const [id, at] of lastUsed) touched.push([id, at.getTime()]);
          rows.push(...batch);
        },
        touchLastUsed: () => {
          throw new Error('not used when the batch succeeds');
        },
        insertAudit: () => {
          throw new Error('not used when the batch succeeds');
        },
      },
      { flushMs: 60_000 },
    );
    writes.touch('a', new Date(5));
    writes.touch('a', new Date(9));
    writes.touch('a', new Date(7));
    writes.touch('b', new Date(1));
    writes.record(1);
    writes.record(2);
    expect(touched).toEqual([]);
    await writes.flush();
    expect(touched).toEqual([
      ['a', 9],
      ['b', 1],
    ]);
    expect(rows).toEqual([1, 2]);
    expect(batches).toEqual([2]);
  });

  it('keeps going when one write fails, retrying a refused batch row by row', async () => {
    const errors: unknown[] = [];
    const rows: number[] = [];
    const writes = new WriteBehind<number>(
      {
        writeBatch: () => {
          throw new Error('one bad row fails the batch');
        },
        touchLastUsed: () => {
          throw new Error('gone');
        },
        insertAudit: async (batch) => {
          if (batch.includes(4)) throw new Error('bad row');
          rows.push(...batch);
        },
      },
      { onError: (e) => errors.push(e) },
    );
    writes.touch('a', new Date());
    writes.record(3);
    writes.record(4);
    writes.record(5);
    await writes.flush();
    expect(rows).toEqual([3, 5]);
    expect(errors).toHaveLength(2);
  });
});

describe('upstream', () => {
  it('parses mock and URLs, keeping a path prefix and dropping a trailing /v1', () => {
    expect(parseUpstream('mock')).toEqual({ kind: 'mock' });
    expect(parseUpstream('https://api.anthropic.com')).toEqual({ kind: 'http', origin: 'https://api.anthropic.com', basePath: '' });
    expect(parseUpstream('https://proxy.example/anthropic/v1/')).toEqual({ kind: 'http', origin: 'https://proxy.example', basePath: '/anthropic' });
    expect(() => parseUpstream('ftp://x')).toThrow(/mock/);
    expect(() => parseUpstream('https://user:pw@x')).toThrow(/credentials/);
  });

  it('puts the org credential in the header its prefix calls for', () => {
    expect(upstreamAuth('sk-ant-api03-abc')).toEqual({ headers: ['x-api-key', 'sk-ant-api03-abc'], betaFlag: undefined });
    expect(upstreamAuth('sk-ant-oat01-abc')).toEqual({ headers: ['authorization', 'Bearer sk-ant-oat01-abc'], betaFlag: 'oauth-2025-04-20' });
    expect(upstreamAuth(undefined)).toEqual({ headers: [], betaFlag: undefined });
    expect(withBetaFlag(undefined, 'oauth-2025-04-20')).toBe('oauth-2025-04-20');
    expect(withBetaFlag('a, oauth-2025-04-20', 'oauth-2025-04-20')).toBe('a, oauth-2025-04-20');
    expect(withBetaFlag('a,b', 'oauth-2025-04-20')).toBe('a,b,oauth-2025-04-20');
  });
});

describe('models', () => {
  const models = [
    { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' },
    { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5' },
  ];
  const [sonnet, haiku] = models;
  it('resolves offered ids, their dated forms and aliases only, to the offered entry and the id sent upstream', () => {
    expect(findModel('claude-sonnet-4-5', models, {})).toEqual({ model: sonnet, upstreamId: 'claude-sonnet-4-5' });
    expect(findModel('claude-sonnet-4-5-20250929', models, {})).toEqual({ model: sonnet, upstreamId: 'claude-sonnet-4-5-20250929' });
    expect(findModel('claude-opus-4-5', models, {})).toBeUndefined();
    expect(findModel('old', models, { old: 'claude-haiku-4-5' })).toEqual({ model: haiku, upstreamId: 'claude-haiku-4-5' });
    expect(findModel('old', models, { old: 'claude-haiku-4-5-20251001' })).toEqual({ model: haiku, upstreamId: 'claude-haiku-4-5-20251001' });
    expect(findModel('constructor', models, {})).toBeUndefined();
  });

  it('refuses an alias whose target is not offered', () => {
    expect(findModel('old', models, { old: 'claude-opus-4-5' })).toBeUndefined();
  });

  it('pages like Anthropic', () => {
    const models = ['a', 'b', 'c'].map((id) => ({ id, display_name: id.toUpperCase() }));
    expect(listModels(models, {})).toMatchObject({ has_more: false, first_id: 'a', last_id: 'c' });
    expect(listModels(models, { limit: '2' })).toMatchObject({ data: [{ id: 'a' }, { id: 'b' }], has_more: true });
    expect(listModels(models, { after_id: 'b' })).toMatchObject({ data: [{ id: 'c' }], has_more: false });
    expect(listModels(models, { before_id: 'c', limit: '1' })).toMatchObject({ data: [{ id: 'b' }], has_more: true });
  });

  it('refuses after_id and before_id together, as Anthropic does', () => {
    const models = ['a', 'b', 'c'].map((id) => ({ id, display_name: id.toUpperCase() }));
    let refused: unknown;
    try {
      listModels(models, { after_id: 'a', before_id: 'c' });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ status: 400, type: 'invalid_request_error', message: expect.stringMatching(/after_id.*before_id/) });
  });
});

describe('the offline model', () => {
  const knows = (model: string) => model === 'claude-sonnet-4-5';
  const refusal = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof GatewayError) return { status: error.status, type: error.type, message: error.message };
      throw error;
    }
    throw new Error('not refused');
  };

  it('refuses what Anthropic refuses, with its error types', () => {
    const ok = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    expect(refusal(() => mockMessages({ ...ok, model: 'claude-2' }, knows))).toMatchObject({ status: 404, type: 'not_found_error' });
    expect(refusal(() => mockMessages({ ...ok, max_tokens: undefined }, knows))).toMatchObject({ status: 400, message: expect.stringContaining('max_tokens') });
    expect(refusal(() => mockMessages({ ...ok, messages: [] }, knows))).toMatchObject({ status: 400, message: expect.stringContaining('messages') });
    expect(refusal(() => mockMessages({ ...ok, messages: [{ role: 'system', content: 'x' }] }, knows))).toMatchObject({ status: 400 });
    expect(refusal(() => mockMessages([ok], knows))).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect(refusal(() => mockCountTokens({ model: 'claude-sonnet-4-5' }, knows))).toMatchObject({ status: 400 });
  });

  it('answers the same input the same way, cut at max_tokens', () => {
    const body = { model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [{ role: 'user', content: [{ type: 'text', text: 'ping' }] }] };
    const a = mockMessages(body, knows);
    expect(mockMessages(structuredClone(body), knows)).toEqual(a);
    expect(a.json).toMatchObject({ stop_reason: 'end_turn', usage: { output_tokens: a.output_tokens } });
    const cut = mockMessages({ ...body, max_tokens: 3 }, knows);
    expect(cut.output_tokens).toBe(3);
    expect(cut.json).toMatchObject({ stop_reason: 'max_tokens' });
  });
});

describe('usage from a JSON answer', () => {
  const message = (usage: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'hi' }], ...extra, usage });

  it('reads the usage Anthropic writes last, and agrees with a full parse on tricky answers', () => {
    const cases = [
      message({ input_tokens: 4, output_tokens: 2, cache_read_input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 0 }, service_tier: 'standard' }),
      message({ input_tokens: 4, output_tokens: 2, note: 'a } brace and "usage": {"output_tokens": 99}' }),
      message({ input_tokens: 4, output_tokens: 2 }, { content: [{ type: 'text', text: 'says "usage": {"output_tokens": 99}}' }] }),
      JSON.stringify({ type: 'message', usage: { input_tokens: 1, output_tokens: 1 }, content: [{ type: 'tool_use', input: { usage: { output_tokens: 99 } } }] }),
      JSON.stringify({ type: 'message', usage: { input_tokens: 3, output_tokens: 7 } }, null, 2),
      '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"usage":{"input_tokens":1}}',
    ];
    for (const text of cases) {
      const parsed = JSON.parse(text) as { type?: string; usage?: { input_tokens?: number; cache_read_input_tokens?: number; output_tokens?: number } };
      const expected =
        parsed.type === 'message' && parsed.usage
          ? { input_tokens: (parsed.usage.input_tokens ?? 0) + (parsed.usage.cache_read_input_tokens ?? 0), output_tokens: parsed.usage.output_tokens ?? null }
          : { input_tokens: null, output_tokens: null };
      expect(usageFromJson(text), text).toEqual(expected);
    }
  });
});
