// The reference server for the benchmarks: built, on a loopback port, a temp data dir, the offline upstream.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SERVER_BIN, startChild } from './lib.mjs';

function serverCommand(args, dataDir, input = '') {
  const r = spawnSync(process.execPath, [SERVER_BIN, ...args, '--data-dir', dataDir], { input, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`thirdloop-server ${args.slice(0, 2).join(' ')} exited ${r.status}: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-bench-server-'));
  const env = { ...process.env };
  delete env.THIRDLOOP_PUBLIC_URL;
  const { child, ready } = startChild(
    process.execPath,
    [SERVER_BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--upstream', 'mock'],
    { pattern: /listening on (http:\/\/\S+)/, env },
  );
  let url;
  try {
    url = (await ready)[1];
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  child.stdout.resume();
  return {
    url,
    addUser(email) {
      const password = randomBytes(12).toString('base64url');
      serverCommand(['users', 'add', '--email', email, '--password-stdin'], dataDir, password);
      return { email, password };
    },
    createKey(email, name) {
      const out = JSON.parse(serverCommand(['keys', 'create', '--user', email, '--name', name, '--json'], dataDir));
      return { id: out.key.id, credential: out.credential };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
