/**
 * The file-safety layer (src/files/) on real files: only regular files are
 * read or replaced (a FIFO is never opened, a device never replaced),
 * writability by mode bits and owner (not access(), which says yes to
 * root), owners and groups kept, new files given to the home's owner, a
 * transaction that checks every target first and puts everything back
 * when a step fails, and the record of what was created.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { readTextIfExists, writeFileAtomic } from '../../src/files/atomic-write.js';
import { dropEdit, findEdit, mergeEdit, readEdits, writeEdits } from '../../src/files/edit-log.js';
import { canKeepOwner, mayWrite } from '../../src/files/ownership.js';
import { inspect, readRegularFile } from '../../src/files/regular-file.js';
import { FileTransaction } from '../../src/files/transaction.js';
import { canChattr } from '../robustness/tree.js';

const isRoot = process.getuid?.() === 0;
const OTHER = 4321;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'thirdloop-files-'));
});
afterEach(() => {
  execFileSync('chmod', ['-R', 'u+w', dir]);
  rmSync(dir, { recursive: true, force: true });
});
const at = (...parts: string[]) => path.join(dir, ...parts);

describe('regular files only', () => {
  it('refuses a FIFO at once, without opening it, for reading and for writing', async () => {
    const fifo = at('.bashrc');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    await expect(readRegularFile(fifo, '~/.bashrc')).rejects.toThrow('Cannot edit ~/.bashrc: it is a FIFO (named pipe), not a regular file');
    await expect(readTextIfExists(fifo)).rejects.toThrow(/FIFO/);
    await expect(writeFileAtomic(fifo, 'x', { label: '~/.bashrc' })).rejects.toThrow(/FIFO/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('never replaces a device a profile links to', async () => {
    const link = at('.bashrc');
    symlinkSync('/dev/null', link);
    expect((await inspect(link)).kind).toBe('character device');
    await expect(writeFileAtomic(link, 'x', { label: '~/.bashrc' })).rejects.toThrow('Cannot edit ~/.bashrc: it is a character device (it links to /dev/null)');
    const tx = new FileTransaction().write(link, Buffer.from('x'), { label: '~/.bashrc' });
    await expect(tx.check()).rejects.toThrow(/character device/);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('reads bytes as they are', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0xe9, 0x0d, 0x0a]);
    writeFileSync(at('f'), bytes);
    expect((await readRegularFile(at('f')))!.bytes.equals(bytes)).toBe(true);
    expect(await readRegularFile(at('missing'))).toBeUndefined();
  });
});

describe('writability by mode bits and owner', () => {
  const stat = (mode: number, uid = 1000, gid = 1000) => ({ mode, uid, gid });
  const user = { uid: 1000, gid: 1000, groups: [] };
  const root = { uid: 0, gid: 0, groups: [] };

  it('root is refused what nobody may write; others get what their class allows', () => {
    expect(mayWrite(stat(0o644), root)).toBe(true);
    expect(mayWrite(stat(0o444), root)).toBe(false);
    expect(mayWrite(stat(0o555), root, true)).toBe(false);
    expect(mayWrite(stat(0o644), user)).toBe(true);
    expect(mayWrite(stat(0o464), user)).toBe(false); // the owner class decides, even if the group may
    expect(mayWrite(stat(0o664, 2000, 1000), user)).toBe(true);
    expect(mayWrite(stat(0o644, 2000, 2000), user)).toBe(false);
    expect(mayWrite(stat(0o755), user, true)).toBe(true);
    expect(mayWrite(stat(0o655), user, true)).toBe(false); // no search bit
  });

  it('only root can keep someone else’s owner', () => {
    expect(canKeepOwner({ uid: 2000, gid: 2000 }, root)).toBe(true);
    expect(canKeepOwner({ uid: 2000, gid: 1000 }, user)).toBe(false);
    expect(canKeepOwner({ uid: 1000, gid: 3000 }, { ...user, groups: [3000] })).toBe(true);
  });

  it.skipIf(!isRoot)('as root, a 0444 file and a 0555 folder are refused although access() allows them', async () => {
    writeFileSync(at('locked'), 'keep\n');
    chmodSync(at('locked'), 0o444);
    mkdirSync(at('store'));
    writeFileSync(at('store', 'zshrc'), 'x\n');
    chmodSync(at('store'), 0o555);
    const tx = new FileTransaction().write(at('locked'), Buffer.from('lost')).write(at('store', 'zshrc'), Buffer.from('y'));
    const problems = await tx.problems();
    expect(problems.map((p) => p.error.message)).toEqual([
      `Cannot edit ${at('locked')}: it is read-only (mode 0444). Nothing was changed.`,
      `Cannot edit ${at('store', 'zshrc')}: its folder ${at('store')} is not writable. Nothing was changed.`,
    ]);
    expect(readFileSync(at('locked'), 'utf8')).toBe('keep\n');
  });
});

describe.skipIf(!isRoot)('owners, as root in someone else’s home', () => {
  it('a replaced file keeps its owner, group and mode; a new file and its folders go to the given owner', async () => {
    chmodSync(dir, 0o755);
    writeFileSync(at('.bashrc'), 'a\n');
    chownSync(at('.bashrc'), OTHER, OTHER + 1);
    chmodSync(at('.bashrc'), 0o640);
    await writeFileAtomic(at('.bashrc'), 'b\n', { backup: true });
    expect(statSync(at('.bashrc'))).toMatchObject({ uid: OTHER, gid: OTHER + 1 });
    expect(statSync(at('.bashrc')).mode & 0o777).toBe(0o640);
    expect(statSync(`${at('.bashrc')}.thirdloop-backup`)).toMatchObject({ uid: OTHER, gid: OTHER + 1 });
    const result = await writeFileAtomic(at('.config', 'thirdloop', 'env.sh'), 'x', { mode: 0o600, owner: { uid: OTHER, gid: OTHER } });
    expect(result.createdDirs).toEqual([at('.config'), at('.config', 'thirdloop')]);
    for (const p of [at('.config'), at('.config', 'thirdloop'), at('.config', 'thirdloop', 'env.sh')]) expect(statSync(p)).toMatchObject({ uid: OTHER, gid: OTHER });
    // As that user, the new file is readable.
    expect(execFileSync('setpriv', [`--reuid=${OTHER}`, `--regid=${OTHER}`, '--clear-groups', 'cat', at('.config', 'thirdloop', 'env.sh')], { encoding: 'utf8' })).toBe('x');
  });
});

describe('transactions', () => {
  it('check() names the first target that cannot be written, before anything is written', async () => {
    writeFileSync(at('a'), 'a\n');
    writeFileSync(at('plain'), 'p');
    const tx = new FileTransaction().write(at('a'), Buffer.from('A\n')).write(at('plain', 'child'), Buffer.from('x'), { label: '~/plain/child' });
    await expect(tx.check()).rejects.toThrow('Cannot create ~/plain/child: ' + at('plain') + ' is a regular file, not a folder. Nothing was changed.');
    expect(readFileSync(at('a'), 'utf8')).toBe('a\n');
  });

  it('a failure part-way puts back every byte, mode and owner written so far, and removes what it created', async () => {
    writeFileSync(at('a'), 'original\n');
    chmodSync(at('a'), 0o640);
    mkdirSync(at('later'));
    const tx = new FileTransaction()
      .write(at('a'), Buffer.from('changed\n'), { backup: true })
      .write(at('new', 'deep', 'b'), Buffer.from('b'))
      .write(at('later', 'c'), Buffer.from('c'));
    await tx.check();
    // Something changes under our feet between the check and the write.
    rmSync(at('later'), { recursive: true });
    writeFileSync(at('later'), 'now a file');
    const error = (await tx.commit().catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`Cannot write ${at('later')}: a parent path is not a directory. Nothing was changed.`);
    expect(readFileSync(at('a'), 'utf8')).toBe('original\n');
    expect(statSync(at('a')).mode & 0o777).toBe(0o640);
    expect(existsSync(`${at('a')}.thirdloop-backup`)).toBe(false);
    expect(existsSync(at('new'))).toBe(false);
  });

  it.skipIf(!canChattr())('an immutable file (chattr +i), which mode bits cannot show, is refused before anything is written; a failed write leaves no backup', async () => {
    writeFileSync(at('a'), 'a\n');
    writeFileSync(at('locked'), 'keep\n');
    execFileSync('chattr', ['+i', at('locked')]);
    try {
      const tx = new FileTransaction().write(at('a'), Buffer.from('A\n'), { backup: true }).write(at('locked'), Buffer.from('lost'), { backup: true });
      await expect(tx.check()).rejects.toThrow(`Cannot edit ${at('locked')}: it is read-only. Nothing was changed.`);
      await expect(writeFileAtomic(at('locked'), 'lost', { backup: true })).rejects.toThrow(/permission denied/);
      expect(existsSync(`${at('locked')}.thirdloop-backup`)).toBe(false);
      expect(readFileSync(at('a'), 'utf8')).toBe('a\n');
    } finally {
      execFileSync('chattr', ['-i', at('locked')]);
    }
  });

  it('rolls back only the steps whose tags all failed', async () => {
    writeFileSync(at('bashrc'), 'b\n');
    const tx = new FileTransaction()
      .write(at('env.sh'), Buffer.from('env'), { tags: ['bash', 'zsh'] })
      .write(at('bashrc'), Buffer.from('b2\n'), { tags: ['bash'] })
      .write(at('zshenv'), Buffer.from('z\n'), { tags: ['zsh'] });
    await tx.check();
    await tx.commit();
    await tx.rollback((tags) => tags.every((t) => t === 'zsh'));
    expect(existsSync(at('zshenv'))).toBe(false);
    expect(readFileSync(at('env.sh'), 'utf8')).toBe('env');
    expect(readFileSync(at('bashrc'), 'utf8')).toBe('b2\n');
    await tx.rollback();
    expect(readFileSync(at('bashrc'), 'utf8')).toBe('b\n');
    expect(existsSync(at('env.sh'))).toBe(false);
  });
});

describe('the edit record', () => {
  it('keeps what the first run found, and survives garbage in the config', () => {
    const store = new Map<string, unknown>();
    const config = { get: <T>(k: string) => store.get(k) as T, set: (k: string, v: unknown) => (v === undefined ? store.delete(k) : store.set(k, v)) };
    let edits = mergeEdit([], { path: '/h/.zshenv', created: true, separator: '\n', tags: ['zsh'] });
    edits = mergeEdit(edits, { path: '/h/.zshenv', created: false, tags: ['zsh'] });
    expect(findEdit(edits, { path: '/h/.zshenv' })).toEqual({ path: '/h/.zshenv', created: true, separator: '\n', tags: ['zsh'] });
    writeEdits(config, 'shells', edits);
    expect(readEdits(config, 'shells')).toEqual(edits);
    writeEdits(config, 'shells', dropEdit(edits, { path: '/h/.zshenv' }));
    expect(store.has('edits.shells')).toBe(false);
    store.set('edits.shells', [{ path: 1 }, 'x', { path: '/h/.bashrc', created: false, tags: ['bash'] }]);
    expect(readEdits(config, 'shells')).toEqual([{ path: '/h/.bashrc', created: false, tags: ['bash'] }]);
  });
});
