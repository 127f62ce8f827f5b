/**
 * The CLI's own defaults, with nothing set that overrides them: where the
 * config lives when XDG_CONFIG_HOME is unset (every other test sets it, to
 * the same path, so none could tell).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCliBuilt, makeHome, runCli } from '../helpers/cli.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

describe('defaults without overrides', () => {
  let server: ReferenceServer;
  const home = makeHome('thirdloop-defaults-');
  beforeAll(async () => {
    ensureCliBuilt();
    server = await startReferenceServer();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    home.cleanup();
  });

  test('XDG_CONFIG_HOME unset: the config and the fallback secret file go to ~/.config/thirdloop, owner-only, and are read back from there', async () => {
    const { email } = await server.addUser('defaults@example.com');
    const { credential, id } = await server.createKey(email, { name: 'defaults' });
    const env = { XDG_CONFIG_HOME: undefined, THIRDLOOP_CONFIG_DIR: undefined };
    const auth = await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', server.url], { home: home.home, env, input: credential });
    expect(auth.exitCode, auth.stderr).toBe(0);
    const dir = join(home.home, '.config', 'thirdloop');
    expect(auth.stderr).toContain(join(dir, 'credentials.json'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(home.home, 'thirdloop'))).toBe(false);

    const status = await runCli(['status', '--json'], { home: home.home, env });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).key.id).toBe(id);
  });

  test('--help documents the environment people set: BROWSER, the proxy, their CA, the timeout', async () => {
    const help = await runCli(['--help'], { home: home.home });
    const section = help.stdout.slice(help.stdout.indexOf('Environment:'));
    for (const name of ['THIRDLOOP_API_KEY', 'THIRDLOOP_CONFIG_DIR', 'THIRDLOOP_HTTP_TIMEOUT', 'BROWSER', 'HTTPS_PROXY', 'NO_PROXY', 'NODE_EXTRA_CA_CERTS']) {
      expect(section).toMatch(new RegExp(`^  (\\S+, )?${name}\\b`, 'm'));
    }
    expect(section).toContain('(default 30)');
  });
});
