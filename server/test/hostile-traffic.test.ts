/**
 * The reference server under hostile traffic (bounded loops, loopback only): password guessing
 * that must not lock the owner out, refusals that must not grow the audit log, forged CSRF
 * pairs. Another client is another loopback source address (127.0.0.2 …), as the server sees
 * it with no proxy configured; behind a trusted proxy, another X-Forwarded-For address.
 */
import type { Browser as Chromium, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, launchBrowser, signInIfAsked } from '../../test/helpers/browser.js';
import { ensureCliBuilt, makeHome, startCli } from '../../test/helpers/cli.js';
import { Browser, startTestServer, type TestServer } from './helpers/app.js';
import { inPool } from './helpers/raw-http.js';

const ATTACKER = '127.0.0.2';
const SLOW_WINDOW_MS = 6 * 60 * 60 * 1000;

/** A browser that has the login form in hand, as an attacker keeps it between guesses. */
async function withLoginForm(browser: Browser): Promise<{ browser: Browser; csrf: string }> {
  const { html } = await browser.get('/login');
  return { browser, csrf: Browser.csrf(html) };
}

async function guess(form: { browser: Browser; csrf: string }, email: string, password = 'wrong password'): Promise<number> {
  const res = await form.browser.request('/login', { method: 'POST', form: { csrf: form.csrf, email, password, next: '/' } });
  await res.arrayBuffer();
  return res.status;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

/** A bucket of `limit` per `windowMs` refills continuously: what it can have let through in `ms` beyond `limit`. */
const refilled = (ms: number, limit: number, windowMs: number) => Math.floor((ms * limit) / windowMs);

/** Signs in and returns how long the POST /login took. */
async function timedSignIn(browser: Browser, email: string, password: string): Promise<{ status: number; ms: number; location: string | null }> {
  const form = await withLoginForm(browser);
  const started = performance.now();
  const res = await form.browser.request('/login', { method: 'POST', form: { csrf: form.csrf, email, password, next: '/settings/api-keys' } });
  const ms = performance.now() - started;
  await res.arrayBuffer();
  return { status: res.status, ms, location: res.headers.get('location') };
}

describe('sign-in under attack, no proxy (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('1,000 guesses on the owner from another address: 5 reach the password check; the owner signs in meanwhile', async () => {
    const owner = await server.addUser();
    const quiet = await timedSignIn(new Browser(server.url), owner.email, owner.password);
    expect(quiet.status).toBe(303);
    const attacker = await withLoginForm(new Browser(server.url, { localAddress: ATTACKER }));
    const started = performance.now();
    let done = 0;
    const attack = inPool(1000, 8, async () => {
      const status = await guess(attacker, owner.email);
      done++;
      return status;
    });
    await expect.poll(() => done, { timeout: 30_000 }).toBeGreaterThanOrEqual(100);
    // The owner, in a browser that never signed in here, from their own address.
    const signIn = await timedSignIn(new Browser(server.url), owner.email, owner.password);
    const statuses = await attack;
    expect(signIn.status).toBe(303);
    expect(signIn.location).toBe('/settings/api-keys');
    expect(done).toBe(1000);
    // The (account, address) budget, and what it refilled while the attack lasted (one try per 3 minutes).
    const failures = count(statuses, 401);
    expect(failures).toBeGreaterThanOrEqual(server.config.signInMaxFailures);
    expect(failures).toBeLessThanOrEqual(server.config.signInMaxFailures + refilled(performance.now() - started, server.config.signInMaxFailures, server.config.signInWindowMs));
    expect(count(statuses, 429)).toBe(1000 - failures);
    console.info(`owner's sign-in: ${quiet.ms.toFixed(1)} ms without an attack, ${signIn.ms.toFixed(1)} ms during a 1,000-guess attack from another address`);
  }, 180_000);

  it('3,000 throttled sign-ins from one source add one audit row (not 3,000), and one more per window', async () => {
    const victim = await server.addUser();
    const source = '127.0.0.10';
    const attacker = await withLoginForm(new Browser(server.url, { localAddress: source }));
    const before = (await server.store.audit.list({ limit: 100_000 })).length;
    const statuses = await inPool(3000, 16, () => guess(attacker, victim.email));
    expect(count(statuses, 429)).toBe(3000 - server.config.signInMaxFailures);
    const all = await server.store.audit.list({ limit: 100_000 });
    const rows = all.slice(0, all.length - before);
    const throttled = rows.filter((r) => r.action === 'sign-in-throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ source, status: 429, path: '/login', user_id: null });
    // Each failure that reached the password check is still one row, and those are bounded by the limits.
    expect(rows.filter((r) => r.action === 'sign-in-failed').length).toBeLessThanOrEqual(server.config.signInMaxFailures * 4);
    expect(rows.length).toBeLessThanOrEqual(server.config.signInMaxFailures * 4 + 1);
    console.info(`3,000 throttled sign-ins from one source: ${rows.length} audit rows (${throttled.length} sign-in-throttled)`);

    // The next window: again at most one summary row for the source.
    server.advance(server.config.signInWindowMs + 1000);
    try {
      await inPool(300, 16, () => guess(attacker, victim.email));
      const later = (await server.store.audit.list({ limit: 100_000 })).filter((r) => r.action === 'sign-in-throttled' && r.source === source);
      expect(later.length).toBeLessThanOrEqual(2);
    } finally {
      server.advance(-(server.config.signInWindowMs + 1000));
    }
  }, 180_000);

  it('per (account, address): the guessing address is shut out of that account only; per address: failures over many accounts shut it out of all', async () => {
    const max = server.config.signInMaxFailures;
    const [victim, other, bystander] = [await server.addUser(), await server.addUser(), await server.addUser()];
    const source = '127.0.0.3';
    const attacker = await withLoginForm(new Browser(server.url, { localAddress: source }));
    for (let i = 0; i < max; i++) expect(await guess(attacker, victim.email)).toBe(401);
    expect(await guess(attacker, victim.email, victim.password)).toBe(429);
    // The same address may still sign in to another account (a shared office address).
    expect(await guess(attacker, other.email, other.password)).toBe(303);

    // Failures over many accounts (emails that exist or not) from one address: 4× the limit, then all are closed to it.
    const spray = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.4' }));
    const statuses = await inPool(max * 4 + 10, 4, (i) => guess(spray, `nobody${i}@example.com`));
    expect(count(statuses, 401)).toBe(max * 4);
    expect(await guess(spray, bystander.email, bystander.password)).toBe(429);
    // Another address is not affected.
    expect((await timedSignIn(new Browser(server.url, { localAddress: '127.0.0.5' }), bystander.email, bystander.password)).status).toBe(303);
  });

  it('a known device (device cookie) has its own budget: its typos do not shut the account, others do not shut it', async () => {
    const max = server.config.signInMaxFailures;
    const owner = await server.addUser();
    const laptop = new Browser(server.url, { localAddress: '127.0.0.6' });
    expect((await laptop.signIn(owner.email, owner.password)).status).toBe(303);
    const device = laptop.cookie('tl_device');
    expect(device).toMatch(/^[\w-]+\.[\w-]+\.[0-9a-z]+\.[\w-]{43}$/);
    await laptop.request('/logout', { method: 'POST', form: { csrf: Browser.csrf((await laptop.get('/settings/api-keys')).html) } });
    expect(laptop.cookie('tl_device')).toBe(device);

    // Someone at the same address (the laptop's office) guesses: the address is shut out of the account…
    const neighbour = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.6' }));
    for (let i = 0; i < max; i++) expect(await guess(neighbour, owner.email)).toBe(401);
    expect(await guess(neighbour, owner.email, owner.password)).toBe(429);
    // …but not the known laptop.
    expect((await timedSignIn(laptop, owner.email, owner.password)).status).toBe(303);

    // The laptop's own budget: `max` wrong passwords, then it waits too.
    await laptop.request('/logout', { method: 'POST', form: { csrf: Browser.csrf((await laptop.get('/settings/api-keys')).html) } });
    const form = await withLoginForm(laptop);
    for (let i = 0; i < max; i++) expect(await guess(form, owner.email)).toBe(401);
    expect(await guess(form, owner.email, owner.password)).toBe(429);

    // A device cookie proves nothing for another account, nor once tampered with.
    const other = await server.addUser();
    const thief = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.7' }));
    thief.browser.setCookie('tl_device', laptop.cookie('tl_device')!);
    for (let i = 0; i < max; i++) expect(await guess(thief, other.email)).toBe(401);
    expect(await guess(thief, other.email)).toBe(429);
    const forger = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.6' }));
    forger.browser.setCookie('tl_device', device!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    expect(await guess(forger, owner.email, owner.password)).toBe(429);
  });

  it('X-Forwarded-For is not believed without --trust-proxy: a guesser cannot pose as many addresses', async () => {
    const max = server.config.signInMaxFailures;
    const victim = await server.addUser();
    const statuses: number[] = [];
    for (let i = 0; i < max + 3; i++) {
      const form = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.8', headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } }));
      statuses.push(await guess(form, victim.email));
    }
    expect(count(statuses, 401)).toBe(max);
    expect(count(statuses, 429)).toBe(3);
  });

  it('the login form token is the server’s signature over the pre-session: a made-up cookie/field pair is refused', async () => {
    const user = await server.addUser();
    const made = 'x'.repeat(43);
    // Whatever the cookie is called, a pair the client made up is not a token the server issued.
    const forged = new Browser(server.url);
    forged.setCookie('tl_csrf', made);
    forged.setCookie('tl_presession', made);
    const res = await forged.request('/login', { method: 'POST', form: { csrf: made, email: user.email, password: user.password } });
    expect(res.status).toBe(403);
    expect(forged.cookie('tl_session')).toBeUndefined();

    // A real token, but for another pre-session (an attacker's own form, planted in a victim's browser).
    const attacker = await withLoginForm(new Browser(server.url));
    const victim = await withLoginForm(new Browser(server.url));
    const swapped = await victim.browser.request('/login', { method: 'POST', form: { csrf: attacker.csrf, email: user.email, password: user.password } });
    expect(swapped.status).toBe(403);

    // A token outlives its form only so long (2 hours).
    const stale = await withLoginForm(new Browser(server.url));
    server.advance(2 * 60 * 60 * 1000 + 60_000);
    try {
      expect(await guess(stale, user.email, user.password)).toBe(403);
    } finally {
      server.advance(-(2 * 60 * 60 * 1000 + 60_000));
    }
    expect(await guess(stale, user.email, user.password)).toBe(303);
  });
});

