/**
 * The web console over plain HTTP (no browser): what each response holds,
 * sessions kept apart, other users' keys, headers, and the snippet quoting
 * for unusual instance URLs in real shells.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../../test/helpers/components.js';
import { authOneLiner, setupSnippets } from '../src/web/about.js';
import { Browser, startTestServer, type TestServer } from './helpers/app.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function signedIn(user: { email: string; password: string }, next = '/settings/api-keys') {
  const b = new Browser(server.url);
  const res = await b.signIn(user.email, user.password, next);
  expect(res.status).toBe(303);
  return b;
}

const secretIn = (html: string) => /value="(tls_[A-Za-z0-9]+)"/.exec(html)?.[1];

describe('web console over HTTP', () => {
  it('shows a new secret once, to the session that created it only', async () => {
    const user = await server.addUser();
    const a = await signedIn(user);
    const b = await signedIn(user);
    const page = await a.get('/settings/api-keys');
    const created = await a.request('/settings/api-keys', {
      method: 'POST',
      form: { csrf: Browser.csrf(page.html), name: 'once', expires_in_days: '30' },
    });
    expect(created.status).toBe(303);
    expect(created.headers.get('location')).toBe('/settings/api-keys');
    // The redirect carries nothing secret.
    expect(created.headers.getSetCookie().join(';')).not.toMatch(/tls_/);
    // Waiting for the next page view, the secret is in the database only sealed (for this session's cookie).
    const waiting = server.database.bytes();

    // Another session of the same user sees the key but not the secret.
    const other = await b.get('/settings/api-keys');
    expect(other.html).toContain('>once<');
    expect(secretIn(other.html)).toBeUndefined();

    const first = await a.get('/settings/api-keys');
    const secret = secretIn(first.html);
    expect(secret).toMatch(/^tls_/);
    expect(waiting.includes(Buffer.from(secret!.slice(4)))).toBe(false);
    expect(first.res.headers.get('cache-control')).toBe('no-store');
    expect(first.res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const again = await a.get('/settings/api-keys');
    expect(again.html).not.toContain(secret!);
    expect(secretIn(again.html)).toBeUndefined();

    // The key behaves as the API says: 30 days, active, audited as a web create.
    const [key] = await server.store.keys.listForUser(user.id);
    expect(key).toMatchObject({ name: 'once', state: 'active', expiresInDays: 30 });
    const [row] = await server.store.audit.list({ userId: user.id, limit: 1 });
    expect(row).toMatchObject({ kind: 'key', action: 'create', key_id: key!.id, method: 'POST', path: '/settings/api-keys', status: 201 });
  });

  it('escapes key names in every place they appear', async () => {
    const user = await server.addUser();
    const name = `<script>alert("x")</script>'&`;
    await server.mintKey(user.id, { name });
    const b = await signedIn(user);
    const { html } = await b.get('/settings/api-keys');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;');
    const [key] = await server.store.keys.listForUser(user.id);
    const confirm = await b.get(`/settings/api-keys/${key!.id}/delete`);
    expect(confirm.res.status).toBe(200);
    expect(confirm.html).not.toContain('<script>alert');
    expect(confirm.html).toContain('&lt;script&gt;');
    const audit = await b.get('/settings/audit');
    expect(audit.html).not.toContain('<script>alert');
  });

  it("another user's key is not found, and stays as it was", async () => {
    const owner = await server.addUser();
    const key = await server.mintKey(owner.id, { name: 'mine' });
    const intruder = await signedIn(await server.addUser());
    const { html } = await intruder.get('/settings/api-keys');
    expect(html).not.toContain(key.id);
    expect((await intruder.get(`/settings/api-keys/${key.id}/delete`)).res.status).toBe(404);
    for (const action of ['disable', 'delete']) {
      const res = await intruder.request(`/settings/api-keys/${key.id}/${action}`, { method: 'POST', form: { csrf: Browser.csrf(html) } });
      expect(res.status).toBe(404);
      expect(await res.text()).toContain(`No key ${key.id}.`);
    }
    const unknown = await intruder.request(`/settings/api-keys/${key.id}/rotate`, { method: 'POST', form: { csrf: Browser.csrf(html) } });
    expect(unknown.status).toBe(404);
    expect((await server.store.keys.findById(key.id))!.state).toBe('active');
    // The owner's audit has no rows from the intruder; the refusals are in the intruder's.
    expect((await server.store.audit.list({ userId: owner.id })).filter((r) => r.kind === 'key' && r.method === 'POST')).toEqual([]);
  });

  it('redirects signed-out visits to sign-in with the page to come back to', async () => {
    for (const path of ['/settings/api-keys', '/settings/api-keys/new', '/settings/about', '/settings/audit']) {
      const res = await fetch(server.url + path, { redirect: 'manual' });
      expect(res.status, path).toBe(302);
      expect(res.headers.get('location'), path).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const settings = await fetch(`${server.url}/settings`, { redirect: 'manual' });
    expect(settings.headers.get('location')).toBe('/settings/api-keys');
    const user = await server.addUser();
    const b = new Browser(server.url);
    const res = await b.signIn(user.email, user.password, '/settings/audit');
    expect(res.headers.get('location')).toBe('/settings/audit');
  });

  it('serves its script and styles locally', async () => {
    for (const [path, type] of [
      ['/assets/console.js', 'text/javascript'],
      ['/assets/app.css', 'text/css'],
    ]) {
      const res = await fetch(server.url + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(await res.text()).not.toMatch(/https?:\/\//);
    }
  });
});

describe.skipIf(needs('bash', 'zsh', 'fish'))('About snippets quote unusual instance URLs', () => {
  const credential = 'tlk_abc;tls_def';
  const urls = ["https://gw.example.com/it's", 'https://gw.example.com/a b$HOME`x`\\"', 'http://[::1]:8787'];

  it.each(urls)('%s', (url) => {
    const snippets = setupSnippets(url, credential);
    const dir = server.dataDir;
    const run = (shell: string, text: string) => {
      const file = join(dir, `quote.${shell}`);
      writeFileSync(file, `${text}\nprintf '%s\\n%s\\n' "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY"\n`, { mode: 0o600 });
      return execFileSync(shell, [file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
    };
    const posix = snippets.find((s) => s.id === 'snippet-bash')!.text;
    const fish = snippets.find((s) => s.id === 'snippet-fish')!.text;
    for (const [shell, text] of [['bash', posix], ['zsh', posix], ['fish', fish]] as const) {
      expect(run(shell, text), shell).toBe(`${url}\n${credential}\n`);
    }
    // The one-liner's argument survives the shell too.
    const args = execFileSync('bash', ['-c', `set -- ${authOneLiner(url).replace(/^npx thirdloop auth /, '')}; printf '%s\\n' "$@"`], { encoding: 'utf8' });
    expect(args).toBe(`--api-url\n${url}\n`);
  });
});
