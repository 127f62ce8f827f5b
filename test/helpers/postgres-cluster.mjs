// A throwaway PostgreSQL cluster for tests and benches, never a system one: `initdb` into a temporary
// directory owned by the `postgres` system user (PostgreSQL refuses to run as root), started with
// `pg_ctl` on a free 127.0.0.1 port with its socket in that directory, small (low shared_buffers, few
// connections, no fsync: the data is thrown away), and stopped at the end. Plain JavaScript so the
// benches (bench/*.mjs) start the same cluster the tests do; types in postgres-cluster.d.mts.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The folder with initdb and pg_ctl (Debian keeps them out of PATH), or undefined. */
export function postgresBinDir() {
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

const asRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL program as the `postgres` system user when we are root, else as ourselves. */
function runPg(bin, program, args) {
  const [command, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
  const result = spawnSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr || result.stdout || result.error?.message}`);
}

/** Makes the directory the cluster's user's, so initdb and the server can write it. */
function ownedByPostgres(dir) {
  mkdirSync(dir, { recursive: true });
  if (!asRoot()) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export const clusterAt = (port) => ({ port, url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}` });

/** Creates and starts a cluster in `runDir` (an empty directory); writes cluster.json there once it is up. */
export async function startCluster(runDir) {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (initdb not found)');
  chmodSync(runDir, 0o755);
  const data = join(runDir, 'data');
  const sockets = join(runDir, 'sockets');
  ownedByPostgres(data);
  ownedByPostgres(sockets);
  chmodSync(sockets, 0o755);
  runPg(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions']);
  let lastError;
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
      writeFileSync(join(runDir, 'cluster.json'), JSON.stringify({ port }));
      return clusterAt(port);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** Stops the cluster in `runDir` (if one was started) and removes the directory. */
export function stopCluster(runDir) {
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

/** A new empty database in the cluster; returns its URL. */
export async function createDatabase(cluster, prefix = 'test') {
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
