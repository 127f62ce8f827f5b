import { createHash, hash, randomBytes, scrypt, timingSafeEqual, type BinaryLike } from 'node:crypto';

/**
 * SHA-256 for API secrets, session cookies and one-time codes: they are
 * 190+ random bits, so a fast hash is enough (nobody can enumerate the input
 * space); a slow KDF would only slow every gateway request. Passwords, which
 * people choose, get scrypt below.
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** SHA-256 of `value` as bytes, in one call (no hash object): the gateway does this per request. */
export function sha256Bytes(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/** Constant-time comparison of two digests (bytes). */
export function digestsEqual(x: Buffer, y: Buffer): boolean {
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}


/** base64url of `bytes` random bytes: session cookies, CSRF tokens, codes. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export const randomBytesFn = (n: number): Uint8Array => randomBytes(n);

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

function scryptAsync(password: BinaryLike, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keylen, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(key, expected);
}

/** A hash no password matches, so unknown emails cost the same time as known ones. */
export const DUMMY_PASSWORD_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
