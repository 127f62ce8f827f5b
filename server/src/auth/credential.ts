/**
 * API-key authentication, shared by /api and the /v1 gateway.
 *
 * Disclosure rule: without the right secret every failure reads "invalid"
 * (an unknown ID and a wrong secret are indistinguishable, in answer and in
 * time); only a caller holding the secret learns that the key is suspended,
 * expired or compromised.
 */
import { keyStatus, type KeyRecord } from '../domain/keys.js';
import { parseCredential } from '../domain/token.js';
import type { Store, User } from '../store/store.js';
import { digestsEqual, sha256Bytes, sha256Hex } from './hashing.js';

export type AuthFailureReason = 'missing' | 'malformed' | 'invalid' | 'suspended' | 'expired' | 'compromised';

export type AuthFailure = { ok: false; reason: AuthFailureReason; message: string };

export type AuthResult = { ok: true; user: User; key: KeyRecord } | AuthFailure;

const MESSAGES: Record<AuthFailureReason, string> = {
  missing: 'No API key. Send `x-api-key: <api_key_id>;<api_secret_key>` or `Authorization: Bearer <api_key_id>;<api_secret_key>`.',
  malformed: 'The API key is malformed: expected `<api_key_id>;<api_secret_key>` (tlk_…;tls_…).',
  invalid: 'Invalid API key.',
  suspended: 'This API key is suspended. Enable it in Settings > API Keys or with `thirdloop keys enable`.',
  expired: 'This API key has expired. Create a new one with `thirdloop auth` or `thirdloop keys create`.',
  compromised: 'This API key was flagged as compromised and can no longer be used. Create a new one with `thirdloop auth`.',
};

/** A fixed digest to compare against when the ID is unknown, so both paths cost the same. */
const DECOY_DIGEST = Buffer.from(sha256Hex('thirdloop decoy secret'), 'hex');

export { credentialFromHeaders, credentialFromValues } from 'thirdloop-protocol';

export function authFailure(reason: AuthFailureReason): { ok: false; reason: AuthFailureReason; message: string } {
  return { ok: false, reason, message: MESSAGES[reason] };
}

/**
 * The decision for a well-formed credential given the key its ID names (undefined when there is
 * none): the secret is hashed and compared whether or not the key exists, so both cost the same.
 * `digest` is the key's `secretHash` as bytes, when the caller keeps it decoded (the gateway's cache).
 */
export function checkKey(secret: string, key: KeyRecord | undefined, now: Date, digest?: Buffer): { ok: true; key: KeyRecord } | AuthFailure {
  const stored = key ? (digest ?? Buffer.from(key.secretHash, 'hex')) : DECOY_DIGEST;
  const matches = digestsEqual(sha256Bytes(secret), stored);
  if (!key || !matches) return authFailure('invalid');
  const status = keyStatus(key, now);
  if (status !== 'active') return authFailure(status);
  return { ok: true, key };
}

export async function authenticateCredential(store: Store, credential: string | undefined | null, now: Date): Promise<AuthResult> {
  if (credential === undefined || credential === '') return authFailure('missing');
  if (credential === null) return authFailure('malformed');
  const parsed = parseCredential(credential);
  if (!parsed) return authFailure('malformed');
  const checked = checkKey(parsed.secret, await store.keys.findById(parsed.keyId), now);
  if (!checked.ok) return checked;
  const user = await store.users.findById(checked.key.userId);
  if (!user) return authFailure('invalid');
  return { ok: true, user, key: checked.key };
}
