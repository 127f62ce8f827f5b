/**
 * The CLI against an instance deployed as people deploy it: the reference
 * server behind nginx terminating TLS with a certificate from the
 * organization's own CA (made here with openssl), `--public-url https://…`.
 * NODE_EXTRA_CA_CERTS (read by Node when the CLI starts) is how users trust
 * that CA; without it every command says so in one sentence. The browser
 * sign-in runs through the product's default opener chain (a fake xdg-open
 * first on PATH hands the URL to Chromium, which trusts the CA by its SPKI),
 * and the official SDK reaches the gateway over https after `setup claude`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, browserMissing, signInIfAsked } from '../helpers/browser.js';
import { approveInChromium, fakeXdgOpen } from '../helpers/default-opener.js';
import { ROOT, ensureCliBuilt, makeHome, oneErrorSentence, runCli, startCli } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { startHttpsInstance, type HttpsInstance } from '../helpers/https-instance.js';

const missing = needs('openssl', 'nginx', 'bash') ?? browserMissing();

/** Requests nginx served so far: one access-log line each. */
const served = (instance: HttpsInstance) => instance.nginx.accessLog().split('\n').filter(Boolean);

describe.skipIf(missing)('the CLI and an https instance behind nginx', () => {
  let instance: HttpsInstance;
  let seq = 0;
  /** A member of their own per test (each has room for 2 active keys). */
  const member = () => instance.server.addUser(`member${++seq}@example.com`, `correct horse battery staple ${seq}`);
  const cleanups: Array<() => void> = [];
  const home = () => {
    const h = makeHome('thirdloop-https-');
    cleanups.push(h.cleanup);
    return h.home;
  };
  /** What a user in an organization with its own CA has in their environment. */
  const trusted = () => ({ NODE_EXTRA_CA_CERTS: instance.ca.certFile });

  beforeAll(async () => {
    ensureCliBuilt();
    instance = await startHttpsInstance();
  }, 120_000);
  afterAll(async () => {
    await instance?.stop();
    cleanups.forEach((fn) => fn());
  }, 120_000);

  test('auth --with-key, status, keys list, keys rotate and doctor all work over https, through nginx', async () => {
    const h = home();
    const user = await member();
    const { credential, id } = await instance.server.createKey(user.email, { name: 'laptop' });
    const run = async (args: string[], input?: string) => {
      const before = served(instance).length;
      const result = await runCli(args, { home: h, env: trusted(), input });
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      // Every command reached the instance through the TLS terminator.
      expect(served(instance).length, args.join(' ')).toBeGreaterThan(before);
      return result;
    };

    const auth = await run(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], `${credential}\n`);
    expect(auth.stderr).toContain(`Signed in to ${instance.url} as ${user.email}.`);

    const status = await run(['status', '--json']);
    const doc = JSON.parse(status.stdout);
    expect(doc.api_url).toBe(instance.url);
    expect(doc.key.id).toBe(id);
    expect(doc.key.status).toBe('active');

    const list = await run(['keys', 'list', '--json']);
    expect(JSON.parse(list.stdout).keys.map((k: { id: string }) => k.id)).toEqual([id]);

    const rotate = await run(['keys', 'rotate', id, '--yes']);
    expect(rotate.stderr).toMatch(/Rotated/i);
    const after = JSON.parse((await run(['status', '--json'])).stdout);
    expect(after.key.id).not.toBe(id);
    expect(after.key.status).toBe('active');
    const token = (await runCli(['token'], { home: h })).stdout.trim();
    expect(token).not.toBe(credential);

    const doctor = await runCli(['doctor', '--json'], { home: h, env: trusted() });
    const checks = JSON.parse(doctor.stdout) as Array<{ check: string; status: string; message: string }>;
    const instanceCheck = checks.find((c) => c.check === 'instance');
    expect(instanceCheck, doctor.stdout).toMatchObject({ status: 'ok', message: expect.stringContaining(`${instance.url} is reachable`) });
    expect(checks.find((c) => c.check === 'key'), doctor.stdout).toMatchObject({ status: 'ok' });

    // nginx saw the requests under their own paths, over TLS only (it listens for nothing else).
    const log = served(instance).join('\n');
    for (const path of ['GET /api/me', 'GET /api/keys', `POST /api/keys/${id}/rotate`, 'GET /healthz']) expect(log).toContain(path);
  }, 120_000);

  test('without NODE_EXTRA_CA_CERTS: one sentence naming the untrusted certificate and the fix; nothing is stored', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'untrusted' });
    const auth = await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], { home: h, input: `${credential}\n` });
    expect(auth.exitCode).toBe(1);
    const sentence = oneErrorSentence(auth);
    expect(sentence).toContain(`${instance.url}/api/me`);
    expect(sentence).toContain('certificate authority this machine does not trust');
    expect(sentence).toContain('set NODE_EXTRA_CA_CERTS');
    expect(auth.stderr).not.toContain(credential.split(';')[1]);
    expect(existsSync(join(h, '.config', 'thirdloop', 'credentials.json'))).toBe(false);

    // Signed in with the CA, then run without it: every command that asks the instance says the same.
    expect((await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], { home: h, env: trusted(), input: credential })).exitCode).toBe(0);
    for (const args of [['keys', 'list'], ['status']]) {
      const result = await runCli(args, { home: h });
      expect(result.exitCode, args.join(' ')).toBe(1);
      expect(result.stderr).toContain('certificate authority this machine does not trust; if your organization uses its own, set NODE_EXTRA_CA_CERTS');
    }
    // doctor names the same problem, with the fix in its own column.
    const doctor = await runCli(['doctor', '--json'], { home: h });
    expect(doctor.exitCode).toBe(1);
    const check = (JSON.parse(doctor.stdout) as Array<{ check: string; status: string; message: string; fix: string }>).find((c) => c.check === 'instance');
    expect(check).toMatchObject({ status: 'fail', fix: "export NODE_EXTRA_CA_CERTS=<your organization's CA certificate, PEM>" });
    expect(check!.message).toContain('certificate authority this machine does not trust');
  }, 120_000);

  test('browser sign-in through the default opener: consent pages stay on the public https URL, cookies are Secure', async () => {
    const h = home();
    const user = await member();
    const opener = fakeXdgOpen(h);
    const cli = startCli(['auth', '--api-url', instance.url, '--insecure-storage', '--timeout', '60'], {
      home: h,
      env: { ...trusted(), ...opener.env },
      timeoutMs: 90_000,
    });
    try {
      const url = await opener.nextUrl();
      expect(url.startsWith(`${instance.url}/cli-auth?`), url).toBe(true);
      // Chromium trusts the organization's CA (nginx sends it in the chain), as a managed machine would.
      const consent = await approveInChromium(url, user, { trustSpki: instance.ca.spki });
      const result = await cli.exited;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toContain(`Signed in to ${instance.url}`);

      // Every page before the hand-back to the CLI's loopback listener was on the public https URL.
      const callback = consent.visited.findIndex((u) => /^http:\/\/127\.0\.0\.1:\d+\/callback/.test(u));
      expect(callback, consent.visited.join('\n')).toBeGreaterThan(0);
      for (const u of consent.visited.slice(0, callback)) expect(u.startsWith(`${instance.url}/`), u).toBe(true);
      expect(consent.cookies.length).toBeGreaterThan(0);
      for (const cookie of consent.cookies) expect(cookie, cookie.name).toMatchObject({ secure: true, httpOnly: true });
    } finally {
      cli.child.kill('SIGKILL');
    }
    const status = await runCli(['status'], { home: h, env: trusted() });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(instance.url);
  }, 90_000);

  test('the web console through nginx: Secure cookies, and every redirect and page stays on the public https URL', async () => {
    const user = await member();
    // Over the wire: the cookie carries Secure, redirects are relative to (or on) the public origin.
    const login = await get(instance, '/login');
    expect(login.status).toBe(200);
    expect(login.setCookie.length).toBeGreaterThan(0);
    for (const cookie of login.setCookie) expect(cookie).toMatch(/; Secure/);
    for (const path of ['/', '/settings', '/settings/api-keys', '/cli-auth?mode=code&code_challenge_method=S256&code_challenge=' + 'a'.repeat(43)]) {
      const res = await get(instance, path, { accept: 'text/html' });
      expect([302, 303], path).toContain(res.status);
      const next = new URL(res.location!, instance.url);
      expect(next.origin, `${path} → ${res.location}`).toBe(instance.url);
    }

    // In Chromium: signed-out visit, sign-in, the keys page; every page on the public URL.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${instance.ca.spki}`] });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const visited: string[] = [];
      page.on('framenavigated', (frame) => frame === page.mainFrame() && visited.push(frame.url()));
      await page.goto(`${instance.url}/settings/about`);
      await signInIfAsked(page, user.email, user.password);
      await page.waitForURL(`${instance.url}/settings/about`);
      expect(await page.getByRole('textbox', { name: 'API domain' }).inputValue()).toBe(instance.url);
      for (const u of visited) expect(u.startsWith(`${instance.url}/`), u).toBe(true);
      const cookies = await context.cookies(instance.url);
      expect(cookies.length).toBeGreaterThan(0);
      for (const cookie of cookies) expect(cookie, cookie.name).toMatchObject({ secure: true, httpOnly: true });
    } finally {
      await browser.close();
    }
  }, 60_000);

  test('setup claude, then the official SDK reaches the gateway over https, plain and streaming', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'sdk' });
    writeFileSync(join(h, '.bashrc'), 'alias ll="ls -l"\n');
    expect((await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], { home: h, env: trusted(), input: credential })).exitCode).toBe(0);
    const setup = await runCli(['setup', 'claude', '--shell', 'bash'], { home: h, env: trusted() });
    expect(setup.exitCode, setup.stderr).toBe(0);

    // A new interactive bash, as the user opens one: the variables from the env file, the CA from their own setup.
    const script =
      "import('@anthropic-ai/sdk').then(async ({ default: Anthropic }) => {" +
      ' const client = new Anthropic();' +
      " const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'hello over tls' }] });" +
      " const s = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, stream: true, messages: [{ role: 'user', content: 'stream over tls' }] });" +
      " const events = []; let text = ''; for await (const e of s) { events.push(e.type); if (e.type === 'content_block_delta') text += e.delta.text; }" +
      " process.stdout.write(JSON.stringify({ base: process.env.ANTHROPIC_BASE_URL, type: m.type, text: m.content[0].text, events, streamed: text })); })";
    const out = execFileSync('bash', ['-ic', `cd ${JSON.stringify(ROOT)} && "${process.execPath}" -e "$0"`, script], {
      env: { HOME: h, PATH: process.env.PATH, XDG_CONFIG_HOME: join(h, '.config'), ...trusted() },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    const answer = JSON.parse(out);
    expect(answer.base).toBe(instance.url);
    expect(answer.type).toBe('message');
    expect(answer.text).toContain('You said: "hello over tls"');
    expect(answer.events[0]).toBe('message_start');
    expect(answer.events.at(-1)).toBe('message_stop');
    expect(answer.events.filter((e: string) => e === 'content_block_delta').length).toBeGreaterThan(1);
    expect(answer.streamed).toContain('You said: "stream over tls"');
    expect(served(instance).join('\n')).toContain('POST /v1/messages');
  });
});

/** A GET through nginx trusting the test CA, without following redirects. */
function get(instance: HttpsInstance, path: string, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${instance.url}${path}`, { ca: instance.ca.cert, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
    req.end();
  });
}
