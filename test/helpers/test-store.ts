/**
 * Which store a parametrized server suite runs on: vitest runs those suites once per store (the
 * `postgres` project in vitest.config.ts), and the helpers that open stores ask here.
 */
import { inject } from 'vitest';
import { createDatabase, sharedCluster } from './postgres.js';

export type TestStoreKind = 'sqlite' | 'postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the run's PostgreSQL cluster lives once a suite started it. */
    postgresRunDir: string;
    /** The store the server suites run on in this project ('sqlite' unless the project says). */
    testStore: TestStoreKind;
  }
}

export function testStoreKind(): TestStoreKind {
  return inject('testStore') ?? 'sqlite';
}

/** A fresh database on the run's PostgreSQL cluster (started on first use). */
export async function testDatabaseUrl(prefix = 'suite'): Promise<string> {
  return createDatabase(await sharedCluster(inject('postgresRunDir')), prefix);
}
