/**
 * The key rules as the CLI knows them, so that a refused action is refused
 * before any request: which action each status allows, the limit, names and
 * expiry periods. Mirrors the server's domain rules (docs/api.md) without
 * importing server code; the server still has the last word.
 */
import { ACTIVE_KEY_LIMIT, EXPIRY_DAYS, type ApiKey, type ExpiryDays, type KeyList, type KeyStatus } from './api.js';
import { ExitCode, UserError, usageError } from './errors.js';
import type { Colors } from './output.js';

export type KeyAction = 'disable' | 'enable' | 'delete' | 'rotate' | 'rename';

export const NAME_MAX_LENGTH = 64;

/** Under this many days left, status and doctor warn about the key's expiry. */
export const EXPIRY_WARNING_DAYS = 14;

/** The status/action table of the product rules. */
export const ALLOWED_ACTIONS: Readonly<Record<KeyStatus, readonly KeyAction[]>> = {
  active: ['disable', 'delete', 'rotate', 'rename'],
  suspended: ['enable', 'delete', 'rename'],
  expired: ['delete'],
  compromised: ['delete'],
};

export const STATUS_LABEL: Record<KeyStatus, string> = {
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

export const isAllowed = (status: KeyStatus, action: KeyAction) => (ALLOWED_ACTIONS[status] ?? []).includes(action);

/**
 * Asking for the state a key is already in (disable a Suspended key, enable an
 * Active one) succeeds and changes nothing, as gh treats idempotent changes.
 */
export const isNoOp = (status: KeyStatus, action: KeyAction) =>
  (action === 'disable' && status === 'suspended') || (action === 'enable' && status === 'active');

/** Active green, Suspended yellow, Expired dim, Compromised red. */
export function paintStatus(status: KeyStatus, c: Colors): string {
  const label = STATUS_LABEL[status] ?? String(status);
  if (status === 'active') return c.green(label);
  if (status === 'suspended') return c.yellow(label);
  if (status === 'compromised') return c.red(label);
  return c.dim(label);
}

const joinList = (words: readonly string[], last: 'or' | 'and') =>
  words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`;

/** How to name a key in a suggested command: its ID (always unique, never needs quoting). */
const ref = (key: Pick<ApiKey, 'id'>) => key.id;

/** The command that performs `action` on `key`. */
export function actionCommand(action: KeyAction, key: Pick<ApiKey, 'id'>): string {
  return action === 'rename' ? `thirdloop keys rename ${ref(key)} <new name>` : `thirdloop keys ${action} ${ref(key)}`;
}

/**
 * The sentence for a refused action (the server's wording: "Expired keys can
 * only be deleted."), or undefined when the status allows it.
 */
export function refusalSentence(status: KeyStatus, action: KeyAction): string | undefined {
  if (isAllowed(status, action) || isNoOp(status, action)) return undefined;
  const allowed = ALLOWED_ACTIONS[status] ?? [];
  if (allowed.length === 1 && allowed[0] === 'delete') return `${STATUS_LABEL[status]} keys can only be deleted.`;
  return `${STATUS_LABEL[status]} keys can only be ${joinList(allowed.map((a) => PAST[a]), 'or')}.`;
}

/** Throws the refusal, with the allowed commands as the hint, when `status` does not allow `action`. */
export function assertAllowed(key: ApiKey, action: KeyAction): void {
  const sentence = refusalSentence(key.status, action);
  if (!sentence) return;
  const allowed = ALLOWED_ACTIONS[key.status] ?? [];
  const why = key.status === 'expired' ? ' It expired and authenticates nowhere.' : key.status === 'compromised' ? ' It was flagged as compromised and authenticates nowhere.' : '';
  throw new UserError(`Cannot ${action} "${key.name}" (${key.id}): ${sentence}${why}`, {
    exitCode: ExitCode.failure,
    hint: `Allowed: ${allowed.map((a) => `\`${actionCommand(a, key)}\``).join(', ')}.`,
  });
}

/** The keys that hold a slot: only Active keys count toward the limit. */
export const activeKeys = (list: Pick<KeyList, 'keys'>) => list.keys.filter((k) => k.status === 'active');

export const atLimit = (list: KeyList) => list.active_count >= (list.active_limit || ACTIVE_KEY_LIMIT);

/**
 * At the limit: the rule, and the commands that free a slot (disable or
 * delete one of the active keys).
 */
export function limitError(list: KeyList, what: string, thisMachineKeyId?: string): UserError {
  const limit = list.active_limit || ACTIVE_KEY_LIMIT;
  const active = activeKeys(list);
  const names = active.map((k) => `"${k.name}" (${k.id})`);
  // The key this machine uses last: freeing its slot costs this machine its access.
  const order = [...active.filter((k) => k.id !== thisMachineKeyId), ...active.filter((k) => k.id === thisMachineKeyId)];
  const lines = order.flatMap((k) => {
    const here = k.id === thisMachineKeyId ? ' (the key this machine uses)' : '';
    return [`  thirdloop keys disable ${ref(k)}   # suspend "${k.name}"${here}; it can be enabled later`, `  thirdloop keys delete ${ref(k)}    # delete "${k.name}" for good${here}`];
  });
  return new UserError(
    `Cannot ${what}: you already have ${list.active_count} active keys${names.length ? ` (${joinList(names, 'and')})` : ''}, and at most ${limit} can be active at once. Suspended, expired and compromised keys do not count.`,
    {
      exitCode: ExitCode.failure,
      hint: lines.length ? `Free a slot first:\n${lines.join('\n')}` : 'Disable or delete an active key first (`thirdloop keys list`).',
    },
  );
}

