/**
 * How the CLI applies the key rules before any request: the refusal with the
 * commands that are allowed, the limit with the commands that free a slot,
 * and its own sentences for bad names and periods. The rules themselves are
 * thirdloop-protocol's (tested in protocol/test); these tests pin what the
 * CLI does with them, so a change to the shared table shows here too.
 */
import { describe, expect, test } from 'vitest';
import {
  assertAllowed,
  expiresIn,
  limitError,
  paintStatus,
  validateExpiry,
  validateKeyName,
  type KeyAction,
} from '../../src/core/key-actions.js';
import type { ApiKey, KeyStatus } from '../../src/core/api.js';
import { colors } from '../../src/core/output.js';
import { UserError } from '../../src/core/errors.js';

const STATUSES: KeyStatus[] = ['active', 'suspended', 'expired', 'compromised'];
const ACTIONS: KeyAction[] = ['disable', 'enable', 'delete', 'rotate', 'rename'];
const ID = 'tlk_' + 'A'.repeat(24);

const key = (status: KeyStatus, over: Partial<ApiKey> = {}): ApiKey => ({
  id: ID,
  name: 'laptop',
  status,
  created_at: '2026-01-01T00:00:00.000Z',
  expires_at: '2026-04-01T00:00:00.000Z',
  last_used_at: null,
  ...over,
});

const refusedWith = (status: KeyStatus, action: KeyAction): UserError | undefined => {
  try {
    assertAllowed(key(status), action);
    return undefined;
  } catch (e) {
    return e as UserError;
  }
};

describe('refused before any request', () => {
  // The product rules: Active → disable, delete, rotate, rename; Suspended → enable, delete, rename;
  // Expired and Compromised → delete only.
  const allowed: Record<KeyStatus, KeyAction[]> = {
    active: ['disable', 'delete', 'rotate', 'rename'],
    suspended: ['enable', 'delete', 'rename'],
    expired: ['delete'],
    compromised: ['delete'],
  };

  // Enabling an Active key and disabling a Suspended one are no-ops, not refusals.
  const noOp = (status: KeyStatus, action: KeyAction) => (status === 'active' && action === 'enable') || (status === 'suspended' && action === 'disable');

  test.each(STATUSES.flatMap((s) => ACTIONS.map((a) => [s, a] as const)))('%s × %s', (status, action) => {
    const error = refusedWith(status, action);
    if (allowed[status].includes(action) || noOp(status, action)) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(UserError);
    expect(error!.exitCode).toBe(1);
    expect(error!.message).toMatch(new RegExp(`^Cannot ${action} "laptop" \\(${ID}\\): `));
    expect(error!.hint).toBe(`Allowed: ${allowed[status].map((a) => `\`thirdloop keys ${a} ${ID}${a === 'rename' ? ' <new name>' : ''}\``).join(', ')}.`);
  });

  test('the sentences are the server’s, with why an expired or compromised key is stuck', () => {
    expect(refusedWith('expired', 'rename')!.message).toBe(`Cannot rename "laptop" (${ID}): Expired keys can only be deleted. It expired and authenticates nowhere.`);
    expect(refusedWith('compromised', 'rotate')!.message).toBe(`Cannot rotate "laptop" (${ID}): Compromised keys can only be deleted. It was flagged as compromised and authenticates nowhere.`);
    expect(refusedWith('suspended', 'rotate')!.message).toBe(`Cannot rotate "laptop" (${ID}): Suspended keys can only be enabled, deleted or renamed.`);
    expect(refusedWith('active', 'enable')).toBeUndefined();
    expect(refusedWith('suspended', 'disable')).toBeUndefined();
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

describe('input validation: exit 2 and a sentence, before any request', () => {
  const usage = (fn: () => unknown): UserError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      expect((e as UserError).exitCode).toBe(2);
      return e as UserError;
    }
    throw new Error('expected a usage error');
  };

  test('names: trimmed; 1–64 characters as people count them; no control or format characters', () => {
    expect(validateKeyName('  padded  ')).toBe('padded');
    expect(validateKeyName('😀'.repeat(64))).toBe('😀'.repeat(64));
    expect(validateKeyName('ünïcødé ✓')).toBe('ünïcødé ✓');
    expect(usage(() => validateKeyName(42)).message).toBe('The key name must be text.');
    expect(usage(() => validateKeyName('   ')).message).toBe('The key name must not be empty.');
    expect(usage(() => validateKeyName('   ')).hint).toBe('Give 1–64 printable characters, e.g. --name laptop.');
    expect(usage(() => validateKeyName('😀'.repeat(65), 'The new name')).message).toBe('The new name is 65 characters long; at most 64 are allowed.');
    for (const bad of ['tab\there', 'new\nline', 'bell\u0007', 'del\u007f', 'c1\u0085']) {
      expect(usage(() => validateKeyName(bad)).message).toBe('The key name contains a control character (a tab, newline or similar); use printable characters only.');
    }
    for (const bad of ['invoice\u202Egnp.exe', 'lap\u200Btop', '\u2066laptop\u2069']) {
      expect(usage(() => validateKeyName(bad)).message).toBe(
        'The key name contains an invisible formatting character (a bidirectional override or a zero-width character); type the name again without it.',
      );
    }
  });

  test('expiry: 30, 60, 90, 180, 365 (also "90d"), nothing else', () => {
    expect(validateExpiry(undefined)).toBeUndefined();
    for (const d of [30, 60, 90, 180, 365]) {
      expect(validateExpiry(d)).toBe(d);
      expect(validateExpiry(String(d))).toBe(d);
    }
    expect(validateExpiry('90d')).toBe(90);
    for (const bad of [0, 45, 91, -90, 'ninety', '', 'Infinity']) expect(usage(() => validateExpiry(bad)).message).toMatch(/30, 60, 90, 180, 365/);
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