describe('sign-in under attack behind a trusted proxy (X-Forwarded-For believed from 127.0.0.1)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // A long window: the account's bucket then refills one try per 7 minutes, so none refills
    // during a test and the counts below are exact.
    server = await startTestServer({ trustProxy: ['127.0.0.1'], signInWindowMs: SLOW_WINDOW_MS });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A client of the proxy: another address, as X-Forwarded-For says. */
  const client = (address: string) => new Browser(server.url, { headers: { 'x-forwarded-for': address } });

  it('1,000 guesses from 100 addresses close the account to unknown browsers only: the owner’s known browser signs in', async () => {
    const owner = await server.addUser();
    const known = client('203.0.113.10');
    expect((await known.signIn(owner.email, owner.password)).status).toBe(303);
    await known.request('/logout', { method: 'POST', form: { csrf: Browser.csrf((await known.get('/settings/api-keys')).html) } });

    const attackers = await Promise.all(Array.from({ length: 100 }, (_, i) => withLoginForm(client(`198.51.100.${i + 1}`))));
    const started = performance.now();
    let done = 0;
    const attack = inPool(1000, 8, async (i) => {
      const status = await guess(attackers[i % 100]!, owner.email);
      done++;
      return status;
    });
    await expect.poll(() => done, { timeout: 60_000 }).toBeGreaterThanOrEqual(500);
    const signIn = await timedSignIn(known, owner.email, owner.password);
    const statuses = await attack;
    expect(signIn.status).toBe(303);
    // The account's budget for unknown browsers (and what it refilled meanwhile), then refusals.
    const budget = server.config.signInMaxFailures * 10;
    expect(refilled(performance.now() - started, budget, server.config.signInWindowMs)).toBe(0);
    expect(count(statuses, 401)).toBe(budget);
    expect(count(statuses, 429)).toBe(1000 - budget);
    // A browser that never signed in to the account waits, whatever its address: the documented cost of the attack.
    expect((await timedSignIn(client('203.0.113.11'), owner.email, owner.password)).status).toBe(429);
    console.info(`owner's known browser during a 1,000-guess attack from 100 addresses: ${signIn.ms.toFixed(1)} ms`);

    // One summary row per source: the 100 attacking addresses and the unknown browser.
    const throttled = (await server.store.audit.list({ limit: 100_000 })).filter((r) => r.action === 'sign-in-throttled');
    const perSource = new Map<string, number>();
    for (const r of throttled) perSource.set(r.source!, (perSource.get(r.source!) ?? 0) + 1);
    expect(Math.max(...perSource.values())).toBe(1);
    expect(perSource.size).toBe(101);
  }, 180_000);

  it('X-Forwarded-For from a hop that is not trusted is ignored', async () => {
    const max = server.config.signInMaxFailures;
    const victim = await server.addUser();
    const statuses: number[] = [];
    for (let i = 0; i < max + 2; i++) {
      const form = await withLoginForm(new Browser(server.url, { localAddress: '127.0.0.9', headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } }));
      statuses.push(await guess(form, victim.email));
    }
    expect(count(statuses, 429)).toBe(2);
    const rows = (await server.store.audit.list({ limit: 100_000 })).filter((r) => r.action === 'sign-in-failed' && r.user_id !== null);
    expect(rows.filter((r) => r.source === '127.0.0.9').length).toBe(max);
  });
});

