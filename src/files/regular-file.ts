/**
 * Only regular files are read or edited. A profile can be anything a path
 * can name: a FIFO (reading it waits forever for a writer), a character
 * device (replacing it would put a regular file where /dev/null was), a
 * socket. So every read starts with stat (which never opens), refuses
 * anything that is not a regular file with one sentence, and opens with
 * O_NONBLOCK, then checks with fstat that it opened the file it looked at.
 * Reads are bytes in: nothing is decoded here.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';

export type FileKind = 'missing' | 'file' | 'directory' | 'fifo' | 'character device' | 'block device' | 'socket' | 'unknown';

export interface FileState {
  /** The path asked for. */
  path: string;
  /** Where a write lands: the path with every symlink followed (also a dangling one). */
  realPath: string;
  kind: FileKind;
  /** stat of realPath, when something is there. */
  stat?: Stats;
}

export function kindOf(stat: Stats): FileKind {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isCharacterDevice()) return 'character device';
  if (stat.isBlockDevice()) return 'block device';
  if (stat.isSocket()) return 'socket';
  return 'unknown';
}

const KIND_WORDS: Record<FileKind, string> = {
  missing: 'missing',
  file: 'a regular file',
  directory: 'a directory',
  fifo: 'a FIFO (named pipe)',
  'character device': 'a character device',
  'block device': 'a block device',
  socket: 'a socket',
  unknown: 'not a regular file',
};

export const describeKind = (kind: FileKind) => KIND_WORDS[kind];

/** Refusal of a path that is not a regular file (callers that skip such files catch this class). */
export class NotRegularFileError extends UserError {}

/** The one sentence for "this path is not a regular file"; `verb` says what we were about to do. */
export function notRegularFile(state: FileState, label: string, verb: 'read' | 'edit' = 'edit'): NotRegularFileError {
  const via = state.realPath !== path.resolve(state.path) ? ` (it links to ${state.realPath})` : '';
  const what = describeKind(state.kind);
  const hint = 'Move it away (or point the link at a regular file) and run again.';
  if (verb === 'read') return new NotRegularFileError(`Cannot read ${label}: it is ${what}${via}, not a regular file.`, { hint });
  return new NotRegularFileError(`Cannot edit ${label}: it is ${what}${via}, not a regular file, and thirdloop only edits regular files. Nothing was changed.`, { hint });
}

/** Resolves symlinks (also dangling ones) so that we replace the target, not the link. */
export async function resolveTarget(file: string, label = file): Promise<string> {
  let current = path.resolve(file);
  for (let hops = 0; hops < 40; hops++) {
    let stat;
    try {
      stat = await fs.lstat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return current;
      throw describeFsError(error, label, 'read');
    }
    if (!stat.isSymbolicLink()) return current;
    current = path.resolve(path.dirname(current), await fs.readlink(current));
  }
  throw new UserError(`${label} is a symlink loop; fix or remove it and run again.`);
}

/** What is at `file`, following links, without opening anything. */
export async function inspect(file: string, label = file): Promise<FileState> {
  const realPath = await resolveTarget(file, label);
  try {
    const stat = await fs.stat(realPath);
    return { path: file, realPath, kind: kindOf(stat), stat };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { path: file, realPath, kind: 'missing' };
    // "a parent is a file" means nothing can be there: a path we may be asked to create.
    if (code === 'ENOTDIR') return { path: file, realPath, kind: 'missing' };
    throw describeFsError(error, label, 'read');
  }
}

export interface RegularFile extends FileState {
  kind: 'file';
  stat: Stats;
  bytes: Buffer;
  /** The permission bits a rewrite must keep (stat.mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
}

/** A file as read before an edit: its bytes and the mode and owner a rewrite keeps. */
export type ExistingFile = RegularFile;

// O_NONBLOCK: if the path was swapped for a FIFO after stat, open still returns at once.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/**
 * The bytes of a regular file; undefined when nothing is there. Anything
 * else (directory, FIFO, device, socket) is refused with one sentence,
 * without opening it.
 */
export async function readRegularFile(file: string, label = file, verb: 'read' | 'edit' = 'edit'): Promise<RegularFile | undefined> {
  const state = await inspect(file, label);
  if (state.kind === 'missing') return undefined;
  if (state.kind !== 'file') throw notRegularFile(state, label, verb);
  let handle;
  try {
    handle = await fs.open(state.realPath, READ_FLAGS);
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== state.stat!.ino || opened.dev !== state.stat!.dev) {
      throw notRegularFile({ ...state, kind: kindOf(opened) }, label, verb);
    }
    const bytes = await handle.readFile();
    return { ...state, kind: 'file', stat: opened, bytes, mode: opened.mode & 0o7777, uid: opened.uid, gid: opened.gid };
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw describeFsError(error, label, 'read');
  } finally {
    await handle?.close().catch(() => {});
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
            : code === 'EDQUOT'
              ? 'the disk quota is exceeded'
              : code === 'ELOOP'
                ? 'it is a symlink loop'
                : code === 'ENOTDIR'
                  ? 'a parent path is not a directory'
                  : code === 'ENXIO'
                    ? 'it is not a regular file'
                    : (code ?? 'unknown error');
  return new UserError(`Cannot ${verb} ${file}: ${reason}. Nothing was changed.`, { cause: error });
}
