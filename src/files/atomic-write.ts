/**
 * Safe edits of the user's files: either the old bytes or the new bytes are
 * on disk, never a truncated mix (write a temp file beside the target, fsync,
 * rename over it). A symlinked file is followed so the link survives, the
 * file's mode is kept, and the first edit leaves a backup of the original.
 */
import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { makeDirs } from '../core/paths.js';

export interface AtomicWriteOptions {
  /** Mode for a new file; an existing file keeps its own mode unless `forceMode`. */
  mode?: number;
  /** Apply `mode` even when the file exists (files that hold the secret: 0600). */
  forceMode?: boolean;
  /** Copy the original to `<file>.thirdloop-backup` before the first edit. */
  backup?: boolean;
  /** Mode for missing parent folders: owner-only by default; 0o755 inside a project others share. */
  dirMode?: number;
}

export interface AtomicWriteResult {
  /** The real path written (a symlink's target). */
  path: string;
  /** Set when this write made the backup. */
  backupPath?: string;
}

export const backupPathFor = (file: string) => `${file}.thirdloop-backup`;

/** Resolves symlinks (also dangling ones) so that we replace the target, not the link. */
export async function resolveTarget(file: string): Promise<string> {
  let current = path.resolve(file);
  for (let hops = 0; hops < 40; hops++) {
    let stat;
    try {
      stat = await fs.lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return current;
      throw describeFsError(error, file);
    }
    if (!stat.isSymbolicLink()) return current;
    current = path.resolve(path.dirname(current), await fs.readlink(current));
  }
  throw new UserError(`${file} is a symlink loop; fix or remove it and run again.`);
}

/** Reads a text file; undefined when it does not exist. */
export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw new UserError(`${file} is a directory, not a file.`);
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw describeFsError(error, file, 'read');
  }
}

export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<AtomicWriteResult> {
  const target = await resolveTarget(file);
  const dir = path.dirname(target);
  let existingMode: number | undefined;
  try {
    const stat = await fs.stat(target);
    if (stat.isDirectory()) throw new UserError(`${file} is a directory, not a file.`);
    existingMode = stat.mode & 0o7777;
    // Refuse read-only targets up front: rename would silently replace them.
    // The mode bit too, since access() says yes to root whatever the mode.
    if ((existingMode & 0o200) === 0) throw new UserError(`${file} is read-only; nothing was changed. Make it writable (chmod u+w) and run again.`);
    await fs.access(target, constants.W_OK);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw describeFsError(error, file);
  }

  try {
    makeDirs(dir, options.dirMode ?? 0o700);
  } catch (error) {
    throw describeFsError(error, dir);
  }

  const result: AtomicWriteResult = { path: target };
  if (options.backup && existingMode !== undefined) {
    const backup = backupPathFor(target);
    try {
      await fs.copyFile(target, backup, constants.COPYFILE_EXCL);
      await fs.chmod(backup, existingMode & 0o600);
      result.backupPath = backup;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(error, backup);
    }
  }

  const mode = options.forceMode || existingMode === undefined ? (options.mode ?? 0o644) : existingMode;
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle;
  try {
    handle = await fs.open(temp, 'wx', mode);
    await handle.writeFile(data);
    await handle.chmod(mode); // open() is subject to the umask
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.rm(temp, { force: true }).catch(() => {});
    throw describeFsError(error, file);
  }
  return result;
}

/** Removes a file we own; absent is fine. */
export async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw describeFsError(error, file);
  }
}

/** One sentence for a failed file operation; never a stack trace. */
export function describeFsError(error: unknown, file: string, verb: 'read' | 'write' = 'write'): UserError {
  if (error instanceof UserError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'EROFS'
        ? 'the file system is read-only'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'ENOSPC'
            ? 'the disk is full'
            : code === 'ELOOP'
              ? 'it is a symlink loop'
              : code === 'ENOTDIR'
                ? 'a parent path is not a directory'
                : (code ?? 'unknown error');
  return new UserError(`Cannot ${verb} ${file}: ${reason}. Nothing was changed.`, { cause: error });
}
