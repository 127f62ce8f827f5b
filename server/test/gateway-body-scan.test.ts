/**
 * The incremental top-level scanner against JSON.parse: the same model id, the same refusals, however
 * the body is cut into chunks (down to one byte each).
 */
import { describe, expect, it } from 'vitest';
import { TopLevelScanner, type ScanProblem } from '../src/gateway/body-scan.js';
import { JsonStreamError, JsonStreamParser } from '../src/gateway/json-stream.js';

/** Scans `text` cut at the given chunk size (or at random sizes with a seed). */
function scan(text: string | Buffer, cut: number | ((i: number) => number) = 1 << 30) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const scanner = new TopLevelScanner();
  let problem: ScanProblem | undefined;
  for (let i = 0, k = 0; i < bytes.length && !problem; k++) {
    const size = Math.max(1, typeof cut === 'number' ? cut : cut(k));
    problem = scanner.push(bytes.subarray(i, i + size));
    i += size;
  }
  problem ??= scanner.end();
  return { problem, model: scanner.model, stream: scanner.stream, scanner };
}

/** A small deterministic PRNG, so a failing case can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Strings that stress the scanner: quotes, backslash runs, escapes, unicode, a fake `"model"`. */
const NASTY = ['plain', 'a "quoted" word', 'ends with \\', '\\\\', '\\"', '"model": "gpt-4o"', 'é 😀 \u2028', '\\u0022', '}]{[', ''];

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.35) return NASTY[Math.floor(rand() * NASTY.length)];
  if (r < 0.45) return Math.floor(rand() * 1e6) / 100;
  if (r < 0.5) return [true, false, null][Math.floor(rand() * 3)];
  if (r < 0.75) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < rand() * 4; i++) o[rand() < 0.2 ? 'model' : `k${i}`] = randomValue(rand, depth + 1);
  return o;
}

