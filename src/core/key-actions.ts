/**
 * The key rules as the CLI applies them, so that a refused action is refused
 * before any request: the rules themselves (the status/action table and its
 * sentences, the limit, names, expiry periods) are thirdloop-protocol's,
 * shared with the server, which still has the last word. Here: how the CLI
 * words them, with the commands that help.
 */
import {
  ACTIVE_KEY_LIMIT,
  EXPIRY_DAYS,
  NAME_MAX_LENGTH,
  STATUS_LABEL,
  allowedActions,
  checkKeyName,
  countsTowardLimit,
  isExpiryDays,
  joinWords,
  refusal,
  type ApiKey,
  type ExpiryDays,
  type KeyAction,
  type KeyList,
  type KeyStatus,
} from 'thirdloop-protocol';
import { ExitCode, UserError, usageError } from './errors.js';
import type { Colors } from './output.js';

export { ALLOWED_ACTIONS, NAME_MAX_LENGTH, STATUS_LABEL, isAllowed, isNoOp, type KeyAction } from 'thirdloop-protocol';

/** Under this many days left, status and doctor warn about the key's expiry. */
export const EXPIRY_WARNING_DAYS = 14;

/** Active green, Suspended yellow, Expired dim, Compromised red. */
export function paintStatus(status: KeyStatus, c: Colors): string {
  const label = STATUS_LABEL[status] ?? String(status);
  if (status === 'active') return c.green(label);
  if (status === 'suspended') return c.yellow(label);
  if (status === 'compromised') return c.red(label);
  return c.dim(label);
}

/** How to name a key in a suggested command: its ID (always unique, never needs quoting). */
const ref = (key: Pick<ApiKey, 'id'>) => key.id;

/** The command that performs `action` on `key`. */
export function actionCommand(action: KeyAction, key: Pick<ApiKey, 'id'>): string {
  return action === 'rename' ? `thirdloop keys rename ${ref(key)} <new name>` : `thirdloop keys ${action} ${ref(key)}`;
}

/** Throws the refusal, with the allowed commands as the hint, when `status` does not allow `action`. */
export function assertAllowed(key: ApiKey, action: KeyAction): void {
  const sentence = refusal(key.status, action);
  if (!sentence) return;
  const allowed = allowedActions(key.status);
  const why = key.status === 'expired' ? ' It expired and authenticates nowhere.' : key.status === 'compromised' ? ' It was flagged as compromised and authenticates nowhere.' : '';
  throw new UserError(`Cannot ${action} "${key.name}" (${key.id}): ${sentence}${why}`, {
    exitCode: ExitCode.failure,
    hint: `Allowed: ${allowed.map((a) => `\`${actionCommand(a, key)}\``).join(', ')}.`,
  });
}

/** The keys that hold a slot: only Active keys count toward the limit. */
export const activeKeys = (list: Pick<KeyList, 'keys'>) => list.keys.filter((k) => countsTowardLimit(k.status));

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
    `Cannot ${what}: you already have ${list.active_count} active keys${names.length ? ` (${joinWords(names, 'and')})` : ''}, and at most ${limit} can be active at once. Suspended, expired and compromised keys do not count.`,
    {
      exitCode: ExitCode.failure,
      hint: lines.length ? `Free a slot first:\n${lines.join('\n')}` : 'Disable or delete an active key first (`thirdloop keys list`).',
    },
  );
}

/** Names: the protocol's rule (1–64 printable characters after trimming, no format characters), refused as a usage error. */
export function validateKeyName(raw: unknown, origin = 'The key name'): string {
  const check = checkKeyName(raw);
  if (check.ok) return check.name;
  switch (check.problem) {
    case 'not_text':
      throw usageError(`${origin} must be text.`);
    case 'empty':
      throw usageError(`${origin} must not be empty.`, `Give 1–${NAME_MAX_LENGTH} printable characters, e.g. --name laptop.`);
    case 'too_long':
      throw usageError(`${origin} is ${check.length} characters long; at most ${NAME_MAX_LENGTH} are allowed.`);
    case 'not_printable':
      throw usageError(`${origin} contains a control character (a tab, newline or similar); use printable characters only.`);
    case 'format_character':
      throw usageError(`${origin} contains an invisible formatting character (a bidirectional override or a zero-width character); type the name again without it.`);
  }
}

/** 30, 60, 90, 180 or 365 (also "90d"); undefined stays undefined (the default applies). */
export function validateExpiry(raw: unknown): ExpiryDays | undefined {
  if (raw === undefined || raw === null) return undefined;
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim().replace(/d(ays?)?$/i, ''));
  if (!isExpiryDays(n)) {
    throw usageError(`Expiry must be one of ${EXPIRY_DAYS.join(', ')} days, not "${String(raw)}".`, 'For example: --expires 90.');
  }
  return n;
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
