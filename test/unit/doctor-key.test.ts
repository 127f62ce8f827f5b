/** doctor's key, storage and gateway checks with a fake instance and a fake keychain. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Api, ApiKey, Me } from '../../src/core/api.js';
import { ApiError } from '../../src/core/http.js';
import { FileAndKeychainSecretStore } from '../../src/core/secrets.js';
import { checkGateway } from '../../src/doctor/gateway.js';
import { checkKey } from '../../src/doctor/key.js';
import { checkKeychainReady, checkStorage } from '../../src/doctor/storage.js';

const NOW = new Date('2026-11-23T12:00:00Z');
const day = 86_400_000;
const key = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: 'tlk_AAAAAAAAAAAAAAAAAAAAAAAA',
  name: 'laptop',
  status: 'active',
  created_at: '2026-11-01T00:00:00Z',
  expires_at: new Date(NOW.getTime() + 60 * day).toISOString(),
  last_used_at: '2026-11-23T11:00:00.000Z',
  ...over,
});
const fakeApi = (over: Partial<Api>): Api => ({ baseUrl: 'https://tl.example.com', ...over }) as Api;
const meWith = (k: ApiKey): Me => ({ user: { email: 'ada@example.com' }, key: k });

describe('checkKey', () => {
  it('is ok for an active key with time left', async () => {
    const r = await checkKey(fakeApi({ me: async () => meWith(key()) }), 'tlk_x', NOW);
    expect(r.result.status).toBe('ok');
    expect(r.result.message).toContain('60 days');
  });

  it('warns within 14 days of expiry', async () => {
    const r = await checkKey(fakeApi({ me: async () => meWith(key({ expires_at: new Date(NOW.getTime() + 5 * day).toISOString() })) }), 'tlk_x', NOW);
    expect(r.result).toMatchObject({ status: 'warn', fix: 'thirdloop auth --rotate' });
    expect(r.result.message).toContain('in 5 days');
  });

  it.each([
    ['suspended', 'thirdloop keys enable tlk_AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['expired', 'thirdloop auth --rotate'],
    ['compromised', 'thirdloop auth --rotate'],
  ] as const)('fails a %s key with its fix', async (status, fix) => {
    const r = await checkKey(fakeApi({ me: async () => meWith(key({ status })) }), 'tlk_x', NOW);
    expect(r.result).toMatchObject({ status: 'fail', fix });
  });

  it('fails a key the instance refuses (401)', async () => {
    const me = async (): Promise<Me> => {
      throw new ApiError('401', { status: 401, url: 'https://tl.example.com/api/me' });
    };
    const r = await checkKey(fakeApi({ me }), 'tlk_gone', NOW);
    expect(r.result.status).toBe('fail');
    expect(r.result.message).toContain('tlk_gone');
    expect(r.me).toBeUndefined();
  });
});

describe('checkGateway', () => {
  it('sees "Last used" move after the test request', async () => {
    let used = '2026-11-23T11:00:00.000Z';
    const api = fakeApi({
      listModels: async () => {
        used = '2026-11-23T12:00:01.000Z';
        return { data: [{ id: 'claude-sonnet-4-5' }] };
      },
      me: async () => meWith(key({ last_used_at: used })),
    });
    const [gateway, lastUsed] = await checkGateway(api, meWith(key()), { settleMs: 1 });
    expect(gateway!.status).toBe('ok');
    expect(lastUsed).toMatchObject({ check: 'last-used', status: 'ok' });
  });

  it('warns when "Last used" stays put, fails when the request fails', async () => {
    const still = fakeApi({ listModels: async () => ({ data: [] }), me: async () => meWith(key()) });
    const [gateway, lastUsed] = await checkGateway(still, meWith(key()), { settleMs: 1, attempts: 2 });
    expect(gateway!.status).toBe('warn');
    expect(lastUsed!.status).toBe('warn');

    const broken = fakeApi({
      listModels: async () => {
        throw new ApiError('upstream down', { status: 502, url: 'x' });
      },
    });
    const results = await checkGateway(broken, meWith(key()));
    expect(results.map((r) => r.status)).toEqual(['fail', 'skip']);
  });
});

describe('checkStorage', () => {
  const withDir = async (fn: (dir: string) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-storage-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('names the file fallback and why the keychain was not used', () =>
    withDir(async (dir) => {
      const store = new FileAndKeychainSecretStore({ dir, env: {}, loadKeychain: async () => Promise.reject(new Error('Cannot find module')) });
      const file = join(dir, 'credentials.json');
      writeFileSync(file, '{}', { mode: 0o600 });
      const r = await checkStorage(store, { credential: 'x', source: 'file', location: file }, 'default', 'linux');
      expect(r.status).toBe('warn');
      expect(r.message).toContain('the keychain module is not installed');
      expect(r.message).toContain(file);
    }));

  it('suggests moving to a working keychain, and fails a readable credentials file', () =>
    withDir(async (dir) => {
      const keychain = { getPassword: async () => null, setPassword: async () => {}, deletePassword: async () => true };
      const store = new FileAndKeychainSecretStore({ dir, env: {}, loadKeychain: async () => keychain });
      const file = join(dir, 'credentials.json');
      writeFileSync(file, '{}', { mode: 0o600 });
      const r = await checkStorage(store, { credential: 'x', source: 'file', location: file }, 'default', 'linux');
      expect(r.status).toBe('warn');
      expect(r.message).toContain('although the system keychain works');

      writeFileSync(file, '{}', { mode: 0o644 });
      const { chmodSync } = await import('node:fs');
      chmodSync(file, 0o644);
      const loose = await checkStorage(store, { credential: 'x', source: 'file', location: file }, 'default', 'linux');
      expect(loose).toMatchObject({ status: 'fail', fix: `chmod 600 ${file}` });
    }));

  it('is ok for the keychain and for THIRDLOOP_API_KEY', async () => {
    const store = new FileAndKeychainSecretStore({ dir: '/nonexistent', env: {} });
    expect((await checkStorage(store, { credential: 'x', source: 'keychain' }, 'default', 'linux')).status).toBe('ok');
    expect((await checkStorage(store, { credential: 'x', source: 'env' }, 'default', 'linux')).message).toContain('THIRDLOOP_API_KEY');
  });
});

describe('checkKeychainReady (not signed in yet)', () => {
  it('says where auth will keep the key', async () => {
    const working = new FileAndKeychainSecretStore({
      dir: '/nonexistent',
      env: {},
      loadKeychain: async () => ({ getPassword: async () => null, setPassword: async () => {}, deletePassword: async () => true }),
    });
    expect((await checkKeychainReady(working, 'default', 'linux')).status).toBe('ok');
    const broken = new FileAndKeychainSecretStore({ dir: '/nonexistent', env: {}, loadKeychain: () => Promise.reject(new Error('org.freedesktop.DBus.Error.ServiceUnknown')) });
    const r = await checkKeychainReady(broken, 'default', 'linux');
    expect(r.status).toBe('warn');
    expect(r.message).toContain('no Secret Service is running');
  });
});