describe('TopLevelScanner', () => {
  it('finds model and its byte range, whatever comes before it and however the body is cut', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const before: Record<string, unknown> = {};
      for (let i = 0; i < rand() * 4; i++) before[`b${i}`] = randomValue(rand, 1);
      const model = ['claude-sonnet-4-5', 'with "quotes"', 'back\\slash', 'ünï', 'x'][seed % 5]!;
      const after: Record<string, unknown> = {};
      for (let i = 0; i < rand() * 3; i++) after[`a${i}`] = randomValue(rand, 1);
      const text = JSON.stringify({ ...before, model, ...after }, null, seed % 3 === 0 ? 2 : undefined);
      const bytes = Buffer.from(text);
      for (const cut of [1, 2, 3, 7, 64, 1 << 30]) {
        const result = scan(bytes, cut);
        expect(result.problem, `seed ${seed} cut ${cut}`).toBeUndefined();
        expect(result.model!.value).toBe(model);
        expect(JSON.parse(bytes.subarray(result.model!.start, result.model!.end).toString())).toBe(model);
      }
    }
  });

  it('reads escaped characters in the model string and in the key', () => {
    expect(scan('{"model":"claude-\\u0073onnet-4-5"}').model!.value).toBe('claude-sonnet-4-5');
    expect(scan('{"m\\u006fdel":"claude-sonnet-4-5"}', 1).model!.value).toBe('claude-sonnet-4-5');
    expect(scan('{"model":"a\\"b\\\\"}', 1).model!.value).toBe('a"b\\');
    expect(scan('{"model":"\\ud83d\\ude00"}', 3).model!.value).toBe('😀');
    expect(scan('{"model":"bad \\x escape"}').problem).toBe('invalid-json');
  });

  it('refuses what JSON.parse would read as something other than one object with a model', () => {
    const cases: Array<[string, ScanProblem | undefined]> = [
      ['', 'not-object'],
      ['   ', 'not-object'],
      ['[1,2]', 'not-object'],
      ['"text"', 'not-object'],
      ['42', 'not-object'],
      ['null', 'not-object'],
      ['nope', 'not-object'],
      ['<html>', 'invalid-json'],
      ['\ufeff{"model":"m"}', 'invalid-json'],
      ['{"model":', 'invalid-json'],
      ['{"model":"m"', 'invalid-json'],
      ['{"model":"m"} x', 'invalid-json'],
      ['{"model" "m"}', 'invalid-json'],
      ['{"model":"m",}', 'invalid-json'],
      ['{model:"m"}', 'invalid-json'],
      ['{}', 'no-model'],
      ['{"messages":[{"model":"m"}]}', 'no-model'],
      ['{"model":""}', 'no-model'],
      ['{"model":null}', 'no-model'],
      ['{"model":42}', 'no-model'],
      ['{"model":["m"]}', 'no-model'],
      ['{"model":{"id":"m"}}', 'no-model'],
      ['{"model":"m","model":"n"}', 'duplicate-model'],
      ['{"model":"m","mod\\u0065l":"n"}', 'duplicate-model'],
      ['{"model":"m","messages":[],"model":"n"}', 'duplicate-model'],
      [' {"model" : "m" , "stream" : true } \n', undefined],
    ];
    for (const [text, problem] of cases) {
      for (const cut of [1, 1 << 30]) expect(scan(text, cut).problem, `${JSON.stringify(text)} cut ${cut}`).toBe(problem);
    }
  });

  it('finds model after a 1 MB messages array, and a duplicate after it too', () => {
    const messages = Array.from({ length: 2_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} "quoted" \\ ${'x'.repeat(480)}` }));
    const body = JSON.stringify({ messages, max_tokens: 10, model: 'claude-haiku-4-5', stream: true });
    expect(body.length).toBeGreaterThan(1_000_000);
    for (const cut of [65_536, 1_000, 17]) {
      const result = scan(body, cut);
      expect(result.problem).toBeUndefined();
      expect(result.model!.value).toBe('claude-haiku-4-5');
      expect(result.stream).toBe('true');
    }
    const twice = JSON.stringify({ model: 'claude-haiku-4-5', messages }).slice(0, -1) + ',"model":"claude-opus-4-5"}';
    expect(scan(twice, 65_536).problem).toBe('duplicate-model');
  });

  it('agrees with JSON.parse on random bodies cut at random places', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rand = prng(seed * 7919);
      const value = randomValue(rand, 0);
      const text = JSON.stringify(value);
      const result = scan(text, () => 1 + Math.floor(rand() * 9));
      const parsed = JSON.parse(text) as unknown;
      const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
      const modelKeys = isObject ? text.match(/"model":/g)?.length ?? 0 : 0;
      if (!isObject) expect(result.problem, text).toBe('not-object');
      else if (typeof (parsed as { model?: unknown }).model !== 'string' || (parsed as { model: string }).model === '') {
        expect(['no-model', 'duplicate-model'], text).toContain(result.problem);
      } else if (result.problem === undefined) {
        expect(result.model!.value, text).toBe((parsed as { model: string }).model);
      } else {
        // Only a repeated key is refused when the last model is a valid id.
        expect(result.problem, text).toBe('duplicate-model');
        expect(modelKeys).toBeGreaterThan(0);
      }
    }
  });
});

describe('JsonStreamParser', () => {
  const parse = (text: string | Buffer, cut: number | (() => number) = 1 << 30, maxDepth = 64) => {
    const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
    const parser = new JsonStreamParser(maxDepth);
    for (let i = 0; i < bytes.length; ) {
      const size = Math.max(1, typeof cut === 'number' ? cut : cut());
      parser.push(bytes.subarray(i, i + size));
      i += size;
    }
    return parser.end();
  };

  it('gives what JSON.parse gives, however the text is cut', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rand = prng(seed * 104_729);
      const text = JSON.stringify(randomValue(rand, 0), null, seed % 4 === 0 ? 1 : undefined);
      expect(parse(text, () => 1 + Math.floor(rand() * 12)), text).toEqual(JSON.parse(text));
    }
    expect(parse('{"__proto__": {"polluted": true}}')).toEqual(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parse(' [1e3, -0.5, 0, "\\u00e9\\n", true, false, null] ', 1)).toEqual([1000, -0.5, 0, 'é\n', true, false, null]);
  });

  it('refuses what JSON.parse refuses', () => {
    for (const text of ['', '{', '{"a":1,}', '[1,]', '[01]', '{"a" 1}', '"\u0001"', '"\\x"', 'tru', 'nul', '1 2', '{}}', '[1.]', '.5', '{"a":1}x']) {
      expect(() => JSON.parse(text), text).toThrow();
      for (const cut of [1, 1 << 30]) expect(() => parse(text, cut), `${JSON.stringify(text)} cut ${cut}`).toThrow(JsonStreamError);
    }
  });

  it('refuses nesting past its bound without recursing', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => parse(deep, 4096, 256)).toThrow(/nested more than 256 levels/);
    expect(parse('['.repeat(256) + ']'.repeat(256), 7, 256)).toBeDefined();
  });
});
