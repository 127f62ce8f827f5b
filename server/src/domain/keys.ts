/**
 * The key rules, once: statuses, which action each status allows, the
 * active-key limit, expiry periods and names. Pure: the clock comes in.
 */
import { DomainError } from './errors.js';

export const ACTIVE_KEY_LIMIT = 2;
export const EXPIRY_DAYS = [30, 60, 90, 180, 365] as const;
export type ExpiryDays = (typeof EXPIRY_DAYS)[number];
export const DEFAULT_EXPIRY_DAYS: ExpiryDays = 90;
export const NAME_MAX_LENGTH = 64;
const DAY_MS = 24 * 60 * 60 * 1000;

/** What users see. "expired" is derived from expires_at, never stored. */
export type KeyStatus = 'active' | 'suspended' | 'expired' | 'compromised';
/** What is stored. */
export type KeyState = 'active' | 'suspended' | 'compromised';
export type KeyAction = 'disable' | 'enable' | 'delete' | 'rotate' | 'rename';

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
export interface KeyView {
  id: string;
  name: string;
  status: KeyStatus;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}

export function keyStatus(key: Pick<KeyRecord, 'state' | 'expiresAt'>, now: Date): KeyStatus {
  if (key.state === 'compromised') return 'compromised';
  if (now.getTime() >= key.expiresAt.getTime()) return 'expired';
  return key.state;
}

/** The status/action table. */
export const ALLOWED_ACTIONS: Readonly<Record<KeyStatus, readonly KeyAction[]>> = {
  active: ['disable', 'delete', 'rotate', 'rename'],
  suspended: ['enable', 'delete', 'rename'],
  expired: ['delete'],
  compromised: ['delete'],
};

export function allowedActions(status: KeyStatus): readonly KeyAction[] {
  return ALLOWED_ACTIONS[status];
}

const STATUS_LABEL: Record<KeyStatus, string> = {
  active: 'Active',
  suspended: 'Suspended',
  expired: 'Expired',
  compromised: 'Compromised',
};

const PAST: Record<KeyAction, string> = {
  disable: 'disabled',
  enable: 'enabled',
  delete: 'deleted',
  rotate: 'rotated',
  rename: 'renamed',
};

/** Undefined when allowed, else the sentence for the 409 naming what is allowed. */
export function refusal(status: KeyStatus, action: KeyAction): string | undefined {
  const allowed = ALLOWED_ACTIONS[status];
  if (allowed.includes(action)) return undefined;
  if (allowed.length === 1) return `${STATUS_LABEL[status]} keys can only be deleted.`;
  const words = allowed.map((a) => PAST[a]);
  const list = words.slice(0, -1).join(', ') + ' or ' + words[words.length - 1];
  const already = (action === 'enable' && status === 'active') || (action === 'disable' && status === 'suspended');
  return `${already ? `The key is already ${status}. ` : ''}${STATUS_LABEL[status]} keys can only be ${list}.`;
}

export function countsTowardLimit(key: Pick<KeyRecord, 'state' | 'expiresAt'>, now: Date): boolean {
  return keyStatus(key, now) === 'active';
}

export function activeCount(keys: readonly Pick<KeyRecord, 'state' | 'expiresAt'>[], now: Date): number {
  return keys.filter((k) => countsTowardLimit(k, now)).length;
}

export function limitMessage(activeKeyIds: readonly string[]): string {
  const example = activeKeyIds[0] ?? '<id>';
  return `You already have ${ACTIVE_KEY_LIMIT} active keys, the limit. Disable or delete a key first: thirdloop keys disable ${example}`;
}

/** Unicode general category Cf: bidirectional controls, zero-width characters, soft hyphen, BOM. */
export const FORMAT_CHARACTER = /\p{Cf}/u;

/** Names: 1–64 printable characters after trimming, no control or format characters. */
export function validateName(raw: unknown): string {
  if (typeof raw !== 'string') throw new DomainError('invalid', 'name must be a string.');
  const name = raw.trim();
  if (name.length === 0) throw new DomainError('invalid', 'name must not be empty.');
  if ([...name].length > NAME_MAX_LENGTH) throw new DomainError('invalid', `name must be at most ${NAME_MAX_LENGTH} characters.`);
  // Control characters (C0, DEL, C1) and line/paragraph separators are not printable.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) {
    throw new DomainError('invalid', 'name must contain only printable characters.');
  }
  // Unicode format characters are invisible and can reorder what is shown (U+202E turns
  // "laptop\u202Egnp.exe" into "laptopexe.png"); a name is read by people, so none of them.
  if (FORMAT_CHARACTER.test(name)) {
    throw new DomainError('invalid', 'name must not contain invisible formatting characters (bidirectional overrides, zero-width characters).');
  }
  return name;
}

/** A number in the JSON API; text from forms, query strings and argv goes through expiryDaysFromText first. */
export function validateExpiryDays(raw: unknown): ExpiryDays {
  if (raw === undefined || raw === null) return DEFAULT_EXPIRY_DAYS;
  if (typeof raw !== 'number' || !(EXPIRY_DAYS as readonly number[]).includes(raw)) {
    throw new DomainError('invalid', `expires_in_days must be one of ${EXPIRY_DAYS.join(', ')}.`);
  }
  return raw as ExpiryDays;
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
