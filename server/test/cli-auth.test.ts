/** The CLI's browser flow over HTTP: consent, PKCE, loopback redirects, one-time codes. */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, Browser, startTestServer, type TestServer } from './helpers/app.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

const REDIRECT = 'http://127.0.0.1:53682/callback';

function consentUrl(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return `/cli-auth?${q}`;
}

function defaults(challenge: string, extra: Record<string, string | undefined> = {}) {
  return {
    redirect_uri: REDIRECT,
    state: 'st-' + randomBytes(6).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    key_name: 'laptop',
    expires_in_days: '30',
    machine: 'ada-mbp',
    ...extra,
  };
}

/** Hidden inputs of the consent form, as a browser would post them. */
function formFields(html: string): Record<string, string> {
  const form = html.slice(html.indexOf('<form method="post" action="/cli-auth"'));
  const out: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]!] = m[2]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }
  return out;
}

async function signedIn() {
  const user = await server.addUser();
  const browser = new Browser(server.url);
  const res = await browser.signIn(user.email, user.password);
  expect(res.status).toBe(303);
  return { user, browser };
}

async function approve(browser: Browser, params: Record<string, string | undefined>, decision = 'approve') {
  const { res, html } = await browser.get(consentUrl(params));
  expect(res.status).toBe(200);
  return browser.request('/cli-auth', { method: 'POST', form: { ...formFields(html), decision } });
}

