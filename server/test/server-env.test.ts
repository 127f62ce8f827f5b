/**
 * Every environment variable docs/api.md documents for the server, read by
 * the real binary and seen to take effect, with no flag overriding it. The
 * list of variables comes from the document itself, so a variable added there
 * without a case here fails. Plus the defaults when nothing is set: the data
 * directory (THIRDLOOP_SERVER_DATA_DIR unset: the XDG data directory under
 * HOME), the listening URL as the public URL, the offline model, no request
 * log.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { Agent, get as httpGet } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { needs, needsThat } from '../../test/helpers/components.js';
import { postgresBinDir } from '../../test/helpers/postgres.js';
import { testDatabaseUrl } from '../../test/helpers/test-store.js';
import { SERVER_BIN, ensureServerBuilt, shiftedClock, startReferenceServer, type ReferenceServer } from '../../test/helpers/reference-server.js';
import { makeTestCa, type TestCa } from '../../test/helpers/tls.js';
import { startTinyproxy, type Tinyproxy } from '../../test/helpers/tinyproxy.js';
import { Browser } from './helpers/app.js';
import { messageBody, sendJson, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';

const DOC = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');

/** The names in the first column of the "| variable | default | what |" table. */
function documentedVariables(): string[] {
  const start = DOC.indexOf('| variable ');
  expect(start, 'docs/api.md has the environment table').toBeGreaterThan(0);
  const rows = DOC.slice(start).split('\n\n')[0]!.split('\n').slice(2);
  return rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!));
}

/** The server binary's environment: the parent's, minus everything a variable here could come from, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('THIRDLOOP_') || /^(https?|no)_proxy$/i.test(name) || name === 'NODE_EXTRA_CA_CERTS' || name === 'XDG_DATA_HOME') env[name] = undefined;
  }
  return { ...env, ...extra };
}
const defined = (env: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));

/** Sends `head` (a request with only part of its body) on a raw connection: what came back, and when the server closed it. */
function partialRequest(url: string, head: string): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.on('close', () => resolve({ text, ms: performance.now() - started }));
    socket.on('error', reject);
    socket.setTimeout(30_000, () => socket.destroy());
    socket.write(head);
  });
}

/** `count` GET /healthz at once on a keep-alive agent: each answer's Connection header. */
async function keepAliveAnswers(url: string, count: number): Promise<Array<string | undefined>> {
  const agent = new Agent({ keepAlive: true, maxSockets: count });
  try {
    return await Promise.all(
      Array.from({ length: count }, () =>
        new Promise<string | undefined>((resolve, reject) => {
          httpGet(`${url}/healthz`, { agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.headers.connection));
          }).on('error', reject);
        }),
      ),
    );
  } finally {
    agent.destroy();
  }
}

const missing = needs('openssl', 'tinyproxy') ?? needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)');

