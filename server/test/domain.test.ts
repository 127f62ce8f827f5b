/** The pure rules: token format and checksum, the status table, names and periods. */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checksum, crc32, isWellFormedKeyId, isWellFormedSecret, makeKeyId, makeSecret, parseCredential } from '../src/domain/token.js';
import { allowedActions, expiryDaysFromText, keyStatus, refusal, validateExpiryDays, validateName } from '../src/domain/keys.js';

const rand = (n: number) => randomBytes(n);

describe('token format', () => {
  it('CRC32 agrees with zlib', () => {
    for (const s of ['', 'a', 'hello world', 'abcdefghijklmnopqrstuvwxyz012345']) {
      if (typeof zlibCrc32 === 'function') expect(crc32(s)).toBe(zlibCrc32(s));
    }
    expect(crc32('123456789')).toBe(0xcbf43926); // the standard check value
  });

  it('makes IDs and secrets that pass their own checks', () => {
    for (let i = 0; i < 200; i++) {
      const id = makeKeyId(rand);
      const secret = makeSecret(rand);
      expect(id).toMatch(/^tlk_[0-9A-Za-z]{24}$/);
      expect(secret).toMatch(/^tls_[0-9A-Za-z]{38}$/);
      expect(isWellFormedKeyId(id)).toBe(true);
      expect(isWellFormedSecret(secret)).toBe(true);
      expect(parseCredential(`${id};${secret}`)).toEqual({ keyId: id, secret });
    }
  });

  it('the checksum catches typos and truncation', () => {
    const secret = makeSecret(rand);
    const body = secret.slice(4, 36);
    expect(checksum(body)).toBe(secret.slice(36));
    const flipped = secret.slice(0, 10) + (secret[10] === 'a' ? 'b' : 'a') + secret.slice(11);
    expect(isWellFormedSecret(flipped)).toBe(false);
    expect(isWellFormedSecret(secret.slice(0, -1))).toBe(false);
    expect(isWellFormedSecret(secret.replace('tls_', 'tlk_'))).toBe(false);
    expect(parseCredential(`${makeKeyId(rand)};${flipped}`)).toBeUndefined();
    expect(parseCredential(`${makeKeyId(rand)}:${secret}`)).toBeUndefined();
    expect(parseCredential(`${makeKeyId(rand)};${secret};x`)).toBeUndefined();
  });
});

describe('key rules', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const later = new Date('2030-02-01T00:00:00Z');
  it('expiry is derived from the clock and beats suspension; compromise beats expiry', () => {
    expect(keyStatus({ state: 'active', expiresAt: later }, now)).toBe('active');
    expect(keyStatus({ state: 'active', expiresAt: now }, now)).toBe('expired');
    expect(keyStatus({ state: 'suspended', expiresAt: new Date(0) }, now)).toBe('expired');
    expect(keyStatus({ state: 'compromised', expiresAt: new Date(0) }, now)).toBe('compromised');
  });

  it('the status/action table', () => {
    expect(allowedActions('active')).toEqual(['disable', 'delete', 'rotate', 'rename']);
    expect(allowedActions('suspended')).toEqual(['enable', 'delete', 'rename']);
    expect(allowedActions('expired')).toEqual(['delete']);
    expect(allowedActions('compromised')).toEqual(['delete']);
    expect(refusal('expired', 'enable')).toBe('Expired keys can only be deleted.');
    expect(refusal('active', 'disable')).toBeUndefined();
  });

  it('names and periods', () => {
    expect(validateName('  x  ')).toBe('x');
    expect(() => validateName('')).toThrow(/empty/);
    expect(() => validateName('a'.repeat(65))).toThrow(/64/);
    expect(validateName('🔑'.repeat(64))).toBe('🔑'.repeat(64));
    expect(validateExpiryDays(undefined)).toBe(90);
    expect(validateExpiryDays(180)).toBe(180);
    // Text is converted only where text is read (forms, query strings, argv); the JSON API wants a number.
    expect(() => validateExpiryDays('180')).toThrow(/30, 60, 90, 180, 365/);
    expect(validateExpiryDays(expiryDaysFromText('180'))).toBe(180);
    expect(validateExpiryDays(expiryDaysFromText(''))).toBe(90);
    expect(() => validateExpiryDays(expiryDaysFromText('180 days'))).toThrow(/30, 60, 90, 180, 365/);
    expect(() => validateExpiryDays(14)).toThrow(/30, 60, 90, 180, 365/);
  });
});
