/**
 * The CLI from behind a corporate proxy: Debian's tinyproxy, started by the
 * test, between the CLI and the https instance (nginx in front of the
 * reference server). With HTTPS_PROXY every command that talks to the
 * instance opens a CONNECT tunnel, read back from the proxy's own log, and
 * TLS runs inside it; NO_PROXY exceptions go direct; a proxy that wants
 * credentials gets them from `http://user:pass@…` and the password is never
 * printed; a proxy that refuses is one sentence.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { browserMissing } from '../helpers/browser.js';
import { ROOT, ensureCliBuilt, makeHome, oneErrorSentence, runCli, startCli } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { approveInChromium, fakeXdgOpen } from '../helpers/default-opener.js';
import { startHttpsInstance, type HttpsInstance } from '../helpers/https-instance.js';
import { startTinyproxy, type Tinyproxy } from '../helpers/tinyproxy.js';
import { randomBytes } from 'node:crypto';

const missing = needs('openssl', 'nginx', 'tinyproxy', 'bash') ?? browserMissing();

/** Every variable a proxy can come from, cleared: each test says exactly which it sets. */
const NO_PROXY_ENV = { HTTP_PROXY: undefined, HTTPS_PROXY: undefined, NO_PROXY: undefined, http_proxy: undefined, https_proxy: undefined, no_proxy: undefined };


