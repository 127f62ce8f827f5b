/**
 * doctor's secret-storage check with a real Secret Service (gnome-keyring in
 * a private D-Bus session): the keychain is reported as working, and a key
 * kept in the plain-text file while the keychain works is flagged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCliBuilt, makeHome, runCli } from '../helpers/cli.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

beforeAll(() => ensureCliBuilt(), 120_000);

interface Check {
  check: string;
  status: string;
  message: string;
  fix: string | null;
}

describe.skipIf(keyringMissing())('thirdloop doctor with a real keychain', () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  const homes: Array<{ home: string; cleanup(): void }> = [];

  beforeAll(async () => {
    [server, keyring] = await Promise.all([startReferenceServer(), startKeyring()]);
    await server.addUser('kc@example.com');
  }, 60_000);
  afterAll(async () => {
    await keyring?.stop();
    await server?.stop();
    homes.forEach((h) => h.cleanup());
  });

  async function signedIn(extra: string[]): Promise<string> {
    const h = makeHome('thirdloop-doctor-kc-');
    homes.push(h);
    const { credential } = await server.createKey('kc@example.com', { name: `kc-${homes.length}` });
    const r = await runCli(['auth', '--with-key', '--api-url', server.url, ...extra], { home: h.home, input: credential, env: keyring.env });
    expect(r.exitCode, r.stderr).toBe(0);
    return h.home;
  }

  const storage = async (home: string) => {
    const r = await runCli(['doctor', '--json'], { home, env: keyring.env });
    return (JSON.parse(r.stdout) as Check[]).find((c) => c.check === 'secret-storage')!;
  };

  it('says, before sign-in, that the keychain is ready (exit 4: not signed in)', async () => {
    const h = makeHome('thirdloop-doctor-kc-');
    homes.push(h);
    const r = await runCli(['doctor', '--json', '--api-url', server.url], { home: h.home, env: keyring.env });
    expect(r.exitCode).toBe(4);
    const check = (JSON.parse(r.stdout) as Check[]).find((c) => c.check === 'secret-storage')!;
    expect(check).toMatchObject({ status: 'ok' });
    expect(check.message).toContain('keychain works');
  });

  it('reports the key in the keychain as ok', async () => {
    const check = await storage(await signedIn([]));
    expect(check.status).toBe('ok');
    expect(check.message).toContain('system keychain');
  });

  it('flags a plain-text key while the keychain works, with the way out', async () => {
    const check = await storage(await signedIn(['--insecure-storage']));
    expect(check.status).toBe('warn');
    expect(check.message).toContain('although the system keychain works');
    expect(check.fix).toContain('thirdloop auth --rotate');
  });
});
