/**
 * The key rules as the server applies them to its records: the status a
 * record has at a given time, the limit and the plans that keep it. The rules
 * themselves (statuses, the action table, the limit, expiry periods, names)
 * live in thirdloop-protocol, which the CLI shares. Pure: the clock comes in.
 */
import {
  ACTIVE_KEY_LIMIT,
  DEFAULT_EXPIRY_DAYS,
  EXPIRY_DAYS,
  NAME_MAX_LENGTH,
  checkKeyName,
  countsTowardLimit as statusCountsTowardLimit,
  isExpiryDays,
  isNoOp,
  refusal,
  type ApiKey,
  type ExpiryDays,
  type KeyStatus,
  type NameProblem,
} from 'thirdloop-protocol';
import { DomainError } from './errors.js';

export {
  ACTIVE_KEY_LIMIT,
  DEFAULT_EXPIRY_DAYS,
  EXPIRY_DAYS,
  NAME_MAX_LENGTH,
  STATUS_LABEL,
  allowedActions,
  isNoOp,
  refusal,
  type ExpiryDays,
  type KeyAction,
  type KeyStatus,
} from 'thirdloop-protocol';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What is stored; "expired" is derived from expiresAt, never stored. */
export type KeyState = 'active' | 'suspended' | 'compromised';

export interface KeyRecord {
  id: string;
  userId: string;
  name: string;
  state: KeyState;
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  createdAt: Date;
  expiresAt: Date;
  /** The period chosen at creation; rotation keeps it. */
  expiresInDays: number;
  lastUsedAt: Date | null;
}

/** The public shape of a key (docs/api.md). */
export type KeyView = ApiKey;

export function keyStatus(key: Pick<KeyRecord, 'state' | 'expiresAt'>, now: Date): KeyStatus {
  if (key.state === 'compromised') return 'compromised';
  if (now.getTime() >= key.expiresAt.getTime()) return 'expired';
  return key.state;
}

export function countsTowardLimit(key: Pick<KeyRecord, 'state' | 'expiresAt'>, now: Date): boolean {
  return statusCountsTowardLimit(keyStatus(key, now));
}

export function activeCount(keys: readonly Pick<KeyRecord, 'state' | 'expiresAt'>[], now: Date): number {
  return keys.filter((k) => countsTowardLimit(k, now)).length;
}

export function limitMessage(activeKeyIds: readonly string[]): string {
  const example = activeKeyIds[0] ?? '<id>';
  return `You already have ${ACTIVE_KEY_LIMIT} active keys, the limit. Disable or delete a key first: thirdloop keys disable ${example}`;
}

const NAME_PROBLEM: Record<NameProblem, string> = {
  not_text: 'name must be a string.',
  empty: 'name must not be empty.',
  too_long: `name must be at most ${NAME_MAX_LENGTH} characters.`,
  not_printable: 'name must contain only printable characters.',
  format_character: 'name must not contain invisible formatting characters (bidirectional overrides, zero-width characters).',
};

/** Names: the protocol's rule, refused with the API's wording. */
export function validateName(raw: unknown): string {
  const check = checkKeyName(raw);
  if (!check.ok) throw new DomainError('invalid', NAME_PROBLEM[check.problem]);
  return check.name;
}

/** A number in the JSON API; text from forms, query strings and argv goes through expiryDaysFromText first. */
export function validateExpiryDays(raw: unknown): ExpiryDays {
  if (raw === undefined || raw === null) return DEFAULT_EXPIRY_DAYS;
  if (typeof raw !== 'number' || !isExpiryDays(raw)) {
    throw new DomainError('invalid', `expires_in_days must be one of ${EXPIRY_DAYS.join(', ')}.`);
  }
  return raw;
}

