/**
 * The web console (Settings > API Keys, About, Audit log) in real headless
 * Chromium against the real server (in-process, real SQLite file): what a
 * user following the product documentation sees and does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../../test/helpers/components.js';
import { launchBrowser, signInIfAsked } from '../../test/helpers/browser.js';
import { createKey, flagCompromised } from '../src/store/key-actions.js';
import { api, startTestServer, type TestServer } from './helpers/app.js';

const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');
const DAY = 24 * 60 * 60 * 1000;

type User = { id: string; email: string; password: string };

// Evaluated in the page (as strings: the server's tsconfig has no DOM types).
const clipboard = (page: Page) => page.evaluate<string>('navigator.clipboard.readText()');
/** Resolves when the next page has loaded on the keys page (set up before the click that navigates). */
const landed = async (page: Page) => {
  await page.waitForEvent('load');
  expect(new URL(page.url()).pathname).toBe('/settings/api-keys');
};
const focusedText = (page: Page) => page.evaluate<string | undefined>('document.activeElement?.textContent?.trim()');

describe.skipIf(needs('chromium'))('web console in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer({ writeBehindMs: 5 });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.close();
  });

  /**
   * A fresh browser context with the user signed in. Watches for what must
   * never happen: a JS dialog (alert from an injected script), a console
   * error (e.g. a CSP violation), a request to another origin.
   */
  async function open(user: User, options: { javaScript?: boolean; width?: number; dark?: boolean } = {}) {
    const context = await browser.newContext({
      colorScheme: options.dark ? 'dark' : 'light',
      javaScriptEnabled: options.javaScript ?? true,
      viewport: { width: options.width ?? 1100, height: 900 },
    });
    contexts.push(context);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('console', (m) => {
      // Refused forms answer 400/403/409 on purpose; a 404 (a missing asset) or a CSP violation is a problem.
      if (m.type() === 'error' && !/Failed to load resource: .* status of 4(00|03|09)\b/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`);
    });
    await page.goto(`${server.url}/login`);
    await signInIfAsked(page, user.email, user.password);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/settings/api-keys');
    return { context, page, problems };
  }

  const card = (page: Page, name: string) => page.locator('li.key-card', { has: page.locator('h2.key-name', { hasText: name }) });

  async function menuItems(page: Page, name: string): Promise<string[]> {
    const c = card(page, name);
    await c.locator('details.menu > summary').click();
    const items = (await c.locator('.menu-items li > a, .menu-items li button').allInnerTexts()).map((t) => t.trim());
    await page.keyboard.press('Escape');
    return items;
  }

  async function createThroughForm(page: Page, name: string, expiry?: string) {
    await page.goto(`${server.url}/settings/api-keys`);
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Create API Key' }).click()]);
    await page.getByLabel('Name').fill(name);
    if (expiry) await page.getByLabel('Expires in').selectOption(expiry);
    await Promise.all([landed(page), page.getByRole('button', { name: 'Create key' }).click()]);
  }

  it('signed-out visits go to sign-in and come back; About shows the instance URL and snippets', async () => {
    const user = await server.addUser();
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.url}/settings/about`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/settings/about');
    await signInIfAsked(page, user.email, user.password);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/settings/about');

    expect(await page.getByRole('textbox', { name: 'API domain' }).inputValue()).toBe(server.config.publicUrl);
    const snippet = async (id: string) => (await page.locator(`#${id}`).textContent())!;
    expect(await snippet('snippet-auth')).toBe(`npx thirdloop auth --api-url ${server.url}`);
    expect(await snippet('snippet-bash')).toBe(
      `export ANTHROPIC_BASE_URL='${server.url}'\nexport ANTHROPIC_API_KEY='<api_key_id>;<api_secret_key>'`,
    );
    expect(await snippet('snippet-fish')).toBe(`set -gx ANTHROPIC_BASE_URL '${server.url}'\nset -gx ANTHROPIC_API_KEY '<api_key_id>;<api_secret_key>'`);
    expect(await snippet('snippet-powershell')).toBe(
      `$env:ANTHROPIC_BASE_URL = '${server.url}'\n$env:ANTHROPIC_API_KEY = '<api_key_id>;<api_secret_key>'`,
    );
    expect(await snippet('snippet-cmd')).toBe(`set "ANTHROPIC_BASE_URL=${server.url}"\nset "ANTHROPIC_API_KEY=<api_key_id>;<api_secret_key>"`);
    expect(await page.locator('#opencode-base-url').textContent()).toBe(`${server.url}/v1`);

    // The settings pages link to each other.
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Audit log' }).click();
    await expect.poll(() => new URL(page.url()).pathname).toBe('/settings/audit');

    // Sign-in from the Create button's page lands back there too.
    const other = await (await browser.newContext()).newPage();
    contexts.push(other.context());
    await other.goto(`${server.url}/settings/api-keys/new`);
    await signInIfAsked(other, user.email, user.password);
    await expect.poll(() => new URL(other.url()).pathname).toBe('/settings/api-keys/new');
  });

  it.skipIf(needs('bash', 'zsh', 'fish'))('the About snippets, copied from the page, set the variables in real shells', async () => {
    const user = await server.addUser();
    const key = await server.mintKey(user.id, { name: 'shell' });
    const { page, problems } = await open(user);
    await page.goto(`${server.url}/settings/about`);
    const copied = async (label: string) => {
      await page.getByRole('button', { name: `Copy the ${label} snippet` }).click();
      return clipboard(page);
    };
    const posix = (await copied('bash / zsh')).replace('<api_key_id>;<api_secret_key>', key.credential);
    const fish = (await copied('fish')).replace('<api_key_id>;<api_secret_key>', key.credential);
    const run = (shell: string, script: string) => {
      // The script (with the credential) goes in a 0600 file, never argv; fish cannot read a socket stdin.
      const file = join(server.dataDir, `snippet.${shell}`);
      writeFileSync(file, `${script}\nprintf '%s\\n%s\\n' "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY"\n`, { mode: 0o600 });
      return execFileSync(shell, [file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: server.dataDir } });
    };
    for (const [shell, script] of [['bash', posix], ['zsh', posix], ['fish', fish]] as const) {
      expect(run(shell, script), shell).toBe(`${server.url}\n${key.credential}\n`);
    }
    expect(problems).toEqual([]);
  });

  it('creates a key, shows the secret once with Copy buttons, and a reload shows it no more', async () => {
    const user = await server.addUser();
    const { page, problems } = await open(user);
    expect(await page.locator('#active-count').textContent()).toBe('0 / 2 active keys');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Create API Key' }).click()]);
    expect(new URL(page.url()).pathname).toBe('/settings/api-keys/new');
    const select = page.getByLabel('Expires in');
    expect(await select.locator('option').evaluateAll((os) => os.map((o) => o.getAttribute('value')))).toEqual(['30', '60', '90', '180', '365']);
    expect(await select.inputValue()).toBe('90');
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-create-form.png') });
    // A blank name is refused with the reason, keeping the chosen expiry; nothing is created.
    await page.getByLabel('Name').fill('   ');
    await select.selectOption('60');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Create key' }).click()]);
    expect(await page.getByRole('alert').textContent()).toMatch(/name must not be empty/);
    expect(await page.getByLabel('Expires in').inputValue()).toBe('60');
    expect(await server.store.keys.listForUser(user.id)).toEqual([]);

    await page.getByLabel('Name').fill('work laptop');
    await select.selectOption('180');
    // Submitting disables the button at once, so a second click cannot make a second key.
    const arrived = landed(page);
    const disabledOnSubmit = await page.evaluate<boolean>(`(() => {
      const form = document.getElementById('create-key-form');
      const button = form.querySelector('button[type=submit]');
      form.requestSubmit(button);
      return button.disabled;
    })()`);
    await arrived;
    expect(disabledOnSubmit).toBe(true);
    expect((await server.store.keys.listForUser(user.id)).length).toBe(1);

    const id = await page.getByLabel('API Key ID', { exact: true }).inputValue();
    const secret = await page.getByLabel('Secret Key', { exact: true }).inputValue();
    const credential = await page.getByLabel('ANTHROPIC_API_KEY', { exact: true }).inputValue();
    expect(id).toMatch(/^tlk_/);
    expect(secret).toMatch(/^tls_/);
    expect(credential).toBe(`${id};${secret}`);
    expect(await page.locator('#secret-warning').textContent()).toMatch(/shown only once/);
    await expect.poll(() => page.evaluate<string>('document.activeElement?.id')).toBe('created-key');
    expect(await page.locator('#active-count').textContent()).toBe('1 / 2 active keys');
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-key-created.png'), fullPage: true });

    // Copy buttons copy exactly the value.
    await page.getByRole('button', { name: 'Copy Secret Key' }).click();
    expect(await clipboard(page)).toBe(secret);
    await page.getByRole('button', { name: 'Copy ANTHROPIC_API_KEY' }).click();
    expect(await clipboard(page)).toBe(credential);
    await page.getByRole('button', { name: 'Copy API Key ID' }).click();
    expect(await clipboard(page)).toBe(id);
    await expect.poll(() => page.locator('#copy-status').textContent()).toMatch(/copied/);

    // The credential works, and nothing about it sits in the URL or a cookie.
    const me = await api(server.url, credential)('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(page.url()).not.toContain(secret);
    expect(JSON.stringify(await page.context().cookies())).not.toContain(secret);

    // The card: name, id, status, created, expires (180 days), never used.
    const c = card(page, 'work laptop');
    expect(await c.locator('code.key-id').textContent()).toBe(id);
    expect(await c.locator('.badge').textContent()).toBe('Active');
    expect(await c.locator('.last-used').textContent()).toBe('Never used');
    const expiresIso = await c.locator('dd time').nth(1).getAttribute('datetime');
    expect(Math.round((Date.parse(expiresIso!) - server.now().getTime()) / DAY)).toBe(180);

    await page.reload();
    expect(await page.content()).not.toContain(secret);
    expect(await page.locator('#created-key').count()).toBe(0);
    expect(await card(page, 'work laptop').count()).toBe(1);
    // Back to the page a second way: still gone.
    await page.goto(`${server.url}/settings/api-keys`);
    expect(await page.content()).not.toContain(secret);

    // Managing keys is not using them; a model request moves "Last used" (written behind, so look again).
    await api(server.url, credential)('GET', '/api/keys');
    await page.reload();
    expect(await card(page, 'work laptop').locator('.last-used').textContent()).toBe('Never used');
    const model = await api(server.url, credential)('POST', '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    expect(model.status).toBe(200);
    await expect
      .poll(async () => (await page.reload(), await card(page, 'work laptop').locator('.last-used').textContent()), { timeout: 10_000 })
      .toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    expect(problems).toEqual([]);
  });

  it('renders a key named like markup as text', async () => {
    const user = await server.addUser();
    const { page, problems } = await open(user);
    const names = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>'];
    for (const name of names) await createThroughForm(page, name);
    await page.reload();
    for (const name of names) {
      const c = card(page, name);
      expect(await c.locator('h2.key-name').textContent()).toBe(name);
      expect(await c.locator('script, img').count()).toBe(0);
      expect(await c.locator('summary').getAttribute('aria-label')).toBe(`Actions for ${name}`);
    }
    expect(await page.locator('main script, main img').count()).toBe(0);
    // The confirmation dialog and page carry the name as text too.
    await page.goto(`${server.url}/settings/audit`);
    expect(problems).toEqual([]);
  });

  it('at the limit the Create button is disabled with the reason; the server refuses a forced create', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'one' });
    await server.mintKey(user.id, { name: 'two' });
    const { page, problems } = await open(user);
    expect(await page.locator('#active-count').textContent()).toBe('2 / 2 active keys');
    const button = page.getByRole('button', { name: 'Create API Key' });
    expect(await button.isDisabled()).toBe(true);
    const reasonId = await button.getAttribute('aria-describedby');
    expect(await page.locator(`#${reasonId}`).textContent()).toMatch(/2 active keys, the limit\. Disable or delete a key/);

    // The form itself, reached directly, says the same and refuses.
    await page.goto(`${server.url}/settings/api-keys/new`);
    expect(await page.getByRole('button', { name: 'Create key' }).isDisabled()).toBe(true);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const forced = await page.context().request.post(`${server.url}/settings/api-keys`, {
      form: { csrf, name: 'three', expires_in_days: '90' },
      maxRedirects: 0,
    });
    expect(forced.status()).toBe(409);
    expect(await forced.text()).toMatch(/limit/);
    expect((await server.store.keys.listForUser(user.id)).map((k) => k.name).sort()).toEqual(['one', 'two']);
    const audit = await server.store.audit.list({ userId: user.id });
    expect(audit[0]).toMatchObject({ kind: 'key', action: 'create', status: 409, path: '/settings/api-keys' });

    // A suspended key cannot be enabled at the limit: the menu says why, the server refuses.
    const spare = await server.mintKey(user.id, { name: 'spare', expires: 30 }).catch(() => undefined);
    expect(spare).toBeUndefined(); // the operator path obeys the same limit
    await page.goto(`${server.url}/settings/api-keys`);
    await card(page, 'two').locator('summary').click();
    await Promise.all([landed(page), card(page, 'two').getByRole('button', { name: 'Disable' }).click()]);
    await createThroughForm(page, 'three');
    await page.reload();
    await card(page, 'two').locator('summary').click();
    const enable = card(page, 'two').getByRole('button', { name: 'Enable' });
    expect(await enable.isDisabled()).toBe(true);
    expect(await page.locator(`#${await enable.getAttribute('aria-describedby')}`).textContent()).toMatch(/limit/);
    const twoId = (await server.store.keys.listForUser(user.id)).find((k) => k.name === 'two')!.id;
    const forcedEnable = await page.context().request.post(`${server.url}/settings/api-keys/${twoId}/enable`, { form: { csrf }, maxRedirects: 0 });
    expect(forcedEnable.status()).toBe(409);
    expect((await server.store.keys.findById(twoId))!.state).toBe('suspended');
    await page.keyboard.press('Escape');

    // Disabling one makes room.
    await page.goto(`${server.url}/settings/api-keys`);
    await card(page, 'one').locator('summary').click();
    await Promise.all([landed(page), card(page, 'one').getByRole('button', { name: 'Disable' }).click()]);
    expect(await page.locator('#active-count').textContent()).toBe('1 / 2 active keys');
    expect(await page.getByRole('button', { name: 'Create API Key' }).isEnabled()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('menus offer exactly the actions of each status; disable, enable and delete work through them', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'alpha' });
    const old = await createKey({ store: server.store, now: new Date(server.now().getTime() - 40 * DAY), userId: user.id }, { name: 'old', expiresInDays: 30 });
    const leaked = await server.mintKey(user.id, { name: 'leaked' });
    await flagCompromised(server.store, leaked.id, server.now());
    const { page, problems } = await open(user);

    expect(await card(page, 'old').locator('.badge').textContent()).toBe('Expired');
    expect(await card(page, 'leaked').locator('.badge').textContent()).toBe('Compromised');
    expect(await menuItems(page, 'alpha')).toEqual(['Disable', 'Delete…']);
    expect(await menuItems(page, 'old')).toEqual(['Delete…']);
    expect(await menuItems(page, 'leaked')).toEqual(['Delete…']);

    await card(page, 'alpha').locator('summary').click();
    await Promise.all([landed(page), card(page, 'alpha').getByRole('button', { name: 'Disable' }).click()]);
    expect(await page.locator('#page-notice').textContent()).toBe('Disabled “alpha”.');
    expect(await card(page, 'alpha').locator('.badge').textContent()).toBe('Suspended');
    expect(await menuItems(page, 'alpha')).toEqual(['Enable', 'Delete…']);

    await card(page, 'alpha').locator('summary').click();
    await Promise.all([landed(page), card(page, 'alpha').getByRole('button', { name: 'Enable' }).click()]);
    expect(await card(page, 'alpha').locator('.badge').textContent()).toBe('Active');

    // Delete asks first: Cancel keeps the key, confirming removes it.
    const expired = card(page, 'old');
    await expired.locator('summary').click();
    await expired.getByRole('link', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete “old”?' });
    await dialog.waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-delete-dialog.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.isVisible()).toBe(false);
    expect(await server.store.keys.findById(old.key.id)).toBeDefined();

    await expired.locator('summary').click();
    await expired.getByRole('link', { name: 'Delete…' }).click();
    await Promise.all([landed(page), dialog.getByRole('button', { name: 'Delete key' }).click()]);
    expect(await card(page, 'old').count()).toBe(0);
    expect(await page.locator('#page-notice').textContent()).toBe('Deleted “old”.');
    expect(await server.store.keys.findById(old.key.id)).toBeUndefined();

    // The same actions through the API's rules: audit rows as the API writes them.
    const rows = await server.store.audit.list({ userId: user.id });
    const actions = rows.filter((r) => r.kind === 'key' && r.method === 'POST').map((r) => r.action);
    expect(actions).toEqual(['delete', 'enable', 'disable']);
    expect(problems).toEqual([]);
  });

  it('menus work from the keyboard', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'kb' });
    const { page, problems } = await open(user);
    const summary = card(page, 'kb').locator('summary');
    await summary.focus();
    await page.keyboard.press('Enter');
    expect(await card(page, 'kb').locator('details').getAttribute('open')).not.toBeNull();
    // Focus moved into the menu, on its first action.
    await expect.poll(() => focusedText(page)).toBe('Disable');
    await page.keyboard.press('Escape');
    expect(await card(page, 'kb').locator('details').getAttribute('open')).toBeNull();
    expect(await page.evaluate<string>('document.activeElement?.tagName')).toBe('SUMMARY');

    await page.keyboard.press('Enter');
    await expect.poll(() => focusedText(page)).toBe('Disable');
    await Promise.all([landed(page), page.keyboard.press('Enter')]);
    expect(await card(page, 'kb').locator('.badge').textContent()).toBe('Suspended');

    // Delete from the keyboard: the dialog takes focus on Cancel; Escape closes it.
    await card(page, 'kb').locator('summary').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedText(page)).toBe('Enable');
    await page.keyboard.press('Tab');
    expect(await focusedText(page)).toBe('Delete…');
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedText(page)).toBe('Cancel');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    // Focus is back on the menu's toggle, and the key is still there.
    await expect.poll(() => page.evaluate<string>('document.activeElement?.tagName')).toBe('SUMMARY');
    expect((await server.store.keys.listForUser(user.id)).length).toBe(1);
    expect(problems).toEqual([]);
  });

  it('labels every control and tabs through the page in reading order', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'first' });
    const { page, problems } = await open(user);
    // Under load the first Tab can arrive before the page has focus: give it focus first.
    await page.waitForLoadState('load');
    await page.bringToFront();
    await page.evaluate('window.focus(); document.activeElement && document.activeElement.blur && document.activeElement.blur()');
    const focusOrder: string[] = [];
    for (let i = 0; i < 9; i++) {
      await page.keyboard.press('Tab');
      focusOrder.push(
        await page.evaluate<string>(
          `(() => { const e = document.activeElement; return e.tagName + ':' + (e.getAttribute('aria-label') || e.textContent.trim()); })()`,
        ),
      );
    }
    expect(focusOrder).toEqual([
      'A:Third Loop',
      'A:Settings',
      'BUTTON:Sign out',
      'A:API Keys',
      'A:About',
      'A:Audit log',
      'A:Sessions',
      'BUTTON:Create API Key',
      'SUMMARY:Actions for first',
    ]);

    // Every visible control has an accessible name, on every page.
    await createThroughForm(page, 'second');
    for (const path of ['/settings/api-keys', '/settings/api-keys/new', '/settings/about', '/settings/audit', '/settings/sessions']) {
      if (path !== '/settings/api-keys') await page.goto(server.url + path);
      const unnamed = await page.evaluate<string[]>(`[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, summary, a[href]')]
        .filter((e) => e.offsetParent !== null)
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby') && !e.textContent.trim())
        .map((e) => e.outerHTML)`);
      expect(unnamed, path).toEqual([]);
      expect(await page.locator('h1').count(), `${path} has one h1`).toBe(1);
    }
    expect(problems).toEqual([]);
  });

  it('works without JavaScript: menus, the confirmation page, creating with the secret shown', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'nojs' });
    const { page, problems } = await open(user, { javaScript: false });
    const c = card(page, 'nojs');
    await c.locator('summary').click();
    await Promise.all([landed(page), c.getByRole('button', { name: 'Disable' }).click()]);
    expect(await card(page, 'nojs').locator('.badge').textContent()).toBe('Suspended');

    await card(page, 'nojs').locator('summary').click();
    await Promise.all([page.waitForEvent('load'), card(page, 'nojs').getByRole('link', { name: 'Delete…' }).click()]);
    expect(new URL(page.url()).pathname).toMatch(/^\/settings\/api-keys\/tlk_\w+\/delete$/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Delete “nojs”?');
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-confirm-delete-nojs.png') });
    await Promise.all([page.waitForEvent('load'), page.getByRole('link', { name: 'Cancel' }).click()]);
    expect(await card(page, 'nojs').count()).toBe(1);

    await card(page, 'nojs').locator('summary').click();
    await Promise.all([page.waitForEvent('load'), card(page, 'nojs').getByRole('link', { name: 'Delete…' }).click()]);
    await Promise.all([landed(page), page.getByRole('button', { name: 'Delete key' }).click()]);
    expect(await card(page, 'nojs').count()).toBe(0);
    expect(await server.store.keys.listForUser(user.id)).toEqual([]);

    await createThroughForm(page, 'made without js');
    expect(await page.getByLabel('Secret Key', { exact: true }).inputValue()).toMatch(/^tls_/);
    expect(problems).toEqual([]);
  });

  it('refuses a forged POST (no or wrong CSRF token) with 403 and changes nothing', async () => {
    const user = await server.addUser();
    const key = await server.mintKey(user.id, { name: 'target' });
    const { page } = await open(user);
    const request = page.context().request; // carries the session cookie
    const attempts: Record<string, string>[] = [{}, { csrf: 'forged' }, { csrf: randomBytes(32).toString('base64url') }];
    for (const form of attempts) {
      for (const path of [`/settings/api-keys/${key.id}/disable`, `/settings/api-keys/${key.id}/delete`, '/settings/api-keys']) {
        const res = await request.post(server.url + path, { form: { ...form, name: 'forged' }, maxRedirects: 0 });
        expect(res.status(), `${path} ${JSON.stringify(form)}`).toBe(403);
      }
    }
    // Another user's token does not work either.
    const { page: otherPage } = await open(await server.addUser());
    const otherCsrf = await otherPage.locator('input[name=csrf]').first().inputValue();
    const res = await request.post(`${server.url}/settings/api-keys/${key.id}/disable`, { form: { csrf: otherCsrf }, maxRedirects: 0 });
    expect(res.status()).toBe(403);

    const keys = await server.store.keys.listForUser(user.id);
    expect(keys.map((k) => [k.name, k.state])).toEqual([['target', 'active']]);

    // A cross-site page auto-submitting a form: the Lax session cookie stays home, nothing changes.
    const attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form method=post action="${server.url}/settings/api-keys/${key.id}/delete"><input name=csrf value=x></form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((done) => attacker.listen(0, '127.0.0.1', done));
    try {
      // "localhost" is another site than "127.0.0.1" for cookies: the POST arrives without the session
      // and is sent to sign-in (which, signed in, forwards to the keys page).
      const post = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(server.url));
      await page.goto(`http://localhost:${(attacker.address() as AddressInfo).port}/`);
      const answer = await post;
      expect(answer.status()).toBe(303);
      expect(answer.headers().location).toMatch(/^\/login\?next=/);
    } finally {
      attacker.close();
    }
    expect((await server.store.keys.listForUser(user.id)).length).toBe(1);

    // Signed out, an action goes to sign-in.
    const anonymous = await fetch(`${server.url}/settings/api-keys/${key.id}/delete`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=x',
      redirect: 'manual',
    });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/login?next=%2Fsettings%2Fapi-keys');
    expect((await server.store.keys.listForUser(user.id)).length).toBe(1);
  });

  it('the audit page lists key actions and gateway requests with session, model, status and tokens', async () => {
    const user = await server.addUser();
    const { page, problems } = await open(user);
    await createThroughForm(page, 'audited');
    const credential = await page.getByLabel('ANTHROPIC_API_KEY', { exact: true }).inputValue();
    const keyId = credential.split(';')[0]!;
    const sessionId = '3f1c2d9e-5b7a-4c21-9d0e-1234567890ab';
    const res = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-claude-code-session-id': sessionId },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await expect.poll(async () => (await server.store.audit.list({ userId: user.id })).some((r) => r.kind === 'gateway')).toBe(true);

    await Promise.all([page.waitForEvent('load'), page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Audit log' }).click()]);
    const gatewayRow = page.locator('#audit-table tbody tr[data-kind=gateway]').first();
    const cells = (await gatewayRow.locator('td').allInnerTexts()).map((t) => t.trim());
    expect(cells[1]).toMatch(/^messages/);
    expect(cells[2]).toContain(keyId);
    expect(cells[2]).toContain('audited');
    expect(cells[3]).toBe(sessionId);
    expect(cells[4]).toBe('POST');
    expect(cells[5]).toBe('/v1/messages');
    expect(cells[6]).toBe('claude-sonnet-4-5');
    expect(cells[7]).toBe('200');
    expect(cells[8]).toMatch(/^\d+(\.\d)? ms$/);
    expect(cells[9]).toMatch(/^\d+ in \/ \d+ out$/);

    const createRow = page.locator('#audit-table tbody tr[data-action=create]');
    expect(await createRow.count()).toBe(1);
    expect(await createRow.locator('td').nth(2).innerText()).toContain(keyId);
    expect(await createRow.locator('td').nth(7).innerText()).toBe('201');
    // Only this user's rows.
    const all = await server.store.audit.list({ userId: user.id });
    expect(await page.locator('#audit-table tbody tr').count()).toBe(all.length);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-audit.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('Settings > Sessions: two browsers listed; Sign out everywhere signs both out, the API key keeps working', async () => {
    const user = await server.addUser();
    const key = await server.mintKey(user.id, { name: 'survives' });
    const laptop = await open(user);
    const phone = await open(user, { width: 390 });
    await Promise.all([laptop.page.waitForEvent('load'), laptop.page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Sessions' }).click()]);
    expect(new URL(laptop.page.url()).pathname).toBe('/settings/sessions');
    expect(await laptop.page.locator('#sessions-summary').innerText()).toMatch(/^You are signed in on 2 browsers \(this one and 1 other\)\./);
    expect(await laptop.page.locator('#sessions-table tbody tr').count()).toBe(2);
    await laptop.page.screenshot({ path: join(ARTIFACTS, 'web-console-sessions.png'), fullPage: true });
    await Promise.all([laptop.page.waitForEvent('load'), laptop.page.getByRole('button', { name: 'Sign out everywhere' }).click()]);
    expect(new URL(laptop.page.url()).pathname).toBe('/login');
    // The other browser is signed out too: its next page asks for a sign-in.
    await phone.page.goto(`${server.url}/settings/api-keys`);
    expect(new URL(phone.page.url()).pathname).toBe('/login');
    expect((await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': key.credential } })).status).toBe(200);
    expect([...laptop.problems, ...phone.problems]).toEqual([]);
    // Two sign-ins and four page loads in Chromium: long on a loaded two-core machine.
  }, 120_000);

  it('is readable on a narrow screen; screenshots of the key page and the consent page', async () => {
    const user = await server.addUser();
    await server.mintKey(user.id, { name: 'phone key with a rather long descriptive name' });
    const { page, problems } = await open(user, { width: 360 });
    await createThroughForm(page, 'second');
    const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-keys-narrow.png'), fullPage: true });
    await card(page, 'second').locator('summary').click();
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-menu-narrow.png'), fullPage: true });
    for (const path of ['/settings/about', '/settings/audit', '/settings/api-keys/new']) {
      await page.goto(server.url + path);
      expect(await overflow(), path).toBeLessThanOrEqual(0);
    }
    await page.goto(`${server.url}/settings/about`);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-about-narrow.png'), fullPage: true });

    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto(`${server.url}/settings/api-keys`);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-keys.png'), fullPage: true });
    await page.goto(`${server.url}/settings/about`);
    await page.screenshot({ path: join(ARTIFACTS, 'web-console-about.png'), fullPage: true });

    const dark = await open(user, { dark: true });
    await card(dark.page, 'second').locator('summary').click();
    await dark.page.screenshot({ path: join(ARTIFACTS, 'web-console-keys-dark.png'), fullPage: true });
    expect(dark.problems).toEqual([]);

    // The consent page as `thirdloop auth` opens it: a fresh user, then the same user at the limit.
    const verifier = randomBytes(32).toString('base64url');
    const consent = new URL('/cli-auth', server.url);
    consent.search = new URLSearchParams({
      redirect_uri: 'http://127.0.0.1:53682/callback',
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      key_name: 'thirdloop CLI on dev-laptop',
      expires_in_days: '90',
      machine: 'dev-laptop',
    }).toString();
    const fresh = await open(await server.addUser());
    await fresh.page.goto(consent.href);
    expect(await fresh.page.getByRole('button', { name: 'Approve' }).isEnabled()).toBe(true);
    await fresh.page.screenshot({ path: join(ARTIFACTS, 'consent.png'), fullPage: true });
    await fresh.page.setViewportSize({ width: 360, height: 800 });
    await fresh.page.screenshot({ path: join(ARTIFACTS, 'consent-narrow.png'), fullPage: true });
    expect(fresh.problems).toEqual([]);

    await page.goto(consent.href);
    expect(await page.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'consent-at-limit.png'), fullPage: true });
    expect(problems).toEqual([]);
    // Three Chromium sign-ins and a dozen full-page screenshots: a bound on a hang, not a timing check.
  }, 120_000);
});
