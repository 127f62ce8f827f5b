/** The credential format: tlk_<24 base62>;tls_<32 base62><6 base62 CRC-32>. */
import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import {
  BASE62,
  checkCredential,
  checksum,
  crc32,
  formatCredential,
  isWellFormedKeyId,
  isWellFormedSecret,
  makeKeyId,
  makeSecret,
  randomBase62,
} from 'thirdloop-protocol';

const rand = (n: number) => randomBytes(n);

describe('checksum', () => {
  test('CRC-32 is zlib’s (IEEE), with the standard check value', () => {
    for (const s of ['', 'a', 'hello world', 'abcdefghijklmnopqrstuvwxyz012345']) {
      if (typeof zlibCrc32 === 'function') expect(crc32(s)).toBe(zlibCrc32(s));
    }
    expect(crc32('123456789')).toBe(0xcbf43926);
  });

  test('base62 of the CRC, left-padded to 6', () => {
    let n = 0xcbf43926;
    let expected = '';
    while (n > 0) {
      expected = BASE62[n % 62] + expected;
      n = Math.floor(n / 62);
    }
    expect(checksum('123456789')).toBe(expected.padStart(6, '0'));
    expect(checksum('')).toBe('000000'); // crc32('') is 0
  });
});

describe('IDs and secrets', () => {
  test('generated ones have the documented shape and pass their own checks', () => {
    for (let i = 0; i < 200; i++) {
      const id = makeKeyId(rand);
      const secret = makeSecret(rand);
      expect(id).toMatch(/^tlk_[0-9A-Za-z]{24}$/);
      expect(secret).toMatch(/^tls_[0-9A-Za-z]{38}$/);
      expect(isWellFormedKeyId(id)).toBe(true);
      expect(isWellFormedSecret(secret)).toBe(true);
      expect(checkCredential(formatCredential(id, secret))).toEqual({ ok: true, keyId: id, secret });
    }
  });

  test('random characters are drawn evenly: bytes 248–255 are skipped, and more are asked for', () => {
    const calls: number[] = [];
    const allHigh = (n: number) => {
      calls.push(n);
      return new Uint8Array(n).fill(calls.length === 1 ? 250 : 1);
    };
    expect(randomBase62(4, allHigh)).toBe('1111');
    expect(calls).toEqual([8, 8]);
  });

  test('the checksum catches a typo and a truncation', () => {
    const secret = makeSecret(rand);
    expect(checksum(secret.slice(4, 36))).toBe(secret.slice(36));
    const flipped = secret.slice(0, 10) + (secret[10] === 'a' ? 'b' : 'a') + secret.slice(11);
    expect(isWellFormedSecret(flipped)).toBe(false);
    expect(isWellFormedSecret(secret.slice(0, -1))).toBe(false);
    expect(isWellFormedSecret(secret.replace('tls_', 'tlk_'))).toBe(false);
  });
});

describe('checkCredential says which part is wrong, checksum last', () => {
  const id = makeKeyId(rand);
  const secret = makeSecret(rand);
  const flipped = secret.slice(0, 10) + (secret[10] === 'a' ? 'b' : 'a') + secret.slice(11);
  test.each([
    [`  ${id} ; ${secret}\n`, { ok: true, keyId: id, secret }],
    [`${id}${secret}`, { ok: false, problem: 'no_separator' }],
    [`${id}:${secret}`, { ok: false, problem: 'no_separator' }],
    [`tlx_${'a'.repeat(24)};${secret}`, { ok: false, problem: 'bad_key_id' }],
    [`tlk_abc;${secret}`, { ok: false, problem: 'bad_key_id' }],
    [`${id};sk-ant-${'a'.repeat(38)}`, { ok: false, problem: 'bad_secret' }],
    [`${id};${secret.slice(0, -1)}`, { ok: false, problem: 'bad_secret' }],
    [`${id};${secret};x`, { ok: false, problem: 'bad_secret' }],
    [`${id};${flipped}`, { ok: false, problem: 'bad_checksum' }],
  ])('%j', (text, result) => {
    expect(checkCredential(text)).toEqual(result);
  });
});
