/**
 * A throwaway PostgreSQL cluster for tests and benches, never a system one: `initdb` into a
 * temporary directory owned by the `postgres` system user (PostgreSQL refuses to run as root),
 * started with `pg_ctl` on a free 127.0.0.1 port with its socket in that directory, small (low
 * shared_buffers, few connections, no fsync: the data is thrown away), and stopped at the end.
 *
 * One cluster per test run: vitest's global setup (postgres-global.ts) makes an empty run
 * directory; the first suite that asks for a database starts the cluster there (the others wait for
 * it), and the global teardown stops it. Every suite gets a database of its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** The folder with initdb and pg_ctl (Debian keeps them out of PATH), or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    /* not installed */
  }
  return undefined;
}

export interface Cluster {
  port: number;
  /** The superuser's URL for a database of the cluster. */
  url(database: string): string;
}

const asRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL program as the `postgres` system user when we are root, else as ourselves. */
function runPg(bin: string, program: string, args: string[]): void {
  const [command, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
  const result = spawnSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr || result.stdout || result.error?.message}`);
}

/** Makes the directory the cluster's user's, so initdb and the server can write it. */
function ownedByPostgres(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (!asRoot()) return;
  const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
  chownSync(dir, Number(ids), Number(gid));
  chmodSync(dir, 0o700);
}

/** Creates and starts a cluster in `runDir` (an empty directory the postgres user may traverse). */
export async function startCluster(runDir: string): Promise<Cluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (initdb not found)');
  chmodSync(runDir, 0o755);
  const data = join(runDir, 'data');
  const sockets = join(runDir, 'sockets');
  ownedByPostgres(data);
  ownedByPostgres(sockets);
  chmodSync(sockets, 0o755);
  runPg(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions']);
  let lastError: unknown;
  // Another program may take the free port between the probe and the start: try a few.
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const options = [
      `-p ${port}`,
      "-c listen_addresses='127.0.0.1'",
      `-k ${sockets}`,
      '-c shared_buffers=16MB',
      '-c max_connections=80',
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c log_min_messages=warning',
    ].join(' ');
    try {
      runPg(bin, 'pg_ctl', ['start', '-D', data, '-l', join(data, 'server.log'), '-w', '-t', '60', '-o', options]);
      const cluster = { port, url: (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}` };
      writeFileSync(join(runDir, 'cluster.json'), JSON.stringify({ port }));
      return cluster;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** Stops the cluster in `runDir` (if one was started) and removes the directory. */
export function stopCluster(runDir: string): void {
  const bin = postgresBinDir();
  const data = join(runDir, 'data');
  if (bin && existsSync(join(data, 'postmaster.pid'))) {
    try {
      runPg(bin, 'pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30']);
    } catch {
      /* already gone */
    }
  }
  rmSync(runDir, { recursive: true, force: true });
}

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
  return { port, url: (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}` };
}

/** A new empty database in the cluster; returns its URL. */
export async function createDatabase(cluster: Cluster, prefix = 'test'): Promise<string> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const { default: postgres } = await import('postgres');
  const admin = postgres(cluster.url('postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  return cluster.url(name);
}
