import { afterEach, describe, expect, test } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileAndKeychainSecretStore, describeStorage } from '../../src/core/secrets.js';
import { daysUntil, relativeTime, renderTable, stripAnsi, colors } from '../../src/core/output.js';

/** An in-memory keychain with the keychain module's interface (the real one is in test/e2e/keychain.test.ts). */
function memoryKeytar() {
  const items = new Map<string, string>();
  return {
    items,
    loader: async () => ({
      getPassword: async (s: string, a: string) => items.get(`${s}/${a}`) ?? null,
      setPassword: async (s: string, a: string, p: string) => void items.set(`${s}/${a}`, p),
      deletePassword: async (s: string, a: string) => items.delete(`${s}/${a}`),
    }),
  };
}

describe('secret store', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const newDir = () => (dir = path.join(mkdtempSync(path.join(tmpdir(), 'tl-secrets-')), 'thirdloop'));

  test('keychain first: service "thirdloop", account = profile; no file written', async () => {
    const kc = memoryKeytar();
    const store = new FileAndKeychainSecretStore({ dir: newDir(), env: {}, loadKeychain: kc.loader });
    const stored = await store.set('work', 'tlk_a;tls_b');
    expect(stored).toEqual({ credential: 'tlk_a;tls_b', source: 'keychain' });
    expect(kc.items.get('thirdloop/work')).toBe('tlk_a;tls_b');
    expect(existsSync(store.file)).toBe(false);
    expect(await store.get('work')).toEqual({ credential: 'tlk_a;tls_b', source: 'keychain' });
    expect(await store.get('default')).toBeUndefined();
    await store.delete('work');
    expect(kc.items.size).toBe(0);
  });

  test('no keychain module: 0600 file in a 0700 dir, with the reason; moving back to the keychain removes the file copy', async () => {
    const store = new FileAndKeychainSecretStore({ dir: newDir(), env: {}, loadKeychain: async () => { throw new Error("Cannot find package '@napi-rs/keyring'"); } });
    const stored = await store.set('default', 'tlk_a;tls_b');
    expect(stored.source).toBe('file');
    expect(stored.fallbackReason).toBe('the keychain module is not installed');
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(store.file, 'utf8'))).toEqual({ default: 'tlk_a;tls_b' });
    expect(describeStorage(stored)).toBe(`plain text at ${store.file}`);

    const kc = memoryKeytar();
    const again = new FileAndKeychainSecretStore({ dir, env: {}, loadKeychain: kc.loader });
    expect((await again.set('default', 'tlk_c;tls_d')).source).toBe('keychain');
    expect(existsSync(store.file)).toBe(false);
  });

  test('a keychain that hangs is given up on after the deadline', async () => {
    const store = new FileAndKeychainSecretStore({
      dir: newDir(),
      env: {},
      deadlineMs: 100,
      loadKeychain: async () => ({ getPassword: () => new Promise(() => {}), setPassword: () => new Promise(() => {}), deletePassword: () => new Promise(() => {}) }),
    });
    const stored = await store.set('default', 'tlk_a;tls_b');
    expect(stored.source).toBe('file');
    expect(stored.fallbackReason).toBe('the keychain did not answer a write within 0.1 s');
  });

  test('a keychain that accepts but loses the secret counts as unusable', async () => {
    const store = new FileAndKeychainSecretStore({
      dir: newDir(),
      env: {},
      loadKeychain: async () => ({ getPassword: async () => null, setPassword: async () => {}, deletePassword: async () => false }),
    });
    expect((await store.set('default', 'x')).fallbackReason).toBe('the keychain did not keep the secret');
  });

  test('THIRDLOOP_API_KEY overrides both', async () => {
    const kc = memoryKeytar();
    const store = new FileAndKeychainSecretStore({ dir: newDir(), env: { THIRDLOOP_API_KEY: ' tlk_env;tls_env ' }, loadKeychain: kc.loader });
    await store.set('default', 'tlk_a;tls_b');
    expect(await store.get('default')).toEqual({ credential: 'tlk_env;tls_env', source: 'env' });
  });

  test('a corrupt credentials file is a clear error; removing a profile still works', async () => {
    const store = new FileAndKeychainSecretStore({ dir: newDir(), env: {}, loadKeychain: async () => { throw new Error('no'); } });
    mkdirSync(dir, { recursive: true });
    writeFileSync(store.file, 'not json', { mode: 0o600 });
    await expect(store.get('default')).rejects.toThrow(`The credentials file ${store.file} is not valid JSON.`);
    await expect(store.delete('default')).resolves.toBeUndefined();
  });
});

describe('output helpers', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  test.each([
    ['2026-12-05T12:00:00Z', 'in 12 days'],
    ['2026-11-20T12:00:00Z', '3 days ago'],
    ['2026-11-23T12:00:20Z', 'just now'],
    ['2026-11-23T15:00:00Z', 'in 3 hours'],
    ['2026-11-23T11:59:00Z', '1 minute ago'],
    ['2027-02-21T12:00:00Z', 'in 3 months'],
    ['2024-11-23T12:00:00Z', '2 years ago'],
  ])('relativeTime(%s) = %s', (when, expected) => {
    expect(relativeTime(when, now)).toBe(expected);
  });

  test('daysUntil rounds up the days left', () => {
    expect(daysUntil('2027-02-21T12:00:00Z', now)).toBe(90);
    expect(daysUntil('2027-02-21T11:00:00Z', now)).toBe(90);
    expect(daysUntil('2026-11-20T12:00:00Z', now)).toBe(-3);
  });

  test('tables align on visible width, colours only when enabled', () => {
    const c = colors(true);
    const table = renderTable([[c.green('Active'), 'x'], ['Suspended', 'yy']], ['Status', 'Name']);
    expect(stripAnsi(table).split('\n')).toEqual(['Status     Name', 'Active     x', 'Suspended  yy']);
    expect(colors(false).green('Active')).toBe('Active');
    expect(c.green('Active')).not.toBe('Active');
  });
});
