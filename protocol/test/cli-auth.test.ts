/** The sign-in parameters both sides build and parse. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  CODE_ALPHABET,
  CODE_CHALLENGE_SHAPE,
  CODE_LENGTH,
  CODE_MAX_LENGTH,
  CODE_VERIFIER_SHAPE,
  CONSENT_PARAMS,
  USER_CODE_ALPHABET,
  USER_CODE_ATTEMPTS,
  USER_CODE_LENGTH,
  displayUserCode,
  makeCode,
  makeUserCode,
  normalizeCode,
} from 'thirdloop-protocol';

describe('PKCE shapes (RFC 7636)', () => {
  test('the RFC’s own example pair passes; the challenge is base64url(SHA-256(verifier))', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    expect(challenge).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(CODE_VERIFIER_SHAPE.test(verifier)).toBe(true);
    expect(CODE_CHALLENGE_SHAPE.test(challenge)).toBe(true);
  });

  test('verifiers are 43–128 unreserved characters', () => {
    expect(CODE_VERIFIER_SHAPE.test('a'.repeat(42))).toBe(false);
    expect(CODE_VERIFIER_SHAPE.test('a'.repeat(43))).toBe(true);
    expect(CODE_VERIFIER_SHAPE.test('a-._~'.repeat(25) + 'abc')).toBe(true);
    expect(CODE_VERIFIER_SHAPE.test('a'.repeat(129))).toBe(false);
    expect(CODE_VERIFIER_SHAPE.test(`${'a'.repeat(42)}+`)).toBe(false);
    expect(CODE_CHALLENGE_SHAPE.test(`${'a'.repeat(42)}=`)).toBe(false);
  });
});

test('consent parameters, each once', () => {
  expect(new Set(CONSENT_PARAMS).size).toBe(CONSENT_PARAMS.length);
  expect(CONSENT_PARAMS).toContain('code_challenge');
});

test('a pasted code loses the white space around it', () => {
  expect(normalizeCode('  Q0xJabc\n')).toBe('Q0xJabc');
});

test('one-time codes: 43 base64url characters from the random source, none alike', () => {
  const codes = new Set(Array.from({ length: 200 }, () => makeCode((n) => randomBytes(n))));
  expect(codes.size).toBe(200);
  for (const code of codes) {
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(normalizeCode(` ${code}\n`)).toBe(code);
  }
  expect(CODE_LENGTH).toBeLessThanOrEqual(CODE_MAX_LENGTH);
  // Every character is drawn evenly: the alphabet has 64, so no byte is skipped.
  expect(makeCode((n) => new Uint8Array(n).fill(64 + 3))).toBe(CODE_ALPHABET[3]!.repeat(CODE_LENGTH));
});

describe('the typed one-time code of code mode', () => {
  test('8 symbols without look-alikes or vowels, shown as XXXX-XXXX, evenly drawn', () => {
    const codes = Array.from({ length: 200 }, () => makeUserCode((n) => randomBytes(n)));
    expect(new Set(codes).size).toBe(200);
    for (const code of codes) {
      expect(code).toMatch(/^[2-9BCDFGHJKMNPQRSTVWXZ]{8}$/);
      expect(displayUserCode(code)).toMatch(/^[2-9BCDFGHJKMNPQRSTVWXZ]{4}-[2-9BCDFGHJKMNPQRSTVWXZ]{4}$/);
    }
    expect(USER_CODE_ALPHABET).not.toMatch(/[01OIL AEU]/);
    expect(USER_CODE_LENGTH).toBe(8);
    expect(USER_CODE_ATTEMPTS).toBeGreaterThanOrEqual(3);
  });

  test('typed in any case, with or without the dash or spaces, it reads as minted', () => {
    for (const typed of ['K7MB-Q2XD', 'k7mb-q2xd', 'k7mbq2xd', ' K7MB Q2XD \n', 'k7Mb-Q2xD']) expect(normalizeCode(typed)).toBe('K7MBQ2XD');
    expect(normalizeCode(displayUserCode('K7MBQ2XD'))).toBe('K7MBQ2XD');
  });

  test('anything not shaped like a user code is left as it came (the loopback code keeps its case and dashes)', () => {
    expect(normalizeCode('abc-def_GHI')).toBe('abc-def_GHI');
    expect(normalizeCode('K7MB-Q2X0')).toBe('K7MB-Q2X0'); // 0 is not in the alphabet
    expect(normalizeCode('K7MB-Q2XDD')).toBe('K7MB-Q2XDD');
  });
});
