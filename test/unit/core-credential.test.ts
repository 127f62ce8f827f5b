import { describe, expect, test } from 'vitest';
import { randomBytes } from 'node:crypto';
import { isKeyId, isSecret, parseCredential, redactSecrets, secretChecksum } from '../../src/core/credential.js';
import { UserError } from '../../src/core/errors.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const random62 = (n: number) => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');
const makeSecret = () => {
  const body = random62(32);
  return `tls_${body}${secretChecksum(body)}`;
};
const keyId = () => `tlk_${random62(24)}`;

describe('credential format (mirrors the server: tlk_<24>, tls_<32><6 CRC-32 base62>)', () => {
  test('CRC-32 checksum matches known values', () => {
    // The standard CRC-32 check value: crc32("123456789") = 0xCBF43926.
    let n = 0xcbf43926;
    let expected = '';
    while (n > 0) {
      expected = BASE62[n % 62] + expected;
      n = Math.floor(n / 62);
    }
    expect(secretChecksum('123456789')).toBe(expected.padStart(6, '0'));
  });

  test('parses a well-formed credential, trimming whitespace and the newline', () => {
    const id = keyId();
    const secret = makeSecret();
    expect(parseCredential(`  ${id};${secret}\n`)).toEqual({ id, secret });
    expect(isKeyId(id)).toBe(true);
    expect(isSecret(secret)).toBe(true);
  });

  test.each([
    ['no separator', () => `${keyId()}${makeSecret()}`, /not in the form <api_key_id>;<api_secret_key>/],
    ['wrong ID prefix', () => `tlx_${random62(24)};${makeSecret()}`, /does not start with a Third Loop key ID/],
    ['short ID', () => `tlk_abc;${makeSecret()}`, /does not start with a Third Loop key ID/],
    ['wrong secret prefix', () => `${keyId()};sk-ant-${random62(38)}`, /does not contain a Third Loop secret key/],
    ['truncated secret', () => `${keyId()};${makeSecret().slice(0, -1)}`, /does not contain a Third Loop secret key/],
    ['typo in secret', () => {
      const s = makeSecret();
      const i = 10;
      const swapped = s[i] === 'a' ? 'b' : 'a';
      return `${keyId()};${s.slice(0, i)}${swapped}${s.slice(i + 1)}`;
    }, /checksum does not match/],
  ])('%s → exit 2 with a sentence that never echoes the secret', (_, make, message) => {
    const text = make();
    let error: unknown;
    try {
      parseCredential(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    expect((error as UserError).message).toMatch(message);
    const secretPart = text.split(';')[1] ?? text.slice(28);
    expect((error as UserError).message).not.toContain(secretPart);
  });

  test('agrees with the server\'s token module on generated credentials (contract check; src/ never imports server/)', async () => {
    const token = await import('../../server/src/domain/token.js');
    for (let i = 0; i < 50; i++) {
      const id = token.makeKeyId(randomBytes);
      const secret = token.makeSecret(randomBytes);
      expect(parseCredential(token.formatCredential(id, secret))).toEqual({ id, secret });
      expect(secretChecksum(secret.slice(4, 36))).toBe(token.checksum(secret.slice(4, 36)));
    }
  });

  test('redactSecrets hides secret-looking substrings', () => {
    const secret = makeSecret();
    expect(redactSecrets(`Bearer tlk_x;${secret} ok`)).toBe('Bearer tlk_x;tls_*** ok');
  });
});
