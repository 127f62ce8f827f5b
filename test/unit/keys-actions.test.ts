/**
 * The client's copy of the key rules must say exactly what the server says:
 * the status/action table, the refusal sentences, names and expiry periods
 * are checked against the server's domain module (tests may import it; src/ may not).
 */
import { describe, expect, test } from 'vitest';
import * as server from '../../server/src/domain/keys.js';
import {
  ALLOWED_ACTIONS,
  assertAllowed,
  expiresIn,
  limitError,
  paintStatus,
  refusalSentence,
  validateExpiry,
  validateKeyName,
  type KeyAction,
} from '../../src/core/key-actions.js';
import type { ApiKey, KeyStatus } from '../../src/core/api.js';
import { colors } from '../../src/core/output.js';
import { UserError } from '../../src/core/errors.js';

const STATUSES: KeyStatus[] = ['active', 'suspended', 'expired', 'compromised'];
const ACTIONS: KeyAction[] = ['disable', 'enable', 'delete', 'rotate', 'rename'];

const key = (status: KeyStatus, over: Partial<ApiKey> = {}): ApiKey => ({
  id: 'tlk_' + 'A'.repeat(24),
  name: 'laptop',
  status,
  created_at: '2026-01-01T00:00:00.000Z',
  expires_at: '2026-04-01T00:00:00.000Z',
  last_used_at: null,
  ...over,
});

describe('status/action table', () => {
  test('is the server’s table', () => {
    expect(ALLOWED_ACTIONS).toEqual(server.ALLOWED_ACTIONS);
  });

  test.each(STATUSES.flatMap((s) => ACTIONS.map((a) => [s, a] as const)))('%s × %s: same sentence as the server', (status, action) => {
    expect(refusalSentence(status, action)).toBe(server.refusal(status, action));
  });

  test('the product rules, spelled out', () => {
    expect(refusalSentence('expired', 'enable')).toBe('Expired keys can only be deleted.');
    expect(refusalSentence('compromised', 'rotate')).toBe('Compromised keys can only be deleted.');
    expect(refusalSentence('active', 'disable')).toBeUndefined();
    expect(refusalSentence('suspended', 'enable')).toBeUndefined();
    for (const s of STATUSES) expect(refusalSentence(s, 'delete')).toBeUndefined();
  });

  test('assertAllowed throws exit 1 naming the allowed commands', () => {
    expect(() => assertAllowed(key('active'), 'disable')).not.toThrow();
    let error: UserError | undefined;
    try {
      assertAllowed(key('expired'), 'rename');
    } catch (e) {
      error = e as UserError;
    }
    expect(error).toBeInstanceOf(UserError);
    expect(error!.exitCode).toBe(1);
    expect(error!.message).toBe(`Cannot rename "laptop" (tlk_${'A'.repeat(24)}): Expired keys can only be deleted. It expired and authenticates nowhere.`);
    expect(error!.hint).toBe(`Allowed: \`thirdloop keys delete tlk_${'A'.repeat(24)}\`.`);
  });
});

describe('limit', () => {
  test('explains the rule and lists disable/delete for each active key, this machine’s last', () => {
    const a = key('active', { id: 'tlk_' + 'a'.repeat(24), name: 'here' });
    const b = key('active', { id: 'tlk_' + 'b'.repeat(24), name: 'there' });
    const s = key('suspended', { id: 'tlk_' + 'c'.repeat(24), name: 'parked' });
    const error = limitError({ keys: [a, b, s], active_count: 2, active_limit: 2 }, 'create a key', a.id);
    expect(error.message).toMatch(/^Cannot create a key: you already have 2 active keys \("here" .* and "there" .*\), and at most 2 can be active at once\./);
    const lines = error.hint!.split('\n');
    expect(lines[0]).toBe('Free a slot first:');
    expect(lines[1]).toContain(`thirdloop keys disable ${b.id}`);
    expect(lines[3]).toContain(`thirdloop keys disable ${a.id}`);
    expect(lines[3]).toContain('the key this machine uses');
    expect(error.hint).not.toContain(s.id);
  });
});

describe('input validation mirrors the server', () => {
  const names = ['laptop', '  padded  ', 'x'.repeat(64), 'x'.repeat(65), '', '   ', 'tab\there', 'new\nline', 'bell\u0007', 'del\u007f', 'ünïcødé ✓', '😀'.repeat(64), '😀'.repeat(65), 'sep\u2028'];
  test.each(names)('name %j', (name) => {
    let serverResult: string | Error;
    try {
      serverResult = server.validateName(name);
    } catch (e) {
      serverResult = e as Error;
    }
    if (serverResult instanceof Error) {
      expect(() => validateKeyName(name)).toThrow(UserError);
      try {
        validateKeyName(name);
      } catch (e) {
        expect((e as UserError).exitCode).toBe(2);
      }
    } else {
      expect(validateKeyName(name)).toBe(serverResult);
    }
  });

  test('expiry: 30, 60, 90, 180, 365 (also "90d"), nothing else', () => {
    expect(validateExpiry(undefined)).toBeUndefined();
    for (const d of server.EXPIRY_DAYS) {
      expect(validateExpiry(d)).toBe(d);
      expect(validateExpiry(String(d))).toBe(d);
    }
    expect(validateExpiry('90d')).toBe(90);
    for (const bad of [0, 45, 91, -90, 'ninety', '', 'Infinity']) expect(() => validateExpiry(bad)).toThrow(/30, 60, 90, 180, 365/);
  });
});

describe('presentation', () => {
  test('expiresIn speaks in days', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    expect(expiresIn('2026-01-13T12:00:00Z', now)).toBe('in 12 days');
    expect(expiresIn('2025-12-29T12:00:00Z', now)).toBe('3 days ago');
    expect(expiresIn('2026-04-01T12:00:00Z', now)).toBe('in 90 days');
    expect(expiresIn('2026-01-02T12:00:00Z', now)).toBe('in 1 day');
    expect(expiresIn('2026-01-01T17:00:00Z', now)).toBe('in 5 hours');
    expect(expiresIn('2026-01-01T11:50:00Z', now)).toBe('less than an hour ago');
  });

  test('status colours: Active green, Suspended yellow, Expired dim, Compromised red; none when off', () => {
    const on = colors(true);
    expect(paintStatus('active', on)).toBe('\u001b[32mActive\u001b[39m');
    expect(paintStatus('suspended', on)).toBe('\u001b[33mSuspended\u001b[39m');
    expect(paintStatus('expired', on)).toBe('\u001b[2mExpired\u001b[22m');
    expect(paintStatus('compromised', on)).toBe('\u001b[31mCompromised\u001b[39m');
    for (const s of STATUSES) expect(paintStatus(s, colors(false))).not.toContain('\u001b');
  });
});
