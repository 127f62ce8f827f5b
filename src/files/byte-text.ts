/**
 * A file's bytes as a string, without decoding them: each byte becomes the
 * character with that code (Latin-1), so whatever the file holds (UTF-8,
 * Latin-1, broken UTF-8, a BOM) goes back byte for byte, and ASCII markers
 * and shell syntax are found where they are. A UTF-16 LE file (with its BOM,
 * as Windows PowerShell 5.1 saves) is seen as UTF-16 code units instead,
 * since there every ASCII character is two bytes wide.
 *
 * Text we add is UTF-8 (UTF-16 in a UTF-16 file): `ours()` turns it into
 * what those bytes look like in the view. Pure.
 */
import { insertableString } from './exact-text.js';

export type ByteEncoding = 'bytes' | 'utf16le';

export interface ByteText {
  text: string;
  encoding: ByteEncoding;
}

/** The UTF-8 BOM as it appears in a byte view. */
export const UTF8_BOM_VIEW = '\u00ef\u00bb\u00bf';

export function fromBytes(bytes: Uint8Array): ByteText {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length >= 2 && buffer[0] === 0xff && buffer[1] === 0xfe && buffer.length % 2 === 0) {
    return { text: buffer.toString('utf16le'), encoding: 'utf16le' };
  }
  return { text: buffer.toString('latin1'), encoding: 'bytes' };
}

export const toBytes = (view: ByteText): Buffer => Buffer.from(view.text, view.encoding === 'utf16le' ? 'utf16le' : 'latin1');

/** Our text as it appears in the view of a file with this encoding (UTF-8 bytes, or UTF-16). */
export const ours = (text: string, encoding: ByteEncoding): string =>
  encoding === 'utf16le' ? text : insertableString(text, 'bytes');

/** A piece of the view, readable in a message (the bytes read as UTF-8). */
export const readable = (text: string, encoding: ByteEncoding): string =>
  encoding === 'utf16le' ? text : Buffer.from(text, 'latin1').toString('utf8');
