/**
 * Two server processes (the built binary, as operators run it) on one real PostgreSQL: a client
 * alternating between them signs in on one and acts on the other, keys are created on both at
 * once, a key disabled on one is refused on the other within a second, and gateway traffic keeps
 * being served while one replica is stopped with SIGTERM.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needsThat } from '../../test/helpers/components.js';
import { postgresBinDir } from '../../test/helpers/postgres.js';
import { startReferenceServer, type ReferenceServer } from '../../test/helpers/reference-server.js';
import { testDatabaseUrl } from '../../test/helpers/test-store.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { api, Browser } from './helpers/app.js';
import { messageBody, sendJson, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';

const skip = needsThat(postgresBinDir() !== undefined, 'PostgreSQL (initdb, pg_ctl: the postgresql package)');

describe.skipIf(skip)('two replicas on one PostgreSQL', () => {
  let databaseUrl: string;
  let upstream: FakeUpstream;
  let a: ReferenceServer;
  let b: ReferenceServer;
  /** The operator's provider answers after a moment, so requests are in flight when a replica stops. */
  let upstreamDelayMs = 0;

  beforeAll(async () => {
    databaseUrl = await testDatabaseUrl('replicas');
    upstream = await startFakeUpstream();
    upstream.handle(async (_req, res) => {
      if (upstreamDelayMs) await new Promise((r) => setTimeout(r, upstreamDelayMs));
      sendJson(res, 200, messageBody());
    });
    // Both at once against an empty database: the migration runs once, under the advisory lock.
    const options = { env: { THIRDLOOP_DATABASE_URL: databaseUrl }, upstream: upstream.url };
    [a, b] = await Promise.all([startReferenceServer(options), startReferenceServer(options)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await upstream?.close();
  });

  it('both started on the same freshly migrated schema, and /healthz says the database answers', async () => {
    for (const server of [a, b]) {
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', database: 'ok' });
    }
    const { default: postgres } = await import('postgres');
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    try {
      expect(await sql`SELECT version FROM schema_version`).toEqual([{ version: MIGRATIONS.length }]);
    } finally {
      await sql.end();
    }
  });

  it('web console: signed in on one, the key created on the other, its secret shown once on the first', async () => {
    const user = await a.addUser(`web-${randomBytes(3).toString('hex')}@example.com`);
    const browser = new Browser(a.url);
    expect((await browser.signIn(user.email, user.password)).status).toBe(303);
    // The session, CSRF token and page work on B.
    const page = await browser.get(`${b.url}/settings/api-keys`);
    expect(page.res.status).toBe(200);
    const created = await browser.request(`${b.url}/settings/api-keys`, {
      method: 'POST',
      form: { csrf: Browser.csrf(page.html), name: 'from b', expires_in_days: '30' },
    });
    expect(created.status).toBe(303);
    // The redirect lands on A (as a load balancer may send it): the secret is shown there, once.
    const shown = await browser.get(`${a.url}/settings/api-keys`);
    const secret = /value="(tls_[A-Za-z0-9]+)"/.exec(shown.html)?.[1];
    expect(secret).toMatch(/^tls_/);
    const again = await browser.get(`${b.url}/settings/api-keys`);
    expect(again.html).toContain('>from b<');
    expect(again.html).not.toContain(secret!);
    // Signing out on A ends the session on B.
    const signOut = await browser.get(`${a.url}/settings/api-keys`);
    const out = await browser.request(`${a.url}/logout`, { method: 'POST', form: { csrf: Browser.csrf(signOut.html) } });
    expect(out.status).toBe(303);
    const after = await browser.request(`${b.url}/settings/api-keys`);
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toMatch(/^\/login/);
  });

  it('CLI consent flow: sign-in on A, consent on B, code exchanged on A, the key works on B', async () => {
    const user = await b.addUser(`cli-${randomBytes(3).toString('hex')}@example.com`);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirect = 'http://127.0.0.1:53682/callback';
    const params = new URLSearchParams({
      redirect_uri: redirect,
      state: 'st-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      key_name: 'laptop',
      expires_in_days: '30',
      machine: 'ada-mbp',
    });
    const browser = new Browser(a.url);
    const first = await browser.request(`${a.url}/cli-auth?${params}`);
    expect(first.status).toBe(302);
    const login = await browser.get(`${a.url}${first.headers.get('location')}`);
    const next = `/cli-auth?${params}`;
    const signedIn = await browser.request(`${a.url}/login`, {
      method: 'POST',
      form: { csrf: Browser.csrf(login.html), email: user.email, password: user.password, next },
    });
    expect(signedIn.status).toBe(303);
    const consent = await browser.get(`${b.url}${signedIn.headers.get('location')}`);
    expect(consent.html).toContain('id="consent-key-name">laptop<');
    const form = consent.html.slice(consent.html.indexOf('<form method="post" action="/cli-auth"'));
    const fields: Record<string, string> = {};
    for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[m[1]!] = m[2]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    }
    const approved = await browser.request(`${b.url}/cli-auth`, { method: 'POST', form: { ...fields, decision: 'approve' } });
    expect(approved.status).toBe(302);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code');
    const exchanged = await fetch(`${a.url}/api/cli-auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, code_verifier: verifier, redirect_uri: redirect }),
    });
    expect(exchanged.status).toBe(201);
    const { credential } = (await exchanged.json()) as { credential: string };
    const me = await api(b.url, credential)('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.json.user.email).toBe(user.email);
    // The code is spent on every replica.
    const replay = await fetch(`${b.url}/api/cli-auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, code_verifier: verifier, redirect_uri: redirect }),
    });
    expect(replay.status).toBe(400);
  });

  it('50 × 2 concurrent creates on the two replicas: exactly one succeeds, never more than 2 Active', async () => {
    const email = `race-${randomBytes(3).toString('hex')}@example.com`;
    await a.addUser(email);
    const { credential } = await a.createKey(email, { name: 'caller', expires: 365 });
    const calls = [api(a.url, credential), api(b.url, credential)];
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => calls[i % 2]!('POST', '/api/keys', { name: `race ${i}`, expires_in_days: 30 })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s !== 201).every((s) => s === 409)).toBe(true);
    const listed = await calls[1]!('GET', '/api/keys');
    expect(listed.json.keys.filter((k: { status: string }) => k.status === 'active')).toHaveLength(2);
  });

  it('a key disabled on one replica is refused on the other within 1 s', async () => {
    const email = `disable-${randomBytes(3).toString('hex')}@example.com`;
    await a.addUser(email);
    const owner = await a.createKey(email, { name: 'owner', expires: 365 });
    const target = await a.createKey(email, { name: 'target', expires: 30 });
    const onB = api(b.url, target.credential);
    const message = { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
    // Used on B first, so B has had every reason to remember it.
    expect((await onB('POST', '/v1/messages', message)).status).toBe(200);
    expect((await api(a.url, owner.credential)('POST', `/api/keys/${target.id}/disable`)).status).toBe(200);
    const disabledAt = Date.now();
    let status = 200;
    while (Date.now() - disabledAt < 1000) {
      status = (await onB('POST', '/v1/messages', message)).status;
      if (status !== 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    expect(Date.now() - disabledAt).toBeLessThan(1000);
  });

  it('gateway traffic to both while one gets SIGTERM: requests it accepted finish, the rest are served by the other', async () => {
    const email = `traffic-${randomBytes(3).toString('hex')}@example.com`;
    await a.addUser(email);
    const { credential } = await a.createKey(email, { name: 'traffic', expires: 30 });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    upstreamDelayMs = 300;
    const forwardedBefore = upstream.received.length;
    /** One request on a fresh connection, as a load balancer's: the status, or the connection error's code. */
    const send = (base: string) =>
      new Promise<number | string>((resolve) => {
        const req = httpRequest(`${base}/v1/messages`, {
          method: 'POST',
          agent: false,
          headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(res.statusCode === 200 && text.includes('Hi from upstream') ? 200 : `${res.statusCode}: ${text}`));
          res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end(body);
      });
    const outcomes: Array<{ to: 'a' | 'b'; result: number | string }> = [];
    let stopping: Promise<void> | undefined;
    const workers = Array.from({ length: 6 }, async (_, w) => {
      for (let i = 0; i < 8; i++) {
        const to = (w + i) % 2 ? 'a' : 'b';
        if (w === 0 && i === 3) stopping = a.stop();
        outcomes.push({ to, result: await send(to === 'a' ? a.url : b.url) });
      }
    });
    await Promise.all(workers);
    await stopping;
    upstreamDelayMs = 0;
    // A did serve some, and refused some once stopped: the test saw the stop happen mid-traffic.
    expect(outcomes.filter((o) => o.to === 'a' && o.result === 200).length).toBeGreaterThan(0);
    const refused = outcomes.filter((o) => o.result !== 200);
    expect(refused.length).toBeGreaterThan(0);
    // Nothing accepted was lost: every failure is a connection A refused, or one still waiting in
    // its listen queue when it stopped (reset by the kernel) — none a cut answer or a 5xx ...
    expect(refused.filter((o) => !(o.to === 'a' && (o.result === 'ECONNREFUSED' || o.result === 'ECONNRESET')))).toEqual([]);
    // ... and none of those reached the provider: A never started them, so the load balancer's
    // retry on B (below) is the only time each is served.
    const retried = await Promise.all(refused.map(() => send(b.url)));
    expect(retried.every((r) => r === 200)).toBe(true);
    const served = outcomes.filter((o) => o.result === 200).length + retried.length;
    expect(upstream.received.length - forwardedBefore).toBe(served);
  });
});
