/** The sign-in parameters both sides build and parse. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CODE_CHALLENGE_SHAPE, CODE_VERIFIER_SHAPE, CONSENT_PARAMS, normalizeCode } from 'thirdloop-protocol';

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
