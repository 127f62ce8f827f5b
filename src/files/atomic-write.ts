/**
 * Safe edits of the user's files: either the old bytes or the new bytes are
 * on disk, never a truncated mix (write a temp file beside the target, fsync,
 * rename over it). A symlinked file is followed so the link survives; only a
 * regular file is ever replaced (never a device or a FIFO); the file's mode,
 * owner and group are kept; new files and folders in someone else's home go
 * to its owner; the first edit can leave a backup of the original.
 */
import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { currentIdentity, isRoot, mayWrite, type Owner } from './ownership.js';
import { describeFsError, inspect, notRegularFile, readRegularFile, resolveTarget } from './regular-file.js';

export { describeFsError, resolveTarget } from './regular-file.js';

export interface AtomicWriteOptions {
  /** Mode for a new file; an existing file keeps its own mode unless `forceMode`. */
  mode?: number;
  /** Apply `mode` even when the file exists (files that hold the secret: 0600). */
  forceMode?: boolean;
  /** Copy the original to `<file>.thirdloop-backup` before the first edit. */
  backup?: boolean;
  /** Mode for missing parent folders: owner-only by default; 0o755 inside a project others share. */
  dirMode?: number;
  /** Owner of a new file, its backup and new folders (root writing in someone else's home). */
  owner?: Owner;
  /** Shown in messages instead of the path (e.g. ~/.bashrc). */
  label?: string;
}

export interface AtomicWriteResult {
  /** The real path written (a symlink's target). */
  path: string;
  /** The file did not exist before. */
  created: boolean;
  /** Set when this write made the backup. */
  backupPath?: string;
  /** Folders this write created, outermost first. */
  createdDirs: string[];
}

export const backupPathFor = (file: string) => `${file}.thirdloop-backup`;

/** Reads a text file (UTF-8); undefined when it does not exist; anything but a regular file is refused. */
export async function readTextIfExists(file: string): Promise<string | undefined> {
  const found = await readRegularFile(file, file, 'read');
  return found?.bytes.toString('utf8');
}

/**
 * `mkdir -p` that reports what it created (to hand it to the home's owner
 * or take it back) and fails where Node's recursive mkdir spins forever: a
 * folder that exists but refuses a new entry with ENOENT (e.g. under /proc).
 */
export async function createDirs(dir: string, mode: number, owner?: Owner): Promise<string[]> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    let stat;
    try {
      stat = await fs.stat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (stat) {
      if (!stat.isDirectory()) throw Object.assign(new Error(`${current} is not a directory`), { code: 'ENOTDIR' });
      break;
    }
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  const created: string[] = [];
  for (const folder of missing) {
    try {
      await fs.mkdir(folder, { mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await fs.stat(folder)).isDirectory()) continue;
      throw error;
    }
    created.push(folder);
    await fs.chmod(folder, mode); // mkdir is subject to the umask
    if (owner) await fs.chown(folder, owner.uid, owner.gid);
  }
  return created;
}

export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<AtomicWriteResult> {
  const label = options.label ?? file;
  const state = await inspect(file, label);
  const target = state.realPath;
  const dir = path.dirname(target);
  if (state.kind === 'directory') throw new UserError(`${label} is a directory, not a file.`);
  if (state.kind !== 'missing' && state.kind !== 'file') throw notRegularFile(state, label);
  const existing = state.stat;
  const who = currentIdentity();
  // Refuse read-only targets up front: rename would silently replace them.
  // By the mode bits, since access() says yes to root whatever the mode.
  if (existing && !mayWrite(existing, who)) {
    throw new UserError(`${label} is read-only; nothing was changed. Make it writable (chmod u+w) and run again.`);
  }

  let createdDirs: string[];
  try {
    createdDirs = await createDirs(dir, options.dirMode ?? 0o700, existing ? undefined : options.owner);
  } catch (error) {
    throw describeFsError(error, dir);
  }

  const result: AtomicWriteResult = { path: target, created: !existing, createdDirs };
  const existingMode = existing ? existing.mode & 0o7777 : undefined;
  if (options.backup && existing) {
    const backup = backupPathFor(target);
    try {
      await fs.copyFile(target, backup, constants.COPYFILE_EXCL);
      await fs.chmod(backup, existingMode! & 0o600);
      if (isRoot(who)) await fs.chown(backup, existing.uid, existing.gid);
      result.backupPath = backup;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(error, backup);
    }
  }

  const mode = options.forceMode || existingMode === undefined ? (options.mode ?? 0o644) : existingMode;
  // The file's owner and group survive the rename: root can give any; a user keeps a group they are in.
  const owner = existing ? { uid: existing.uid, gid: existing.gid } : options.owner;
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await fs.open(temp, 'wx', mode & 0o777);
    await handle.writeFile(data);
    if (owner && who && (owner.uid !== who.uid || owner.gid !== who.gid)) {
      await handle.chown(isRoot(who) ? owner.uid : who.uid, owner.gid).catch((error: NodeJS.ErrnoException) => {
        // A group we are not in cannot be given; the check before writing says so.
        if (isRoot(who) || error.code !== 'EPERM') throw error;
      });
    }
    await handle.chmod(mode); // open() is subject to the umask; chown clears set-id bits
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.rm(temp, { force: true }).catch(() => {});
    // The file was not replaced: a backup made for this write is not a backup of anything.
    if (result.backupPath) await fs.rm(result.backupPath, { force: true }).catch(() => {});
    throw describeFsError(error, label);
  }
  await removeStaleTemps(dir, path.basename(target));
  return result;
}

/** Temporary files older than this were left by a run that was killed (SIGKILL, power loss), not by one in progress. */
const STALE_TEMP_MS = 10 * 60_000;

/**
 * A run killed between writing its temporary file and renaming it leaves
 * `.<name>.<hex>.tmp` beside the file, holding what was about to be written
 * (for an env file: the key, if in a 0600 file). The next write of the same
 * file removes such leftovers of its own name; best effort, never an error.
 */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  try {
    const prefix = `.${base}.`;
    const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
    for (const name of await fs.readdir(dir)) {
      if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) continue;
      const file = path.join(dir, name);
      const stat = await fs.lstat(file);
      if (!stat.isFile() || (uid !== undefined && uid !== 0 && stat.uid !== uid)) continue;
      if (Date.now() - stat.mtimeMs > STALE_TEMP_MS) await fs.unlink(file);
    }
  } catch {
    // A folder we cannot list keeps its leftovers; the write itself succeeded.
  }
}

/** Removes a file we own; absent is fine. Never removes anything but a regular file or a link to one. */
export async function removeFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.lstat(file);
    if (stat.isDirectory()) throw new UserError(`Cannot remove ${file}: it is a directory. Nothing was changed.`);
    await fs.unlink(file);
    return true;
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw describeFsError(error, file);
  }
}

