/** The built server's command line: start, users add, keys create, flag-compromised, audit, --demo. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerBuilt } from '../../test/helpers/reference-server.js';
import { rawRequest, silentSockets } from './helpers/raw-http.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'thirdloop-server.js');
let dataDir: string;

function run(args: string[], input = '', env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], { input, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runAsync(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('close', (code) => res({ code, stdout }));
  });
}

async function start(extra: string[] = [], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--data-dir', dataDir, '--upstream', 'mock', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout });
  await new Promise<void>((ok, fail) => {
    rl.on('line', (l) => {
      lines.push(l);
      if (lines.length === (extra.includes('--demo') ? 3 : 2)) ok();
    });
    child.once('exit', (c) => fail(new Error(`exited ${c}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    return exited;
  };
  return { lines, url: lines[0]!.replace('listening on ', ''), stop };
}

beforeAll(() => {
  ensureServerBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-server-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('thirdloop-server', () => {
  it('users add: generated password printed, or read from stdin; duplicates refused', () => {
    const gen = run(['users', 'add', '--email', 'gen@example.com']);
    expect(gen.code).toBe(0);
    expect(gen.stdout).toMatch(/^password: \S{20,}\n$/);
    const piped = run(['users', 'add', '--email', 'ada@example.com', '--password-stdin'], 'correct horse battery\n');
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe('');
    const dup = run(['users', 'add', '--email', 'ADA@example.com', '--password-stdin'], 'another password');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    expect(run(['users', 'add']).code).toBe(2);
    expect(statSync(join(dataDir, 'thirdloop.db')).mode & 0o777).toBe(0o600);
  });

  it('keys create prints the credential once; --json gives {key, secret_key, credential}; the limit holds', () => {
    const plain = run(['keys', 'create', '--user', 'ada@example.com', '--name', 'boot']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^tlk_[0-9A-Za-z]{24};tls_[0-9A-Za-z]{38}\n$/);
    const json = run(['keys', 'create', '--user', 'ada@example.com', '--name', 'two', '--expires', '30', '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body.credential).toBe(`${body.key.id};${body.secret_key}`);
    expect(body.key).toMatchObject({ name: 'two', status: 'active' });
    const third = run(['keys', 'create', '--user', 'ada@example.com']);
    expect(third.code).toBe(1);
    expect(third.stderr).toMatch(/Disable or delete a key first/);
    expect(run(['keys', 'create', '--user', 'nobody@example.com']).code).toBe(1);
    expect(run(['keys', 'create', '--user', 'gen@example.com', '--expires', '7']).stderr).toMatch(/30, 60, 90, 180, 365/);
  });

  it('parallel keys create processes never exceed the limit (one SQLite file, many writers)', async () => {
    run(['users', 'add', '--email', 'race@example.com']);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => runAsync(['keys', 'create', '--user', 'race@example.com', '--name', `p${i}`])));
    expect(results.filter((r) => r.code === 0)).toHaveLength(2);
    expect(results.filter((r) => r.code === 1)).toHaveLength(4);
  });

  it('start serves the API, flag-compromised takes effect at once, audit shows the actions', async () => {
    const server = await start();
    try {
      expect(server.lines[0]).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      const created = JSON.parse(run(['keys', 'create', '--user', 'gen@example.com', '--name', 'leaky', '--json']).stdout);
      const ok = await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': created.credential } });
      expect(ok.status).toBe(200);
      const flagged = run(['keys', 'flag-compromised', created.key.id]);
      expect(flagged.code).toBe(0);
      const refused = await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': created.credential } });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as any).error.message).toMatch(/compromised/);
      expect(run(['keys', 'flag-compromised', 'tlk_' + 'Z'.repeat(24)]).code).toBe(1);

      const audit = run(['audit', '--since', '1h', '--json']);
      expect(audit.code).toBe(0);
      const entries = JSON.parse(audit.stdout).entries as any[];
      expect(entries.some((e) => e.action === 'flag-compromised' && e.key_id === created.key.id && e.kind === 'key')).toBe(true);
      expect(entries.some((e) => e.action === 'create' && e.key_id === created.key.id)).toBe(true);
      expect(audit.stdout).not.toContain(created.secret_key);
      const table = run(['audit']);
      expect(table.stdout.split('\n')[0]).toMatch(/^TIME\s+KIND\s+ACTION/);
      expect(run(['audit', '--since', 'yesterday-ish']).code).toBe(2);
      const future = run(['audit', '--since', '2999-01-01T00:00:00Z', '--json']);
      expect(JSON.parse(future.stdout).entries).toEqual([]);
    } finally {
      await server.stop();
    }
    // Seven operator commands, each its own process: a bound on a hang (35 s at load 30 on two cores), not a timing assertion.
  }, 120_000);

  it('--demo creates demo@example.com with a password kept across restarts (0600 file)', async () => {
    const first = await start(['--demo']);
    await first.stop();
    const second = await start(['--demo']);
    try {
      const line = (l: string[]) => l.find((x) => x.startsWith('demo sign-in:'))!;
      const pw = /password: (\S+)/.exec(line(first.lines))![1]!;
      expect(line(first.lines)).toContain('demo@example.com');
      expect(/password: (\S+)/.exec(line(second.lines))![1]).toBe(pw);
      const file = join(dataDir, 'demo-password');
      expect(readFileSync(file, 'utf8').trim()).toBe(pw);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // the printed password signs in
      const page = await fetch(`${second.url}/login`);
      const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const res = await fetch(`${second.url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrf, email: 'demo@example.com', password: pw }),
      });
      expect(res.status).toBe(303);
    } finally {
      await second.stop();
    }
  });

  it('--trust-proxy (or THIRDLOOP_TRUST_PROXY): X-Forwarded-For names the client only through the named proxies; bad values exit 2', async () => {
    for (const value of ['nonsense', '10.0.0.0/33', '127.0.0.1,,']) {
      const bad = run(['start', '--trust-proxy', value]);
      expect(bad.code, value).toBe(2);
      expect(bad.stderr).toMatch(/^error: --trust-proxy takes IP addresses or CIDR ranges separated by commas \(e\.g\. 10\.0\.0\.0\/8,127\.0\.0\.1\); ".*" is neither\.\n/);
    }
    const badEnv = run(['start'], '', { THIRDLOOP_TRUST_PROXY: 'proxy.internal' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/^error: THIRDLOOP_TRUST_PROXY takes IP addresses/);

    /** Wrong passwords "from" one client until refused, then one try "from" another: is it a new client? */
    async function anotherClientIsNew(url: string, email: string): Promise<boolean> {
      // Limits live in the database, so each run guesses at its own account.
      run(['users', 'add', '--email', email, '--password-stdin'], 'the right password');
      const attempt = async (client: string) => {
        const page = await fetch(`${url}/login`, { headers: { 'x-forwarded-for': client } });
        const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
        const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
        const res = await fetch(`${url}/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, 'x-forwarded-for': client },
          body: new URLSearchParams({ csrf, email, password: 'wrong' }),
        });
        return res.status;
      };
      const first = '203.0.113.9';
      for (let i = 0; i < 5; i++) expect(await attempt(first)).toBe(401);
      expect(await attempt(first)).toBe(429);
      return (await attempt('198.51.100.77')) === 401;
    }
    for (const [how, extra, env, trusted] of [
      ['--trust-proxy', ['--trust-proxy', '10.0.0.0/8, 127.0.0.1'], {}, true],
      ['THIRDLOOP_TRUST_PROXY', [], { THIRDLOOP_TRUST_PROXY: '127.0.0.0/8' }, true],
      ['neither (the default)', [], {}, false],
      ['a proxy that is not this hop', ['--trust-proxy', '10.1.2.3'], {}, false],
    ] as const) {
      const server = await start([...extra], env);
      try {
        expect(await anotherClientIsNew(server.url, `proxied-${extra.length}-${Object.keys(env).length}-${trusted}@example.com`), how).toBe(trusted);
      } finally {
        await server.stop();
      }
    }
  }, 180_000);

  it('the defaults, as shipped: a trickled body is cut at 10 s, a connection that says nothing after 12 s', async () => {
    const server = await start();
    try {
      const text = 'POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\n' + 'a'.repeat(100);
      const [slow, silent] = await Promise.all([
        rawRequest(server.url, text, { trickleAfter: text.indexOf('\r\n\r\n') + 5, trickleMs: 2000, timeoutMs: 30_000 }),
        silentSockets(server.url, 1).then(
          ([socket]) =>
            new Promise<number>((resolve) => {
              const started = performance.now();
              socket!.on('close', () => resolve(performance.now() - started)).on('error', () => {});
            }),
        ),
      ]);
      expect(slow.status).toBe(408);
      expect(slow.body).toContain('The request body did not arrive within 10 seconds.');
      expect(slow.ms).toBeGreaterThanOrEqual(10_000);
      expect(slow.ms).toBeLessThan(14_000);
      expect(silent).toBeGreaterThanOrEqual(10_000);
      expect(silent).toBeLessThan(16_000);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('usage errors exit 2 with a hint; --port in use exits 1 with a sentence', async () => {
    const bad = run(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--help/);
    expect(run(['start', '--port', 'abc']).code).toBe(2);
    expect(run(['start', '--upstream', 'ftp://x']).code).toBe(2);
    const server = await start();
    try {
      const port = new URL(server.url).port;
      const busy = run(['start', '--port', port]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/already in use/);
    } finally {
      await server.stop();
    }
  });
});
