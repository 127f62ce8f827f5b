/**
 * The stored credential goes only to the instance it was minted for. Signed
 * in to the real reference server, every command that sends the credential
 * is run with --api-url (or THIRDLOOP_API_URL) pointing at a capturing
 * listener on another port: it must refuse with one sentence naming both URLs,
 * and the listener must receive nothing at all.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCliBuilt, makeHome, runCli } from '../helpers/cli.js';
import { makeCredential } from '../helpers/setup-env.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

beforeAll(() => ensureCliBuilt(), 120_000);

/** A TCP listener that records every connection and every byte sent to it, and answers nothing. */
async function startCapture(): Promise<{ url: string; connections: number; bytes(): string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let data = '';
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.setEncoding('latin1').on('data', (d: string) => (data += d));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    bytes: () => data,
    close: () =>
      new Promise<void>((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => r());
      }),
  };
}

describe('the stored credential is sent only to its own instance', () => {
  let server: ReferenceServer;
  let capture: Awaited<ReturnType<typeof startCapture>>;
  let home: { home: string; cleanup(): void };
  let key: { id: string; secret: string; credential: string };

  beforeAll(async () => {
    [server, capture] = await Promise.all([startReferenceServer(), startCapture()]);
    await server.addUser('own@example.com', 'password of own');
    key = await server.createKey('own@example.com', { name: 'home' });
    home = makeHome();
    const signIn = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: home.home, input: key.credential });
    expect(signIn.exitCode, signIn.stderr).toBe(0);
  });
  afterAll(async () => {
    await capture?.close();
    await server?.stop();
    home?.cleanup();
  });
  afterEach(() => {
    expect(capture.connections, capture.bytes()).toBe(0);
    expect(capture.bytes()).not.toContain(key.secret);
  });

  const refusal = (stderr: string, from = '--api-url') => {
    expect(stderr).toContain(`The key stored for this profile belongs to ${server.url}, but ${from} is ${capture.url}; it is never sent to another instance.`);
    expect(stderr).toContain('--profile NAME');
    expect(stderr).not.toContain(key.secret);
  };

  const commands: Array<[string, () => string[]]> = [
    ['status', () => ['status']],
    ['keys list', () => ['keys', 'list']],
    ['keys create', () => ['keys', 'create', '--name', 'elsewhere']],
    ['keys disable', () => ['keys', 'disable', key.id, '--yes']],
    ['keys enable', () => ['keys', 'enable', key.id]],
    ['keys delete', () => ['keys', 'delete', key.id, '--yes']],
    ['keys rotate', () => ['keys', 'rotate', key.id, '--yes']],
    ['keys rename', () => ['keys', 'rename', key.id, 'other']],
    ['setup claude', () => ['setup', 'claude', '--shell', 'bash', '--yes']],
    ['setup opencode', () => ['setup', 'opencode', '--yes']],
    ['logout --revoke', () => ['logout', '--revoke', '--yes']],
  ];

  test.each(commands)('%s --api-url <another port>: refused with both URLs named, exit 2, nothing sent', async (_name, args) => {
    const r = await runCli([...args(), '--api-url', capture.url], { home: home.home });
    expect(r.exitCode, r.stderr).toBe(2);
    refusal(r.stderr);
    // Nothing was changed on this machine either: still signed in, no env files written.
    expect((await runCli(['token'], { home: home.home })).stdout).toBe(`${key.credential}\n`);
    expect(readdirSync(join(home.home, '.config', 'thirdloop')).filter((f) => f.startsWith('env'))).toEqual([]);
    expect(existsSync(join(home.home, 'opencode.json'))).toBe(false);
  });

  test('THIRDLOOP_API_URL at another port: the same refusal, naming the variable', async () => {
    const r = await runCli(['status'], { home: home.home, env: { THIRDLOOP_API_URL: capture.url } });
    expect(r.exitCode).toBe(2);
    refusal(r.stderr, 'THIRDLOOP_API_URL');
  });

  test('doctor --api-url <another port>: one failing check that says why, and nothing asked of that URL', async () => {
    const r = await runCli(['doctor', '--api-url', capture.url, '--json'], { home: home.home });
    expect(r.exitCode).toBe(1);
    const results = JSON.parse(r.stdout) as Array<{ check: string; status: string; message: string }>;
    expect(results.find((c) => c.check === 'instance')).toMatchObject({ status: 'fail' });
    expect(results.find((c) => c.check === 'instance')!.message).toContain(`belongs to ${server.url}`);
    expect(r.stdout + r.stderr).not.toContain(key.secret);
  });

  test('the same instance spelled with a trailing slash or path is not another instance', async () => {
    const r = await runCli(['status', '--api-url', `${server.url}/`], { home: home.home });
    expect(r.exitCode, r.stderr).toBe(0);
  });
});

describe('THIRDLOOP_API_KEY with an explicit URL keeps working: the user handed both', () => {
  test('the variable’s key goes to the URL given with it', async () => {
    const capture = await startCapture();
    const home = makeHome();
    try {
      // The listener never answers: the read timeout (THIRDLOOP_HTTP_TIMEOUT) ends the wait.
      const r = await runCli(['status', '--api-url', capture.url], { home: home.home, env: { THIRDLOOP_API_KEY: makeCredential('ci'), THIRDLOOP_HTTP_TIMEOUT: '1' } });
      expect(r.stderr).not.toContain('never sent to another instance');
      expect(capture.connections).toBeGreaterThan(0);
    } finally {
      await capture.close();
      home.cleanup();
    }
  });
});
