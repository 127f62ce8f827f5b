/**
 * The store's limits, marks, secrets and sessions on a real database (a SQLite file, or PostgreSQL in
 * the `postgres` run), as two processes would share it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../src/domain/errors.js';
import { createKey } from '../src/store/key-actions.js';
import type { Store } from '../src/store/store.js';
import { testDatabase, type TestDatabase } from './helpers/stores.js';

let database: TestDatabase;
let one: Store;
let two: Store;
beforeAll(async () => {
  database = await testDatabase('store_limits');
  [one, two] = [await database.open(), await database.open()];
});
afterAll(async () => {
  await database?.close();
});

const at = (ms: number) => new Date(1_800_000_000_000 + ms);

describe('limits', () => {
  it('take is all or none over several buckets, and says which refused and for how long', async () => {
    const small = { key: 'small', limit: 1, windowMs: 60_000 };
    const big = { key: 'big', limit: 10, windowMs: 60_000 };
    expect(await one.limits.take([small, big], at(0))).toEqual({ allowed: true });
    expect(await one.limits.take([big, small], at(1000))).toEqual({ allowed: false, retryAfterMs: 59_000, key: 'small' });
    // The refused take took nothing from "big": 9 left, as after the first take.
    for (let i = 0; i < 9; i++) expect((await two.limits.take([big], at(1000))).allowed).toBe(true);
    expect((await two.limits.take([big], at(1000))).allowed).toBe(false);
  });

  // Answered at once on SQLite; PostgreSQL may first fold the bucket into the shared row (a promise).
  it('takeRequest (the gateway’s per-member bucket): the minute’s allowance, then the wait, then the refill', async () => {
    const b = { key: 'member', limit: 60, windowMs: 60_000 };
    for (let i = 0; i < 60; i++) expect(await one.limits.takeRequest(b, at(0))).toEqual({ allowed: true });
    expect(await one.limits.takeRequest(b, at(0))).toEqual({ allowed: false, retryAfterMs: 1000, key: 'member' });
    expect(await one.limits.takeRequest({ ...b, key: 'another member' }, at(0))).toEqual({ allowed: true });
    expect(await one.limits.takeRequest(b, at(1000))).toEqual({ allowed: true });
    expect(await one.limits.takeRequest(b, at(1000))).toMatchObject({ allowed: false });
    const slow = { key: 'slow', limit: 2, windowMs: 60_000 };
    await one.limits.takeRequest(slow, at(0));
    await one.limits.takeRequest(slow, at(0));
    expect(await one.limits.takeRequest(slow, at(0))).toMatchObject({ retryAfterMs: 30_000 });
    expect(await one.limits.takeRequest(slow, at(29_500))).toMatchObject({ retryAfterMs: 500 });
  });

  it('two store handles on one file count against the same buckets', async () => {
    const b = { key: 'shared', limit: 3, windowMs: 60_000 };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? one : two).limits.take([b], at(0))));
    expect(results.filter((r) => r.allowed)).toHaveLength(3);
  });

  it('refund gives back one token, never past the limit', async () => {
    const b = { key: 'refund', limit: 2, windowMs: 60_000 };
    await one.limits.take([b], at(0));
    await one.limits.take([b], at(0));
    expect((await one.limits.take([b], at(0))).allowed).toBe(false);
    await one.limits.refund([b], at(0));
    expect((await one.limits.take([b], at(0))).allowed).toBe(true);
    await one.limits.refund([b], at(0));
    await one.limits.refund([b], at(0));
    await one.limits.refund([b], at(0));
    expect((await one.limits.take([b], at(0))).allowed).toBe(true);
    expect((await one.limits.take([b], at(0))).allowed).toBe(true);
    expect((await one.limits.take([b], at(0))).allowed).toBe(false);
  });

  it('markOnce: once per key until the mark runs out, whichever handle asks', async () => {
    expect(await one.limits.markOnce('m', at(0), at(60_000))).toBe(true);
    expect(await two.limits.markOnce('m', at(1000), at(61_000))).toBe(false);
    expect(await one.limits.markOnce('m', at(59_999), at(119_999))).toBe(false);
    expect(await two.limits.markOnce('m', at(60_000), at(120_000))).toBe(true);
  });
});

describe('secrets and sessions', () => {
  it('a named secret is made once and is the same for every process on the database', async () => {
    const [a, b] = await Promise.all([one.secrets.get('signing-key'), two.secrets.get('signing-key')]);
    expect(a).toHaveLength(32);
    expect(b.equals(a)).toBe(true);
    expect((await one.secrets.get('other')).equals(a)).toBe(false);
  });

  it('sessions: touch never goes back; listForUser skips ended ones; deleteForUser ends them all', async () => {
    const user = await one.users.create({ id: 'usr_s', email: 's@example.com', passwordHash: 'x', createdAt: at(0) });
    const session = (id: string, createdAt: number, idle = 1000) => ({
      idHash: id,
      userId: user!.id,
      csrfToken: 't',
      createdAt: at(createdAt),
      expiresAt: at(createdAt + 10_000),
      lastSeenAt: at(createdAt),
      idleTimeoutMs: idle,
    });
    await one.sessions.insert(session('a', 0));
    await one.sessions.insert(session('b', 100));
    await one.sessions.touch('a', at(900));
    await one.sessions.touch('a', at(500));
    expect((await two.sessions.find('a'))!.lastSeenAt).toEqual(at(900));
    // At 1500, b has been idle 1400 ms (over its 1000): only a is live.
    expect((await two.sessions.listForUser(user!.id, at(1500))).map((s) => s.idHash)).toEqual(['a']);
    await one.sessions.deleteExpired(at(1500));
    expect(await one.sessions.find('b')).toBeUndefined();
    expect(await one.sessions.deleteForUser(user!.id)).toBe(1);
    expect(await one.sessions.find('a')).toBeUndefined();
  });
});

describe('the active-key limit across handles', () => {
  it('100 creates racing on two handles (two processes, two pools) leave exactly 2 Active keys', async () => {
    const user = await one.users.create({ id: 'usr_race', email: 'race@example.com', passwordHash: 'x', createdAt: at(0) });
    const now = new Date();
    // Every connection of both pools open first, so the creates really run side by side.
    await Promise.all([one, two].flatMap((store) => Array.from({ length: 8 }, () => store.health())));
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => createKey({ store: i % 2 ? one : two, now, userId: user!.id }, { name: `k${i}`, expiresInDays: 30 })),
    );
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect(refused.every((e) => e instanceof DomainError && e.kind === 'conflict')).toBe(true);
    const keys = await two.keys.listForUser(user!.id);
    expect(keys.filter((k) => k.state === 'active')).toHaveLength(2);
  });
});
