/**
 * THIRDLOOP_SERVER_LOG=1 logs one line per request. With it on, a whole
 * member's day runs through the real server binary: a mistyped password and
 * a sign-in in Chromium, a key created in Settings > API Keys, a CLI consent
 * approved (loopback redirect and the one-time-code page), the code
 * exchanges, key API calls and gateway requests to a provider with the
 * organization's key. Then every secret that passed is searched for in
 * everything the server printed: none may be there.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { launchBrowser, signInIfAsked } from '../../test/helpers/browser.js';
import { needs } from '../../test/helpers/components.js';
import { startReferenceServer, type ReferenceServer } from '../../test/helpers/reference-server.js';
import { messageBody, sendJson, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';

const ORG_KEY = `sk-ant-api03-FAKE-log-${randomBytes(8).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${randomBytes(9).toString('hex')}`;

describe.skipIf(needs('chromium'))('the server log (THIRDLOOP_SERVER_LOG=1) holds no secret', () => {
  let server: ReferenceServer;
  let upstream: FakeUpstream;
  let browser: Browser;
  /** Everything that must not reach the log, with what it is. */
  const secrets = new Map<string, string>([
    [ORG_KEY, 'the organization key'],
    [PASSWORD, 'the password'],
    [WRONG_PASSWORD, 'a mistyped password'],
  ]);
  let requests = 0;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('logged?')));
    [server, browser] = await Promise.all([
      startReferenceServer({ upstream: upstream.url, env: { THIRDLOOP_SERVER_LOG: '1', THIRDLOOP_UPSTREAM_API_KEY: ORG_KEY } }),
      launchBrowser(),
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([server?.stop(), upstream?.close()]);
  });

  const api = (path: string, init: RequestInit = {}) => {
    requests++;
    return fetch(`${server.url}${path}`, init);
  };

  test('sign-in, key creation, consent, code exchange, key API and gateway requests: no secret, key, code or password in the log', async () => {
    const user = await server.addUser('logged@example.com', PASSWORD);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('request', () => requests++);

    // A mistyped password, then the right one.
    await page.goto(`${server.url}/login`);
    await signInIfAsked(page, user.email, WRONG_PASSWORD);
    expect(await page.locator('body').innerText()).toContain('Email or password is incorrect.');
    await signInIfAsked(page, user.email, PASSWORD);
    await expect.poll(() => new URL(page.url()).pathname, { timeout: 20_000 }).toBe('/settings/api-keys');

    // A key created in the web console: its secret is shown once, on the page.
    await page.goto(`${server.url}/settings/api-keys/new`);
    await page.getByLabel('Name').fill('web key');
    await Promise.all([page.waitForURL(/\/settings\/api-keys$/), page.getByRole('button', { name: 'Create key' }).click()]);
    const shown = (await page.content()).match(/tlk_[0-9A-Za-z]{24};tls_[0-9A-Za-z]{38}/);
    expect(shown, 'the new key is shown once').not.toBeNull();
    const webCredential = shown![0];
    secrets.set(webCredential, 'the web key').set(webCredential.split(';')[1]!, 'the web key secret');

    // The CLI's consent, redirected to a loopback listener as the CLI's own.
    const codes: string[] = [];
    const callback: Server = createServer((req, res) => {
      const code = new URL(req.url ?? '/', 'http://x').searchParams.get('code');
      if (code) codes.push(code);
      res.end('ok');
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', () => r()));
    const redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    secrets.set(verifier, 'a PKCE verifier');
    const consent = (extra: Record<string, string>) =>
      `${server.url}/cli-auth?${new URLSearchParams({ state: randomBytes(16).toString('base64url'), code_challenge: challenge, code_challenge_method: 'S256', key_name: 'cli key', expires_in_days: '30', machine: 'laptop', ...extra })}`;
    try {
      await page.goto(consent({ redirect_uri: redirectUri }));
      await Promise.all([page.waitForURL(/\/callback\?/), page.locator('button[name=decision][value=approve]').click()]);
    } finally {
      callback.close();
    }
    expect(codes).toHaveLength(1);

    // The one-time code a person types on another device (no redirect_uri).
    await page.goto(consent({ mode: 'code' }));
    await page.locator('button[name=decision][value=approve]').click();
    await page.waitForLoadState('load');
    const typed = (await page.locator('#one-time-code').innerText()).trim();
    expect(typed.length).toBeGreaterThan(4);
    codes.push(typed);
    for (const code of codes) secrets.set(code, 'a consent code');

    for (const cookie of await context.cookies(server.url)) secrets.set(cookie.value, `the ${cookie.name} cookie`);
    await context.close();

    const exchange = async (code: string, redirect?: string) => {
      const res = await api('/api/cli-auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code, code_verifier: verifier, ...(redirect ? { redirect_uri: redirect } : {}) }),
      });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { credential: string; secret_key: string };
      secrets.set(body.credential, 'a minted key').set(body.secret_key, 'a minted secret');
      return body.credential;
    };
    // The web key is disabled through the key API, to make room for the two CLI keys.
    expect((await api('/api/keys', { headers: { authorization: `Bearer ${webCredential}` } })).status).toBe(200);
    expect((await api(`/api/keys/${webCredential.split(';')[0]}/disable`, { method: 'POST', headers: { authorization: `Bearer ${webCredential}` } })).status).toBe(200);
    const cliCredential = await exchange(codes[0]!, redirectUri);
    const typedCredential = await exchange(codes[1]!);

    // The key API and the gateway, with each way of presenting a key, and a wrong secret.
    expect((await api('/api/me', { headers: { authorization: `Bearer ${cliCredential}` } })).status).toBe(200);
    const ask = (headers: Record<string, string>) =>
      api('/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect((await ask({ 'x-api-key': cliCredential })).status).toBe(200);
    expect((await ask({ authorization: `Bearer ${typedCredential}` })).status).toBe(200);
    expect((await ask({ 'x-api-key': webCredential })).status).toBe(401);
    const forged = `${cliCredential.split(';')[0]};tls_${randomBytes(24).toString('base64url').replace(/[-_]/g, 'A').slice(0, 38)}`;
    secrets.set(forged.split(';')[1]!, 'a wrong secret');
    expect((await ask({ 'x-api-key': forged })).status).toBe(401);
    expect(upstream.received.at(-1)?.headers['x-api-key']).toBe(ORG_KEY);

    await server.stop();
    const log = server.stdout() + server.stderr();
    const lines = log.split('\n').filter((l) => l.startsWith('{'));
    // The log is on: a line per request it served (browser pages and assets included).
    expect(lines.filter((l) => l.includes('"incoming request"')).length).toBeGreaterThanOrEqual(Math.min(requests, 20));
    for (const [value, what] of secrets) {
      expect(value.length, what).toBeGreaterThan(4);
      expect(log.includes(value), `${what} is in the server log`).toBe(false);
    }
  }, 90_000);
});
