/**
 * The files one run changes, written as a set: every target is checked
 * before the first write (a regular file after links, its owner, writable by
 * its mode bits, its folder writable), each file is replaced atomically
 * (temporary file, fsync, rename) with its mode and owner kept, and a failure
 * part-way puts back every file already written, so "Nothing was changed" is
 * said only when it is true.
 *
 * Why mode bits and not access(): root passes access() on any file, but a
 * file its owner made read-only is a decision we must not overwrite; and as
 * root in someone else's project, files we create belong to the folder's
 * owner, not to root, or the owner could no longer edit them.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { backupPathFor, describeFsError, resolveTarget } from './atomic-write.js';
import { notRegular, readRegularFile, statIfExists, type ExistingFile } from './regular-file.js';

export interface FileWrite {
  /** The path asked for; a symlink is followed and its target replaced. */
  path: string;
  /** How the file is named in messages. */
  label: string;
  /** What the file held when the run read it (undefined: it did not exist). */
  before: ExistingFile | undefined;
  /** The new bytes, or undefined to remove the file. */
  after: Buffer | undefined;
  /** Mode of a new file. */
  mode?: number;
  /** Mode of folders we create. */
  dirMode?: number;
  /** Keep an exact copy of `before` at `<file>.thirdloop-backup` unless one is there already. */
  backup?: boolean;
}

export interface WriteOutcome {
  path: string;
  /** The real path written. */
  realPath: string;
  /** Set when this run made the backup. */
  backupPath?: string;
}

interface Process {
  uid: number;
  groups: number[];
}

const currentProcess = (): Process => ({
  uid: typeof process.getuid === 'function' ? process.getuid() : -1,
  groups: typeof process.getgroups === 'function' ? process.getgroups() : [],
});

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

interface Planned {
  write: FileWrite;
  realPath: string;
  /** The folders to create, outermost first. */
  missingDirs: string[];
  /** As root: the owner for what we create (that of the nearest existing folder). */
  owner?: { uid: number; gid: number };
}

