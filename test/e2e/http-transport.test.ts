/**
 * The built CLI's HTTP transport against the real reference server: without a
 * proxy it never loads undici (node:http carries the request, which keeps a
 * command light and its exit prompt); with HTTP_PROXY it loads undici and goes
 * through the proxy; NO_PROXY sends it direct again. Which bundled chunks a
 * run loads is recorded by a module load hook, and a chunk counts as undici
 * by its name: the bundler names the chunk of a dynamic `import('undici')`
 * after the package (`undici-<hash>.js`); the minified bundle has no module
 * comments to go by.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI_BIN, cliEnv, ensureCliBuilt, makeHome, runCli } from '../helpers/cli.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { tunnelHandler } from '../helpers/connect-proxy.js';

let server: ReferenceServer;
let credential: string;
let keyId: string;
let home: { home: string; cleanup(): void };
let proxy: Server;
let proxyUrl: string;
const tunnels: string[] = [];

beforeAll(async () => {
  ensureCliBuilt();
  server = await startReferenceServer();
  const { email } = await server.addUser('transport@example.com');
  ({ credential, id: keyId } = await server.createKey(email, { name: 'transport' }));
  home = makeHome('thirdloop-transport-');
  const signIn = await runCli(['auth', '--with-key', '--api-url', server.url], { home: home.home, input: credential });
  if (signIn.exitCode !== 0) throw new Error(`sign-in failed: ${signIn.stderr}`);
  const hooks = join(home.home, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.includes('/dist/') && process.env.LOADED_LOG) appendFileSync(process.env.LOADED_LOG, url + '\\n');\n  return next(url, context);\n}\n`,
  );
  writeFileSync(join(home.home, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

  // A CONNECT proxy, as a corporate one would be.
  proxy = createServer();
  proxy.on('connect', tunnelHandler(tunnels));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await new Promise((r) => (proxy ? (proxy.closeAllConnections(), proxy.close(r)) : r(undefined)));
  home?.cleanup();
});

/** Runs `keys list --json` with the load hook; resolves with its output and the dist files it loaded. */
async function keysList(extraEnv: Record<string, string | undefined>) {
  const log = join(home.home, 'loaded.txt');
  rmSync(log, { force: true });
  const env = cliEnv(home.home, {
    LOADED_LOG: log,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    NO_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    no_proxy: undefined,
    ...extraEnv,
  });
  const child = spawn(process.execPath, ['--import', join(home.home, 'register.mjs'), CLI_BIN, 'keys', 'list', '--json'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exitCode = await new Promise<number | null>((r) => child.on('close', r));
  const loaded = existsSync(log) ? [...new Set(readFileSync(log, 'utf8').trim().split('\n'))] : [];
  const undiciChunks = loaded.filter((url) => /\/undici-[A-Za-z0-9]+\.js$/.test(url));
  return { exitCode, stdout, stderr, loaded, undiciChunks };
}

describe('the CLI loads undici only for a proxy', () => {
  test('no proxy: the request succeeds and no undici chunk is loaded', async () => {
    const run = await keysList({});
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).keys.map((k: { id: string }) => k.id)).toContain(keyId);
    expect(run.loaded.length).toBeGreaterThan(1);
    expect(run.undiciChunks).toEqual([]);
  });

  test('HTTP_PROXY: undici is loaded and the request goes through the proxy; NO_PROXY sends it direct', async () => {
    const host = new URL(server.url).host;
    const proxied = await keysList({ HTTP_PROXY: proxyUrl });
    expect(proxied.stderr).toBe('');
    expect(proxied.exitCode).toBe(0);
    expect(JSON.parse(proxied.stdout).keys.map((k: { id: string }) => k.id)).toContain(keyId);
    expect(proxied.undiciChunks).toHaveLength(1);
    expect(tunnels).toEqual([host]);

    const bypassed = await keysList({ HTTP_PROXY: proxyUrl, NO_PROXY: `localhost, ${new URL(server.url).hostname}` });
    expect(bypassed.exitCode).toBe(0);
    expect(bypassed.undiciChunks).toEqual([]);
    expect(tunnels).toEqual([host]);
  });
});
