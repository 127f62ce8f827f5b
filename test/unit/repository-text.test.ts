/**
 * The repository's own text as a reader meets it: no merge left half done. A conflict once reached
 * README.md's command table on main, where every reader (and npm's package page) would have seen it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TEXT = /\.(md|ts|mts|mjs|cjs|js|json|ya?ml|sh|html|css|txt)$|^\.ci\/run$/;

test('no tracked text file holds merge conflict markers', () => {
  const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => TEXT.test(f) && !f.startsWith('test/fixtures/'));
  expect(files.length).toBeGreaterThan(100);
  const found: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // listed but not in the work tree (a deletion not yet committed)
    }
    text.split('\n').forEach((line, i) => {
      if (/^(<{7} |>{7} |={7}$)/.test(line)) found.push(`${file}:${i + 1}`);
    });
  }
  expect(found).toEqual([]);
});