describe.skipIf(missing)('the CLI through a real forward proxy (tinyproxy) to an https instance', () => {
  let instance: HttpsInstance;
  let proxy: Tinyproxy;
  let locked: Tinyproxy;
  let strict: Tinyproxy;
  const proxyUser = 'corp-user';
  const proxyPassword = `pw-${randomBytes(9).toString('hex')}`;
  let target: string;
  let seq = 0;
  const member = () => instance.server.addUser(`proxied${++seq}@example.com`, `correct horse battery staple ${seq}`);
  const cleanups: Array<() => void> = [];
  const home = () => {
    const h = makeHome('thirdloop-proxy-');
    cleanups.push(h.cleanup);
    return h.home;
  };

  beforeAll(async () => {
    ensureCliBuilt();
    instance = await startHttpsInstance();
    target = new URL(instance.url).host;
    [proxy, locked, strict] = await Promise.all([
      startTinyproxy(),
      startTinyproxy({ basicAuth: { user: proxyUser, password: proxyPassword } }),
      // A proxy that tunnels only to the standard HTTPS port, as many corporate ones do.
      startTinyproxy({ connectPorts: [443] }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([instance?.stop(), proxy?.stop(), locked?.stop(), strict?.stop()]);
    cleanups.forEach((fn) => fn());
  });

  const env = (extra: Record<string, string | undefined>) => ({ ...NO_PROXY_ENV, NODE_EXTRA_CA_CERTS: instance.ca.certFile, ...extra });

  test('HTTPS_PROXY: every command that talks to the instance goes through a CONNECT tunnel, and succeeds', async () => {
    const h = home();
    const user = await member();
    const { credential, id } = await instance.server.createKey(user.email, { name: 'proxied' });
    const viaProxy = env({ HTTPS_PROXY: proxy.url });
    const run = async (args: string[], input?: string) => {
      const tunnelsBefore = proxy.tunnels().length;
      const servedBefore = instance.nginx.accessLog().length;
      const result = await runCli(args, { home: h, env: viaProxy, input });
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      const opened = proxy.tunnels().slice(tunnelsBefore);
      expect(opened.length, `${args.join(' ')} opened no tunnel:\n${proxy.log()}`).toBeGreaterThan(0);
      expect(new Set(opened)).toEqual(new Set([target]));
      expect(instance.nginx.accessLog().length).toBeGreaterThan(servedBefore);
      return result;
    };
    await run(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], credential);
    expect(JSON.parse((await run(['status', '--json'])).stdout).key.id).toBe(id);
    expect(JSON.parse((await run(['keys', 'list', '--json'])).stdout).keys).toHaveLength(1);
    const created = await run(['keys', 'create', '--name', 'second', '--json']);
    const second = JSON.parse(created.stdout).key.id as string;
    await run(['keys', 'disable', second]);
    await run(['keys', 'enable', second]);
    await run(['keys', 'rename', second, 'spare']);
    await run(['keys', 'delete', second, '--yes']);
    await run(['keys', 'rotate', id, '--yes']);
    await run(['setup', 'opencode', '--global']); // reads the instance's models
    await run(['doctor']);
    // --debug names the proxy that carried each request.
    const debug = await run(['status', '--debug']);
    expect(debug.stderr).toMatch(new RegExp(`GET ${instance.url}/api/me via proxy ${proxy.url} -> 200`));
    await run(['logout', '--revoke', '--yes']);
  }, 120_000);

  test('browser sign-in with HTTPS_PROXY: the code exchange goes through the tunnel', async () => {
    const h = home();
    const user = await member();
    const opener = fakeXdgOpen(h);
    const before = proxy.tunnels().length;
    const cli = startCli(['auth', '--api-url', instance.url, '--insecure-storage', '--timeout', '60'], {
      home: h,
      env: { ...env({ HTTPS_PROXY: proxy.url }), ...opener.env },
      timeoutMs: 90_000,
    });
    try {
      await approveInChromium(await opener.nextUrl(), user, { trustSpki: instance.ca.spki });
      const result = await cli.exited;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toContain(`Signed in to ${instance.url}`);
    } finally {
      cli.child.kill('SIGKILL');
    }
    expect(proxy.tunnels().slice(before)).toContain(target);
  }, 90_000);

  test('a model request through the proxy: the official SDK on undici\'s EnvHttpProxyAgent, as a client that honours HTTPS_PROXY sends it', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'sdk' });
    writeFileSync(join(h, '.bashrc'), '');
    expect((await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', instance.url], { home: h, env: env({ HTTPS_PROXY: proxy.url }), input: credential })).exitCode).toBe(0);
    expect((await runCli(['setup', 'claude', '--shell', 'bash'], { home: h, env: env({}) })).exitCode).toBe(0);
    const before = proxy.tunnels().length;
    const script =
      "Promise.all([import('@anthropic-ai/sdk'), import('undici')]).then(async ([{ default: Anthropic }, { EnvHttpProxyAgent }]) => {" +
      ' const client = new Anthropic({ fetchOptions: { dispatcher: new EnvHttpProxyAgent() } });' +
      " const m = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'through the proxy' }] });" +
      ' process.stdout.write(m.content[0].text); })';
    const text = execFileSync('bash', ['-ic', `cd ${JSON.stringify(ROOT)} && "${process.execPath}" -e "$0"`, script], {
      env: { HOME: h, PATH: process.env.PATH, XDG_CONFIG_HOME: join(h, '.config'), NODE_EXTRA_CA_CERTS: instance.ca.certFile, HTTPS_PROXY: proxy.url },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    expect(text).toContain('You said: "through the proxy"');
    expect(proxy.tunnels().slice(before)).toEqual([target]);
  }, 90_000);

  test('NO_PROXY exceptions are honoured: by host, and by host and port', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'bypass' });
    const key = { THIRDLOOP_API_KEY: credential, THIRDLOOP_API_URL: instance.url };
    const port = new URL(instance.url).port;
    for (const noProxy of ['127.0.0.1', `localhost,127.0.0.1:${port}`, '*']) {
      const before = proxy.connectRequests().length;
      const result = await runCli(['keys', 'list'], { home: h, env: env({ HTTPS_PROXY: proxy.url, NO_PROXY: noProxy, ...key }) });
      expect(result.exitCode, `${noProxy}: ${result.stderr}`).toBe(0);
      expect(proxy.connectRequests().length, `NO_PROXY=${noProxy} still went through the proxy`).toBe(before);
    }
    // An exception for another host or another port leaves this one proxied; lower-case names work too.
    for (const extra of [{ NO_PROXY: 'example.com,localhost' }, { NO_PROXY: '127.0.0.1:1' }, { https_proxy: proxy.url, no_proxy: 'example.com', HTTPS_PROXY: undefined }]) {
      const before = proxy.tunnels().length;
      const result = await runCli(['keys', 'list'], { home: h, env: env({ HTTPS_PROXY: proxy.url, ...extra, ...key }) });
      expect(result.exitCode, `${JSON.stringify(extra)}: ${result.stderr}`).toBe(0);
      expect(proxy.tunnels().slice(before), JSON.stringify(extra)).toEqual([target]);
    }
  }, 60_000);

  test('a proxy that needs credentials: http://user:pass@… works, and the password is never printed or stored', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'locked' });
    const authed = new URL(locked.url);
    authed.username = proxyUser;
    authed.password = proxyPassword;
    const withCredentials = env({ HTTPS_PROXY: authed.toString() });
    const outputs: string[] = [];
    const run = async (args: string[], extra: Record<string, string | undefined> = withCredentials, input?: string) => {
      const result = await runCli(args, { home: h, env: extra, input });
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    const before = locked.tunnels().length;
    for (const args of [['auth', '--with-key', '--insecure-storage', '--api-url', instance.url, '--debug'], ['status', '--debug'], ['keys', 'list', '--debug'], ['doctor', '--debug']]) {
      const result = await run(args, withCredentials, args[0] === 'auth' ? credential : undefined);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stderr).toContain(`via proxy ${locked.url}`);
    }
    expect(locked.tunnels().length - before).toBeGreaterThanOrEqual(4);
    // Written without a scheme, as many set it (curl reads it as http://).
    const bareValue = await run(['keys', 'list'], env({ HTTPS_PROXY: `${proxyUser}:${proxyPassword}@127.0.0.1:${locked.port}` }));
    expect(bareValue.exitCode, bareValue.stderr).toBe(0);
    // A value that is no URL at all: a usage error naming the variable, not its value.
    const garbled = await run(['keys', 'list'], env({ HTTPS_PROXY: `http://${proxyUser}:${proxyPassword}@not a host:1` }));
    expect(garbled.exitCode).toBe(2);
    expect(oneErrorSentence(garbled)).toBe(
      'Error: HTTPS_PROXY is not a proxy address; set it as http://HOST:PORT, with USER:PASSWORD@ before the host if the proxy asks for them.',
    );

    // Without credentials, and with a wrong password: one sentence each, naming the fix.
    const bare = await run(['keys', 'list'], env({ HTTPS_PROXY: locked.url }));
    expect(bare.exitCode).toBe(1);
    expect(oneErrorSentence(bare)).toBe(
      `Error: The proxy ${locked.url} (HTTPS_PROXY) refused to open a tunnel to ${target}: 407 Proxy Authentication Required; it needs a user name and password in HTTPS_PROXY (http://USER:PASSWORD@HOST:PORT).`,
    );
    const wrong = new URL(authed);
    wrong.password = `${proxyPassword}-wrong`;
    const refused = await run(['keys', 'list', '--debug'], env({ HTTPS_PROXY: wrong.toString() }));
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`Error: The proxy ${locked.url} (HTTPS_PROXY) refused to open a tunnel to ${target}:`);
    expect(refused.stderr).toContain('it did not accept the user name and password in HTTPS_PROXY');

    for (const text of outputs) {
      expect(text).not.toContain(proxyPassword);
      expect(text).not.toContain(`${proxyUser}:`);
    }
    // Nor in any file the CLI wrote.
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
    for (const file of walk(h)) expect(readFileSync(file, 'utf8'), file).not.toContain(proxyPassword);
  }, 60_000);

  test('a proxy that refuses the tunnel, or is not there: one sentence naming the proxy and the fix', async () => {
    const h = home();
    const user = await member();
    const { credential } = await instance.server.createKey(user.email, { name: 'refused' });
    const key = { THIRDLOOP_API_KEY: credential, THIRDLOOP_API_URL: instance.url };

    const forbidden = await runCli(['status'], { home: h, env: env({ HTTPS_PROXY: strict.url, ...key }) });
    expect(forbidden.exitCode).toBe(1);
    expect(forbidden.stderr).toContain(
      `Error: The proxy ${strict.url} (HTTPS_PROXY) refused to open a tunnel to ${target}: 403 Forbidden; ask your network administrators to allow it, or list the host in NO_PROXY if it is reachable directly.`,
    );
    expect(strict.connectRequests()).toContain(target);

    const gone = `http://127.0.0.1:${proxy.port === 1 ? 2 : 1}`;
    const down = await runCli(['keys', 'list'], { home: h, env: env({ HTTPS_PROXY: gone, ...key }) });
    expect(down.exitCode).toBe(1);
    expect(oneErrorSentence(down)).toBe(
      `Error: Could not connect to the proxy ${gone} (HTTPS_PROXY) to reach ${target}: connection refused; check HTTPS_PROXY, or list the host in NO_PROXY to connect directly.`,
    );
  }, 90_000);
});
