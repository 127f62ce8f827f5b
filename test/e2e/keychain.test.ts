/**
 * The real keychain path: a private D-Bus session with an unlocked
 * gnome-keyring (Secret Service), the built CLI storing through the keychain binding, and
 * the secret read back with secret-tool. Also the file fallback when there is
 * no Secret Service, and --insecure-storage choosing the file on purpose.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, decideConsent, launchBrowser } from '../helpers/browser.js';
import { ensureCliBuilt, makeHome, runCli, startCli } from '../helpers/cli.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { startFakeOpener } from '../helpers/opener.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

// Build once up front (others edit src/ meanwhile), inside the hook's longer timeout.
beforeAll(() => ensureCliBuilt(), 120_000);

const missing = keyringMissing() ?? browserMissing();

function configText(home: string): string {
  const dir = join(home, '.config', 'thirdloop');
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
}

describe.skipIf(missing)('secret storage in a real Secret Service (gnome-keyring)', () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  let browser: Browser;
  let user: { email: string; password: string };
  const cleanups: Array<() => void> = [];
  const home = () => {
    const h = makeHome();
    cleanups.push(h.cleanup);
    return h.home;
  };

  beforeAll(async () => {
    [server, keyring, browser] = await Promise.all([startReferenceServer(), startKeyring(), launchBrowser()]);
    user = await server.addUser('lin@example.com', 'a long enough password');
  });
  afterAll(async () => {
    await browser?.close();
    await keyring?.stop();
    await server?.stop();
    cleanups.forEach((fn) => fn());
  });

  test('browser sign-in stores the secret in the keychain, nowhere else; logout removes it', async () => {
    const h = home();
    // As people run it: BROWSER unset, the opener on PATH hands the page to the browser, which approves.
    let page: Promise<Page> | undefined;
    const opener = await startFakeOpener({ onOpen: (url) => (page = decideConsent(browser, url, user, 'approve')) });
    const cli = startCli(['auth', '--api-url', server.url, '--profile', 'work'], { home: h, env: { ...keyring.env, ...opener.env } });
    const result = await cli.exited;
    await (await page!).context().close();
    await opener.close();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('the system keychain');
    expect(result.stderr).not.toContain('plain text');

    const stored = await keyring.lookup('work');
    expect(stored).toMatch(/^tlk_[0-9A-Za-z]{24};tls_[0-9A-Za-z]{38}$/);
    const secret = stored!.split(';')[1]!;
    expect(result.stdout + result.stderr).not.toContain(secret);
    expect(cli.argv.join(' ')).not.toContain(secret);
    expect(existsSync(join(h, '.config', 'thirdloop', 'credentials.json'))).toBe(false);
    expect(configText(h)).not.toContain(secret);
    expect(configText(h)).toContain('"storage": "keychain"');

    const token = await runCli(['token', '--profile', 'work'], { home: h, env: keyring.env });
    expect(token.stdout).toBe(`${stored}\n`);
    const status = await runCli(['status', '--profile', 'work', '--debug'], { home: h, env: keyring.env });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Secret\s+the system keychain/);
    expect(status.stdout + status.stderr).not.toContain(secret);

    // The default profile is untouched: profiles are separate keychain accounts.
    expect(await keyring.lookup('default')).toBeUndefined();
    expect((await runCli(['token'], { home: h, env: keyring.env })).exitCode).toBe(4);

    const logout = await runCli(['logout', '--profile', 'work', '--revoke', '--yes'], { home: h, env: keyring.env });
    expect(logout.exitCode, logout.stderr).toBe(0);
    expect(await keyring.lookup('work')).toBeUndefined();
    expect(configText(h)).not.toContain('"work"');
  });

  test('--with-key into the keychain; --insecure-storage chooses the 0600 file and clears the keychain copy', async () => {
    const h = home();
    const { credential } = await server.createKey(user.email, { name: 'pipeline' });
    const first = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, env: keyring.env, input: credential });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(await keyring.lookup('default')).toBe(credential);

    const second = await runCli(['auth', '--api-url', server.url, '--with-key', '--force', '--insecure-storage'], {
      home: h,
      env: keyring.env,
      input: credential,
    });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).toContain('plain text at');
    expect(second.stderr).not.toContain('could not be used');
    expect(await keyring.lookup('default')).toBeUndefined();
    expect(readFileSync(join(h, '.config', 'thirdloop', 'credentials.json'), 'utf8')).toContain(credential);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h, env: keyring.env })).exitCode).toBe(0);
  });

  test('a key in a keychain that cannot be reached is reported as such (exit 4), not as "not signed in"', async () => {
    const h = home();
    const { credential } = await server.createKey(user.email, { name: 'away' });
    expect((await runCli(['auth', '--api-url', server.url, '--with-key', '--profile', 'away'], { home: h, env: keyring.env, input: credential })).exitCode).toBe(0);
    // Same HOME, but no D-Bus session: the Secret Service is out of reach.
    for (const args of [['token'], ['status']]) {
      const r = await runCli([...args, '--profile', 'away'], { home: h });
      expect(r.exitCode).toBe(4);
      expect(r.stderr).toContain('The key for this profile is in the system keychain, which cannot be read: no Secret Service is running.');
      expect(r.stderr).toContain('--insecure-storage');
      expect(r.stdout).toBe('');
    }
    expect((await runCli(['logout', '--profile', 'away', '--revoke', '--yes'], { home: h, env: keyring.env })).exitCode).toBe(0);
  });

  test('a fresh HOME is "not signed in" (exit 4) even when the keychain still holds a key under the profile’s name', async () => {
    // What a reinstall, or a second HOME on the same account, leaves: a keychain entry and no config.
    const leftover = home();
    const { credential } = await server.createKey(user.email, { name: 'leftover' });
    expect((await runCli(['auth', '--api-url', server.url, '--with-key', '--profile', 'stale'], { home: leftover, env: keyring.env, input: credential })).exitCode).toBe(0);
    expect(await keyring.lookup('stale')).toBe(credential);
    const fresh = home();
    for (const args of [['status'], ['token'], ['keys', 'list']]) {
      const r = await runCli([...args, '--profile', 'stale'], { home: fresh, env: keyring.env });
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain('Not signed in (profile "stale").');
      expect(r.stderr).toContain('Run `thirdloop auth --profile stale --api-url URL`.');
      expect(r.stdout).toBe('');
    }
    const plain = await runCli(['status'], { home: fresh, env: keyring.env });
    expect(plain.exitCode).toBe(4);
    expect(plain.stderr).toBe('Error: Not signed in.\nRun `thirdloop auth --api-url URL`.\n');
    expect((await runCli(['logout', '--profile', 'stale', '--revoke', '--yes'], { home: leftover, env: keyring.env })).exitCode).toBe(0);
  });

  test('THIRDLOOP_API_KEY overrides the stored key, and nothing is written for it', async () => {
    const h = home();
    const { credential } = await server.createKey(user.email, { name: 'env only' });
    const status = await runCli(['status', '--json', '--api-url', server.url], { home: h, env: { ...keyring.env, THIRDLOOP_API_KEY: credential } });
    expect(status.exitCode, status.stderr).toBe(0);
    const doc = JSON.parse(status.stdout);
    expect(doc.key.name).toBe('env only');
    expect(doc.storage.source).toBe('env');
    expect(existsSync(join(h, '.config', 'thirdloop', 'credentials.json'))).toBe(false);
    expect(await keyring.lookup('default')).toBeUndefined();
  });
});

describe.skipIf(missing)('keychain items across versions and states', () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  const cleanups: Array<() => void> = [];
  const home = () => {
    const h = makeHome();
    cleanups.push(h.cleanup);
    return h.home;
  };
  beforeAll(async () => {
    [server, keyring] = await Promise.all([startReferenceServer(), startKeyring()]);
    await server.addUser('ola@example.com', 'a long enough password');
  });
  afterAll(async () => {
    await keyring?.stop();
    await server?.stop();
    cleanups.forEach((fn) => fn());
  });

  test('an item thirdloop 0.1 wrote (libsecret service/account) is read, moved to the new entry and cleared', async () => {
    const h = home();
    const { credential } = await server.createKey('ola@example.com', { name: 'from 0.1' });
    expect((await runCli(['auth', '--api-url', server.url, '--with-key', '--profile', 'old'], { home: h, env: keyring.env, input: credential })).exitCode).toBe(0);
    // Make the keychain look as 0.1 left it: only the old-style item.
    await new Promise<void>((resolve, reject) =>
      execFile('secret-tool', ['clear', 'service', 'thirdloop', 'username', 'old'], { env: { ...process.env, ...keyring.env } }, (e) => (e ? reject(e) : resolve())),
    );
    await keyring.storeLegacy('old', credential);
    expect(await keyring.lookup('old')).toBeUndefined();

    const token = await runCli(['token', '--profile', 'old'], { home: h, env: keyring.env });
    expect(token.exitCode, token.stderr).toBe(0);
    expect(token.stdout).toBe(`${credential}\n`);
    expect(await keyring.lookup('old')).toBe(credential);
    expect(await keyring.lookupLegacy('old')).toBeUndefined();
  });

  test('a locked keychain is named as locked, never read as "not signed in"; a new key then goes to the file, saying why', async () => {
    const h = home();
    const { credential } = await server.createKey('ola@example.com', { name: 'locked away' });
    expect((await runCli(['auth', '--api-url', server.url, '--with-key', '--profile', 'vault'], { home: h, env: keyring.env, input: credential })).exitCode).toBe(0);
    await keyring.lock();
    for (const args of [['token'], ['status']]) {
      const r = await runCli([...args, '--profile', 'vault'], { home: h, env: keyring.env });
      expect(r.exitCode).toBe(4);
      expect(r.stderr).toContain('The key for this profile is in the system keychain, which cannot be read: the keychain is locked.');
      expect(r.stdout).toBe('');
    }
    const again = await runCli(['auth', '--api-url', server.url, '--with-key', '--profile', 'vault', '--force'], { home: h, env: keyring.env, input: credential });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/The system keychain could not be used \(the keychain is locked\)\. The secret is stored in plain text at .+credentials\.json/);
  });
});

describe('no Secret Service', () => {
  let server: ReferenceServer;
  beforeAll(async () => {
    server = await startReferenceServer();
    await server.addUser('max@example.com', 'password for max');
  });
  afterAll(() => server?.stop());

  test('falls back to the 0600 credentials file and says so plainly', async () => {
    const h = makeHome();
    try {
      const { credential } = await server.createKey('max@example.com');
      // No DBUS_SESSION_BUS_ADDRESS and no display: libsecret cannot reach any Secret Service.
      const result = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h.home, env: { DISPLAY: undefined }, input: credential });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/The system keychain could not be used \(.+\)\. The secret is stored in plain text at .+credentials\.json/);
      expect((await runCli(['status'], { home: h.home })).stdout).toMatch(/Secret\s+plain text at .+credentials\.json/);
    } finally {
      h.cleanup();
    }
  });
});