/** Forms, query strings and argv carry text: digits become a number, empty is "not given", anything else fails validation. */
export function expiryDaysFromText(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

export function expiryFrom(now: Date, days: number): Date {
  return new Date(now.getTime() + days * DAY_MS);
}

export function toKeyView(key: KeyRecord, now: Date): KeyView {
  return {
    id: key.id,
    name: key.name,
    status: keyStatus(key, now),
    created_at: key.createdAt.toISOString(),
    expires_at: key.expiresAt.toISOString(),
    last_used_at: key.lastUsedAt ? key.lastUsedAt.toISOString() : null,
  };
}

// ---------------------------------------------------------------------------
// Plans: given all of a user's keys (read inside the store's transaction),
// decide what changes. The store applies a plan atomically, so the limit
// holds however many requests race.

export interface KeyUpdate {
  id: string;
  state?: KeyState;
  name?: string;
}

export interface KeyPlan {
  insert?: KeyRecord[];
  update?: KeyUpdate[];
  remove?: string[];
}

function findKey(keys: readonly KeyRecord[], id: string): KeyRecord {
  const key = keys.find((k) => k.id === id);
  // Another user's key and a missing key look the same.
  if (!key) throw new DomainError('not_found', `No key ${id}.`);
  return key;
}

/** A new key; `replaces` (any status) is deleted in the same change, so this works at the limit. */
export function planCreate(keys: readonly KeyRecord[], newKey: KeyRecord, now: Date, replaces?: string): KeyPlan {
  const replaced = replaces === undefined ? undefined : findKey(keys, replaces);
  const others = keys.filter((k) => k.id !== replaced?.id && countsTowardLimit(k, now));
  if (others.length >= ACTIVE_KEY_LIMIT) {
    throw new DomainError('conflict', limitMessage(others.map((k) => k.id)));
  }
  return { insert: [newKey], remove: replaced ? [replaced.id] : [] };
}

export function planTransition(
  keys: readonly KeyRecord[],
  id: string,
  action: 'disable' | 'enable' | 'delete',
  now: Date,
): { plan: KeyPlan; key: KeyRecord } {
  const key = findKey(keys, id);
  const why = refusal(keyStatus(key, now), action);
  if (why) throw new DomainError('conflict', why);
  if (action === 'delete') return { plan: { remove: [id] }, key };
  if (isNoOp(keyStatus(key, now), action)) return { plan: {}, key };
  if (action === 'enable') {
    const others = keys.filter((k) => k.id !== id && countsTowardLimit(k, now));
    if (others.length >= ACTIVE_KEY_LIMIT) throw new DomainError('conflict', limitMessage(others.map((k) => k.id)));
    return { plan: { update: [{ id, state: 'active' }] }, key: { ...key, state: 'active' } };
  }
  return { plan: { update: [{ id, state: 'suspended' }] }, key: { ...key, state: 'suspended' } };
}

export function planRename(keys: readonly KeyRecord[], id: string, rawName: unknown, now: Date): { plan: KeyPlan; key: KeyRecord } {
  const key = findKey(keys, id);
  const why = refusal(keyStatus(key, now), 'rename');
  if (why) throw new DomainError('conflict', why);
  const name = validateName(rawName);
  return { plan: { update: [{ id, name }] }, key: { ...key, name } };
}

/**
 * Rotation: a new Active key with the same name and period replaces the old
 * one in one change. Only Active keys rotate, so the active count stays the
 * same and rotation works at the limit; the limit check is only a guard.
 */
export function planRotate(
  keys: readonly KeyRecord[],
  id: string,
  makeKey: (template: { name: string; expiresInDays: number }) => KeyRecord,
  now: Date,
): { plan: KeyPlan; oldKey: KeyRecord; newKey: KeyRecord } {
  const oldKey = findKey(keys, id);
  const why = refusal(keyStatus(oldKey, now), 'rotate');
  if (why) throw new DomainError('conflict', why);
  const others = keys.filter((k) => k.id !== id && countsTowardLimit(k, now));
  if (others.length >= ACTIVE_KEY_LIMIT) throw new DomainError('conflict', limitMessage(others.map((k) => k.id)));
  const newKey = makeKey({ name: oldKey.name, expiresInDays: oldKey.expiresInDays });
  return { plan: { insert: [newKey], remove: [id] }, oldKey, newKey };
}

/** Operators mark a leaked key; it then authenticates nowhere and can only be deleted. */
export function planFlagCompromised(keys: readonly KeyRecord[], id: string): { plan: KeyPlan; key: KeyRecord } {
  const key = findKey(keys, id);
  return { plan: { update: [{ id, state: 'compromised' }] }, key: { ...key, state: 'compromised' } };
}
