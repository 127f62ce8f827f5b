/**
 * `thirdloop auth` end to end, as people run it: the built CLI as a child
 * process with a temp HOME and BROWSER unset, so the `open` package runs the
 * `xdg-open` it finds on PATH; there a stand-in hands the URL to real headless
 * Chromium, which signs in on the real reference server and approves or
 * denies. Also: no opener at all, an opener that fails, Ctrl+C, BROWSER
 * itself, and the one-time code of --no-browser. No keychain here (no D-Bus
 * session): the secret goes to the 0600 fallback file; keychain.test.ts
 * covers the keyring.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, decideConsent, launchBrowser } from '../helpers/browser.js';
import { ensureCliBuilt, makeHome, runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { noOpenerEnv, startFakeOpener, type FakeOpener } from '../helpers/opener.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

// Build once up front (others edit src/ meanwhile), inside the hook's longer timeout.
beforeAll(() => ensureCliBuilt(), 120_000);

const missing = browserMissing();
const URL_LINE = /^ {2}(http:\/\/\S+\/cli-auth\?\S+)$/m;

/** Every file under the config dir, as text, for "the secret is not here" checks. */
function configFiles(home: string): Record<string, string> {
  const dir = join(home, '.config', 'thirdloop');
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) out[name] = readFileSync(join(dir, name), 'utf8');
  return out;
}

