import { describe, expect, test } from 'vitest';
import { checkKeyRef, resolveKey } from '../../src/core/key-resolve.js';
import type { ApiKey } from '../../src/core/api.js';
import { UserError } from '../../src/core/errors.js';

const mk = (id: string, name: string, status: ApiKey['status'] = 'active'): ApiKey => ({
  id: `tlk_${id.padEnd(24, '0')}`,
  name,
  status,
  created_at: '2026-01-01T00:00:00.000Z',
  expires_at: '2026-04-01T00:00:00.000Z',
  last_used_at: null,
});

const keys = [mk('ab12', 'laptop'), mk('ab34', 'Desktop', 'suspended'), mk('cd56', 'ci'), mk('ef78', 'ci', 'expired')];

function failure(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('checkKeyRef (before any request)', () => {
  test('accepts IDs, ID prefixes and names, trimmed', () => {
    expect(checkKeyRef(' tlk_ab ')).toBe('tlk_ab');
    expect(checkKeyRef('my laptop')).toBe('my laptop');
    expect(checkKeyRef(keys[0]!.id)).toBe(keys[0]!.id);
  });
  test.each([undefined, '', '   ', 'tlk_ab-12', `tlk_${'a'.repeat(25)}`, 'x'.repeat(65), 'a\nb'])('refuses %j with exit 2', (ref) => {
    expect(failure(() => checkKeyRef(ref)).exitCode).toBe(2);
  });
});

describe('resolveKey', () => {
  test('exact ID first', () => expect(resolveKey(keys, keys[2]!.id)).toBe(keys[2]));
  test('unique name', () => expect(resolveKey(keys, 'laptop')).toBe(keys[0]));
  test('unique name, case-insensitive when no exact match', () => expect(resolveKey(keys, 'desktop')).toBe(keys[1]));
  test('unique ID prefix', () => expect(resolveKey(keys, 'tlk_cd')).toBe(keys[2]));
  test('an exact name beats a prefix', () => {
    const tricky = [mk('zz', 'tlk_ab'), ...keys];
    expect(resolveKey(tricky, 'tlk_ab')).toBe(tricky[0]);
  });
  test('ambiguous prefix lists the candidates, exit 2', () => {
    const e = failure(() => resolveKey(keys, 'tlk_ab'));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('"tlk_ab" is the start of 2 keys:');
    expect(e.message).toContain(`${keys[0]!.id}  laptop  (Active)`);
    expect(e.message).toContain(`${keys[1]!.id}  Desktop  (Suspended)`);
    expect(e.hint).toMatch(/key ID/);
  });
  test('duplicate names are ambiguous', () => {
    const e = failure(() => resolveKey(keys, 'ci'));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('"ci" is the name of 2 keys:');
    expect(e.message).toContain('(Expired)');
  });
  test('no match: exit 1 pointing at keys list', () => {
    const e = failure(() => resolveKey(keys, 'nope'));
    expect(e.exitCode).toBe(1);
    expect(e.hint).toContain('thirdloop keys list');
    expect(failure(() => resolveKey([], 'x')).hint).toContain('thirdloop keys create');
  });
  test('a partial name is not a match, but it is suggested', () => {
    const e = failure(() => resolveKey(keys, 'lap'));
    expect(e.exitCode).toBe(1);
    expect(e.hint).toContain(`Did you mean "laptop" (${keys[0]!.id})?`);
  });
});