/**
 * `thirdloop auth` signs in through the same login page: the real CLI and real Chromium, with the
 * attack running at the same time.
 */
describe.skipIf(browserMissing())('the CLI consent flow stays usable for the owner during an attack', () => {
  const URL_LINE = /^ {2}(http:\/\/\S+\/cli-auth\?\S+)$/m;
  let chromium: Chromium;
  const homes: Array<() => void> = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    ensureCliBuilt();
    chromium = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await chromium?.close();
    homes.forEach((cleanup) => cleanup());
  });

  /** `thirdloop auth` approved in `context`'s browser; resolves with the CLI's result and how long it took. */
  async function authThroughBrowser(server: TestServer, context: BrowserContext, owner: { email: string; password: string }) {
    const home = makeHome();
    homes.push(home.cleanup);
    const started = performance.now();
    const cli = startCli(['auth', '--api-url', server.url], { home: home.home });
    const [, url] = await cli.waitFor(URL_LINE);
    const page = await context.newPage();
    await page.goto(url!);
    expect(new URL(page.url()).pathname).toBe('/login');
    await signInIfAsked(page, owner.email, owner.password);
    const approve = page.locator('button[name=decision][value=approve]');
    await approve.waitFor({ timeout: 15_000 });
    await Promise.all([page.waitForLoadState('load'), approve.click()]);
    const result = await cli.exited;
    const ms = performance.now() - started;
    await page.close();
    return { result, ms };
  }

  it('1,000 guesses from another address: the owner runs thirdloop auth in a browser that never signed in here', async () => {
    const server = await startTestServer();
    try {
      const owner = await server.addUser();
      const attacker = await withLoginForm(new Browser(server.url, { localAddress: ATTACKER }));
      const started = performance.now();
      let done = 0;
      const attack = inPool(1000, 8, async () => {
        const status = await guess(attacker, owner.email);
        done++;
        return status;
      });
      await expect.poll(() => done, { timeout: 30_000 }).toBeGreaterThanOrEqual(100);
      const context = await chromium.newContext();
      contexts.push(context);
      const { result, ms } = await authThroughBrowser(server, context, owner);
      const statuses = await attack;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/Signed in to/);
      const max = server.config.signInMaxFailures;
      expect(count(statuses, 401)).toBeLessThanOrEqual(max + refilled(performance.now() - started, max, server.config.signInWindowMs));
      expect(count(statuses, 429)).toBe(1000 - count(statuses, 401));
      console.info(`thirdloop auth (sign-in + consent) during a 1,000-guess attack from another address: ${ms.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
  }, 180_000);

  it('1,000 guesses from 100 addresses behind the proxy: the owner’s browser that signed in before still gets through', async () => {
    const server = await startTestServer({ trustProxy: ['127.0.0.1'], signInWindowMs: SLOW_WINDOW_MS });
    try {
      const owner = await server.addUser();
      // The owner's everyday browser: signed in once on the web console, then signed out.
      const context = await chromium.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${server.url}/login`);
      await signInIfAsked(page, owner.email, owner.password);
      await expect.poll(() => new URL(page.url()).pathname).toBe('/settings/api-keys');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign out' }).click()]);
      expect((await context.cookies()).map((c) => c.name)).toContain('tl_device');
      await page.close();

      const attackers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => withLoginForm(new Browser(server.url, { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } }))),
      );
      const started = performance.now();
      const statuses = await inPool(1000, 8, (i) => guess(attackers[i % 100]!, owner.email));
      const budget = server.config.signInMaxFailures * 10;
      expect(refilled(performance.now() - started, budget, server.config.signInWindowMs)).toBe(0);
      expect(count(statuses, 401)).toBe(budget);
      // The account is closed to unknown browsers now…
      const stranger = await chromium.newContext();
      contexts.push(stranger);
      const refused = await stranger.newPage();
      await refused.goto(`${server.url}/login`);
      await signInIfAsked(refused, owner.email, owner.password);
      await expect(refused.locator('#login-error').innerText()).resolves.toMatch(/Too many failed sign-ins/);
      // …but not to the owner's.
      const { result, ms } = await authThroughBrowser(server, context, owner);
      expect(result.exitCode, result.stderr).toBe(0);
      console.info(`thirdloop auth with the owner's known browser after a 1,000-guess attack from 100 addresses: ${ms.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
  }, 180_000);
});