/** Checks one target; throws a sentence ending in "Nothing was changed." when it cannot be written. */
async function plan(write: FileWrite, proc: Process): Promise<Planned> {
  const { label } = write;
  const target =
    write.before?.realPath ??
    (await resolveTarget(write.path).catch((error: unknown) => {
      throw describeFsError(error instanceof UserError && error.cause ? error.cause : error, label);
    }));
  const blocked = (reason: string, hint?: string) => new UserError(`Cannot write ${label}: ${reason}. Nothing was changed.`, { hint });
  const root = proc.uid === 0;

  const stat = await statIfExists(target, label);
  if (stat && !stat.isFile()) throw notRegular(label, stat);
  if (stat) {
    const mode = stat.mode & 0o7777;
    if ((mode & 0o200) === 0) throw blocked(`it is read-only (mode ${octal(mode)})`, `Make it writable (chmod u+w ${label}) and run again.`);
    // No uid on Windows (-1): ownership is not ours to check there.
    if (!root && proc.uid !== -1 && stat.uid !== proc.uid) {
      throw blocked(`it belongs to another user (uid ${stat.uid}), and replacing it would make it yours`, 'Run as its owner.');
    }
    if (!root) {
      try {
        await fs.access(target, constants.W_OK);
      } catch (error) {
        throw describeFsError(error, label);
      }
    }
  }

  // The folder that will hold the file: the nearest one that exists, and what must be created under it.
  const missingDirs: string[] = [];
  let dir = path.dirname(target);
  for (;;) {
    const dirStat = await statIfExists(dir, label);
    if (dirStat) {
      if (!dirStat.isDirectory()) throw blocked(`${dir} is not a directory`);
      const dirMode = dirStat.mode & 0o7777;
      if (root && (dirMode & 0o200) === 0) throw blocked(`its folder ${dir} is read-only (mode ${octal(dirMode)})`);
      try {
        await fs.access(dir, constants.W_OK | constants.X_OK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw blocked(code === 'EROFS' ? 'the file system is read-only' : `its folder ${dir} is not writable`);
      }
      const planned: Planned = { write, realPath: target, missingDirs: missingDirs.reverse() };
      // As root, a new file or folder belongs to whoever owns the folder it is made in.
      if (root) planned.owner = { uid: dirStat.uid, gid: dirStat.gid };
      return planned;
    }
    missingDirs.push(dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw blocked('no folder on its path exists');
    dir = parent;
  }
}

/** The files we wrote so far, for the rollback. */
interface Done {
  planned: Planned;
  createdDirs: string[];
  backupPath?: string;
  wrote: boolean;
}

async function writeBytes(
  target: string,
  bytes: Buffer,
  mode: number,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', mode & 0o777);
    await handle.writeFile(bytes);
    if (owner) await handle.chown(owner.uid, owner.gid);
    await handle.chmod(mode); // after chown, which clears setuid/setgid bits; open() is subject to the umask
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.rm(temp, { force: true }).catch(() => {});
    throw error;
  }
}

async function makeDirs(dirs: string[], mode: number, owner: { uid: number; gid: number } | undefined, created: string[]) {
  for (const dir of dirs) {
    try {
      await fs.mkdir(dir, { mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await fs.stat(dir)).isDirectory()) continue;
      throw error;
    }
    created.push(dir);
    await fs.chmod(dir, mode);
    if (owner) await fs.chown(dir, owner.uid, owner.gid);
  }
}

async function apply(p: Planned, done: Done, proc: Process): Promise<void> {
  const { write, realPath } = p;
  // The file must still hold what we planned from: an edit made meanwhile is not ours to overwrite.
  const now = await readRegularFile(realPath, write.label);
  const same = now === undefined ? write.before === undefined : write.before !== undefined && now.bytes.equals(write.before.bytes);
  if (!same) throw new UserError(`${write.label} changed while thirdloop was running; run again.`);

  await makeDirs(p.missingDirs, write.dirMode ?? 0o755, p.owner, done.createdDirs);
  if (write.after === undefined) {
    if (now) await fs.unlink(realPath);
    done.wrote = true;
    return;
  }
  if (write.backup && now) {
    const backup = backupPathFor(realPath);
    try {
      const handle = await fs.open(backup, 'wx', 0o600);
      try {
        await handle.writeFile(now.bytes);
        if (proc.uid === 0) await handle.chown(now.uid, now.gid);
        await handle.chmod(now.mode & 0o600);
        await handle.sync();
      } finally {
        await handle.close();
      }
      done.backupPath = backup;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const mode = now ? now.mode : (write.mode ?? 0o644);
  // As root, the file keeps its owner; as its owner, it keeps its group when that is one of ours (a shared project).
  const owner =
    proc.uid === 0
      ? now
        ? { uid: now.uid, gid: now.gid }
        : p.owner
      : now && proc.uid !== -1 && proc.groups.includes(now.gid)
        ? { uid: proc.uid, gid: now.gid }
        : undefined;
  await writeBytes(realPath, write.after, mode, owner);
  done.wrote = true;
}

async function undoOne(done: Done, proc: Process): Promise<void> {
  const { write, realPath } = done.planned;
  if (done.wrote) {
    const before = write.before;
    if (before) {
      const keep = proc.uid === 0 || (proc.uid !== -1 && proc.groups.includes(before.gid));
      await writeBytes(realPath, before.bytes, before.mode, keep ? { uid: proc.uid === 0 ? before.uid : proc.uid, gid: before.gid } : undefined);
    } else {
      await fs.rm(realPath, { force: true });
    }
  }
  if (done.backupPath) await fs.rm(done.backupPath, { force: true });
  for (const dir of [...done.createdDirs].reverse()) await fs.rmdir(dir);
}

/**
 * Writes every file of the set, or none: all are checked first, and a
 * failure puts back those already written before the error is thrown.
 */
export async function writeFileSet(writes: FileWrite[], proc: Process = currentProcess()): Promise<WriteOutcome[]> {
  const planned: Planned[] = [];
  for (const write of writes) planned.push(await plan(write, proc));

  const done: Done[] = [];
  for (const p of planned) {
    const entry: Done = { planned: p, createdDirs: [], wrote: false };
    done.push(entry);
    try {
      await apply(p, entry, proc);
    } catch (error) {
      const failures: string[] = [];
      for (const d of [...done].reverse()) {
        try {
          await undoOne(d, proc);
        } catch (undoError) {
          failures.push(`${d.planned.write.label} (${(undoError as Error).message})`);
        }
      }
      const first = error instanceof UserError ? error : describeFsError(error, p.write.label);
      if (failures.length === 0) {
        const message = /Nothing was changed\.$/.test(first.message) ? first.message : `${first.message.replace(/\.?$/, '.')} Nothing was changed.`;
        throw new UserError(message, { hint: first.hint, cause: error });
      }
      throw new UserError(
        `${first.message.replace(/\s*Nothing was changed\.$/, '')} Putting back what was already written failed for ${failures.join(', ')}.`,
        { cause: error },
      );
    }
  }
  return done.map((d) => ({ path: d.planned.write.path, realPath: d.planned.realPath, ...(d.backupPath ? { backupPath: d.backupPath } : {}) }));
}

/** Only the checks of writeFileSet, for a run that must refuse before doing anything else (e.g. asking). */
export async function checkFileSet(writes: FileWrite[], proc: Process = currentProcess()): Promise<void> {
  for (const write of writes) await plan(write, proc);
}
