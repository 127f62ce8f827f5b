/**
 * Profiles are edited as text but must go back byte for byte: read the
 * bytes, decode them in the encoding they are in (UTF-8, UTF-16 LE with its
 * BOM as Windows PowerShell 5 saves, or — for anything else — Latin-1, which
 * maps every byte to one character and back), and encode the same way.
 */
import { promises as fs } from 'node:fs';
import { describeFsError, resolveTarget } from '../files/atomic-write.js';
import { UserError } from '../core/errors.js';

export type TextEncoding = 'utf8' | 'utf16le' | 'latin1';

export interface TextFile {
  /** The path asked for. */
  path: string;
  /** The real file (a symlink's target). */
  realPath: string;
  text: string;
  encoding: TextEncoding;
  mode: number;
}

export function decodeText(bytes: Uint8Array): { text: string; encoding: TextEncoding } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length >= 2 && buffer[0] === 0xff && buffer[1] === 0xfe && buffer.length % 2 === 0) {
    return { text: buffer.toString('utf16le'), encoding: 'utf16le' };
  }
  try {
    // ignoreBOM: keep a BOM as U+FEFF so it is written back.
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buffer), encoding: 'utf8' };
  } catch {
    return { text: buffer.toString('latin1'), encoding: 'latin1' };
  }
}

export const encodeText = (text: string, encoding: TextEncoding): Buffer => Buffer.from(text, encoding);

/** Reads a file we are about to edit; undefined when it does not exist. Errors are one sentence. */
export async function readTextFile(file: string): Promise<TextFile | undefined> {
  const realPath = await resolveTarget(file);
  try {
    const stat = await fs.stat(realPath);
    if (stat.isDirectory()) throw new UserError(`Cannot read ${file}: it is a directory. Nothing was changed.`);
    const bytes = await fs.readFile(realPath);
    const decoded = decodeText(bytes);
    // A NUL is never in a shell profile or a JSON settings file: it is binary, not ours to append to.
    if (decoded.encoding !== 'utf16le' && decoded.text.includes('\u0000')) {
      throw new UserError(`Cannot edit ${file}: it contains NUL bytes, so it is not a text file. Nothing was changed.`);
    }
    return { path: file, realPath, ...decoded, mode: stat.mode & 0o7777 };
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw describeFsError(error, file, 'read');
  }
}
