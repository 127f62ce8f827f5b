/**
 * The client credential `<api_key_id>;<api_secret_key>`, checked offline so a
 * typo or a truncated paste is caught before any request. Mirrors the token
 * format of the server's domain module (docs/api.md) without importing it.
 */
import { UserError, ExitCode } from './errors.js';

export const KEY_ID_PREFIX = 'tlk_';
export const SECRET_PREFIX = 'tls_';

/** key ID `tlk_<24 base62>`; secret `tls_<32 base62 random><6 base62 CRC-32 of the random part>`. */
const KEY_ID = /^tlk_[0-9A-Za-z]{24}$/;
const SECRET = /^tls_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

export interface Credential {
  id: string;
  secret: string;
}

export const isKeyId = (value: string) => KEY_ID.test(value);

/** True when the secret has the prefix, alphabet and a valid checksum. */
export function isSecret(value: string): boolean {
  return SECRET.test(value) && checksumOk(value);
}

/** Parses `<id>;<secret>`; throws a UserError that never echoes the secret. */
export function parseCredential(text: string, origin = 'The credential'): Credential {
  const trimmed = text.trim();
  const separator = trimmed.indexOf(';');
  if (separator < 0) {
    throw new UserError(`${origin} is not in the form <api_key_id>;<api_secret_key>.`, { exitCode: ExitCode.usage });
  }
  const id = trimmed.slice(0, separator).trim();
  const secret = trimmed.slice(separator + 1).trim();
  if (!isKeyId(id)) {
    throw new UserError(`${origin} does not start with a Third Loop key ID (${KEY_ID_PREFIX}…).`, {
      exitCode: ExitCode.usage,
    });
  }
  if (!SECRET.test(secret)) {
    throw new UserError(`${origin} does not contain a Third Loop secret key (${SECRET_PREFIX}…) after the ";".`, {
      exitCode: ExitCode.usage,
    });
  }
  if (!checksumOk(secret)) {
    throw new UserError(`${origin} has a secret key whose checksum does not match: it was probably cut or mistyped.`, {
      exitCode: ExitCode.usage,
    });
  }
  return { id, secret };
}

export const formatCredential = ({ id, secret }: Credential) => `${id};${secret}`;

/** Redacts anything that looks like a secret key in a string (for --debug and errors). */
export function redactSecrets(text: string): string {
  return text.replace(/tls_[A-Za-z0-9]+/g, 'tls_***');
}

// ---- checksum (GitHub-style: CRC-32 of the random part, base62, 6 chars) ----

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function secretChecksum(randomPart: string): string {
  let n = crc32(randomPart);
  let out = '';
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(6, '0');
}

function checksumOk(secret: string): boolean {
  const m = SECRET.exec(secret);
  return m !== null && secretChecksum(m[1] ?? '') === m[2];
}
