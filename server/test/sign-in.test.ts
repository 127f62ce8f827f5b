/** Sign-in, sessions, CSRF and the sign-in rate limit, over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestServer, type TestServer } from './helpers/app.js';

let server: TestServer;
beforeAll(async () => {
  // A small limit keeps the test short; the rule is the same at the default of 5.
  server = await startTestServer({ signInMaxFailures: 3, signInWindowMs: 15 * 60 * 1000 });
});
afterAll(async () => {
  await server?.close();
});

describe('sign-in', () => {
  it('the login page has the documented fields and sets no session', async () => {
    const browser = new Browser(server.url);
    const { res, html } = await browser.get('/login');
    expect(res.status).toBe(200);
    expect(html).toContain('<input id="email" name="email" type="email"');
    expect(html).toContain('name="password" type="password"');
    expect(html).toMatch(/<button type="submit" class="primary">Sign in<\/button>/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(browser.cookieHeader()).not.toContain('tl_session');
  });

  it('signs in: HttpOnly SameSite=Lax session cookie, then back to ?next=', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    const { html } = await browser.get('/login?next=%2Fcli-auth%3Fa%3D1');
    const res = await browser.request('/login', {
      method: 'POST',
      form: { csrf: Browser.csrf(html), email: user.email.toUpperCase(), password: user.password, next: '/cli-auth?a=1' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/cli-auth?a=1');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('tl_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);
    // signed in: /login goes straight on
    const again = await browser.request('/login?next=/x');
    expect(again.status).toBe(302);
    expect(again.headers.get('location')).toBe('/x');
  });

  it('only local paths are accepted as next', async () => {
    const user = await server.addUser();
    for (const next of ['https://evil.example/', '//evil.example/', '/\\evil.example', 'javascript:alert(1)', 'evil']) {
      const browser = new Browser(server.url);
      const res = await browser.signIn(user.email, user.password, next);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/settings/api-keys');
    }
  });

  it('a wrong password or unknown email → 401 with one message, no session', async () => {
    const user = await server.addUser();
    for (const [email, password] of [
      [user.email, 'wrong password'],
      ['nobody@example.com', user.password],
    ]) {
      const browser = new Browser(server.url);
      const res = await browser.signIn(email!, password!);
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('Email or password is incorrect.');
      expect(browser.cookieHeader()).not.toContain('tl_session');
    }
  });

  it('a login POST without the CSRF cookie/token pair is refused', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    const { html } = await browser.get('/login');
    const token = Browser.csrf(html);
    const forged = await fetch(`${server.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: token, email: user.email, password: user.password }),
    });
    expect(forged.status).toBe(403);
    expect(forged.headers.getSetCookie().join()).not.toContain('tl_session=');
    const wrong = await browser.request('/login', { method: 'POST', form: { csrf: 'x' + token, email: user.email, password: user.password } });
    expect(wrong.status).toBe(403);
  });

  it('failed sign-ins are rate-limited per email; the right password waits too; then the window passes', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    for (let i = 0; i < 3; i++) expect((await browser.signIn(user.email, 'nope')).status).toBe(401);
    const limited = await browser.signIn(user.email, user.password);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.text()).toMatch(/Too many failed sign-ins/);
    // another account from the same address is not locked by this one
    const other = await server.addUser();
    expect((await new Browser(server.url).signIn(other.email, other.password)).status).toBe(303);
    server.advance(15 * 60 * 1000 + 1000);
    try {
      expect((await browser.signIn(user.email, user.password)).status).toBe(303);
    } finally {
      server.advance(-(15 * 60 * 1000 + 1000));
    }
  });

  it('parallel wrong passwords: at most the limit reach the password check, the rest are 429; the window then forgives', async () => {
    const user = await server.addUser();
    const max = server.config.signInMaxFailures;
    // Each attempt gets its form first, so the POSTs really do arrive together.
    const browsers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const browser = new Browser(server.url);
        const { html } = await browser.get('/login');
        return { browser, csrf: Browser.csrf(html) };
      }),
    );
    const answers = await Promise.all(
      browsers.map(({ browser, csrf }) =>
        browser.request('/login', { method: 'POST', form: { csrf, email: user.email, password: 'wrong', next: '/' } }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(max);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20 - max);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    server.advance(15 * 60 * 1000 + 1000);
    try {
      expect((await new Browser(server.url).signIn(user.email, user.password)).status).toBe(303);
    } finally {
      server.advance(-(15 * 60 * 1000 + 1000));
    }
  });

  it('sign-out needs the CSRF token, ends the session, and the cookie no longer works', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    await browser.signIn(user.email, user.password);
    const session = browser.cookieHeader();
    const consent = await browser.get('/cli-auth?mode=code&code_challenge=' + 'a'.repeat(43) + '&code_challenge_method=S256');
    expect(consent.res.status).toBe(200);
    const forged = await browser.request('/logout', { method: 'POST', form: { csrf: 'forged' } });
    expect(forged.status).toBe(403);
    const out = await browser.request('/logout', { method: 'POST', form: { csrf: Browser.csrf(consent.html) } });
    expect(out.status).toBe(303);
    const replay = await fetch(`${server.url}/cli-auth?mode=code&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, {
      headers: { cookie: session },
      redirect: 'manual',
    });
    expect(replay.status).toBe(302);
    expect(replay.headers.get('location')).toMatch(/^\/login\?next=/);
  });

  it('sessions expire', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    await browser.signIn(user.email, user.password);
    const url = `/cli-auth?mode=code&code_challenge=${'b'.repeat(43)}&code_challenge_method=S256`;
    expect((await browser.request(url)).status).toBe(200);
    server.advance(server.config.sessionTtlMs + 1000);
    try {
      expect((await browser.request(url)).status).toBe(302);
    } finally {
      server.advance(-(server.config.sessionTtlMs + 1000));
    }
  });

  it('huge or odd form bodies → 4xx, never 500', async () => {
    const res = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=' + 'a'.repeat(100_000),
    });
    expect(res.status).toBe(413);
    const odd = await fetch(`${server.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '%%%&&==' });
    expect(odd.status).toBe(403);
    const unknown = await fetch(`${server.url}/no-such-page`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('There is no page at this address.');
  });

  it('serves its stylesheet locally', async () => {
    const res = await fetch(`${server.url}/assets/app.css`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/css/);
  });
});
