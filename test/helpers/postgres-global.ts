/**
 * vitest global setup: one empty run directory for the run's PostgreSQL cluster, which the first
 * suite that needs it starts (helpers/postgres.ts), and its teardown, which stops the cluster.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { stopCluster } from './postgres.js';
import './test-store.js';

export default function setup(project: TestProject) {
  const runDir = mkdtempSync(join(tmpdir(), 'thirdloop-pg-'));
  project.provide('postgresRunDir', runDir);
  return () => stopCluster(runDir);
}
