/**
 * The run's throwaway PostgreSQL cluster (postgres-cluster.mjs says how it is made). One cluster per
 * test run: vitest's global setup (postgres-global.ts) makes an empty run directory; the first suite
 * that asks for a database starts the cluster there (the others wait for it), and the global
 * teardown stops it. Every suite gets a database of its own.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterAt, startCluster, type Cluster } from './postgres-cluster.mjs';

export { createDatabase, postgresBinDir, startCluster, stopCluster, type Cluster } from './postgres-cluster.mjs';

/**
 * The run's cluster, started by the first caller in any worker: a directory made with mkdir is the
 * lock, cluster.json says it is up, failed.txt that starting it failed.
 */
export async function sharedCluster(runDir: string): Promise<Cluster> {
  const ready = join(runDir, 'cluster.json');
  const failed = join(runDir, 'failed.txt');
  let starter = false;
  try {
    mkdirSync(join(runDir, 'starting'));
    starter = true;
  } catch {
    /* another worker starts it */
  }
  if (starter) {
    try {
      return await startCluster(runDir);
    } catch (err) {
      writeFileSync(failed, (err as Error).message);
      throw err;
    }
  }
  const deadline = Date.now() + 120_000;
  while (!existsSync(ready)) {
    if (existsSync(failed)) throw new Error(readFileSync(failed, 'utf8'));
    if (Date.now() > deadline) throw new Error('the test PostgreSQL cluster did not start within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const { port } = JSON.parse(readFileSync(ready, 'utf8')) as { port: number };
  return clusterAt(port);
}
