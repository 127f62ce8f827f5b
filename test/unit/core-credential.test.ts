import { describe, expect, test } from 'vitest';
import { randomBytes } from 'node:crypto';
import { BASE62, makeKeyId, makeSecret as mintSecret } from 'thirdloop-protocol';
import { parseCredential, redactSecrets } from '../../src/core/credential.js';
import { UserError } from '../../src/core/errors.js';

// The format itself (shapes, checksum) is tested once, in protocol/test/credential.test.ts.
const random62 = (n: number) => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');
const makeSecret = () => mintSecret(randomBytes);
const keyId = () => makeKeyId(randomBytes);

describe('the CLI reads a credential offline, in sentences that never echo the secret', () => {
  test('parses a well-formed credential, trimming whitespace and the newline', () => {
    const id = keyId();
    const secret = makeSecret();
    expect(parseCredential(`  ${id};${secret}\n`)).toEqual({ id, secret });
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

  test('redactSecrets hides secret-looking substrings', () => {
    const secret = makeSecret();
    expect(redactSecrets(`Bearer tlk_x;${secret} ok`)).toBe('Bearer tlk_x;tls_*** ok');
  });
});
