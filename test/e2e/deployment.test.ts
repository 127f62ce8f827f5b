/**
 * The README's "Several replicas on PostgreSQL", followed as written: its settings, its first-member
 * command and its start command run by bash (with `thirdloop-server` on PATH as an installed
 * package puts it), two replicas on one real PostgreSQL, its nginx block in front (Debian's nginx,
 * a test CA's certificate) — with only the site's addresses and certificate paths replaced. Then the
 * CLI signs in through the load balancer by the browser flow (default opener, Chromium), nginx
 * spreads its requests over both replicas, and one replica is upgraded the README's way (SIGTERM,
 * start again) while the CLI keeps working.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { browserMissing } from '../helpers/browser.js';
import { ensureCliBuilt, makeHome, ROOT, runCli, startCli } from '../helpers/cli.js';
import { needs, needsThat } from '../helpers/components.js';
import { approveInChromium, fakeXdgOpen } from '../helpers/default-opener.js';
import { freePort } from '../helpers/free-port.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { postgresBinDir } from '../helpers/postgres.js';
import { ensureServerBuilt, SERVER_BIN } from '../helpers/reference-server.js';
import { testDatabaseUrl } from '../helpers/test-store.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';

const missing =
  needs('openssl', 'nginx', 'bash') ?? needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)') ?? browserMissing();

/** The README's section, and its fenced blocks in order. */
function readmeSection(): { sh: string[]; nginx: string } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Several replicas on PostgreSQL');
  const end = readme.indexOf('\n#', start + 10);
  const section = readme.slice(start, end);
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
  return { sh: blocks.filter((b) => b.lang === 'sh').map((b) => b.body), nginx: blocks.find((b) => b.lang === 'nginx')!.body };
}

/** Replaces each `from` (which must be there: the README changed otherwise) with `to`. */
function substitute(text: string, pairs: Array<[string, string]>): string {
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`the README's block no longer contains ${from}`);
    text = text.split(from).join(to);
  }
  return text;
}

interface Replica {
  child: ChildProcess;
  url: string;
  port: number;
  stderr(): string;
}

