/**
 * Files edited as text (JSON settings) that must still go back byte for
 * byte: read the bytes of a regular file, decode them in the encoding they
 * are in (UTF-16 LE with its BOM as Windows PowerShell 5 saves; otherwise
 * files/exact-text's rule: UTF-8 when valid, else one character per byte),
 * and encode the same way. Shell profiles are not decoded at all
 * (files/byte-text).
 */
import { UserError } from '../core/errors.js';
import { decodeExact, encodeExact, insertableString } from './exact-text.js';
import { readRegularFile } from './regular-file.js';

/** `bytes`: not UTF-8, each character stands for one byte (files/exact-text). */
export type TextEncoding = 'utf8' | 'utf16le' | 'bytes';

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
  return decodeExact(buffer);
}

/** Back to bytes; in a byte-for-byte text, what we added (wider than a byte) goes in as UTF-8. */
export function encodeText(text: string, encoding: TextEncoding): Buffer {
  if (encoding === 'utf16le') return Buffer.from(text, 'utf16le');
  if (encoding === 'bytes') return encodeExact({ text: text.replace(/[^\u0000-\u00ff]+/g, (added) => insertableString(added, 'bytes')), encoding });
  return encodeExact({ text, encoding });
}

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
    mode: found.mode,
    uid: found.uid,
    gid: found.gid,
  };
}