async function exchange(body: unknown) {
  const res = await fetch(`${server.url}/api/cli-auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

describe('loopback flow', () => {
  it('signed out: sends the user to sign in and back to the same consent request', async () => {
    const user = await server.addUser();
    const browser = new Browser(server.url);
    const { challenge } = pkce();
    const url = consentUrl(defaults(challenge));
    const first = await browser.request(url);
    expect(first.status).toBe(302);
    const location = first.headers.get('location')!;
    expect(location).toBe(`/login?next=${encodeURIComponent(url)}`);
    const res = await browser.signIn(user.email, user.password, url);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(url);
    const { res: page, html } = await browser.get(url);
    expect(page.status).toBe(200);
    expect(html).toContain('<button type="submit" name="decision" value="approve" class="primary">Approve</button>');
    expect(html).toContain('<button type="submit" name="decision" value="deny">Deny</button>');
  });

  it('approve → 302 to the redirect_uri with code and the same state; the code exchanges for a working key', async () => {
    const { browser, user } = await signedIn();
    const { verifier, challenge } = pkce();
    const params = defaults(challenge, { state: 'a b&c=d/é?' });
    const { html } = await browser.get(consentUrl(params));
    expect(html).toContain('id="consent-key-name">laptop<');
    expect(html).toContain('id="consent-machine">ada-mbp<');
    expect(html).toMatch(/id="consent-expiry">in 30 days \(\d{4}-\d\d-\d\d\)/);
    expect(html).toContain('id="consent-active-count">0 / 2 active keys<');

    const res = await browser.request('/cli-auth', { method: 'POST', form: { ...formFields(html), decision: 'approve' } });
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(REDIRECT);
    expect(to.searchParams.get('state')).toBe('a b&c=d/é?');
    const code = to.searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const { status, json } = await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(status).toBe(201);
    expect(json.key).toMatchObject({ name: 'laptop', status: 'active', last_used_at: null });
    expect(json.credential).toBe(`${json.key.id};${json.secret_key}`);
    const days = (Date.parse(json.key.expires_at) - Date.parse(json.key.created_at)) / 86_400_000;
    expect(days).toBe(30);
    const me = await api(server.url, json.credential)('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.json.user.email).toBe(user.email);
  });

  it('deny → redirect with error=access_denied and the state; no code, no key', async () => {
    const { browser, user } = await signedIn();
    const { challenge } = pkce();
    const params = defaults(challenge, { state: 'deny-state' });
    const res = await approve(browser, params, 'deny');
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location')!);
    expect(to.searchParams.get('error')).toBe('access_denied');
    expect(to.searchParams.get('state')).toBe('deny-state');
    expect(to.searchParams.has('code')).toBe(false);
    expect(await server.store.keys.listForUser(user.id)).toHaveLength(0);
  });

  it('accepts [::1] and localhost loopback redirect URIs and keeps their query', async () => {
    const { browser } = await signedIn();
    for (const uri of ['http://[::1]:4000/cb', 'http://localhost:65535/cb?x=1']) {
      const { verifier, challenge } = pkce();
      const res = await approve(browser, defaults(challenge, { redirect_uri: uri, key_name: 'k' + uri.length }));
      expect(res.status).toBe(302);
      const to = new URL(res.headers.get('location')!);
      expect(to.host).toBe(new URL(uri).host);
      if (uri.includes('x=1')) expect(to.searchParams.get('x')).toBe('1');
      const { status } = await exchange({ code: to.searchParams.get('code'), code_verifier: verifier, redirect_uri: uri });
      expect(status).toBe(201);
    }
  });
});

describe('redirect_uri attacks: refused on the page, never redirected to', () => {
  const bad = [
    'https://evil.example/cb',
    'http://evil.example:8080/cb',
    'http://127.0.0.1.evil.example:8080/cb',
    'http://127.0.0.1@evil.example:8080/cb',
    'http://user:pw@127.0.0.1:8080/cb',
    'http://localhost.evil.example/cb',
    'https://127.0.0.1:8080/cb',
    'http://127.0.0.2:8080/cb',
    'http://127.0.0.1:8080/cb#frag',
    'javascript:alert(1)',
    '//evil.example/cb',
    '/relative',
    'file:///etc/passwd',
    'data:text/html,hi',
  ];
  it.each(bad)('GET %s → 400 page without Location', async (uri) => {
    const { browser } = await signedIn();
    const { challenge } = pkce();
    const { res, html } = await browser.get(consentUrl(defaults(challenge, { redirect_uri: uri })));
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(html).toContain('id="cli-auth-error"');
    expect(html).not.toContain('name="decision"');
  });

  it('a forged POST with a bad redirect_uri is refused too', async () => {
    const { browser } = await signedIn();
    const { challenge } = pkce();
    const { html } = await browser.get(consentUrl(defaults(challenge)));
    const res = await browser.request('/cli-auth', {
      method: 'POST',
      form: { ...formFields(html), redirect_uri: 'http://evil.example/cb', decision: 'approve' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('a missing redirect_uri outside mode=code is refused on the page', async () => {
    const { browser } = await signedIn();
    const { challenge } = pkce();
    const { res } = await browser.get(consentUrl(defaults(challenge, { redirect_uri: undefined })));
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('PKCE', () => {
  it('requires S256: plain or missing method is reported to the CLI as invalid_request', async () => {
    const { browser } = await signedIn();
    for (const method of ['plain', undefined]) {
      const { verifier } = pkce();
      const res = await browser.request(consentUrl(defaults(verifier, { code_challenge_method: method, state: 's1' })));
      expect(res.status).toBe(302);
      const to = new URL(res.headers.get('location')!);
      expect(to.searchParams.get('error')).toBe('invalid_request');
      expect(to.searchParams.get('state')).toBe('s1');
      expect(to.searchParams.get('error_description')).toMatch(/S256/);
    }
  });

  it('refuses a malformed code_challenge', async () => {
    const { browser } = await signedIn();
    const res = await browser.request(consentUrl(defaults('too-short')));
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('a wrong code_verifier → 400 invalid_grant, and the code is spent', async () => {
    const { browser } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge));
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    const wrong = await exchange({ code, code_verifier: pkce().verifier, redirect_uri: REDIRECT });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.type).toBe('invalid_grant');
    const right = await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(right.status).toBe(400);
    expect(right.json.error.type).toBe('invalid_grant');
  });

  it('a replayed code → 400 invalid_grant; only one key was minted', async () => {
    const { browser, user } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge));
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    expect((await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT })).status).toBe(201);
    const again = await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(again.status).toBe(400);
    expect(again.json.error.type).toBe('invalid_grant');
    expect(await server.store.keys.listForUser(user.id)).toHaveLength(1);
  });

  it('parallel exchanges of one code mint exactly one key', async () => {
    const { browser, user } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge));
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    const results = await Promise.all(Array.from({ length: 10 }, () => exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400)).toHaveLength(9);
    expect(await server.store.keys.listForUser(user.id)).toHaveLength(1);
  });

  it('an expired code (over 5 minutes) → 400 invalid_grant', async () => {
    const { browser } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge));
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    server.advance(5 * 60 * 1000 + 1000);
    try {
      const late = await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT });
      expect(late.status).toBe(400);
      expect(late.json.error.type).toBe('invalid_grant');
    } finally {
      server.advance(-(5 * 60 * 1000 + 1000));
    }
  });

  it('a code used with another redirect_uri → 400 invalid_grant', async () => {
    const { browser } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge));
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    const other = await exchange({ code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:1/other' });
    expect(other.status).toBe(400);
    expect(other.json.error.type).toBe('invalid_grant');
  });

  it('bad token bodies → 400, never 500', async () => {
    for (const body of [null, [], 'x', { code: 1, code_verifier: 'a'.repeat(43) }, { code: 'x' }, { code: 'x', code_verifier: 'short' }]) {
      const res = await exchange(body);
      expect(res.status).toBe(400);
      expect(res.json.error.type).toMatch(/invalid_request_error|invalid_grant/);
    }
    const unknown = await exchange({ code: 'nope', code_verifier: 'a'.repeat(43) });
    expect(unknown.json.error.type).toBe('invalid_grant');
  });
});

describe('headless mode (mode=code)', () => {
  /** Approves a headless request and returns the code as the page shows it, with the PKCE pair. */
  async function headlessCode(extra: Record<string, string | undefined> = {}) {
    const { browser, user } = await signedIn();
    const { verifier, challenge } = pkce();
    const res = await approve(browser, defaults(challenge, { redirect_uri: undefined, mode: 'code', ...extra }));
    expect(res.status).toBe(200);
    const shown = /id="one-time-code">([^<]+)</.exec(await res.text())![1]!;
    return { shown, verifier, user };
  }
  const typo = (code: string) => `${code[0] === 'B' ? 'C' : 'B'}${code.slice(1)}`;

  it('shows a short typeable code, XXXX-XXXX from an alphabet without look-alikes; it exchanges without a redirect_uri and names the account', async () => {
    const { shown, verifier, user } = await headlessCode({ key_name: 'ssh box' });
    expect(shown).toMatch(/^[2-9BCDFGHJKMNPQRSTVWXZ]{4}-[2-9BCDFGHJKMNPQRSTVWXZ]{4}$/);
    const { status, json } = await exchange({ code: shown, code_verifier: verifier });
    expect(status).toBe(201);
    expect(json.key.name).toBe('ssh box');
    expect(json.user).toEqual({ email: user.email });
  });

  it('accepts the code in lower case, without the dash, with spaces around; once', async () => {
    const { shown, verifier } = await headlessCode();
    const typed = `  ${shown.replace('-', '').toLowerCase()} `;
    expect((await exchange({ code: typed, code_verifier: verifier })).status).toBe(201);
    expect((await exchange({ code: shown, code_verifier: verifier })).json.error.type).toBe('invalid_grant');
  });

  it('a mistyped code leaves the sign-in pending and says how many tries are left; the right code still works', async () => {
    const { shown, verifier } = await headlessCode();
    const wrong = await exchange({ code: typo(shown), code_verifier: verifier });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toEqual({ type: 'invalid_grant', message: 'The code is not right; 4 tries left.', attempts_left: 4 });
    expect((await exchange({ code: shown, code_verifier: verifier })).status).toBe(201);
  });

  it('brute force is bounded: after 5 wrong codes the pending sign-in is gone, and the right code no longer works', async () => {
    const { shown, verifier, user } = await headlessCode();
    const lefts: number[] = [];
    for (let i = 0; i < 5; i++) lefts.push((await exchange({ code: typo(shown), code_verifier: verifier })).json.error.attempts_left);
    expect(lefts).toEqual([4, 3, 2, 1, 0]);
    const late = await exchange({ code: shown, code_verifier: verifier });
    expect(late.status).toBe(400);
    expect(late.json.error.attempts_left).toBeUndefined();
    expect(late.json.error.message).toBe('The code is invalid, expired or already used. Run thirdloop auth again.');
    expect(await server.store.keys.listForUser(user.id)).toHaveLength(0);
  });

  it('guesses without the verifier count against nothing and find nothing', async () => {
    const { shown, verifier } = await headlessCode();
    for (let i = 0; i < 10; i++) {
      const guess = await exchange({ code: typo(shown), code_verifier: pkce().verifier });
      expect(guess.json.error).toEqual({ type: 'invalid_grant', message: 'The code is invalid, expired or already used. Run thirdloop auth again.' });
    }
    expect((await exchange({ code: shown, code_verifier: verifier })).status).toBe(201);
  });

  it('the code still expires after 5 minutes', async () => {
    const { shown, verifier } = await headlessCode();
    server.advance(5 * 60 * 1000 + 1000);
    try {
      const late = await exchange({ code: shown, code_verifier: verifier });
      expect(late.status).toBe(400);
      expect(late.json.error.type).toBe('invalid_grant');
    } finally {
      server.advance(-(5 * 60 * 1000 + 1000));
    }
  });
});

describe('the limit on the consent page', () => {
  it('at 2 active keys lists the keys with Disable/Delete, disables Approve; making room lets approval through', async () => {
    const { browser, user } = await signedIn();
    const a = await server.mintKey(user.id, { name: 'first' });
    await server.mintKey(user.id, { name: 'second' });
    const { verifier, challenge } = pkce();
    const params = defaults(challenge);
    const { html } = await browser.get(consentUrl(params));
    expect(html).toContain('2 / 2 active keys');
    expect(html).toMatch(/value="approve" class="primary" disabled/);
    expect(html).toContain(`action="/cli-auth/keys/${a.id}/disable"`);
    expect(html).toContain(`action="/cli-auth/keys/${a.id}/delete"`);

    const refused = await browser.request('/cli-auth', { method: 'POST', form: { ...formFields(html), decision: 'approve' } });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('location')).toBeNull();

    const returnTo = /name="return_to" value="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const disabled = await browser.request(`/cli-auth/keys/${a.id}/disable`, { method: 'POST', form: { csrf: Browser.csrf(html), return_to: returnTo } });
    expect(disabled.status).toBe(303);
    expect(disabled.headers.get('location')).toBe(returnTo);
    const res = await approve(browser, params);
    expect(res.status).toBe(302);
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    expect((await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT })).status).toBe(201);
  });

  it('with replaces, approval at the limit swaps the old key for the new one atomically', async () => {
    const { browser, user } = await signedIn();
    const old = await server.mintKey(user.id, { name: 'old laptop' });
    await server.mintKey(user.id, { name: 'other' });
    const { verifier, challenge } = pkce();
    const params = defaults(challenge, { replaces: old.id });
    const { html } = await browser.get(consentUrl(params));
    expect(html).toContain('id="consent-replaces">old laptop');
    expect(html).not.toMatch(/value="approve" class="primary" disabled/);
    const res = await approve(browser, params);
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    const { status, json } = await exchange({ code, code_verifier: verifier, redirect_uri: REDIRECT });
    expect(status).toBe(201);
    const keys = await server.store.keys.listForUser(user.id);
    expect(keys.map((k) => k.id).sort()).toEqual([json.key.id, keys.find((k) => k.name === 'other')!.id].sort());
    expect((await api(server.url, old.credential)('GET', '/api/me')).status).toBe(401);
  });

  it("cannot touch another user's key from the consent page", async () => {
    const { browser } = await signedIn();
    const other = await server.addUser();
    const key = await server.mintKey(other.id);
    const { html } = await browser.get(consentUrl(defaults(pkce().challenge)));
    const res = await browser.request(`/cli-auth/keys/${key.id}/delete`, { method: 'POST', form: { csrf: Browser.csrf(html) } });
    expect(res.status).toBe(404);
    expect(await server.store.keys.findById(key.id)).toBeDefined();
  });
});

describe('CSRF and escaping', () => {
  it('a POST without the session CSRF token is refused and redirects nowhere', async () => {
    const { browser, user } = await signedIn();
    const { html } = await browser.get(consentUrl(defaults(pkce().challenge)));
    for (const csrf of ['', 'forged', Browser.csrf(html) + 'x']) {
      const res = await browser.request('/cli-auth', { method: 'POST', form: { ...formFields(html), csrf, decision: 'approve' } });
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
    }
    expect(await server.store.keys.listForUser(user.id)).toHaveLength(0);
  });

  it('renders a hostile key name and machine as text', async () => {
    const { browser } = await signedIn();
    const { html } = await browser.get(consentUrl(defaults(pkce().challenge, { key_name: '<script>alert(1)</script>', machine: '"><img src=x>' })));
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('the consent page cannot be framed', async () => {
    const { browser } = await signedIn();
    const { res } = await browser.get(consentUrl(defaults(pkce().challenge)));
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});
