/**
 * Bytes in, bytes out for files we edit as text (opencode.json, AGENTS.md).
 * A file that is valid UTF-8 is decoded as UTF-8 (and encodes back to the
 * same bytes); anything else is decoded byte for byte (Latin-1: one
 * character per byte), so every untouched byte goes back exactly, whatever
 * the encoding. What we insert into such a file is first turned into its
 * UTF-8 bytes, so our own text is UTF-8 in every file. Pure: no fs.
 */

/** `utf8`: the file is valid UTF-8; `bytes`: it is not, and each character stands for one byte. */
export type TextEncoding = 'utf8' | 'bytes';

export interface DecodedText {
  text: string;
  encoding: TextEncoding;
}

const BOM_BYTES = [0xef, 0xbb, 0xbf];
const BOM = '\uFEFF';

const startsWithBom = (bytes: Uint8Array) => bytes.length >= 3 && BOM_BYTES.every((b, i) => bytes[i] === b);

export function decodeExact(bytes: Uint8Array): DecodedText {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    // fatal: a single invalid sequence means "not UTF-8"; ignoreBOM keeps a BOM as U+FEFF so it is written back.
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buffer), encoding: 'utf8' };
  } catch {
    // A UTF-8 BOM stays one character, so the JSONC layer still sees (and skips) a BOM.
    if (startsWithBom(buffer)) return { text: BOM + buffer.subarray(3).toString('latin1'), encoding: 'bytes' };
    return { text: buffer.toString('latin1'), encoding: 'bytes' };
  }
}

export function encodeExact({ text, encoding }: DecodedText): Buffer {
  if (encoding === 'utf8') return Buffer.from(text, 'utf8');
  const bom = text.startsWith(BOM);
  const body = bom ? text.slice(1) : text;
  // Every character stands for one byte here; a wider one would be silently truncated by latin1.
  for (let i = 0; i < body.length; i++) {
    if (body.charCodeAt(i) > 0xff) throw new Error(`internal: character U+${body.charCodeAt(i).toString(16)} in a byte-for-byte text`);
  }
  const out = Buffer.from(body, 'latin1');
  return bom ? Buffer.concat([Buffer.from(BOM_BYTES), out]) : out;
}

/** A string as it must appear in a text of `encoding` so that it is written as UTF-8. */
export function insertableString(value: string, encoding: TextEncoding): string {
  return encoding === 'utf8' ? value : Buffer.from(value, 'utf8').toString('latin1');
}

/** A JSON value (strings and keys, deeply) ready to be inserted into a text of `encoding`. */
export function insertableValue<T>(value: T, encoding: TextEncoding): T {
  if (encoding === 'utf8') return value;
  const map = (v: unknown): unknown => {
    if (typeof v === 'string') return insertableString(v, encoding);
    if (Array.isArray(v)) return v.map(map);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [insertableString(k, encoding), map(x)]));
    }
    return v;
  };
  return map(value) as T;
}
