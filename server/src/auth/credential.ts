/**
 * API-key authentication, shared by /api and the /v1 gateway.
 *
 * Disclosure rule: without the right secret every failure reads "invalid"
 * (an unknown ID and a wrong secret are indistinguishable, in answer and in
 * time); only a caller holding the secret learns that the key is suspended,
 * expired or compromised.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { keyStatus, type KeyRecord } from '../domain/keys.js';
import { parseCredential } from '../domain/token.js';
import type { Store, User } from '../store/store.js';
import { hashesEqual, sha256Hex } from './hashing.js';

export type AuthFailureReason = 'missing' | 'malformed' | 'invalid' | 'suspended' | 'expired' | 'compromised';

export type AuthResult =
  | { ok: true; user: User; key: KeyRecord }
  | { ok: false; reason: AuthFailureReason; message: string };

const MESSAGES: Record<AuthFailureReason, string> = {
  missing: 'No API key. Send `x-api-key: <api_key_id>;<api_secret_key>` or `Authorization: Bearer <api_key_id>;<api_secret_key>`.',
  malformed: 'The API key is malformed: expected `<api_key_id>;<api_secret_key>` (tlk_…;tls_…).',
  invalid: 'Invalid API key.',
  suspended: 'This API key is suspended. Enable it in Settings > API Keys or with `thirdloop keys enable`.',
  expired: 'This API key has expired. Create a new one with `thirdloop auth` or `thirdloop keys create`.',
  compromised: 'This API key was flagged as compromised and can no longer be used. Create a new one with `thirdloop auth`.',
};

/** A fixed digest to compare against when the ID is unknown, so both paths cost the same. */
const DECOY_HASH = sha256Hex('thirdloop decoy secret');

/**
 * The credential from `x-api-key` or `Authorization: Bearer`. Both may be
 * present (Claude Code's apiKeyHelper sends both) but must then agree.
 * Returns undefined when absent, `null` when the two disagree.
 */
export function credentialFromHeaders(headers: IncomingHttpHeaders): string | undefined | null {
  const xApiKey = typeof headers['x-api-key'] === 'string' ? headers['x-api-key'].trim() : undefined;
  const auth = typeof headers.authorization === 'string' ? headers.authorization.trim() : undefined;
  const bearer = auth && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
  if (xApiKey && bearer && xApiKey !== bearer) return null;
  return xApiKey || bearer || undefined;
}

export function authFailure(reason: AuthFailureReason): { ok: false; reason: AuthFailureReason; message: string } {
  return { ok: false, reason, message: MESSAGES[reason] };
}

export async function authenticateCredential(store: Store, credential: string | undefined | null, now: Date): Promise<AuthResult> {
  if (credential === undefined || credential === '') return authFailure('missing');
  if (credential === null) return authFailure('malformed');
  const parsed = parseCredential(credential);
  if (!parsed) return authFailure('malformed');
  const key = await store.keys.findById(parsed.keyId);
  const matches = hashesEqual(sha256Hex(parsed.secret), key?.secretHash ?? DECOY_HASH);
  if (!key || !matches) return authFailure('invalid');
  const status = keyStatus(key, now);
  if (status !== 'active') return authFailure(status);
  const user = await store.users.findById(key.userId);
  if (!user) return authFailure('invalid');
  return { ok: true, user, key };
}
