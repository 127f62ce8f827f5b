/**
 * Reading a file we may edit: only a regular file (after following links)
 * is read. A FIFO would block the read forever and a device is not ours to
 * replace, so anything else is refused at once with one sentence, before it
 * is opened. What is read comes back as bytes, with the mode and owner that
 * a later write must keep.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import { UserError } from '../core/errors.js';
import { describeFsError, resolveTarget } from './atomic-write.js';

export interface ExistingFile {
  /** The path asked for. */
  path: string;
  /** The real file (a symlink's target). */
  realPath: string;
  bytes: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/** What a non-regular file is, in words ("a FIFO", "a character device"…). */
export function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

export class NotRegularFileError extends UserError {}

export const notRegular = (label: string, stat: Stats) =>
  new NotRegularFileError(`${label} is ${kindOf(stat)}, not a regular file; thirdloop only edits regular files. Nothing was changed.`, {
    hint: `Replace ${label} with a regular file (or remove it) and run again.`,
  });

/** stat() of a path, undefined when it does not exist; errors are one sentence. */
export async function statIfExists(file: string, label: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new UserError(`Cannot use ${label}: a parent path is not a directory. Nothing was changed.`);
    throw describeFsError(error, label, 'read');
  }
}

/**
 * Reads a regular file's bytes, mode and owner; undefined when it does not
 * exist. Refuses directories, FIFOs, devices and sockets without opening them.
 */
export async function readRegularFile(file: string, label: string = file): Promise<ExistingFile | undefined> {
  const realPath = await resolveTarget(file);
  const stat = await statIfExists(realPath, label);
  if (!stat) return undefined;
  if (!stat.isFile()) throw notRegular(label, stat);
  let handle: fs.FileHandle | undefined;
  try {
    // O_NONBLOCK: should the path become a FIFO between stat and open, open does not wait for a writer.
    handle = await fs.open(realPath, constants.O_RDONLY | constants.O_NONBLOCK);
    const opened = await handle.stat();
    if (!opened.isFile()) throw notRegular(label, opened);
    const bytes = await handle.readFile();
    return { path: file, realPath, bytes, mode: opened.mode & 0o7777, uid: opened.uid, gid: opened.gid };
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw describeFsError(error, label, 'read');
  } finally {
    await handle?.close().catch(() => {});
  }
}