describe.skipIf(missing)('thirdloop auth (browser, real server)', () => {
  let server: ReferenceServer;
  let browser: Browser;
  const homes: Array<() => void> = [];
  let user: { email: string; password: string };

  const home = () => {
    const h = makeHome();
    homes.push(h.cleanup);
    return h.home;
  };

  beforeAll(async () => {
    [server, browser] = await Promise.all([startReferenceServer(), launchBrowser()]);
    user = await server.addUser('ada@example.com', 'correct horse battery staple');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    homes.forEach((cleanup) => cleanup());
  });

  const openers: FakeOpener[] = [];
  afterEach(async () => {
    for (const opener of openers.splice(0)) {
      await opener.close();
      for (const error of opener.errors) throw error;
    }
  });

  /**
   * Starts `thirdloop auth …` with BROWSER unset and the stand-in `xdg-open` first
   * on PATH; Chromium signs in and takes `decision` on the page it is handed
   * ('none': the page is left alone). Resolves once the opener ran, with the URL
   * it got, which must also be the URL printed.
   */
  async function startAuth(h: string, args: string[] = [], options: { decision?: 'approve' | 'deny' | 'none'; who?: typeof user } = {}) {
    const decision = options.decision ?? 'approve';
    let page: Promise<Page> | undefined;
    const opener = await startFakeOpener({
      onOpen: decision === 'none' ? undefined : (url) => (page = decideConsent(browser, url, options.who ?? user, decision)),
    });
    openers.push(opener);
    const cli = startCli(['auth', '--api-url', server.url, ...args], { home: h, env: opener.env });
    const argv = await opener.next();
    const [, printed] = await cli.waitFor(URL_LINE);
    expect(argv).toEqual([printed]);
    return { cli, url: printed!, page: () => page };
  }

  async function signInWithBrowser(h: string, extraArgs: string[] = [], who = user) {
    const { cli, url, page } = await startAuth(h, extraArgs, { who });
    const result = await cli.exited;
    const shown = await page()!;
    const pageText = await shown.locator('body').innerText();
    await shown.context().close();
    return { result, pageText, url, cli };
  }

  test('the default path (BROWSER unset, xdg-open on PATH): approve in the browser, exit 0, key stored, status shows it, secret only in the 0600 credentials file', async () => {
    const h = home();
    const { result, pageText, url, cli } = await signInWithBrowser(h);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(pageText).toContain('thirdloop is signed in');
    // The opener started fine: no "could not open" line; the success line names the account.
    expect(result.stderr).not.toContain('Could not open a browser');
    expect(result.stderr).toContain('Waiting for approval in the browser… (Ctrl+C to cancel)');
    expect(result.stderr).toMatch(/✓ Signed in to http:\/\/127\.0\.0\.1:\d+ as ada@example\.com\./);

    const consent = new URL(url);
    expect(consent.searchParams.get('code_challenge_method')).toBe('S256');
    expect(consent.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(consent.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(consent.searchParams.get('expires_in_days')).toBe('90');
    expect(consent.searchParams.get('key_name')).toMatch(/^CLI auth — .+ \(\d{4}-\d{2}-\d{2}\)$/);

    expect(result.stderr).toContain('Next: run `thirdloop setup claude`');
    expect(result.stderr).toContain('plain text at');

    const token = await runCli(['token'], { home: h });
    expect(token.exitCode).toBe(0);
    expect(token.stdout).toMatch(/^tlk_[0-9A-Za-z]{24};tls_[0-9A-Za-z]{38}\n$/);
    const credential = token.stdout.trim();
    const [keyId, secret] = credential.split(';') as [string, string];

    // The secret appears nowhere it should not: auth's stdout and stderr, argv, config.json.
    expect(result.stdout + result.stderr).not.toContain(secret);
    expect(cli.argv.join(' ')).not.toContain(secret);
    const files = configFiles(h);
    expect(files['config.json']).toContain(keyId);
    expect(files['config.json']).not.toContain(secret);
    expect(files['credentials.json']).toContain(secret);
    const dir = join(h, '.config', 'thirdloop');
    expect(statSync(join(dir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    const status = await runCli(['status'], { home: h });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(keyId);
    expect(status.stdout).toContain('ada@example.com');
    expect(status.stdout).toMatch(/Status\s+Active/);
    expect(status.stdout).toMatch(/Expires\s+\d{4}-\d{2}-\d{2} \(in 90 days\)/);

    const json = await runCli(['whoami', '--json'], { home: h });
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ profile: 'default', api_url: server.url, signed_in: true, user: { email: 'ada@example.com' }, days_left: 90 });
    expect(doc.key.id).toBe(keyId);
    expect(doc.key.status).toBe('active');

    // --debug shows request lines but never the secret.
    const debug = await runCli(['status', '--debug'], { home: h });
    expect(debug.stderr).toMatch(/\[debug\] GET http:\/\/127\.0\.0\.1:\d+\/api\/me -> 200 \(\d+ ms\)/);
    expect(debug.stdout + debug.stderr).not.toContain(secret);

    // Cleanup for the next tests: the user keeps at most 2 active keys.
    const logout = await runCli(['logout', '--revoke', '--yes'], { home: h });
    expect(logout.exitCode, logout.stderr).toBe(0);
    expect(logout.stderr).toContain('deleted it on the instance');
    const after = await runCli(['status'], { home: h });
    expect(after.exitCode).toBe(4);
    expect(after.stderr).toContain('Not signed in');
  });

  test('BROWSER is run with the consent URL as its only argument (and not xdg-open); the secret is in no child argv', async () => {
    const h = home();
    const script = join(h, 'fake-browser.sh');
    const log = join(h, 'browser-argv.txt');
    writeFileSync(script, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a" >> '${log}'; done\n`, { mode: 0o755 });
    const xdgOpen = await startFakeOpener();
    openers.push(xdgOpen);
    const cli = startCli(['auth', '--api-url', server.url, '--name', 'opened'], { home: h, env: { ...xdgOpen.env, BROWSER: script } });
    const [, printed] = await cli.waitFor(URL_LINE);
    await waitForFile(log);
    const args = readFileSync(log, 'utf8').trim().split('\n');
    expect(args).toEqual([printed]);
    const page = await decideConsent(browser, args[0]!, user, 'approve');
    const result = await cli.exited;
    await page.context().close();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(xdgOpen.calls).toEqual([]);
    const secret = (await runCli(['token'], { home: h })).stdout.trim().split(';')[1]!;
    expect(readFileSync(log, 'utf8')).not.toContain(secret);
    expect(cli.argv.join(' ')).not.toContain(secret);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('BROWSER=none opens nothing (not even the xdg-open on PATH) and waits with the URL shown', async () => {
    const h = home();
    const xdgOpen = await startFakeOpener();
    openers.push(xdgOpen);
    const cli = startCli(['auth', '--api-url', server.url, '--timeout', '60'], { home: h, env: { ...xdgOpen.env, BROWSER: 'none' } });
    const [, url] = await cli.waitFor(URL_LINE);
    await cli.waitFor(/Waiting for approval in the browser/);
    const page = await decideConsent(browser, url!, user, 'approve');
    const result = await cli.exited;
    await page.context().close();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(xdgOpen.calls).toEqual([]);
    expect(result.stderr).not.toContain('Could not open a browser');
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('no opener at all (nothing on PATH): the URL is printed, one line says so, and --timeout 3 ends the wait in about 3 s', async () => {
    const h = home();
    const none = noOpenerEnv();
    try {
      const started = performance.now();
      const cli = startCli(['auth', '--api-url', server.url, '--timeout', '3'], { home: h, env: none.env });
      const [, url] = await cli.waitFor(URL_LINE);
      expect(new URL(url!).pathname).toBe('/cli-auth');
      const result = await cli.exited;
      const seconds = (performance.now() - started) / 1000;
      expect(result.exitCode).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines.filter((l) => l.includes('Could not open a browser'))).toEqual([
        '! Could not open a browser: xdg-open is not installed; open the URL above in any browser.',
      ]);
      expect(result.stderr).toContain('Error: Timed out after 3 seconds waiting for approval in the browser; nothing was stored.');
      expect(seconds).toBeGreaterThanOrEqual(3);
      expect(seconds).toBeLessThan(20); // the flaw this guards against was waiting forever
      expect((await runCli(['status'], { home: h })).exitCode).toBe(4);
    } finally {
      none.cleanup();
    }
  });

  test('an opener that fails (xdg-open without a browser exits 3): one line, then the wait goes on and the URL still works', async () => {
    const h = home();
    const failing = await startFakeOpener({ exitCode: 3 });
    openers.push(failing);
    const cli = startCli(['auth', '--api-url', server.url, '--timeout', '60'], { home: h, env: failing.env });
    const [, url] = await cli.waitFor(URL_LINE);
    await cli.waitFor(/! Could not open a browser: xdg-open exited with status 3; open the URL above in any browser\./);
    expect(cli.child.exitCode).toBeNull();
    const page = await decideConsent(browser, url!, user, 'approve');
    const result = await cli.exited;
    await page.context().close();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.match(/Could not open a browser/g)).toHaveLength(1);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test.skipIf(needs('xdg-open'))('the real xdg-open on a machine without a display finds no browser: one line, and the wait goes on', async () => {
    const h = home();
    // What SSH sessions and servers look like: no X11 or Wayland display.
    const cli = startCli(['auth', '--api-url', server.url, '--timeout', '60'], { home: h, env: { DISPLAY: undefined, WAYLAND_DISPLAY: undefined } });
    const [, url] = await cli.waitFor(URL_LINE);
    await cli.waitFor(/! Could not open a browser: xdg-open exited with status \d+; open the URL above in any browser\./);
    expect(cli.child.exitCode).toBeNull();
    const page = await decideConsent(browser, url!, user, 'approve');
    const result = await cli.exited;
    await page.context().close();
    expect(result.exitCode, result.stderr).toBe(0);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('one Ctrl+C while waiting: exit 130, one sentence, the loopback port closed, nothing stored', async () => {
    const h = home();
    const { cli, url } = await startAuth(h, [], { decision: 'none' });
    const redirect = new URL(new URL(url).searchParams.get('redirect_uri')!);
    await cli.waitFor(/Waiting for approval/);
    cli.child.kill('SIGINT');
    const result = await cli.exited;
    expect(result.exitCode).toBe(130);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('Sign-in cancelled; nothing was stored.');
    expect(result.stderr).not.toContain('Error:');
    await expect(fetch(`${redirect.origin}/callback`)).rejects.toThrow();
    expect(existsSync(join(h, '.config', 'thirdloop', 'credentials.json'))).toBe(false);
    expect((await runCli(['status'], { home: h })).exitCode).toBe(4);
  });

  test('deny in the browser: non-zero exit, a clear sentence, nothing stored', async () => {
    const h = home();
    const { cli, page } = await startAuth(h, [], { decision: 'deny' });
    const result = await cli.exited;
    const shown = await page()!;
    expect(await shown.locator('body').innerText()).toContain('denied');
    await shown.context().close();
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('The request was denied in the browser; nothing was stored.');
    expect(result.stderr).not.toContain('Not signed in');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const status = await runCli(['status'], { home: h });
    expect(status.exitCode).toBe(4);
  });

  test('re-login (--force) denied, timed out or cancelled while a key is stored: says that key is unchanged, never "Not signed in"', async () => {
    const h = home();
    const { id, credential } = await server.createKey(user.email, { name: 'kept' });
    expect((await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, input: credential })).exitCode).toBe(0);
    const unchanged = `the key this machine uses (${id}) is unchanged.`;

    const denied = await startAuth(h, ['--force'], { decision: 'deny' });
    const d = await denied.cli.exited;
    await (await denied.page()!).context().close();
    expect(d.exitCode).toBe(1);
    expect(d.stderr).toContain(`The request was denied in the browser; ${unchanged}`);

    const timedOut = await startAuth(h, ['--force', '--timeout', '1'], { decision: 'none' });
    const t = await timedOut.cli.exited;
    expect(t.stderr).toContain(`Timed out after 1 second waiting for approval in the browser; ${unchanged}`);

    const cancelled = await startAuth(h, ['--force'], { decision: 'none' });
    await cancelled.cli.waitFor(/Waiting for approval/);
    cancelled.cli.child.kill('SIGINT');
    const c = await cancelled.cli.exited;
    expect(c.exitCode).toBe(130);
    expect(c.stderr).toContain(`Sign-in cancelled; ${unchanged}`);

    for (const r of [d, t, c]) expect(r.stderr).not.toContain('Not signed in');
    expect((await runCli(['token'], { home: h })).stdout).toBe(`${credential}\n`);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('a callback with the wrong state or from another origin gets 400 and the CLI keeps waiting', async () => {
    const h = home();
    const { cli, url } = await startAuth(h, ['--timeout', '60'], { decision: 'none' });
    const redirect = new URL(new URL(url).searchParams.get('redirect_uri')!);
    const state = new URL(url).searchParams.get('state')!;

    const wrongState = await fetch(`${redirect.origin}/callback?code=forged&state=not-the-state`);
    expect(wrongState.status).toBe(400);
    const noState = await fetch(`${redirect.origin}/callback?code=forged`);
    expect(noState.status).toBe(400);
    // A page on another site calling the loopback server: its Origin gives it away.
    const crossOrigin = await fetch(`${redirect.origin}/callback?code=forged&state=${state}`, { headers: { origin: 'https://evil.example' } });
    expect(crossOrigin.status).toBe(400);
    // DNS rebinding: right address, foreign Host header.
    const rebinding = await rawGet(redirect.port, `/callback?code=forged&state=${state}`, 'evil.example');
    expect(rebinding).toBe(400);
    const otherPath = await fetch(`${redirect.origin}/favicon.ico`);
    expect(otherPath.status).toBe(404);
    expect(cli.child.exitCode).toBeNull();

    // The genuine browser flow still completes afterwards.
    const page = await decideConsent(browser, url, user, 'approve');
    const result = await cli.exited;
    await page.context().close();
    expect(result.exitCode, result.stderr).toBe(0);
    const logout = await runCli(['logout', '--revoke', '--yes'], { home: h });
    expect(logout.exitCode, logout.stderr).toBe(0);
  });

  test('a forged callback with a made-up code (right state) fails the exchange and stores nothing', async () => {
    const h = home();
    const { cli, url } = await startAuth(h, [], { decision: 'none' });
    const redirect = new URL(url).searchParams.get('redirect_uri')!;
    const state = new URL(url).searchParams.get('state')!;
    const res = await fetch(`${redirect}?code=forged-code&state=${encodeURIComponent(state)}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('sign-in failed');
    const result = await cli.exited;
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/code is invalid, expired or already used/);
    expect((await runCli(['status'], { home: h })).exitCode).toBe(4);
  });

  test('timeout: exits non-zero with a sentence, the port is closed, nothing stored', async () => {
    const h = home();
    const { cli, url } = await startAuth(h, ['--timeout', '1'], { decision: 'none' });
    const redirect = new URL(new URL(url).searchParams.get('redirect_uri')!);
    const result = await cli.exited;
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('Timed out after 1 second waiting for approval in the browser; nothing was stored.');
    await expect(fetch(`${redirect.origin}/callback`)).rejects.toThrow();
    expect((await runCli(['status'], { home: h })).exitCode).toBe(4);
  });

  test('--no-browser: the short code from the page is typed (lower case, no dash); a mistyped one is asked again', async () => {
    const h = home();
    const cli = startCli(['auth', '--api-url', server.url, '--no-browser', '--name', 'ssh box', '--expires', '30'], { home: h });
    const [, url] = await cli.waitFor(URL_LINE);
    const consent = new URL(url!);
    expect(consent.searchParams.get('mode')).toBe('code');
    expect(consent.searchParams.has('redirect_uri')).toBe(false);
    const page = await decideConsent(browser, url!, user, 'approve');
    const code = (await page.locator('#one-time-code').innerText()).trim();
    await page.context().close();
    // 8 characters of an alphabet without look-alikes (no 0/O, 1/I/L) or vowels, shown as XXXX-XXXX.
    expect(code).toMatch(/^[2-9BCDFGHJKMNPQRSTVWXZ]{4}-[2-9BCDFGHJKMNPQRSTVWXZ]{4}$/);
    await cli.waitFor(/One-time code: /);
    cli.write(`${mistype(code)}\n`);
    await cli.waitFor(/That code was not accepted\. Check it on the page and type it again \(2 tries left\)\./);
    cli.write(`${code.replace('-', '').toLowerCase()}\n`);
    const result = await cli.exited;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('ssh box');
    expect(result.stderr).toContain('as ada@example.com');
    const status = await runCli(['status', '--json'], { home: h });
    const doc = JSON.parse(status.stdout);
    expect(doc.key.name).toBe('ssh box');
    expect(doc.days_left).toBe(30);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('--no-browser: three wrong codes end the flow with a sentence, nothing stored', async () => {
    const h = home();
    const cli = startCli(['auth', '--api-url', server.url, '--no-browser'], { home: h });
    const [, url] = await cli.waitFor(URL_LINE);
    const page = await decideConsent(browser, url!, user, 'approve');
    const code = (await page.locator('#one-time-code').innerText()).trim();
    await page.context().close();
    for (let i = 0; i < 3; i++) {
      await cli.waitFor(new RegExp(`(One-time code: [^]*){${i + 1}}`));
      cli.write(`${mistype(code)}\n`);
    }
    const result = await cli.exited;
    expect(result.exitCode).toBe(1);
    expect(result.stderr.match(/That code was not accepted/g)).toHaveLength(2);
    expect(result.stderr).toContain('Error: No code was accepted after 3 tries; nothing was stored.');
    expect((await runCli(['status'], { home: h })).exitCode).toBe(4);
  });

  test('--with-key: verifies the credential against the instance, then stores it', async () => {
    const h = home();
    const { id, credential } = await server.createKey(user.email, { name: 'ci' });
    const bad = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, input: `${id};tls_${'a'.repeat(38)}\n` });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('checksum does not match');

    const ok = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, input: `${credential}\n` });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('as ada@example.com');
    expect(ok.stdout + ok.stderr).not.toContain(credential.split(';')[1]);
    expect((await runCli(['token'], { home: h })).stdout).toBe(`${credential}\n`);

    // Already signed in, no TTY: refuses and names the flags.
    const again = await runCli(['auth', '--api-url', server.url], { home: h });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('Already signed in');
    expect(again.stderr).toContain('--rotate');
    expect(again.stderr).toContain('--force');

    // A key the instance rejects: exit 4, nothing changed.
    const other = makeHome();
    homes.push(other.cleanup);
    const revoked = await server.createKey(user.email, { name: 'doomed' });
    await server.flagCompromised(revoked.id);
    const rejected = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: other.home, input: revoked.credential });
    expect(rejected.exitCode).toBe(4);
    expect(rejected.stderr).toContain('did not accept this key');
    expect((await runCli(['status'], { home: other.home })).exitCode).toBe(4);

    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('--rotate at the 2-key limit replaces the stored key on the server and locally', async () => {
    const rotUser = await server.addUser('grace@example.com', 'another long passphrase');
    const h = home();
    const first = await signInWithBrowser(h, ['--name', 'laptop'], rotUser);
    expect(first.result.exitCode, first.result.stderr).toBe(0);
    const oldCredential = (await runCli(['token'], { home: h })).stdout.trim();
    await server.createKey(rotUser.email, { name: 'second' }); // now at the limit of 2
    // The shells were set up with the old key (setup claude writes env.sh, 0600).
    const setup = await runCli(['setup', 'claude', '--shell', 'bash', '--yes'], { home: h });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const envFile = join(h, '.config', 'thirdloop', 'env.sh');
    expect(readFileSync(envFile, 'utf8')).toContain(oldCredential);

    const { result } = await signInWithBrowser(h, ['--rotate', '--name', 'laptop v2', '--debug'], rotUser);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`Replaced key ${oldCredential.split(';')[0]}`);
    const newCredential = (await runCli(['token'], { home: h })).stdout.trim();
    expect(newCredential).not.toBe(oldCredential);
    const roundTrip = /login round trip: callback received → secret stored in (\d+) ms/.exec(result.stderr);
    expect(roundTrip).not.toBeNull();
    console.info(`login round trip (callback → secret stored): ${roundTrip![1]} ms`);
    expect(result.stdout + result.stderr).not.toContain(newCredential.split(';')[1]);

    // The shell env file now carries the new key, still 0600.
    expect(result.stderr).toContain(`Updated the shell environment files with the new key: ${envFile}`);
    const envText = readFileSync(envFile, 'utf8');
    expect(envText).toContain(newCredential);
    expect(envText).not.toContain(oldCredential);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);

    // The old key no longer authenticates; the new one does.
    const oldUse = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${oldCredential}` } });
    expect(oldUse.status).toBe(401);
    const status = await runCli(['status', '--json'], { home: h });
    expect(JSON.parse(status.stdout).key.name).toBe('laptop v2');
  });

  test('--rotate when not signed in is refused before anything happens', async () => {
    const result = await runCli(['auth', '--api-url', server.url, '--rotate'], { home: home() });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('Nothing to rotate');
  });
});

/** The code with its first character changed to another of the alphabet, as a typo would. */
function mistype(code: string): string {
  return `${code[0] === 'B' ? 'C' : 'B'}${code.slice(1)}`;
}

async function waitForFile(file: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A GET with an arbitrary Host header (fetch will not send one). */
async function rawGet(port: string, path: string, host: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
