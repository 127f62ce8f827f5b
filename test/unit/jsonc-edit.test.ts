import { describe, expect, it } from 'vitest';
import {
  appendToJsoncArray,
  detectFormat,
  lineColumnAt,
  parseJsoncObject,
  removeJsoncArrayItem,
  removeJsoncValue,
  setJsoncValue,
} from '../../src/files/jsonc-edit.js';
import { UserError } from '../../src/core/errors.js';

describe('parseJsoncObject', () => {
  it('accepts comments and trailing commas', () => {
    const doc = parseJsoncObject('{\n  // c\n  "a": 1, /* x */\n  "b": [1,2,],\n}\n', 'f.jsonc');
    expect(doc.value).toEqual({ a: 1, b: [1, 2] });
  });

  it('names line and column of the first error', () => {
    const text = '{\n  "a": 1,\n  "b" 2\n}\n';
    try {
      parseJsoncObject(text, 'opencode.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toContain('opencode.json');
      expect((error as Error).message).toContain('line 3, column 7');
      expect((error as Error).message).toMatch(/colon expected/);
    }
  });

  it('refuses a root that is not an object', () => {
    expect(() => parseJsoncObject('[1]', 'x.json')).toThrow(/JSON object/);
  });

  it('treats a whitespace-only file as empty', () => {
    expect(parseJsoncObject('  \n', 'x.json')).toMatchObject({ value: {}, empty: true });
  });

  it('computes 1-based positions', () => {
    expect(lineColumnAt('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumnAt('ab', 0)).toEqual({ line: 1, column: 1 });
  });
});

describe('detectFormat', () => {
  it('finds 4 spaces, tabs and CRLF', () => {
    expect(detectFormat('{\n    "a": {\n        "b": 1\n    }\n}')).toEqual({ insertSpaces: true, tabSize: 4, eol: '\n' });
    expect(detectFormat('{\r\n\t"a": 1\r\n}')).toEqual({ insertSpaces: false, tabSize: 1, eol: '\r\n' });
    expect(detectFormat('{"a":1}')).toEqual({ insertSpaces: true, tabSize: 2, eol: '\n' });
  });
});

describe('setJsoncValue', () => {
  it('adds a key keeping comments, order and indentation', () => {
    const text = '{\n    // keep me\n    "theme": "x", // and me\n    "z": 1\n}\n';
    const format = detectFormat(text);
    const out = setJsoncValue(text, ['provider', 'p'], { a: 1 }, format);
    expect(out).toContain('// keep me');
    expect(out).toContain('"theme": "x", // and me');
    expect(out).toMatch(/\n {4}"provider": \{\n {8}"p": \{\n {12}"a": 1/);
    expect(parseJsoncObject(out, 'x').value).toEqual({ theme: 'x', z: 1, provider: { p: { a: 1 } } });
  });

  it('keeps CRLF line endings and tabs', () => {
    const text = '{\r\n\t"a": 1\r\n}\r\n';
    const out = setJsoncValue(text, ['b'], { c: true }, detectFormat(text));
    expect(out.replace(/\r\n/g, '')).not.toContain('\n');
    expect(out).toContain('\t"b": {\r\n\t\t"c": true');
  });

  it('replaces a value in place and removes a key', () => {
    const text = '{\n  "model": "a/b", // mine\n  "x": 1\n}\n';
    const format = detectFormat(text);
    const replaced = setJsoncValue(text, ['model'], 'c/d', format);
    expect(replaced).toBe('{\n  "model": "c/d", // mine\n  "x": 1\n}\n');
    const added = setJsoncValue(text, ['y'], 2, format);
    expect(removeJsoncValue(added, ['y'], format)).toBe(text);
  });

  it('writes into an empty file and keeps a BOM', () => {
    const out = setJsoncValue('', ['a'], 1, detectFormat(''));
    expect(JSON.parse(out)).toEqual({ a: 1 });
    const bom = setJsoncValue('\uFEFF{\n  "x": 1\n}\n', ['a'], 1, detectFormat('{\n  "x": 1\n}'));
    expect(bom.startsWith('\uFEFF{')).toBe(true);
    expect(parseJsoncObject(bom, 'x').value).toEqual({ x: 1, a: 1 });
  });

  it('adds after a comment that ends the last line, and removes back to the same bytes', () => {
    const text = '{\n  "a": 1 // note\n}\n';
    const format = detectFormat(text);
    const out = setJsoncValue(text, ['b'], true, format);
    expect(out).toBe('{\n  "a": 1, // note\n  "b": true\n}\n');
    expect(removeJsoncValue(out, ['b'], format)).toBe(text);
  });

  it('keeps a trailing-comma habit and one-line objects', () => {
    const trailing = '{\n  "a": 1,\n}\n';
    const f = detectFormat(trailing);
    const out = setJsoncValue(trailing, ['b'], [1], f);
    expect(out).toBe('{\n  "a": 1,\n  "b": [\n    1\n  ],\n}\n');
    expect(removeJsoncValue(out, ['b'], f)).toBe(trailing);
    const oneLine = '{"a": 1}';
    const out2 = setJsoncValue(oneLine, ['b', 'c'], 2, detectFormat(oneLine));
    expect(out2).toBe('{"a": 1, "b": {"c":2}}');
    expect(removeJsoncValue(out2, ['b'], detectFormat(oneLine))).toBe(oneLine);
  });

  it('creates nested objects and fills an empty one', () => {
    const text = '{\n  "provider": {}\n}\n';
    const f = detectFormat(text);
    const out = setJsoncValue(text, ['provider', 'x'], { y: 1 }, f);
    expect(out).toBe('{\n  "provider": {\n    "x": {\n      "y": 1\n    }\n  }\n}\n');
    expect(removeJsoncValue(out, ['provider', 'x'], f)).toBe(text);
  });

  it('does not lose a comment inside an empty object', () => {
    const text = '{\n  "provider": {\n    // none yet\n  }\n}\n';
    const out = setJsoncValue(text, ['provider', 'x'], 1, detectFormat(text));
    expect(out).toContain('// none yet');
    expect(parseJsoncObject(out, 'x').value).toEqual({ provider: { x: 1 } });
  });

  it('can insert a property first (where $schema goes) and remove it exactly', () => {
    const text = '{\n  // top comment\n  "a": 1\n}\n';
    const f = detectFormat(text);
    const out = setJsoncValue(text, ['$schema'], 'u', f, { first: true });
    expect(out).toBe('{\n  // top comment\n  "$schema": "u",\n  "a": 1\n}\n');
    expect(removeJsoncValue(out, ['$schema'], f)).toBe(text);
    const one = '{"a":1}';
    const outOne = setJsoncValue(one, ['$schema'], 'u', detectFormat(one), { first: true });
    expect(outOne).toBe('{"$schema": "u", "a":1}');
    expect(removeJsoncValue(outOne, ['$schema'], detectFormat(one))).toBe(one);
  });

  it('removing the first of several properties keeps the rest', () => {
    const text = '{\n  "a": 1,\n  "b": 2\n}\n';
    expect(removeJsoncValue(text, ['a'], detectFormat(text))).toBe('{\n  "b": 2\n}\n');
  });
});

describe('appendToJsoncArray / removeJsoncArrayItem', () => {
  it.each([
    ['["a"]', '["a", "x"]'],
    ['["a",]', '["a", "x",]'],
    ['[]', '["x"]'],
    ['[\n    "a"\n  ]', '[\n    "a",\n    "x"\n  ]'],
    ['[\n    "a",\n  ]', '[\n    "a",\n    "x",\n  ]'],
  ])('%j → %j and back', (array, expected) => {
    const text = `{\n  "l": ${array}\n}\n`;
    const f = detectFormat(text);
    const out = appendToJsoncArray(text, ['l'], 'x', f);
    expect(out).toBe(`{\n  "l": ${expected}\n}\n`);
    const index = (parseJsoncObject(out, 'x').value.l as string[]).indexOf('x');
    expect(removeJsoncArrayItem(out, ['l'], index, f)).toBe(text);
  });
});
