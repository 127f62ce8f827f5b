/**
 * Key-management actions: a domain plan applied in one store transaction,
 * with its audit row. Shared by /api, the consent page, the web console and
 * the operator commands, so each action behaves the same everywhere.
 */
import { DomainError } from '../domain/errors.js';
import {
  expiryFrom,
  planCreate,
  planFlagCompromised,
  planRename,
  planRotate,
  planTransition,
  validateExpiryDays,
  validateName,
  type KeyRecord,
} from '../domain/keys.js';
import { formatCredential, makeKeyId, makeSecret } from '../domain/token.js';
import { randomBytesFn, sha256Hex } from '../auth/hashing.js';
import type { AuditInput, Store } from './store.js';

export interface Actor {
  store: Store;
  now: Date;
  userId: string;
  /** The HTTP request behind the action, for the audit row; absent for operator commands. */
  request?: { method: string; path: string; sessionId?: string | null };
}

export interface MintedKey {
  key: KeyRecord;
  /** Shown once, then forgotten. */
  secret: string;
  credential: string;
}

function newKey(userId: string, name: string, expiresInDays: number, now: Date): MintedKey {
  const secret = makeSecret(randomBytesFn);
  const key: KeyRecord = {
    id: makeKeyId(randomBytesFn),
    userId,
    name,
    state: 'active',
    secretHash: sha256Hex(secret),
    createdAt: now,
    expiresAt: expiryFrom(now, expiresInDays),
    expiresInDays,
    lastUsedAt: null,
  };
  return { key, secret, credential: formatCredential(key.id, secret) };
}

function auditRow(actor: Actor, action: string, keyId: string | null, status: number): AuditInput {
  return {
    at: actor.now,
    kind: 'key',
    action,
    user_id: actor.userId,
    key_id: keyId,
    session_id: actor.request?.sessionId ?? null,
    method: actor.request?.method ?? null,
    path: actor.request?.path ?? null,
    status: actor.request ? status : null,
  };
}

/** Refusals are audited too (outside the rolled-back transaction). */
async function audited<T>(actor: Actor, action: string, keyId: string | null, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DomainError && err.kind !== 'invalid') {
      await actor.store.audit.insert(auditRow(actor, action, keyId, err.kind === 'not_found' ? 404 : 409));
    }
    throw err;
  }
}

export async function createKey(
  actor: Actor,
  input: { name: unknown; expiresInDays: unknown; replaces?: string | null; action?: 'create' | 'cli-auth' },
): Promise<MintedKey> {
  const name = validateName(input.name);
  const days = validateExpiryDays(input.expiresInDays);
  const minted = newKey(actor.userId, name, days, actor.now);
  const action = input.action ?? 'create';
  return audited(actor, action, input.replaces ?? null, () =>
    actor.store.keys.change(actor.userId, (keys) => {
      const plan = planCreate(keys, minted.key, actor.now, input.replaces ?? undefined);
      const audit = [auditRow(actor, action, minted.key.id, 201)];
      if (input.replaces) audit.push(auditRow(actor, 'replace', input.replaces, 201));
      return { ...plan, audit, result: minted };
    }),
  );
}

/** Returns the key after the action; after delete, the key as it was. */
export async function transitionKey(actor: Actor, id: string, action: 'disable' | 'enable' | 'delete'): Promise<KeyRecord> {
  return audited(actor, action, id, () =>
    actor.store.keys.change(actor.userId, (keys) => {
      const { plan, key } = planTransition(keys, id, action, actor.now);
      return { ...plan, audit: [auditRow(actor, action, id, action === 'delete' ? 204 : 200)], result: key };
    }),
  );
}

export async function renameKey(actor: Actor, id: string, name: unknown): Promise<KeyRecord> {
  return audited(actor, 'rename', id, () =>
    actor.store.keys.change(actor.userId, (keys) => {
      const { plan, key } = planRename(keys, id, name, actor.now);
      return { ...plan, audit: [auditRow(actor, 'rename', id, 200)], result: key };
    }),
  );
}

export async function rotateKey(actor: Actor, id: string): Promise<MintedKey & { replaced: KeyRecord }> {
  let minted: MintedKey | undefined;
  return audited(actor, 'rotate', id, () =>
    actor.store.keys.change(actor.userId, (keys) => {
      const { plan, oldKey, newKey: key } = planRotate(
        keys,
        id,
        (t) => (minted = newKey(actor.userId, t.name, t.expiresInDays, actor.now)).key,
        actor.now,
      );
      const result = { ...minted!, key, replaced: oldKey };
      return { ...plan, audit: [auditRow(actor, 'rotate', id, 201), auditRow(actor, 'create', key.id, 201)], result };
    }),
  );
}

/** Operator action: by key ID alone, any user. */
export async function flagCompromised(store: Store, keyId: string, now: Date): Promise<KeyRecord> {
  const found = await store.keys.findById(keyId);
  if (!found) throw new DomainError('not_found', `No key ${keyId}.`);
  return store.keys.change(found.userId, (keys) => {
    const { plan, key } = planFlagCompromised(keys, keyId);
    return {
      ...plan,
      audit: [{ at: now, kind: 'key', action: 'flag-compromised', user_id: found.userId, key_id: keyId }],
      result: key,
    };
  });
}
