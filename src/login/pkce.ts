/**
 * PKCE (RFC 7636, S256) and the `state` value of the loopback flow.
 * The verifier never leaves this process until the token exchange.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CODE_CHALLENGE_METHOD } from 'thirdloop-protocol';

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** 32 random bytes → a 43-character verifier (RFC 7636 §4.1 allows 43–128). */
export function createVerifier(random: (n: number) => Buffer = randomBytes): string {
  return base64url(random(32));
}

export function challengeFor(verifier: string): string {
  return base64url(createHash('sha256').update(verifier, 'ascii').digest());
}

export function createState(random: (n: number) => Buffer = randomBytes): string {
  return base64url(random(24));
}

export interface Pkce {
  verifier: string;
  challenge: string;
  method: typeof CODE_CHALLENGE_METHOD;
  state: string;
}

export function createPkce(): Pkce {
  const verifier = createVerifier();
  return { verifier, challenge: challengeFor(verifier), method: CODE_CHALLENGE_METHOD, state: createState() };
}
