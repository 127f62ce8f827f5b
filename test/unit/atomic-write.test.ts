import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, chmod, mkdir, lstat, readlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { backupPathFor, readTextIfExists, removeFile, resolveTarget, writeFileAtomic } from '../../src/files/atomic-write.js';
import { UserError } from '../../src/core/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'thirdloop-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe('writeFileAtomic', () => {
  it('creates a new file with the requested mode, in a new private directory', async () => {
    const file = path.join(dir, 'nested', 'env.sh');
    const result = await writeFileAtomic(file, 'export A=1\n', { mode: 0o600 });
    expect(result).toEqual({ path: file, created: true, createdDirs: [path.dirname(file)] });
    expect(await readFile(file, 'utf8')).toBe('export A=1\n');
    expect(await mode(file)).toBe(0o600);
    expect(await mode(path.dirname(file))).toBe(0o700);
  });

  it('keeps an existing file’s mode unless forceMode, and leaves no temp file behind', async () => {
    const file = path.join(dir, '.bashrc');
    await writeFile(file, 'old\n');
    await chmod(file, 0o640);
    await writeFileAtomic(file, 'new\n', { mode: 0o600 });
    expect(await mode(file)).toBe(0o640);
    await writeFileAtomic(file, 'newer\n', { mode: 0o600, forceMode: true });
    expect(await mode(file)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['.bashrc']);
  });

  it('removes the temporary files a killed run left beside the same file (its own name only, stale ones only)', async () => {
    const file = path.join(dir, 'env.sh');
    const stale = path.join(dir, '.env.sh.0123456789ab.tmp'); // what a SIGKILL between write and rename leaves
    const fresh = path.join(dir, '.env.sh.ba9876543210.tmp'); // a run in progress right now
    const other = path.join(dir, '.env.fish.0123456789ab.tmp');
    const lookalike = path.join(dir, '.env.sh.notours.tmp');
    for (const f of [stale, fresh, other, lookalike]) await writeFile(f, 'export ANTHROPIC_API_KEY=…\n', { mode: 0o600 });
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const f of [stale, other, lookalike]) await utimes(f, hourAgo, hourAgo);
    await writeFileAtomic(file, 'export A=1\n', { mode: 0o600 });
    expect((await readdir(dir)).sort()).toEqual(['.env.fish.0123456789ab.tmp', '.env.sh.ba9876543210.tmp', '.env.sh.notours.tmp', 'env.sh']);
  });

  it('backs up the original once, never overwriting the first backup', async () => {
    const file = path.join(dir, '.zshrc');
    await writeFile(file, 'original\n');
    const first = await writeFileAtomic(file, 'edit 1\n', { backup: true });
    expect(first.backupPath).toBe(backupPathFor(file));
    const second = await writeFileAtomic(file, 'edit 2\n', { backup: true });
    expect(second.backupPath).toBeUndefined();
    expect(await readFile(backupPathFor(file), 'utf8')).toBe('original\n');
    expect(await readFile(file, 'utf8')).toBe('edit 2\n');
  });

  it('makes no backup of a file that did not exist', async () => {
    const file = path.join(dir, 'fresh');
    const result = await writeFileAtomic(file, 'x', { backup: true });
    expect(result.backupPath).toBeUndefined();
    expect(await readdir(dir)).toEqual(['fresh']);
  });

  it('follows a symlinked profile to its target and keeps the link', async () => {
    const target = path.join(dir, 'dotfiles', 'bashrc');
    await mkdir(path.dirname(target));
    await writeFile(target, 'a\n');
    const link = path.join(dir, '.bashrc');
    await symlink(path.relative(dir, target), link);
    const result = await writeFileAtomic(link, 'b\n');
    expect(result.path).toBe(target);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(path.join('dotfiles', 'bashrc'));
    expect(await readFile(target, 'utf8')).toBe('b\n');
  });

  it('refuses a read-only file (also for root) and leaves it untouched', async () => {
    const file = path.join(dir, 'locked');
    await writeFile(file, 'keep\n');
    await chmod(file, 0o444);
    await expect(writeFileAtomic(file, 'lost\n')).rejects.toThrow(/read-only/);
    expect(await readFile(file, 'utf8')).toBe('keep\n');
    expect(await readdir(dir)).toEqual(['locked']);
  });

  it('refuses a directory and a symlink loop with one sentence', async () => {
    const sub = path.join(dir, 'sub');
    await mkdir(sub);
    await expect(writeFileAtomic(sub, 'x')).rejects.toThrow(UserError);
    await expect(writeFileAtomic(sub, 'x')).rejects.toThrow(/is a directory/);
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await symlink(b, a);
    await symlink(a, b);
    await expect(resolveTarget(a)).rejects.toThrow(/symlink loop/);
    await expect(writeFileAtomic(a, 'x')).rejects.toThrow(/symlink loop/);
  });

  it('reports a parent that is a file as a user error, changing nothing', async () => {
    const notDir = path.join(dir, 'plain');
    await writeFile(notDir, 'p');
    const error = await writeFileAtomic(path.join(notDir, 'child'), 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/Nothing was changed/);
    expect(await readFile(notDir, 'utf8')).toBe('p');
  });
});

describe('readTextIfExists and removeFile', () => {
  it('reads text, returns undefined for a missing file, refuses a directory', async () => {
    const file = path.join(dir, 'f');
    await writeFile(file, 'hello');
    expect(await readTextIfExists(file)).toBe('hello');
    expect(await readTextIfExists(path.join(dir, 'missing'))).toBeUndefined();
    await expect(readTextIfExists(dir)).rejects.toThrow(/is a directory/);
  });

  it('removes a file and says whether there was one', async () => {
    const file = path.join(dir, 'f');
    await writeFile(file, 'x');
    expect(await removeFile(file)).toBe(true);
    expect(await removeFile(file)).toBe(false);
  });
});

describe('parent folders', () => {
  it('are owner-only by default and take dirMode when given (e.g. a project’s .opencode/)', async () => {
    const own = path.join(dir, 'own', 'env.sh');
    await writeFileAtomic(own, 'x');
    expect(await mode(path.dirname(own))).toBe(0o700);
    const shared = path.join(dir, '.opencode', 'plugins', 'p.ts');
    await writeFileAtomic(shared, 'x', { dirMode: 0o755 });
    expect(await mode(path.dirname(shared))).toBe(0o755 & ~process.umask());
    expect(await mode(path.join(dir, '.opencode'))).toBe(0o755 & ~process.umask());
  });
});