describe.skipIf(missing)("the README's deployment: two replicas, one PostgreSQL, nginx in front", () => {
  const { sh, nginx: nginxBlock } = readmeSection();
  const [settings, firstMember, startLine] = sh as [string, string, string];
  let work: string;
  let ca: TestCa;
  let nginx: Nginx;
  let publicUrl: string;
  let env: NodeJS.ProcessEnv;
  const replicas: Replica[] = [];
  const admin = { email: 'admin@example.com', password: 'correct horse battery staple' };

  /** Runs a README block with bash, as an operator pastes it into a shell. */
  const bash = (script: string, extraEnv: Record<string, string> = {}) =>
    spawn('bash', ['-euo', 'pipefail', '-c', script], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });

  /** The README's line, on this machine's loopback and a free port (or `port`) instead of 0.0.0.0:8787. */
  async function startReplica(port = 0): Promise<Replica> {
    const line = substitute(startLine.trim(), [
      ['--host 0.0.0.0', '--host 127.0.0.1'],
      ['--port 8787', `--port ${port}`],
    ]);
    const child = bash(`exec ${line}`);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica did not start in 60 s: ${stderr}`)), 60_000);
      createInterface({ input: child.stdout! }).once('line', (first) => {
        clearTimeout(timer);
        const m = /^listening on (http:\/\/\S+)$/.exec(first);
        if (m) resolve(m[1]!);
        else reject(new Error(`unexpected first line: ${first} ${stderr}`));
      });
      child.once('exit', (code) => reject(new Error(`replica exited ${code}: ${stderr}`)));
    });
    child.stdout!.resume();
    return { child, url, port: Number(new URL(url).port), stderr: () => stderr };
  }

  async function stopReplica(replica: Replica): Promise<number | null> {
    if (replica.child.exitCode !== null) return replica.child.exitCode;
    const exited = new Promise<number | null>((r) => replica.child.once('exit', (code) => r(code)));
    replica.child.kill('SIGTERM');
    return exited;
  }

  beforeAll(async () => {
    ensureCliBuilt();
    ensureServerBuilt();
    work = mkdtempSync(join(tmpdir(), 'thirdloop-deployment-'));
    // `thirdloop-server` on PATH, as the installed package puts it.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'thirdloop-server'), `#!/bin/sh\nexec "${process.execPath}" "${SERVER_BIN}" "$@"\n`);
    chmodSync(join(bin, 'thirdloop-server'), 0o755);

    ca = makeTestCa();
    const cert = ca.issue({ fullChain: true });
    const nginxPort = await freePort();
    publicUrl = `https://127.0.0.1:${nginxPort}`;
    const databaseUrl = await testDatabaseUrl('deployment');

    // The README's settings, with this site's values: read back from a shell that ran the block.
    const site = substitute(settings, [
      ["'postgres://thirdloop:PASSWORD@db.internal:5432/thirdloop'", `'${databaseUrl}'`],
      ['https://thirdloop.example.com', publicUrl],
      ['https://api.anthropic.com', 'mock'],
      ["'sk-ant-api03-…'", "''"],
      ['10.0.0.5', '127.0.0.1'],
    ]);
    const base: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('THIRDLOOP_')));
    env = { ...base, PATH: `${bin}:${process.env.PATH}` };
    const printed = await new Promise<string>((resolve, reject) => {
      const child = bash(`${site}\nenv -0`);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`the settings block exited ${code}`))));
    });
    for (const entry of printed.split('\0')) {
      const eq = entry.indexOf('=');
      if (entry.startsWith('THIRDLOOP_')) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    expect(env.THIRDLOOP_DATABASE_URL).toBe(databaseUrl);

    // The first member, once.
    const added = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = bash(firstMember, { ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: admin.password });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(added, added.stderr).toMatchObject({ code: 0 });

    // Two replicas started at once on the database.
    replicas.push(...(await Promise.all([startReplica(), startReplica()])));

    const httpBody = substitute(nginxBlock, [
      ['10.0.0.11:8787', `127.0.0.1:${replicas[0]!.port}`],
      ['10.0.0.12:8787', `127.0.0.1:${replicas[1]!.port}`],
      ['listen 443 ssl;', `listen 127.0.0.1:${nginxPort} ssl;`],
      ['/etc/ssl/thirdloop/fullchain.pem', cert.certFile],
      ['/etc/ssl/thirdloop/privkey.pem', cert.keyFile],
    ]);
    nginx = await startNginx({ httpBody, cert, port: nginxPort });
  }, 180_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(replicas.map(stopReplica));
    ca?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  /** The replicas (by port) that answered requests so far, per nginx's log. */
  const answeredBy = () => new Set([...nginx.accessLog().matchAll(/upstream=127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])));

  test('the CLI signs in through the load balancer in the browser; its requests reach both replicas; one is upgraded while it keeps working', async () => {
    const { home, cleanup } = makeHome('thirdloop-deployment-home-');
    try {
      const trusted = { NODE_EXTRA_CA_CERTS: ca.certFile };
      const opener = fakeXdgOpen(home);
      const cli = startCli(['auth', '--api-url', publicUrl, '--insecure-storage', '--timeout', '60'], {
        home,
        env: { ...trusted, ...opener.env },
        timeoutMs: 90_000,
      });
      try {
        const url = await opener.nextUrl();
        expect(url.startsWith(`${publicUrl}/cli-auth?`), url).toBe(true);
        await approveInChromium(url, admin, { trustSpki: ca.spki });
        const result = await cli.exited;
        expect(result.exitCode, result.stderr).toBe(0);
        expect(result.stderr).toContain(`Signed in to ${publicUrl} as ${admin.email}`);
      } finally {
        cli.child.kill('SIGKILL');
      }
      // Round robin: the sign-in's pages, the exchange and the CLI's checks went to both.
      expect([...answeredBy()].sort()).toEqual(replicas.map((r) => r.port).sort());
      for (const _ of [1, 2, 3, 4]) {
        const list = await runCli(['keys', 'list', '--json'], { home, env: trusted });
        expect(list.exitCode, list.stderr).toBe(0);
        expect(JSON.parse(list.stdout).keys).toHaveLength(1);
      }

      // Upgrading replica 1 the README's way: SIGTERM, then start it again (here: the same release).
      expect(await stopReplica(replicas[0]!)).toBe(0);
      for (const args of [['status', '--json'], ['keys', 'list', '--json'], ['keys', 'create', '--name', 'during upgrade', '--json']]) {
        const result = await runCli(args, { home, env: trusted });
        expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      }
      replicas[0] = await startReplica(replicas[0]!.port);
      const health = await fetch(`${replicas[0].url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok', database: 'ok' });
      const status = await runCli(['status', '--json'], { home, env: trusted });
      expect(status.exitCode, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).key.status).toBe('active');
    } finally {
      cleanup();
    }
  }, 180_000);
});
