/**
 * Commands run in-process through createContext with injected io, env and
 * stores (the way other suites can drive `run(ctx, options)`), against the
 * real reference server.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PassThrough, Readable } from 'node:stream';
import { createContext, type ConfigStore, type SecretStore } from '../../src/context.js';
import { run as login } from '../../src/commands/auth/login.js';
import { run as status } from '../../src/commands/auth/status.js';
import { run as token } from '../../src/commands/auth/token.js';
import { openConfig } from '../../src/core/config.js';
import { FileAndKeychainSecretStore } from '../../src/core/secrets.js';
import { UserError } from '../../src/core/errors.js';
import { closeHttp } from '../../src/core/http.js';
import { makeHome } from '../helpers/cli.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import path from 'node:path';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { stream, text: () => text };
}

function context(home: string, options: { input?: string; config?: ConfigStore; secrets?: SecretStore; apiUrl?: string; json?: boolean } = {}) {
  const stdout = capture();
  const stderr = capture();
  const dir = path.join(home, '.config', 'thirdloop');
  const config = options.config ?? openConfig(dir);
  const secrets = options.secrets ?? new FileAndKeychainSecretStore({ dir, env: {}, loadKeychain: async () => { throw new Error('no keychain in this test'); } });
  const ctx = createContext(
    { profile: 'default', apiUrl: options.apiUrl, json: options.json ?? false, color: false },
    {
      env: { HOME: home },
      homedir: home,
      io: { stdout: stdout.stream, stderr: stderr.stream, stdin: Readable.from([options.input ?? '']), stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false },
      config: async () => config,
      secrets: async () => secrets,
      openBrowser: async () => ({ status: 'disabled' }),
      hostname: 'testbox',
    },
  );
  return { ctx, stdout, stderr, config, secrets };
}

describe('auth commands in-process', () => {
  let server: ReferenceServer;
  const cleanups: Array<() => void> = [];
  const home = () => {
    const h = makeHome();
    cleanups.push(h.cleanup);
    return h.home;
  };
  beforeAll(async () => {
    server = await startReferenceServer();
    await server.addUser('ida@example.com', 'password of ida');
  });
  afterAll(async () => {
    await closeHttp();
    await server?.stop();
    cleanups.forEach((fn) => fn());
  });

  test('--with-key, status --json and token through injected io', async () => {
    const h = home();
    const key = await server.createKey('ida@example.com', { name: 'inproc' });
    const a = context(h, { input: `${key.credential}\n`, apiUrl: server.url });
    await login(a.ctx, { withKey: true });
    expect(a.stderr.text()).toContain('Signed in to');
    expect(a.stdout.text()).toBe('');

    const b = context(h, { json: true });
    await status(b.ctx);
    expect(JSON.parse(b.stdout.text())).toMatchObject({ api_url: server.url, key: { id: key.id, name: 'inproc' }, storage: { source: 'file' } });

    const c = context(h);
    await token(c.ctx);
    expect(c.stdout.text()).toBe(`${key.credential}\n`);
  });

  test('when the config cannot be written, the secret just stored is taken back', async () => {
    const h = home();
    const key = await server.createKey('ida@example.com', { name: 'rollback' });
    const real = openConfig(path.join(h, '.config', 'thirdloop'));
    const broken: ConfigStore = {
      ...real,
      path: real.path,
      dir: real.dir,
      getProfile: (n) => real.getProfile(n),
      setProfile: () => {
        throw new UserError(`Cannot write the config file ${real.path}: EROFS.`);
      },
    };
    const a = context(h, { input: key.credential, apiUrl: server.url, config: broken });
    const error = await login(a.ctx, { withKey: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`The key could not be stored on this machine: Cannot write the config file ${real.path}: EROFS.`);
    expect(await a.secrets.get('default')).toBeUndefined();
    expect(a.stdout.text() + a.stderr.text()).not.toContain(key.secret);
  });
});
