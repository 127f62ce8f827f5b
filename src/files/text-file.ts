/**
 * Files edited as text (JSON settings) that must still go back byte for
 * byte: read the bytes of a regular file, decode them in the encoding they
 * are in (UTF-8, UTF-16 LE with its BOM as Windows PowerShell 5 saves, or —
 * for anything else — Latin-1, which maps every byte to one character and
 * back), and encode the same way. Shell profiles are not decoded at all
 * (files/byte-text).
 */
import { UserError } from '../core/errors.js';
import { readRegularFile } from './regular-file.js';

export type TextEncoding = 'utf8' | 'utf16le' | 'latin1';

export interface TextFile {
  /** The path asked for. */
  path: string;
  /** The real file (a symlink's target). */
  realPath: string;
  text: string;
  encoding: TextEncoding;
  mode: number;
  uid: number;
  gid: number;
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

/** Reads a regular file we are about to edit; undefined when it does not exist. Errors are one sentence. */
export async function readTextFile(file: string, label = file): Promise<TextFile | undefined> {
  const found = await readRegularFile(file, label);
  if (!found) return undefined;
  const decoded = decodeText(found.bytes);
  // A NUL is never in a shell profile or a JSON settings file: it is binary, not ours to append to.
  if (decoded.encoding !== 'utf16le' && decoded.text.includes('\u0000')) {
    throw new UserError(`Cannot edit ${label}: it contains NUL bytes, so it is not a text file. Nothing was changed.`);
  }
  return {
    path: file,
    realPath: found.realPath,
    ...decoded,
    mode: found.stat.mode & 0o7777,
    uid: found.stat.uid,
    gid: found.stat.gid,
  };
}
