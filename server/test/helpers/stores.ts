/**
 * Store handles for the store suites, on the store this run of the suite is about (SQLite file or
 * PostgreSQL database; see test/helpers/test-store.ts): several handles on one database, as
 * several processes would share it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresBinDir } from '../../../test/helpers/postgres.js';
import { testDatabaseUrl, testStoreKind, type TestStoreKind } from '../../../test/helpers/test-store.js';
import { databasePath, openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

export interface TestDatabase {
  kind: TestStoreKind;
  /** The PostgreSQL URL, or the SQLite data directory. */
  where: { dataDir: string; databaseUrl?: string };
  /**
   * Everything the database holds, as bytes: the SQLite file and its WAL, or a pg_dump of the
   * PostgreSQL database (for "the secret is nowhere in the database" checks).
   */
  bytes(): Buffer;
  /** Another handle on the same database (closed by `close`). */
  open(): Promise<Store>;
  close(): Promise<void>;
}

/** A new empty database of this run's kind. */
export async function testDatabase(name = 'suite'): Promise<TestDatabase> {
  const kind = testStoreKind();
  const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-store-'));
  const databaseUrl = kind === 'postgres' ? await testDatabaseUrl(name) : undefined;
  const handles: Store[] = [];
  return {
    kind,
    where: databaseUrl ? { dataDir, databaseUrl } : { dataDir },
    bytes() {
      if (databaseUrl) return execFileSync(join(postgresBinDir()!, 'pg_dump'), ['--data-only', databaseUrl], { maxBuffer: 256 * 1024 * 1024 });
      const file = databasePath(dataDir);
      return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    },
    async open() {
      let store: Store;
      if (databaseUrl) {
        const { openPostgresStore } = await import('../../src/store/postgres.js');
        store = await openPostgresStore(databaseUrl, { max: 4 });
      } else {
        store = openSqliteStore(databasePath(dataDir));
      }
      handles.push(store);
      return store;
    },
    async close() {
      await Promise.all(handles.splice(0).map((s) => s.close()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
