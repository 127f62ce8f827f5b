/**
 * The schema on both stores (run once on SQLite, once on PostgreSQL): fresh databases opened by
 * several processes at once are migrated once, and a database a newer release migrated is refused
 * in one sentence and left as it was.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.js';
import { databasePath } from '../src/store/sqlite.js';
import { runServer } from './helpers/run-server.js';
import { testDatabase, type TestDatabase } from './helpers/stores.js';

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.close();
  database = undefined;
});

const whereArgs = (db: TestDatabase) => ['--data-dir', db.where.dataDir, ...(db.where.databaseUrl ? ['--database', db.where.databaseUrl] : [])];

async function schemaVersion(db: TestDatabase, set?: number): Promise<number> {
  if (db.where.databaseUrl) {
    const { default: postgres } = await import('postgres');
    const sql = postgres(db.where.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      if (set !== undefined) await sql`UPDATE schema_version SET version = ${set}`;
      return (await sql`SELECT version FROM schema_version`)[0]!.version as number;
    } finally {
      await sql.end();
    }
  }
  const file = new Database(databasePath(db.where.dataDir));
  try {
    if (set !== undefined) file.pragma(`user_version = ${set}`);
    return file.pragma('user_version', { simple: true }) as number;
  } finally {
    file.close();
  }
}

describe('migrations', () => {
  it('four processes opening a fresh database at once: each succeeds, the schema is made once', async () => {
    database = await testDatabase('schema_race');
    const ran = await Promise.all(Array.from({ length: 4 }, () => runServer(['audit', ...whereArgs(database!)])));
    expect(ran.map((r) => [r.code, r.stderr])).toEqual(Array.from({ length: 4 }, () => [0, 'No audit entries.\n']));
    expect(await schemaVersion(database)).toBe(MIGRATIONS.length);
  });

  it('a schema newer than this release: refused in one sentence, exit 1, the database left as it was', async () => {
    database = await testDatabase('schema_newer');
    expect((await runServer(['audit', ...whereArgs(database)])).code).toBe(0);
    const newer = MIGRATIONS.length + 1;
    await schemaVersion(database, newer);
    for (const command of [['audit'], ['start', '--port', '0']]) {
      const ran = await runServer([...command, ...whereArgs(database)]);
      expect(ran.code).toBe(1);
      expect(ran.stderr).toBe(
        `error: The database's schema is version ${newer}, newer than this thirdloop-server knows (${MIGRATIONS.length}): ` +
          'it was upgraded by a newer release; run that release (or newer) against it.\n',
      );
      expect(ran.stdout).toBe('');
    }
    expect(await schemaVersion(database)).toBe(newer);
  });
});
