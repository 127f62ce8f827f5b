import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeBlock, upsertBlock } from '../../src/files/marked-block.js';
import { splitLines, unifiedDiff } from '../../src/files/unified-diff.js';
import { needs } from '../helpers/components.js';
import { corpusFiles } from '../helpers/corpus.js';

const labels = { oldLabel: 'a/file', newLabel: 'b/file' };
const work = mkdtempSync(path.join(tmpdir(), 'thirdloop-diff-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Applies our diff with `git apply` (outside a repository it works like patch) and returns the result. */
function applyWithGit(oldText: string, diff: string): string {
  const target = path.join(work, 'file');
  writeFileSync(target, oldText);
  writeFileSync(path.join(work, 'change.diff'), diff);
  execFileSync('git', ['apply', '--whitespace=nowarn', 'change.diff'], { cwd: work, env: { ...process.env, GIT_DIR: path.join(work, 'no-repo') } });
  return readFileSync(target, 'utf8');
}

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\n', 'a\n', labels)).toBe('');
  });

  it('matches diff -u for an insertion', () => {
    const a = 'l1\nl2\nl3\nl4\nl5\nl6\nl7\n';
    const b = 'l1\nl2\nl3\nl4\nnew\nl5\nl6\nl7\n';
    expect(unifiedDiff(a, b, labels)).toBe('--- a/file\n+++ b/file\n@@ -2,6 +2,7 @@\n l2\n l3\n l4\n+new\n l5\n l6\n l7\n');
  });

  it('marks a missing final newline', () => {
    const diff = unifiedDiff('a\nb', 'a\nb\nc', labels);
    expect(diff).toBe('--- a/file\n+++ b/file\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n\\ No newline at end of file\n');
  });

  it('shows a new file against /dev/null and a removed one the same way', () => {
    expect(unifiedDiff(undefined, 'x\ny\n', labels)).toBe('--- /dev/null\n+++ b/file\n@@ -0,0 +1,2 @@\n+x\n+y\n');
    expect(unifiedDiff('x\n', undefined, labels)).toBe('--- a/file\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n');
  });

  it('keeps distant changes in separate hunks', () => {
    const a = Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join('');
    const b = a.replace('line 2\n', 'two\n').replace('line 25\n', 'twenty-five\n');
    const diff = unifiedDiff(a, b, labels);
    expect(diff.match(/^@@/gm)).toHaveLength(2);
    expect(splitLines(a)).toHaveLength(30);
  });
});

const shellFiles = ['bash', 'zsh', 'fish', 'powershell'].flatMap((dir) => corpusFiles(`shells/${dir}`));
describe.skipIf(shellFiles.length === 0 || needs('git'))('diffs of real profile edits apply with git apply', () => {
  const files = shellFiles;
  it.each(files.map((f) => [path.basename(f), f]))('%s', (_name, file) => {
    const original = readFileSync(file, 'utf8');
    const added = upsertBlock(original, ['# body', 'source x']);
    expect(applyWithGit(original, unifiedDiff(original, added, labels))).toBe(added);
    // And the undo direction.
    expect(applyWithGit(added, unifiedDiff(added, removeBlock(added), labels))).toBe(original);
  });
});