describe.skipIf(missing)('the server reads each documented environment variable', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'thirdloop-env-'));
    dirs.push(dir);
    return dir;
  };
  let ca: TestCa;
  let plain: FakeUpstream;
  let tls: FakeUpstream;
  let proxy: Tinyproxy;
  const servers: ReferenceServer[] = [];
  const ORG_KEY = 'sk-ant-api03-FAKE-env-test';

  /** The real server started with `env` only (start flags: --port 0 and a data dir, unless the case is about it). */
  async function serverWith(env: Record<string, string>, options: { upstream?: string | false; args?: string[] } = {}) {
    const server = await startReferenceServer({ env: cleanEnv(env), args: options.args, ...(options.upstream !== undefined ? { upstream: options.upstream } : {}) });
    servers.push(server);
    return server;
  }
  async function keyFor(server: ReferenceServer) {
    const { email } = await server.addUser(`member${Math.random().toString(36).slice(2)}@example.com`);
    return (await server.createKey(email)).credential;
  }
  const ask = (server: ReferenceServer, credential: string, model = 'claude-sonnet-4-5', path = '/v1/messages') =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
      signal: AbortSignal.timeout(20_000),
    });

  beforeAll(async () => {
    ensureServerBuilt();
    ca = makeTestCa('env test CA');
    const cert = ca.issue();
    [plain, tls, proxy] = await Promise.all([startFakeUpstream(), startFakeUpstream({ tls: { key: cert.key, cert: cert.cert } }), startTinyproxy()]);
    for (const upstream of [plain, tls]) {
      upstream.handle((req, res, received) => {
        // The slow model never answers: the upstream timeout has to end the wait.
        if (received.body.includes('claude-opus-4-5')) return;
        sendJson(res, 200, messageBody(`from ${upstream === tls ? 'tls' : 'plain'}`));
      });
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all([plain?.close(), tls?.close(), proxy?.stop()]);
    ca?.cleanup();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** The command run with only `env` (and no --data-dir): where its database went. */
  function usersAdd(env: Record<string, string>) {
    const run = spawnSync(process.execPath, [SERVER_BIN, 'users', 'add', '--email', 'dir@example.com', '--password-stdin'], {
      env: defined(cleanEnv(env)),
      input: 'a long enough password',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status, run.stderr).toBe(0);
  }

  const cases: Record<string, () => Promise<void>> = {
    async THIRDLOOP_SERVER_DATA_DIR() {
      const dir = join(tempDir(), 'data');
      const home = tempDir();
      usersAdd({ THIRDLOOP_SERVER_DATA_DIR: dir, HOME: home });
      expect(existsSync(join(dir, 'thirdloop.db'))).toBe(true);
      expect(existsSync(join(home, '.local'))).toBe(false);
    },
    async THIRDLOOP_DATABASE_URL() {
      // The user lands in the PostgreSQL database named by the variable, not in a SQLite file.
      const url = await testDatabaseUrl('server_env');
      const dir = join(tempDir(), 'data');
      usersAdd({ THIRDLOOP_DATABASE_URL: url, THIRDLOOP_SERVER_DATA_DIR: dir, HOME: tempDir() });
      expect(existsSync(join(dir, 'thirdloop.db'))).toBe(false);
      const { default: postgres } = await import('postgres');
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        expect(await sql`SELECT email FROM users`).toEqual([{ email: 'dir@example.com' }]);
      } finally {
        await sql.end();
      }
    },
    async THIRDLOOP_PUBLIC_URL() {
      const server = await serverWith({ THIRDLOOP_PUBLIC_URL: 'https://llm.example.com' }, { args: ['--demo'] });
      // The start-up lines after the first may still be on their way.
      await expect.poll(() => server.stdout(), { timeout: 20_000 }).toMatch(/^demo sign-in: https:\/\/llm\.example\.com\/login {2}email: demo@example\.com/m);
      expect(server.stdout()).toContain('public URL (ANTHROPIC_BASE_URL): https://llm.example.com\n');
      // Cookies follow the public URL's scheme.
      const login = await fetch(`${server.url}/login`);
      expect(login.headers.get('set-cookie')).toMatch(/; Secure/);
    },
    async THIRDLOOP_UPSTREAM() {
      // No --upstream flag at all: the variable alone picks the provider.
      const server = await serverWith({ THIRDLOOP_UPSTREAM: plain.url }, { upstream: false });
      await expect.poll(() => server.stdout(), { timeout: 20_000 }).toContain(`upstream: ${plain.url}\n`);
      const before = plain.received.length;
      expect((await ask(server, await keyFor(server))).status).toBe(200);
      expect(plain.received.length).toBe(before + 1);
    },
    async THIRDLOOP_UPSTREAM_API_KEY() {
      const server = await serverWith({ THIRDLOOP_UPSTREAM_API_KEY: ORG_KEY }, { upstream: plain.url });
      const res = await ask(server, await keyFor(server));
      expect(res.status).toBe(200);
      expect(plain.received.at(-1)?.headers['x-api-key']).toBe(ORG_KEY);
    },
    async THIRDLOOP_UPSTREAM_TIMEOUT_MS() {
      const server = await serverWith({ THIRDLOOP_UPSTREAM_TIMEOUT_MS: '500', THIRDLOOP_UPSTREAM_API_KEY: ORG_KEY }, { upstream: plain.url });
      const res = await ask(server, await keyFor(server), 'claude-opus-4-5');
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('timeout_error');
    },
    async THIRDLOOP_MODEL_ALIASES() {
      const server = await serverWith({ THIRDLOOP_MODEL_ALIASES: 'house-model=claude-haiku-4-5' });
      const res = await fetch(`${server.url}/v1/models/house-model`, { headers: { 'x-api-key': await keyFor(server) } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { id: string }).id).toBe('claude-haiku-4-5');
    },
    async THIRDLOOP_RATE_LIMIT_PER_MINUTE() {
      const server = await serverWith({ THIRDLOOP_RATE_LIMIT_PER_MINUTE: '2' });
      const credential = await keyFor(server);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': credential } })).status);
      expect(statuses).toEqual([200, 200, 429]);
    },
    async THIRDLOOP_AUTH_FAILURES_PER_MINUTE() {
      const server = await serverWith({ THIRDLOOP_AUTH_FAILURES_PER_MINUTE: '1' });
      const statuses: number[] = [];
      for (let i = 0; i < 2; i++) statuses.push((await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': 'not a key' } })).status);
      expect(statuses).toEqual([401, 429]);
    },
    async THIRDLOOP_UPSTREAM_CA() {
      const server = await serverWith({ THIRDLOOP_UPSTREAM_CA: ca.certFile }, { upstream: tls.url });
      const res = await ask(server, await keyFor(server));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]!.text).toBe('from tls');
    },
    async NODE_EXTRA_CA_CERTS() {
      const server = await serverWith({ NODE_EXTRA_CA_CERTS: ca.certFile }, { upstream: tls.url });
      expect((await ask(server, await keyFor(server))).status).toBe(200);
      const without = await serverWith({}, { upstream: tls.url });
      expect((await ask(without, await keyFor(without))).status).toBe(502);
    },
    async HTTPS_PROXY() {
      for (const name of ['HTTPS_PROXY', 'https_proxy']) {
        const before = proxy.tunnels().length;
        const server = await serverWith({ NODE_EXTRA_CA_CERTS: ca.certFile, [name]: proxy.url }, { upstream: tls.url });
        expect((await ask(server, await keyFor(server))).status, name).toBe(200);
        expect(proxy.tunnels().slice(before), name).toEqual([new URL(tls.url).host]);
      }
    },
    async HTTP_PROXY() {
      const before = proxy.connectRequests().length;
      const server = await serverWith({ HTTP_PROXY: proxy.url }, { upstream: plain.url });
      expect((await ask(server, await keyFor(server))).status).toBe(200);
      expect(proxy.connectRequests().slice(before)).toEqual([new URL(plain.url).host]);
    },
    async NO_PROXY() {
      const before = proxy.connectRequests().length;
      const server = await serverWith({ NODE_EXTRA_CA_CERTS: ca.certFile, HTTPS_PROXY: proxy.url, NO_PROXY: `example.com,127.0.0.1:${new URL(tls.url).port}` }, { upstream: tls.url });
      expect((await ask(server, await keyFor(server))).status).toBe(200);
      expect(proxy.connectRequests().length).toBe(before);
    },
    async THIRDLOOP_SERVER_LOG() {
      const logged = await serverWith({ THIRDLOOP_SERVER_LOG: '1' });
      await fetch(`${logged.url}/healthz`);
      await expect.poll(() => logged.stderr(), { timeout: 20_000 }).toMatch(/"url":"\/healthz".*"msg":"incoming request"/);
      expect(logged.stdout()).not.toContain('incoming request');
      const quiet = await serverWith({});
      await fetch(`${quiet.url}/healthz`);
      await fetch(`${quiet.url}/healthz`);
      await quiet.stop();
      expect(quiet.stderr()).toBe('');
    },
    async THIRDLOOP_TRUST_PROXY() {
      // One failed authentication per address and minute: behind a trusted proxy each forwarded
      // client is counted apart; without the variable, X-Forwarded-For is ignored and they share one count.
      const failures = (server: ReferenceServer) =>
        Promise.all(['203.0.113.7', '203.0.113.8'].map(async (client) => (await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': 'not a key', 'x-forwarded-for': client } })).status));
      const trusting = await serverWith({ THIRDLOOP_TRUST_PROXY: '127.0.0.1', THIRDLOOP_AUTH_FAILURES_PER_MINUTE: '1' });
      expect(await failures(trusting)).toEqual([401, 401]);
      const plainServer = await serverWith({ THIRDLOOP_AUTH_FAILURES_PER_MINUTE: '1' });
      expect((await failures(plainServer)).sort()).toEqual([401, 429]);
    },
    async THIRDLOOP_SESSION_IDLE_MINUTES() {
      const server = await serverWith({ THIRDLOOP_SESSION_IDLE_MINUTES: '30' });
      const { email, password } = await server.addUser(`s${Math.random().toString(36).slice(2)}@example.com`);
      const browser = new Browser(server.url);
      expect((await browser.signIn(email, password)).status).toBe(303);
      expect((await browser.get('/settings/sessions')).html).toContain('A session ends after 30 minutes without activity, and 12 hours after signing in');
    },
    async THIRDLOOP_SESSION_LIFETIME_MINUTES() {
      const server = await serverWith({ THIRDLOOP_SESSION_LIFETIME_MINUTES: '480' });
      const { email, password } = await server.addUser(`s${Math.random().toString(36).slice(2)}@example.com`);
      const browser = new Browser(server.url);
      const signedIn = await browser.signIn(email, password);
      expect(signedIn.status).toBe(303);
      // The browser keeps the session cookie for the lifetime, no longer.
      expect(signedIn.headers.getSetCookie().find((c) => /Max-Age=(?!0;)/.test(c) && c.includes('HttpOnly') && !/device/i.test(c))).toMatch(/Max-Age=28800\b/);
      expect((await browser.get('/settings/sessions')).html).toContain('2 hours without activity, and 8 hours after signing in');
    },
    async THIRDLOOP_BODY_TIMEOUT_MS() {
      const server = await serverWith({ THIRDLOOP_BODY_TIMEOUT_MS: '500' });
      const answer = await partialRequest(server.url, `POST /api/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na`);
      expect(answer.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer.text).toContain('within 0.5 seconds');
      expect(answer.ms).toBeLessThan(10_000); // the default would be 10 s
    },
    async THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS() {
      const server = await serverWith({ THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS: '700' });
      const credential = await keyFor(server);
      const answer = await partialRequest(
        server.url,
        `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${credential}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mo`,
      );
      expect(answer.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer.text).toContain('within 0.7 seconds');
      expect(answer.ms).toBeLessThan(60_000);
    },
    async THIRDLOOP_MAX_IDLE_CONNECTIONS_PER_ADDRESS() {
      // Eight requests at once, eight connections: past the bound, each answer closes its own.
      const bounded = await serverWith({ THIRDLOOP_MAX_IDLE_CONNECTIONS_PER_ADDRESS: '2' });
      const answers = await keepAliveAnswers(bounded.url, 8);
      expect(answers.filter((c) => c === 'keep-alive').length).toBeLessThanOrEqual(2);
      expect(answers.filter((c) => c === 'close').length).toBeGreaterThanOrEqual(6);
      const unbounded = await serverWith({});
      expect((await keepAliveAnswers(unbounded.url, 8)).every((c) => c === 'keep-alive')).toBe(true);
    },
  };

  test('every variable in docs/api.md has a case here, and every case is documented', () => {
    const documented = documentedVariables();
    expect(documented.length).toBeGreaterThanOrEqual(10);
    expect([...documented].sort()).toEqual(Object.keys(cases).sort());
  });

  for (const name of Object.keys(cases)) {
    test(`${name}`, () => cases[name]!(), 120_000);
  }

  test('defaults, with none of them set: the XDG data directory under HOME, the listening URL, the offline model, no request log', async () => {
    const home = tempDir();
    usersAdd({ HOME: home });
    expect(existsSync(join(home, '.local', 'share', 'thirdloop-server', 'thirdloop.db'))).toBe(true);
    const xdg = join(tempDir(), 'xdg');
    usersAdd({ HOME: home, XDG_DATA_HOME: xdg });
    expect(existsSync(join(xdg, 'thirdloop-server', 'thirdloop.db'))).toBe(true);
    const help = spawnSync(process.execPath, [SERVER_BIN, '--help'], { env: defined(cleanEnv({ HOME: home })), encoding: 'utf8' });
    expect(help.stdout).toContain(`default: ${join(home, '.local', 'share', 'thirdloop-server')}`);

    const server = await startBare({ HOME: home }, undefined);
    const lines = server.stdout.split('\n');
    expect(lines[0]).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toBe('upstream: mock (built-in offline model)');
    expect(server.stdout).not.toContain('public URL');
    await fetch(`${server.url}/healthz`);
    await server.stop();
    expect(server.stderr()).toBe('');
  }, 120_000);

  /**
   * `start` with no flag but --port 0 (and --data-dir when given), so nothing but the environment
   * decides; resolves once the start-up lines are out.
   */
  async function startBare(env: Record<string, string>, dataDir: string | undefined) {
    const { spawn } = await import('node:child_process');
    const args = [SERVER_BIN, 'start', '--port', '0', ...(dataDir ? ['--data-dir', dataDir] : [])];
    const child = spawn(process.execPath, args, { env: defined(cleanEnv(env)), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await expect.poll(() => stdout, { timeout: 20_000 }).toMatch(/^upstream: .*\n/m);
    const url = /^listening on (\S+)$/m.exec(stdout)![1]!;
    const exited = new Promise((r) => child.once('close', r));
    return {
      url,
      get stdout() {
        return stdout;
      },
      stderr: () => stderr,
      async stop() {
        child.kill('SIGTERM');
        await exited;
      },
    };
  }
});

describe('no test hook in the shipped server', () => {
  test('THIRDLOOP_SERVER_NOW_OFFSET_MS moves nothing: a 30-day key made "31 days ago" that way is active; the test-only preload does move it', async () => {
    ensureServerBuilt();
    const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-clock-'));
    try {
      const run = (args: string[], env: Record<string, string>, execArgv: string[] = []) => {
        const result = spawnSync(process.execPath, [...execArgv, SERVER_BIN, ...args, '--data-dir', dataDir], {
          env: defined(cleanEnv(env)),
          input: 'a long enough password',
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect(result.status, result.stderr).toBe(0);
        return result.stdout;
      };
      run(['users', 'add', '--email', 'clock@example.com', '--password-stdin'], {});
      const DAY = 86_400_000;
      const create = (env: Record<string, string>, execArgv?: string[]) =>
        JSON.parse(run(['keys', 'create', '--user', 'clock@example.com', '--expires', '30', '--json'], env, execArgv)) as { key: { status: string; expires_at: string } };

      const hooked = create({ THIRDLOOP_SERVER_NOW_OFFSET_MS: String(-31 * DAY) });
      expect(hooked.key.status).toBe('active');
      expect(Date.parse(hooked.key.expires_at)).toBeGreaterThan(Date.now() + 29 * DAY);

      const shifted = shiftedClock(-31 * DAY);
      const past = create(shifted.env, shifted.execArgv);
      expect(Date.parse(past.key.expires_at)).toBeLessThan(Date.now());
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
