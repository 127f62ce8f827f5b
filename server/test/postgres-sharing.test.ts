/**
 * What replicas share on PostgreSQL beyond plain rows, on a real cluster: key-change notifications
 * (also after the listening connection is cut) and the per-member request buckets (exact on one
 * replica, within the documented bound across two).
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needsThat } from '../../test/helpers/components.js';
import { postgresBinDir } from '../../test/helpers/postgres.js';
import { testDatabaseUrl } from '../../test/helpers/test-store.js';
import { buildApp } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { KEY_CHANNEL, KeyWatch } from '../src/store/postgres-key-watch.js';
import { SharedRequestBuckets } from '../src/store/postgres-request-buckets.js';

const skip = needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)');

describe.skipIf(skip)('sharing between replicas on PostgreSQL', () => {
  let url: string;
  const pools: postgres.Sql[] = [];
  const pool = () => {
    const sql = postgres(url, { max: 3, onnotice: () => {} });
    pools.push(sql);
    return sql;
  };
  beforeAll(async () => {
    url = await testDatabaseUrl('sharing');
    // The schema (the limits table).
    await (await openPostgresStore(url, { max: 1 })).close();
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  });

  /** Resolves with the first batch of ids a watcher is told about that `accept` takes. */
  const told = (watch: KeyWatch, accept: (ids: readonly string[] | null) => boolean) =>
    new Promise<{ ids: readonly string[] | null; stop: () => void }>((resolve) => {
      const stop = watch.watch((ids) => {
        if (accept(ids)) resolve({ ids, stop });
      });
    });

  it('a change announced by one process reaches another within a second; a cut listener makes it forget everything', async () => {
    const watch = new KeyWatch(pool());
    const other = pool();
    // Listening has begun once the connection's first (re)connect forgets everything.
    const first = await told(watch, (ids) => ids === null);
    first.stop();
    const got = told(watch, (ids) => ids !== null && ids.includes('tlk_b'));
    await new Promise((r) => setTimeout(r, 100));
    const sent = Date.now();
    await other`SELECT pg_notify(${KEY_CHANNEL}, 'tlk_a,tlk_b')`;
    const { ids, stop } = await got;
    stop();
    expect(ids).toEqual(['tlk_a', 'tlk_b']);
    expect(Date.now() - sent).toBeLessThan(1000);

    // The database ends the listening connection (a failover, an idle-connection killer).
    const forgot = told(watch, (x) => x === null);
    const cut = Date.now();
    await other`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
    (await forgot).stop();
    expect(Date.now() - cut).toBeLessThan(1500);
    await watch.stop();
  });

  it('request buckets: one replica is exact; two replicas stay within the limit plus 10 % for the other', async () => {
    const bucket = (key: string) => ({ key, limit: 100, windowMs: 3_600_000 });
    const one = new SharedRequestBuckets(pool());
    const take = async (b: SharedRequestBuckets, key: string) => (await b.take(bucket(key), new Date())).allowed;
    let allowed = 0;
    for (let i = 0; i < 150; i++) if (await take(one, 'solo')) allowed++;
    expect(allowed).toBe(100);

    const two = new SharedRequestBuckets(pool());
    allowed = 0;
    // Both take as fast as they can, interleaved.
    for (let i = 0; i < 150; i++) {
      const [x, y] = await Promise.all([take(one, 'pair'), take(two, 'pair')]);
      allowed += Number(x) + Number(y);
    }
    expect(allowed).toBeGreaterThanOrEqual(100);
    expect(allowed).toBeLessThanOrEqual(110);
    await Promise.all([one.close(), two.close()]);
    // Every take reached the shared row: it is empty.
    const [row] = await pool()`SELECT tokens FROM limits WHERE key = 'pair'`;
    expect(Number(row!.tokens)).toBeLessThan(1);
  });

  it('/healthz answers 503 once the database is gone, and says so', async () => {
    const own = await testDatabaseUrl('health');
    const store = await openPostgresStore(own, { max: 2 });
    const app = await buildApp({ store, config: makeConfig({ port: 0, upstream: 'mock' }, {}), clock: () => new Date() });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as { port: number };
      const health = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return { status: res.status, body: await res.json() };
      };
      expect(await health()).toEqual({ status: 200, body: { status: 'ok', database: 'ok' } });
      const name = new URL(own).pathname.slice(1);
      await pool().unsafe(`DROP DATABASE "${name}" WITH (FORCE)`);
      expect(await health()).toEqual({ status: 503, body: { status: 'unavailable', database: 'unreachable' } });
    } finally {
      await app.close();
      await store.close().catch(() => {});
    }
  });
});
