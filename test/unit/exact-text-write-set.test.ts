/** Bytes in, bytes out (files/exact-text) and the all-or-nothing file set (files/write-set). */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeExact, encodeExact, insertableValue } from '../../src/files/exact-text.js';
import { readRegularFile } from '../../src/files/regular-file.js';
import { writeFileSet } from '../../src/files/write-set.js';

describe('exact text', () => {
  it('gives back every byte sequence exactly (random bytes, BOMs, Latin-1, UTF-8)', () => {
    const samples: Buffer[] = [
      Buffer.from('{"a": "café"}', 'latin1'),
      Buffer.from('{"a": "café"}', 'utf8'),
      Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0xe9, 0x7d]),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate in UTF-8: not valid UTF-8
      Buffer.from([0xff, 0xfe, 0x7b, 0x00]),
      Buffer.alloc(0),
    ];
    for (let i = 0; i < 2000; i++) samples.push(randomBytes(i % 64));
    for (const bytes of samples) expect(encodeExact(decodeExact(bytes)).equals(bytes), bytes.toString('hex')).toBe(true);
  });

  it('decodes valid UTF-8 as UTF-8 and anything else byte for byte', () => {
    expect(decodeExact(Buffer.from('é', 'utf8'))).toEqual({ text: 'é', encoding: 'utf8' });
    expect(decodeExact(Buffer.from('é', 'latin1'))).toEqual({ text: 'é', encoding: 'bytes' });
  });

  it('what we insert into a non-UTF-8 text is written as UTF-8', () => {
    const doc = decodeExact(Buffer.from('// café\n', 'latin1'));
    const inserted = insertableValue({ 'modèle': 'Claude Sonnet ✓' }, doc.encoding);
    const bytes = encodeExact({ text: doc.text + JSON.stringify(inserted), encoding: doc.encoding });
    expect(bytes.subarray(0, 8).equals(Buffer.from('// café\n', 'latin1'))).toBe(true);
    expect(bytes.subarray(8).toString('utf8')).toBe('{"modèle":"Claude Sonnet ✓"}');
  });
});

describe('writeFileSet', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a failure part-way puts back the files already written, and says "Nothing was changed."', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'write-set-'));
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    writeFileSync(a, Buffer.from('{"a": "José"}\n', 'latin1'));
    chmodSync(a, 0o640);
    writeFileSync(b, 'b\n');
    const beforeA = (await readRegularFile(a))!;
    const staleB = { ...(await readRegularFile(b))!, bytes: Buffer.from('what the run read earlier\n') };
    const error = await writeFileSet([
      { path: a, label: 'a.json', before: beforeA, after: Buffer.from('{}\n'), backup: true },
      { path: path.join(dir, 'new', 'c.json'), label: 'c.json', before: undefined, after: Buffer.from('c\n') },
      { path: b, label: 'b.json', before: staleB, after: Buffer.from('B\n') },
    ]).catch((e) => e);
    expect(error.message).toMatch(/b\.json changed while thirdloop was running.*Nothing was changed\./);
    expect(readFileSync(a).equals(beforeA.bytes)).toBe(true);
    expect(statSync(a).mode & 0o777).toBe(0o640);
    expect(existsSync(`${a}.thirdloop-backup`)).toBe(false);
    expect(existsSync(path.join(dir, 'new'))).toBe(false);
    expect(readFileSync(b, 'utf8')).toBe('b\n');
  });

  it('refuses a read-only file by its mode bits (root included) before the first write', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'write-set-'));
    const a = path.join(dir, 'a');
    const ro = path.join(dir, 'ro');
    writeFileSync(a, 'a');
    writeFileSync(ro, 'ro');
    chmodSync(ro, 0o444);
    const error = await writeFileSet([
      { path: a, label: 'a', before: await readRegularFile(a), after: Buffer.from('A') },
      { path: ro, label: 'ro', before: await readRegularFile(ro), after: Buffer.from('RO') },
    ]).catch((e) => e);
    expect(error.message).toBe('Cannot edit ro: it is read-only (mode 0444). Nothing was changed.');
    expect(readFileSync(a, 'utf8')).toBe('a');
  });

  it('refuses a path whose parent is a file, before anything is written', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'write-set-'));
    writeFileSync(path.join(dir, 'file'), 'x');
    mkdirSync(path.join(dir, 'ok'));
    const error = await writeFileSet([
      { path: path.join(dir, 'ok', 'a'), label: 'a', before: undefined, after: Buffer.from('A') },
      { path: path.join(dir, 'file', 'b'), label: 'b', before: undefined, after: Buffer.from('B') },
    ]).catch((e) => e);
    expect(error.message).toMatch(/Cannot (write|use|create) b: .*not a (directory|folder).*Nothing was changed\./);
    expect(existsSync(path.join(dir, 'ok', 'a'))).toBe(false);
  });
});
