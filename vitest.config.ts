import { defineConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';
import { needsThat } from './test/helpers/components.js';
import { postgresBinDir } from './test/helpers/postgres.js';

/** Ends the run with the plain `N passed, N failed, N skipped` line that any CI reader understands. */
const plainSummary: Reporter = {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else counts.skipped++;
      }
    }
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  },
};

/**
 * The server suites that run once per store: the default project runs them on SQLite, the
 * `postgres` project again on a real PostgreSQL (one suite, parametrized by the store it is given).
 */
const bothStores = [
  'server/test/store-limits.test.ts',
  'server/test/store-schema.test.ts',
  'server/test/api-keys.test.ts',
  'server/test/web-console-http.test.ts',
  'server/test/cli-auth.test.ts',
  'server/test/sessions.test.ts',
  'server/test/sign-in.test.ts',
];

// A missing PostgreSQL leaves the second run out (said), or fails under CI.
const postgresMissing = needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)');

export default defineConfig({
  test: {
    pool: 'forks',
    // Two cores: e2e suites start servers, shells and Chromium.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', plainSummary],
    // One PostgreSQL cluster for the whole run, started by the first suite that needs it.
    globalSetup: ['test/helpers/postgres-global.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['test/**/*.test.ts', 'server/test/**/*.test.ts', 'protocol/test/**/*.test.ts'],
          provide: { testStore: 'sqlite' },
        },
      },
      ...(postgresMissing
        ? []
        : [{ extends: true as const, test: { name: 'postgres', include: bothStores, provide: { testStore: 'postgres' as const } } }]),
    ],
  },
});
