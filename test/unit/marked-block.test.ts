import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_END,
  BLOCK_START,
  MarkedBlockError,
  detectEol,
  findBlocks,
  linesOutsideBlocks,
  placeBlock,
  removeBlock,
  takeBlock,
  upsertBlock,
} from '../../src/files/marked-block.js';
import { fromBytes, ours, toBytes } from '../../src/files/byte-text.js';

import { corpusFiles } from '../helpers/corpus.js';

const SHELL_FILES = ['bash', 'zsh', 'fish', 'powershell'].flatMap((dir) => corpusFiles(`shells/${dir}`));
const CORPUS = SHELL_FILES.length ? path.resolve(path.dirname(SHELL_FILES[0]!), '..') : '';
const body = ['# managed', 'if [ -f "$HOME/x" ]; then . "$HOME/x"; fi'];
const body2 = ['# managed, second version', 'source "$HOME/y"'];

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('upsertBlock / removeBlock', () => {
  it('appends to a file with a final newline and removes back to the same text', () => {
    const original = 'export PATH=/bin\n';
    const added = upsertBlock(original, body);
    expect(added).toBe(`export PATH=/bin\n${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}\n`);
    expect(removeBlock(added)).toBe(original);
  });

  it('keeps a file without a final newline without one, and undoes exactly', () => {
    const original = 'alias ll="ls -l"';
    const added = upsertBlock(original, body);
    expect(added).toBe(`alias ll="ls -l"\n${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}`);
    expect(added.endsWith('\n')).toBe(false);
    expect(removeBlock(added)).toBe(original);
    expect(removeBlock(upsertBlock(added, body2))).toBe(original);
  });

  it('writes CRLF lines into a CRLF file', () => {
    const original = 'Set-Alias g git\r\nImport-Module posh-git\r\n';
    const added = upsertBlock(original, body);
    expect(added).toBe(`${original}${BLOCK_START}\r\n${body.join('\r\n')}\r\n${BLOCK_END}\r\n`);
    expect(added.replaceAll('\r\n', '')).not.toContain('\n');
    expect(removeBlock(added)).toBe(original);
  });

  it('CRLF without a final newline', () => {
    const original = 'a\r\nb';
    const added = upsertBlock(original, body);
    expect(added).toBe(`a\r\nb\r\n${BLOCK_START}\r\n${body.join('\r\n')}\r\n${BLOCK_END}`);
    expect(removeBlock(added)).toBe(original);
  });

  it('keeps a BOM first, also in a file that is only a BOM', () => {
    const original = '\ufeff# profile\n';
    const added = upsertBlock(original, body);
    expect(added.startsWith('\ufeff# profile\n')).toBe(true);
    expect(removeBlock(added)).toBe(original);
    const onlyBom = '\ufeff';
    const added2 = upsertBlock(onlyBom, body);
    expect(added2).toBe(`\ufeff${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}\n`);
    expect(findBlocks(added2)).toHaveLength(1);
    expect(removeBlock(added2)).toBe(onlyBom);
  });

  it('an empty file gets the block with a newline and comes back empty', () => {
    expect(upsertBlock('', body)).toBe(`${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}\n`);
    expect(upsertBlock('', body, { defaultEol: '\r\n' })).toBe(`${BLOCK_START}\r\n${body.join('\r\n')}\r\n${BLOCK_END}\r\n`);
    expect(removeBlock(upsertBlock('', body))).toBe('');
  });

  it('replaces the block in place, keeping what follows it', () => {
    const original = 'one\n';
    const added = upsertBlock(original, body) + 'after\n';
    const replaced = upsertBlock(added, body2);
    expect(replaced).toBe(`one\n${BLOCK_START}\n${body2.join('\n')}\n${BLOCK_END}\nafter\n`);
    expect(count(replaced, BLOCK_START)).toBe(1);
    expect(removeBlock(replaced)).toBe('one\nafter\n');
  });

  it('re-running is idempotent', () => {
    const once = upsertBlock('x\n', body);
    expect(upsertBlock(once, body)).toBe(once);
  });

  it('a duplicated block collapses to one', () => {
    const block = `${BLOCK_START}\nold\n${BLOCK_END}\n`;
    const text = `a\n${block}b\n${block}c\n`;
    const result = upsertBlock(text, body);
    expect(count(result, BLOCK_START)).toBe(1);
    expect(result).toBe(`a\n${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}\nb\nc\n`);
    expect(removeBlock(text)).toBe('a\nb\nc\n');
  });

  it('recognises markers with trailing spaces or CR, and leaves other tools\' blocks alone', () => {
    const conda = '# >>> conda initialize >>>\nconda stuff\n# <<< conda initialize <<<\n';
    const text = `${conda}${BLOCK_START}  \nold\n${BLOCK_END}\t\n`;
    expect(findBlocks(text)).toHaveLength(1);
    expect(removeBlock(text)).toBe(conda);
  });

  it('refuses a start marker without an end, naming the line', () => {
    const text = `a\n${BLOCK_START}\nb\n`;
    expect(() => upsertBlock(text, body)).toThrow(MarkedBlockError);
    expect(() => removeBlock(text)).toThrow(/line 2/);
    expect(() => findBlocks(`x\n${BLOCK_END}\n`)).toThrow(/line 2/);
  });

  it('refuses block lines that would break the block', () => {
    expect(() => upsertBlock('', ['a\nb'])).toThrow();
    expect(() => upsertBlock('', [BLOCK_END])).toThrow();
  });

  it('detectEol follows the majority and falls back', () => {
    expect(detectEol('a\r\nb\r\nc\n')).toBe('\r\n');
    expect(detectEol('a\nb\nc\r\n')).toBe('\n');
    expect(detectEol('abc', '\r\n')).toBe('\r\n');
  });

  it('linesOutsideBlocks numbers lines as the editor does', () => {
    const text = `\ufeffexport A=1\n${BLOCK_START}\nexport B=2\n${BLOCK_END}\nexport C=3`;
    expect(linesOutsideBlocks(text)).toEqual([
      { line: 1, text: 'export A=1' },
      { line: 5, text: 'export C=3' },
    ]);
  });
});

