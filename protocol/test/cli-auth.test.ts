/** The sign-in parameters both sides build and parse. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CODE_ALPHABET, CODE_CHALLENGE_SHAPE, CODE_LENGTH, CODE_MAX_LENGTH, CODE_VERIFIER_SHAPE, CONSENT_PARAMS, makeCode, normalizeCode } from 'thirdloop-protocol';

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
