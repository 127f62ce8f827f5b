/**
 * `--database` / THIRDLOOP_DATABASE_URL on the operator commands: the SQLite default loads no
 * PostgreSQL code at all, a PostgreSQL URL loads it, anything else is a usage error, and a database
 * that cannot be reached is said in one line without its password.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needsThat } from '../../test/helpers/components.js';
import { postgresBinDir } from '../../test/helpers/postgres.js';
import { testDatabaseUrl } from '../../test/helpers/test-store.js';
import { runServer } from './helpers/run-server.js';

const RECORDER = resolve(import.meta.dirname, '../../test/helpers/record-imports.mjs');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'thirdloop-database-option-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `users add` with the import recorder; returns the exit code and every module URL it resolved. */
async function importsOf(name: string, args: string[], env: Record<string, string> = {}) {
  const record = join(dir, `${name}.imports`);
  const ran = await runServer(['users', 'add', '--email', `${name}@example.com`, '--password-stdin', '--data-dir', join(dir, name), ...args], {
    env: { ...env, TEST_RECORD_IMPORTS: record },
    stdin: 'correct horse battery',
    execArgv: ['--import', RECORDER],
  });
  expect(ran.stderr).toContain('Added user');
  return readFileSync(record, 'utf8').split('\n');
}

const postgresCode = (urls: string[]) => urls.filter((u) => /\/node_modules\/postgres\/|\/dist\/postgres-[^/]*\.js$/.test(u));

describe('the SQLite default pays nothing for PostgreSQL', () => {
  it('users add on the data directory loads neither the driver nor the PostgreSQL store', async () => {
    const urls = await importsOf('plain', []);
    expect(urls.some((u) => u.includes('better-sqlite3'))).toBe(true); // the recorder sees the store it did load
    expect(postgresCode(urls)).toEqual([]);
  });

  it.skipIf(needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)'))(
    'the same command with --database loads both (and the environment variable does the same)',
    async () => {
      const url = await testDatabaseUrl('database_option');
      const flagged = await importsOf('flagged', ['--database', url]);
      expect(postgresCode(flagged).some((u) => u.includes('/node_modules/postgres/'))).toBe(true);
      expect(postgresCode(flagged).some((u) => /\/dist\/postgres-[^/]*\.js$/.test(u))).toBe(true);
      const fromEnv = await importsOf('from-env', [], { THIRDLOOP_DATABASE_URL: url });
      expect(postgresCode(fromEnv).length).toBeGreaterThan(0);
      // Both wrote to that database: the second user is seen through the first way.
      const audit = await runServer(['keys', 'create', '--user', 'from-env@example.com', '--json', '--database', url]);
      expect(audit.code).toBe(0);
    },
  );
});

describe('what --database accepts', () => {
  it('anything but a postgres:// URL is a usage error (exit 2) that says what it takes', async () => {
    for (const [args, env, source] of [
      [['--database', 'mysql://db/x'], {}, '--database'],
      [[], { THIRDLOOP_DATABASE_URL: '/var/lib/thirdloop.db' }, 'THIRDLOOP_DATABASE_URL'],
    ] as const) {
      const ran = await runServer(['audit', '--data-dir', join(dir, 'usage'), ...args], { env });
      expect(ran.code).toBe(2);
      expect(ran.stderr).toMatch(new RegExp(`^error: ${source} takes a postgres://USER@HOST:PORT/DATABASE URL; without it the SQLite file in --data-dir is used\\n`));
    }
  });

  it('a database that cannot be reached: exit 1, one line naming it, never its password', async () => {
    const ran = await runServer(['audit', '--database', 'postgres://ada:hunter2-secret@127.0.0.1:1/thirdloop']);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^error: cannot use the database at 127\.0\.0\.1:1\/thirdloop: .*ECONNREFUSED.*\n$/);
    expect(ran.stderr).not.toContain('hunter2');
    expect(ran.stdout).toBe('');
  });
});