describe.skipIf(SHELL_FILES.length === 0)('the real-world corpus', () => {
  const files = SHELL_FILES;

  it('has files to test', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(files.map((f) => [path.relative(CORPUS, f), f]))('%s: add, re-add, undo is byte-identical', (_name, file) => {
    const bytes = readFileSync(file);
    const original = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    const added = upsertBlock(original, body);
    expect(findBlocks(added)).toHaveLength(1);
    // Every byte before our block is the original's.
    expect(added.slice(0, added.indexOf(BLOCK_START)).replace(/\r?\n$/, '')).toBe(original.replace(/\r?\n$/, ''));
    const again = upsertBlock(added, body2);
    expect(findBlocks(again)).toHaveLength(1);
    expect(count(again, BLOCK_START)).toBe(1);
    const restored = removeBlock(again);
    expect(Buffer.from(restored, 'utf8').equals(bytes)).toBe(true);
    // Our lines use the file's own line ending.
    const eol = detectEol(original);
    const block = again.slice(again.indexOf(BLOCK_START));
    if (eol === '\r\n') expect(block.replaceAll('\r\n', '')).not.toContain('\n');
    else expect(block).not.toContain('\r');
  });
});

describe('placeBlock / takeBlock (files a shell executes)', () => {
  const block = `${BLOCK_START}\n${body.join('\n')}\n${BLOCK_END}\n`;

  it('a CRLF file gets LF lines, so `fi` closes the if; undo gives the CRLF bytes back', () => {
    const original = '# synced\r\nexport A=1\r\n';
    const placed = placeBlock(original, body);
    expect(placed).toEqual({ text: `${original}${block}` });
    expect(placed.text).not.toContain('fi\r');
    expect(takeBlock(placed.text)).toBe(original);
  });

  it('always ends the block with a newline, so `echo … >> file` starts its own line', () => {
    const original = 'alias k=kubectl';
    const placed = placeBlock(original, body);
    expect(placed).toEqual({ text: `alias k=kubectl\n${block}`, separator: '\n' });
    expect(takeBlock(placed.text, { separator: '\n' })).toBe(original);
    // A line appended later stays the user's, on its own line, when the block goes.
    const appended = `${placed.text}alias kk=kubectl\n`;
    expect(takeBlock(appended, { separator: '\n' })).toBe('alias k=kubectl\nalias kk=kubectl\n');
    // Without the record of the separator, only the block goes.
    expect(takeBlock(placed.text)).toBe('alias k=kubectl\n');
  });

  it('replaces an older block in place, and takes over the newline an older version put before a block without one', () => {
    const older = `a\n${BLOCK_START}\n# old\n${BLOCK_END}`; // the old style: no final newline, "a" had none either
    const placed = placeBlock(older, body);
    expect(placed).toEqual({ text: `a\n${block}`, separator: '\n' });
    expect(takeBlock(placed.text, { separator: placed.separator })).toBe('a');
    const middle = `a\n${BLOCK_START}\n# old\n${BLOCK_END}\nb\n`;
    expect(placeBlock(middle, body).text).toBe(`a\n${block}b\n`);
    expect(placeBlock(placeBlock(middle, body).text, body).text).toBe(`a\n${block}b\n`);
  });

  it('an empty file and a BOM-only file come back as they were', () => {
    expect(takeBlock(placeBlock('', body).text)).toBe('');
    const bomView = fromBytes(Buffer.from([0xef, 0xbb, 0xbf])).text;
    const placed = placeBlock(bomView, body);
    expect(placed.text).toBe(bomView + block);
    expect(takeBlock(placed.text)).toBe(bomView);
  });

  it('finds the markers after a UTF-8 BOM in a byte view', () => {
    const view = fromBytes(Buffer.from(`\ufeff${block}`, 'utf8')).text;
    expect(findBlocks(view)).toHaveLength(1);
    expect(takeBlock(view)).toBe(fromBytes(Buffer.from('\ufeff', 'utf8')).text);
  });

  it('keeps the line ending PowerShell asks for', () => {
    const placed = placeBlock('a\r\n', body, { eol: '\r\n' });
    expect(placed.text).toBe(`a\r\n${BLOCK_START}\r\n${body.join('\r\n')}\r\n${BLOCK_END}\r\n`);
  });
});

describe('byte views', () => {
  it('give back every byte of any encoding; our text goes in as UTF-8', () => {
    const latin1 = Buffer.from([0x23, 0x20, 0xe9, 0xe8, 0x0a, 0xff, 0xfe, 0x41, 0x0a]);
    const view = fromBytes(latin1);
    expect(view.encoding).toBe('bytes');
    expect(toBytes(view).equals(latin1)).toBe(true);
    const placed = placeBlock(view.text, ['# café'].map((l) => ours(l, view.encoding)));
    const bytes = toBytes({ text: placed.text, encoding: view.encoding });
    expect(bytes.subarray(0, latin1.length).equals(latin1)).toBe(true);
    expect(bytes.includes(Buffer.from('# café', 'utf8'))).toBe(true);
    expect(toBytes({ text: takeBlock(placed.text), encoding: view.encoding }).equals(latin1)).toBe(true);
  });

  it('read UTF-16 LE (Windows PowerShell 5.1) as UTF-16', () => {
    const bytes = Buffer.from('\ufeffSet-Alias g git\r\n', 'utf16le');
    const view = fromBytes(bytes);
    expect(view.encoding).toBe('utf16le');
    expect(view.text).toBe('\ufeffSet-Alias g git\r\n');
    expect(toBytes(view).equals(bytes)).toBe(true);
  });
});