/** Names: 1–64 printable characters after trimming (the server's rule). */
export function validateKeyName(raw: unknown, origin = 'The key name'): string {
  if (typeof raw !== 'string') throw usageError(`${origin} must be text.`);
  const name = raw.trim();
  if (name.length === 0) throw usageError(`${origin} must not be empty.`, 'Give 1–64 printable characters, e.g. --name laptop.');
  if ([...name].length > NAME_MAX_LENGTH) {
    throw usageError(`${origin} is ${[...name].length} characters long; at most ${NAME_MAX_LENGTH} are allowed.`);
  }
  // Control characters (C0, DEL, C1) and line/paragraph separators are not printable.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) {
    throw usageError(`${origin} contains a control character (a tab, newline or similar); use printable characters only.`);
  }
  return name;
}

/** 30, 60, 90, 180 or 365 (also "90d"); undefined stays undefined (the default applies). */
export function validateExpiry(raw: unknown): ExpiryDays | undefined {
  if (raw === undefined || raw === null) return undefined;
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim().replace(/d(ays?)?$/i, ''));
  if (!(EXPIRY_DAYS as readonly number[]).includes(n)) {
    throw usageError(`Expiry must be one of ${EXPIRY_DAYS.join(', ')} days, not "${String(raw)}".`, 'For example: --expires 90.');
  }
  return n as ExpiryDays;
}

const DAY_MS = 86_400_000;

/** Expiry in days, as the product speaks of it: "in 12 days", "3 days ago", "in 5 hours". */
export function expiresIn(expiresAt: string | Date, now: Date): string {
  const diff = new Date(expiresAt).getTime() - now.getTime();
  if (Number.isNaN(diff)) return 'unknown';
  const abs = Math.abs(diff);
  if (abs < DAY_MS) {
    const hours = Math.round(abs / 3_600_000);
    if (hours < 1) return diff >= 0 ? 'in under an hour' : 'less than an hour ago';
    const label = `${hours} hour${hours === 1 ? '' : 's'}`;
    return diff >= 0 ? `in ${label}` : `${label} ago`;
  }
  const days = Math.round(abs / DAY_MS);
  const label = `${days} day${days === 1 ? '' : 's'}`;
  return diff >= 0 ? `in ${label}` : `${label} ago`;
}
