/**
 * The server's pure rules on its records: the status a record has at a given
 * time, the plans that apply the shared action table and limit, and the API's
 * wording for bad names and periods. The table, the formats and the checksum
 * themselves are thirdloop-protocol's (protocol/test).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../src/domain/errors.js';
import {
  expiryDaysFromText,
  keyStatus,
  planRename,
  planRotate,
  planTransition,
  validateExpiryDays,
  validateName,
  type KeyRecord,
  type KeyState,
} from '../src/domain/keys.js';
import { formatCredential, makeKeyId, makeSecret, parseCredential } from '../src/domain/token.js';

const rand = (n: number) => randomBytes(n);

describe('credentials', () => {
  it('reads a minted credential; anything else is undefined, without saying which part failed', () => {
    const id = makeKeyId(rand);
    const secret = makeSecret(rand);
    expect(parseCredential(` ${formatCredential(id, secret)}\n`)).toEqual({ keyId: id, secret });
    const flipped = secret.slice(0, 10) + (secret[10] === 'a' ? 'b' : 'a') + secret.slice(11);
    for (const bad of [`${id}:${secret}`, `${id};${secret};x`, `${id};${flipped}`, `tlk_x;${secret}`, '']) {
      expect(parseCredential(bad)).toBeUndefined();
    }
  });
});

describe('key rules', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const later = new Date('2030-02-01T00:00:00Z');
  it('expiry is derived from the clock and beats suspension; compromise beats expiry', () => {
    expect(keyStatus({ state: 'active', expiresAt: later }, now)).toBe('active');
    expect(keyStatus({ state: 'active', expiresAt: now }, now)).toBe('expired');
    expect(keyStatus({ state: 'suspended', expiresAt: new Date(0) }, now)).toBe('expired');
    expect(keyStatus({ state: 'compromised', expiresAt: new Date(0) }, now)).toBe('compromised');
  });

  const record = (state: KeyState, expiresAt = later): KeyRecord => ({
    id: 'tlk_' + 'k'.repeat(24),
    userId: 'usr_1',
    name: 'laptop',
    state,
    secretHash: '0'.repeat(64),
    createdAt: now,
    expiresAt,
    expiresInDays: 30,
    lastUsedAt: null,
  });
  const records = { active: record('active'), suspended: record('suspended'), expired: record('active', now), compromised: record('compromised') };
  const newKey = () => ({ ...record('active'), id: 'tlk_' + 'n'.repeat(24) });
  const attempt = (key: KeyRecord, action: 'disable' | 'enable' | 'delete' | 'rotate' | 'rename'): string => {
    try {
      if (action === 'rotate') planRotate([key], key.id, newKey, now);
      else if (action === 'rename') planRename([key], key.id, 'new name', now);
      else planTransition([key], key.id, action, now);
      return 'allowed';
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).kind).toBe('conflict');
      return (err as DomainError).message;
    }
  };

  it('a no-op changes nothing: its plan is empty and the key is returned as it was', () => {
    expect(planTransition([records.active], records.active.id, 'enable', now)).toEqual({ plan: {}, key: records.active });
    expect(planTransition([records.suspended], records.suspended.id, 'disable', now)).toEqual({ plan: {}, key: records.suspended });
  });

  it('the plans apply the status/action table to records, with its sentences', () => {
    const outcomes = Object.fromEntries(
      Object.entries(records).map(([status, key]) => [status, (['disable', 'enable', 'delete', 'rotate', 'rename'] as const).map((a) => attempt(key, a))]),
    );
    const only = (s: string) => `${s} keys can only be deleted.`;
    expect(outcomes).toEqual({
      // Enabling an Active key and disabling a Suspended one succeed and change nothing.
      active: ['allowed', 'allowed', 'allowed', 'allowed', 'allowed'],
      suspended: [
        'allowed',
        'allowed',
        'allowed',
        'Suspended keys can only be enabled, deleted or renamed.',
        'allowed',
      ],
      expired: [only('Expired'), only('Expired'), 'allowed', only('Expired'), only('Expired')],
      compromised: [only('Compromised'), only('Compromised'), 'allowed', only('Compromised'), only('Compromised')],
    });
  });

  it('names and periods, in the API’s words', () => {
    expect(validateName('  x  ')).toBe('x');
    expect(validateName('🔑'.repeat(64))).toBe('🔑'.repeat(64));
    expect(() => validateName(7)).toThrow('name must be a string.');
    expect(() => validateName('')).toThrow('name must not be empty.');
    expect(() => validateName('a'.repeat(65))).toThrow('name must be at most 64 characters.');
    expect(() => validateName('a\tb')).toThrow('name must contain only printable characters.');
    expect(validateExpiryDays(undefined)).toBe(90);
    expect(validateExpiryDays(180)).toBe(180);
    // Text is converted only where text is read (forms, query strings, argv); the JSON API wants a number.
    expect(() => validateExpiryDays('180')).toThrow(/30, 60, 90, 180, 365/);
    expect(validateExpiryDays(expiryDaysFromText('180'))).toBe(180);
    expect(validateExpiryDays(expiryDaysFromText(''))).toBe(90);
    expect(() => validateExpiryDays(expiryDaysFromText('180 days'))).toThrow(/30, 60, 90, 180, 365/);
    expect(() => validateExpiryDays(14)).toThrow(/30, 60, 90, 180, 365/);
  });
});
