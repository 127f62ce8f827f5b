/** The product's key rules, spelled out once: both programs import exactly these. */
import { describe, expect, test } from 'vitest';
import {
  ACTIVE_KEY_LIMIT,
  ALLOWED_ACTIONS,
  DEFAULT_EXPIRY_DAYS,
  EXPIRY_DAYS,
  KEY_ACTIONS,
  KEY_STATUSES,
  STATUS_LABEL,
  allowedActions,
  countsTowardLimit,
  isAllowed,
  isExpiryDays,
  isKeyStatus,
  isNoOp,
  joinWords,
  refusal,
} from 'thirdloop-protocol';

describe('the status/action table', () => {
  test('Active → disable, delete, rotate, rename; Suspended → enable, delete, rename; Expired, Compromised → delete', () => {
    expect(ALLOWED_ACTIONS).toEqual({
      active: ['disable', 'delete', 'rotate', 'rename'],
      suspended: ['enable', 'delete', 'rename'],
      expired: ['delete'],
      compromised: ['delete'],
    });
    expect(Object.keys(ALLOWED_ACTIONS)).toEqual([...KEY_STATUSES]);
  });

  test('every status may delete; only Active rotates', () => {
    for (const status of KEY_STATUSES) expect(isAllowed(status, 'delete')).toBe(true);
    expect(KEY_STATUSES.filter((s) => isAllowed(s, 'rotate'))).toEqual(['active']);
  });

  test('an unknown status (a newer server) allows nothing', () => {
    expect(allowedActions('retired' as never)).toEqual([]);
    expect(isKeyStatus('retired')).toBe(false);
    for (const status of KEY_STATUSES) expect(isKeyStatus(status)).toBe(true);
  });
});

describe('refusal sentences', () => {
  // Every cell: undefined where allowed or a no-op, else the 409's sentence (docs/api.md).
  const expected: Record<string, string | undefined> = {
    'suspended×rotate': 'Suspended keys can only be enabled, deleted or renamed.',
    'expired×disable': 'Expired keys can only be deleted.',
    'expired×enable': 'Expired keys can only be deleted.',
    'expired×rotate': 'Expired keys can only be deleted.',
    'expired×rename': 'Expired keys can only be deleted.',
    'compromised×disable': 'Compromised keys can only be deleted.',
    'compromised×enable': 'Compromised keys can only be deleted.',
    'compromised×rotate': 'Compromised keys can only be deleted.',
    'compromised×rename': 'Compromised keys can only be deleted.',
  };
  test.each(KEY_STATUSES.flatMap((s) => KEY_ACTIONS.map((a) => [s, a] as const)))('%s × %s', (status, action) => {
    expect(refusal(status, action)).toBe(expected[`${status}×${action}`]);
    expect(refusal(status, action) === undefined).toBe(isAllowed(status, action) || isNoOp(status, action));
  });

  test('enabling an Active key and disabling a Suspended one are the only no-ops (idempotent: 200, nothing changed)', () => {
    const noOps = KEY_STATUSES.flatMap((s) => KEY_ACTIONS.filter((a) => isNoOp(s, a)).map((a) => `${s}×${a}`));
    expect(noOps).toEqual(['active×enable', 'suspended×disable']);
  });

  test('labels are capitalised words; lists read "a, b or c"', () => {
    expect(Object.values(STATUS_LABEL)).toEqual(['Active', 'Suspended', 'Expired', 'Compromised']);
    expect(joinWords([], 'or')).toBe('');
    expect(joinWords(['a'], 'or')).toBe('a');
    expect(joinWords(['a', 'b'], 'and')).toBe('a and b');
    expect(joinWords(['a', 'b', 'c'], 'or')).toBe('a, b or c');
  });
});

describe('limit and expiry', () => {
  test('at most 2 active keys; only Active keys count', () => {
    expect(ACTIVE_KEY_LIMIT).toBe(2);
    expect(KEY_STATUSES.filter(countsTowardLimit)).toEqual(['active']);
  });

  test('30, 60, 90 (default), 180 or 365 days', () => {
    expect(EXPIRY_DAYS).toEqual([30, 60, 90, 180, 365]);
    expect(DEFAULT_EXPIRY_DAYS).toBe(90);
    for (const d of EXPIRY_DAYS) expect(isExpiryDays(d)).toBe(true);
    for (const bad of [0, 45, 91, -90, '90', null, undefined, Number.NaN]) expect(isExpiryDays(bad)).toBe(false);
  });
});
