/** RFC 7636 PKCE (S256 only) and RFC 8252 loopback redirect URIs. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { CODE_CHALLENGE_SHAPE, CODE_VERIFIER_SHAPE } from 'thirdloop-protocol';

/** base64url(SHA-256) without padding is exactly 43 characters. */
export const CHALLENGE_RE = CODE_CHALLENGE_SHAPE;

export function isValidVerifier(verifier: unknown): verifier is string {
  return typeof verifier === 'string' && CODE_VERIFIER_SHAPE.test(verifier);
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

export function verifierMatches(verifier: string, challenge: string): boolean {
  const a = Buffer.from(s256(verifier));
  const b = Buffer.from(challenge);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * The normalized loopback redirect URI, or undefined. Only plain http to
 * 127.0.0.1, [::1] or localhost (any port), no credentials, no fragment.
 * Callers redirect to the returned (re-serialized) form, never to the raw
 * input, so parser differentials cannot smuggle another host through.
 */
export function loopbackRedirectUri(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length > 2048) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:') return undefined;
  if (!LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  if (url.username || url.password || url.hash) return undefined;
  return url.href;
}
