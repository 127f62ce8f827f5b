/** `keys list` rendering: rows, cards on a narrow terminal, the marker, colours and the --json document. */
import { describe, expect, test } from 'vitest';
import { listDocument, renderList } from '../../src/commands/keys/list.js';
import type { ApiKey, KeyList } from '../../src/core/api.js';
import { colors, stripAnsi } from '../../src/core/output.js';

const now = new Date('2026-06-01T12:00:00Z');
const k = (over: Partial<ApiKey>): ApiKey => ({
  id: 'tlk_' + 'a'.repeat(24),
  name: 'laptop',
  status: 'active',
  created_at: '2026-05-01T12:00:00.000Z',
  expires_at: '2026-06-13T12:00:00.000Z',
  last_used_at: '2026-06-01T10:00:00.000Z',
  ...over,
});
const list: KeyList = {
  keys: [
    k({}),
    k({ id: 'tlk_' + 'b'.repeat(24), name: 'old', status: 'expired', expires_at: '2026-05-29T12:00:00.000Z', last_used_at: null }),
    k({ id: 'tlk_' + 'c'.repeat(24), name: 'leaked', status: 'compromised' }),
  ],
  active_count: 1,
  active_limit: 2,
};
const here = 'tlk_' + 'a'.repeat(24);

describe('renderList', () => {
  test('a table: header, one row per key, marker, relative expiry, Never used', () => {
    const text = renderList(list, { now, c: colors(false), thisMachineKeyId: here, columns: 200, tty: true });
    const lines = text.split('\n');
    expect(lines[0]).toBe('1 / 2 active keys');
    expect(lines[2]).toMatch(/^NAME\s+ID\s+STATUS\s+CREATED\s+EXPIRES\s+LAST USED$/);
    expect(lines[3]).toMatch(/^laptop \(this machine\)\s+tlk_a{24}\s+Active\s+2026-05-01\s+in 12 days\s+2 hours ago$/);
    expect(lines[4]).toMatch(/^old\s+tlk_b{24}\s+Expired\s+2026-05-01\s+3 days ago\s+Never used$/);
    expect(lines[5]).toMatch(/^leaked\s+tlk_c{24}\s+Compromised/);
    expect(text).not.toContain('\u001b');
  });

  test('cards when the terminal is narrower than the table; rows on a pipe whatever the width', () => {
    const cards = renderList(list, { now, c: colors(false), thisMachineKeyId: here, columns: 60, tty: true });
    expect(cards).toContain('Name       laptop (this machine)');
    expect(cards).toContain('Expires    2026-06-13 (in 12 days)');
    expect(cards).toContain('Last used  Never used');
    expect(cards.split('\n\n')).toHaveLength(4); // header + 3 cards
    const piped = renderList(list, { now, c: colors(false), thisMachineKeyId: here, columns: 60, tty: false });
    expect(piped).toContain('NAME');
  });

  test('colours when enabled: status colours and the same text underneath', () => {
    const text = renderList(list, { now, c: colors(true), thisMachineKeyId: here, columns: 200, tty: true });
    expect(text).toContain('\u001b[32mActive');
    expect(text).toContain('\u001b[2mExpired');
    expect(text).toContain('\u001b[31mCompromised');
    expect(stripAnsi(text)).toBe(renderList(list, { now, c: colors(false), thisMachineKeyId: here, columns: 200, tty: true }));
  });

  test('no keys: just the header', () => {
    expect(renderList({ keys: [], active_count: 0, active_limit: 2 }, { now, c: colors(false), thisMachineKeyId: here, columns: 80, tty: true })).toBe('0 / 2 active keys');
  });
});

describe('listDocument', () => {
  test('stable field order, server values, this machine’s key ID (null when not listed)', () => {
    const doc = listDocument({ ...list, keys: list.keys.map((key) => ({ extra: 1, ...key }) as ApiKey) }, here);
    expect(Object.keys(doc)).toEqual(['keys', 'active_count', 'active_limit', 'this_machine_key_id']);
    expect(Object.keys(doc.keys[0]!)).toEqual(['id', 'name', 'status', 'created_at', 'expires_at', 'last_used_at']);
    expect(doc.keys).toEqual(list.keys);
    expect(doc.this_machine_key_id).toBe(here);
    expect(listDocument(list, 'tlk_' + 'z'.repeat(24)).this_machine_key_id).toBeNull();
  });
});
