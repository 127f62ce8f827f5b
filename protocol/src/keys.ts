/**
 * The key rules: statuses, which actions each status allows (and the
 * sentence when it does not), the active-key limit and the expiry periods.
 * The server enforces them, the CLI refuses early with the same words, and
 * docs/api.md is checked against them.
 */

/** What users see. "expired" is derived from the expiry time, never stored. */
export const KEY_STATUSES = ['active', 'suspended', 'expired', 'compromised'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const KEY_ACTIONS = ['disable', 'enable', 'delete', 'rotate', 'rename'] as const;
export type KeyAction = (typeof KEY_ACTIONS)[number];

/** The status/action table: one line per status, the only place it is written. */
export const ALLOWED_ACTIONS: Readonly<Record<KeyStatus, readonly KeyAction[]>> = {
  active: ['disable', 'delete', 'rotate', 'rename'],
  suspended: ['enable', 'delete', 'rename'],
  expired: ['delete'],
  compromised: ['delete'],
};

export const STATUS_LABEL: Readonly<Record<KeyStatus, string>> = {
  active: 'Active',
  suspended: 'Suspended',
  expired: 'Expired',
  compromised: 'Compromised',
};

/** "Suspended keys can only be enabled, …": the past tense of each action. */
export const ACTION_PAST: Readonly<Record<KeyAction, string>> = {
  disable: 'disabled',
  enable: 'enabled',
  delete: 'deleted',
  rotate: 'rotated',
  rename: 'renamed',
};

export const isKeyStatus = (value: unknown): value is KeyStatus => (KEY_STATUSES as readonly unknown[]).includes(value);

/** Unknown statuses (a newer server) allow nothing. */
export const allowedActions = (status: KeyStatus): readonly KeyAction[] => ALLOWED_ACTIONS[status] ?? [];

export const isAllowed = (status: KeyStatus, action: KeyAction): boolean => allowedActions(status).includes(action);

/** "a", "a or b", "a, b or c". */
export function joinWords(words: readonly string[], last: 'or' | 'and'): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`;
}

/**
 * Asking for the state a key is already in is not a conflict (as gh treats
 * idempotent changes): disabling a Suspended key or enabling an Active one
 * succeeds (200, the key as it is) and changes nothing.
 */
export const isNoOp = (status: KeyStatus, action: KeyAction): boolean =>
  (action === 'disable' && status === 'suspended') || (action === 'enable' && status === 'active');

/**
 * Undefined when `status` allows `action` (or it is a no-op), else the
 * sentence of the 409 (and of the CLI's early refusal), naming what is
 * allowed: "Expired keys can only be deleted.",
 * "Suspended keys can only be enabled, deleted or renamed."
 */
export function refusal(status: KeyStatus, action: KeyAction): string | undefined {
  if (isAllowed(status, action) || isNoOp(status, action)) return undefined;
  const allowed = joinWords(allowedActions(status).map((a) => ACTION_PAST[a]), 'or');
  return `${STATUS_LABEL[status]} keys can only be ${allowed}.`;
}

/** At most this many keys per user can be active at once. */
export const ACTIVE_KEY_LIMIT = 2;

/** Only Active keys hold one of the limited slots; Suspended, Expired and Compromised keys do not. */
export const countsTowardLimit = (status: KeyStatus): boolean => status === 'active';

export const EXPIRY_DAYS = [30, 60, 90, 180, 365] as const;
export type ExpiryDays = (typeof EXPIRY_DAYS)[number];
export const DEFAULT_EXPIRY_DAYS: ExpiryDays = 90;

export const isExpiryDays = (value: unknown): value is ExpiryDays => (EXPIRY_DAYS as readonly unknown[]).includes(value);
