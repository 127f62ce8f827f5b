/**
 * The key and secret formats (randomness comes in as bytes):
 *
 *   key ID      tlk_<24 base62>                     public, names the key
 *   secret      tls_<32 base62 random><6 base62>    the last 6 are CRC-32(random part)
 *   credential  <key ID>;<secret>                   what clients send
 *
 * The checksum (as in GitHub's token format) lets the CLI and secret scanners
 * tell a real secret from a typo or a truncated paste without asking the server.
 */

export const KEY_ID_PREFIX = 'tlk_';
export const SECRET_PREFIX = 'tls_';
export const KEY_ID_RANDOM_LENGTH = 24;
export const SECRET_RANDOM_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
export const CREDENTIAL_SEPARATOR = ';';

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Marked pure so that bundles which never compute a checksum leave the table out.
const CRC_TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib) of an ASCII string. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The secret's checksum: base62 of CRC-32(random part), left-padded with "0" to 6 characters. */
export function checksum(randomPart: string): string {
  let n = crc32(randomPart);
  let out = '';
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(CHECKSUM_LENGTH, '0');
}

/**
 * `length` characters of `alphabet` from random bytes, each equally likely:
 * bytes at or above the largest multiple of the alphabet's size (248 for
 * base62) are skipped, and `randomBytes` is asked again when too many were.
 */
export function randomString(alphabet: string, length: number, randomBytes: (n: number) => Uint8Array): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit) out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

export const randomBase62 = (length: number, randomBytes: (n: number) => Uint8Array): string => randomString(BASE62, length, randomBytes);

export function makeKeyId(randomBytes: (n: number) => Uint8Array): string {
  return KEY_ID_PREFIX + randomBase62(KEY_ID_RANDOM_LENGTH, randomBytes);
}

export function makeSecret(randomBytes: (n: number) => Uint8Array): string {
  const random = randomBase62(SECRET_RANDOM_LENGTH, randomBytes);
  return SECRET_PREFIX + random + checksum(random);
}

const KEY_ID_SHAPE = new RegExp(`^${KEY_ID_PREFIX}[0-9A-Za-z]{${KEY_ID_RANDOM_LENGTH}}$`);
const SECRET_SHAPE = new RegExp(`^${SECRET_PREFIX}([0-9A-Za-z]{${SECRET_RANDOM_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`);

export const isWellFormedKeyId = (value: string): boolean => KEY_ID_SHAPE.test(value);

/** The secret's prefix, alphabet and length, checksum not checked. */
export const hasSecretShape = (value: string): boolean => SECRET_SHAPE.test(value);

/** True when `value` has the secret's shape and its checksum matches. */
export function isWellFormedSecret(value: string): boolean {
  const m = SECRET_SHAPE.exec(value);
  return m !== null && checksum(m[1]!) === m[2];
}

export function formatCredential(keyId: string, secret: string): string {
  return `${keyId}${CREDENTIAL_SEPARATOR}${secret}`;
}

export type CredentialProblem = 'no_separator' | 'bad_key_id' | 'bad_secret' | 'bad_checksum';

export type CredentialCheck = { ok: true; keyId: string; secret: string } | { ok: false; problem: CredentialProblem };

/**
 * Splits `<key ID>;<secret>` (surrounding white space ignored) and checks both
 * parts, the checksum last, so a caller can say which part is wrong without
 * ever repeating the secret.
 */
export function checkCredential(text: string): CredentialCheck {
  const trimmed = text.trim();
  const separator = trimmed.indexOf(CREDENTIAL_SEPARATOR);
  if (separator < 0) return { ok: false, problem: 'no_separator' };
  const keyId = trimmed.slice(0, separator).trim();
  const secret = trimmed.slice(separator + 1).trim();
  if (!isWellFormedKeyId(keyId)) return { ok: false, problem: 'bad_key_id' };
  if (!hasSecretShape(secret)) return { ok: false, problem: 'bad_secret' };
  if (!isWellFormedSecret(secret)) return { ok: false, problem: 'bad_checksum' };
  return { ok: true, keyId, secret };
}

/**
 * The credential a request presents, from the values of `x-api-key` and `Authorization: Bearer`
 * (every occurrence, as the request carried them): the two ways the Anthropic SDKs send a key.
 * Both may be present (Claude Code's apiKeyHelper sends both) but must then agree; either header
 * twice is refused, since a proxy and the receiver could each read another one. Undefined when
 * absent, `null` when malformed that way. The gateway and the CLI's run broker read requests by
 * this one rule.
 */
export function credentialFromValues(xApiKeys: readonly string[], authorizations: readonly string[]): string | undefined | null {
  if (xApiKeys.length > 1 || authorizations.length > 1) return null;
  const xApiKey = xApiKeys[0]?.trim();
  const auth = authorizations[0]?.trim();
  const bearer = auth && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
  if (xApiKey && bearer && xApiKey !== bearer) return null;
  return xApiKey || bearer || undefined;
}

/**
 * The same from a raw header list (name, value, name, value…): Node folds two `x-api-key` headers
 * into one value but keeps only the first `Authorization`, so its parsed headers cannot tell.
 */
export function credentialFromHeaders(rawHeaders: readonly string[]): string | undefined | null {
  const xApiKeys: string[] = [];
  const authorizations: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 9 && name.toLowerCase() === 'x-api-key') xApiKeys.push(rawHeaders[i + 1]!);
    else if (name.length === 13 && name.toLowerCase() === 'authorization') authorizations.push(rawHeaders[i + 1]!);
  }
  return credentialFromValues(xApiKeys, authorizations);
}
