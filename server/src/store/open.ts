/**
 * Which store a server or operator command uses: the PostgreSQL database named by `--database`
 * (or THIRDLOOP_DATABASE_URL), else the SQLite file in the data directory. The PostgreSQL store and
 * its driver are imported only here and only for such a URL, so the default loads neither.
 */
import { mkdirSync } from 'node:fs';
import { SchemaError } from './schema-error.js';
import { databasePath, openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** A `--database` value that is not a PostgreSQL URL (a usage error). */
export class DatabaseUrlError extends Error {}

/** A database that could not be opened, said in one sentence (never with its password). */
export class DatabaseOpenError extends Error {}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL to use, or undefined for the SQLite default; refuses anything but a postgres:// URL. */
export function databaseUrlFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const [value, source] = option !== undefined ? [option, '--database'] : [env.THIRDLOOP_DATABASE_URL, 'THIRDLOOP_DATABASE_URL'];
  if (value === undefined || value.trim() === '') return undefined;
  if (!isPostgresUrl(value.trim())) {
    throw new DatabaseUrlError(`${source} takes a postgres://USER@HOST:PORT/DATABASE URL; without it the SQLite file in --data-dir is used`);
  }
  return value.trim();
}

export async function openStore(where: { dataDir: string; databaseUrl?: string | undefined }): Promise<Store> {
  if (!where.databaseUrl) {
    mkdirSync(where.dataDir, { recursive: true, mode: 0o700 });
    return openSqliteStore(databasePath(where.dataDir));
  }
  const { openPostgresStore, describeDatabase } = await import('./postgres.js');
  try {
    return await openPostgresStore(where.databaseUrl);
  } catch (err) {
    if (err instanceof SchemaError) throw err;
    const reason = (err as Error).message.replace(where.databaseUrl, describeDatabase(where.databaseUrl));
    throw new DatabaseOpenError(`cannot use the database at ${describeDatabase(where.databaseUrl)}: ${reason}`);
  }
}
