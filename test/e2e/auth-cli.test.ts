/**
 * The command line itself, run as a user runs it: exit codes, usage errors,
 * "not signed in", unreachable or refusing instances, corrupt files, Ctrl+C.
 * Every failure: one sentence on stderr, no stack trace, nothing changed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { needs } from '../helpers/components.js';
import { join } from 'node:path';
import { ensureCliBuilt, makeHome, runCli, startCli, ROOT } from '../helpers/cli.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

// Build once up front (others edit src/ meanwhile), inside the hook's longer timeout.
beforeAll(() => ensureCliBuilt(), 120_000);

const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const homes: Array<() => void> = [];
const home = () => {
  const h = makeHome();
  homes.push(h.cleanup);
  return h.home;
};
afterAll(() => homes.forEach((fn) => fn()));

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);

describe('program', () => {
  test('--version prints only the version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag], { home: home() });
      expect(r).toMatchObject({ exitCode: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  test('--help lists every command with examples; bare thirdloop shows it too', async () => {
    const r = await runCli(['--help'], { home: home() });
    expect(r.exitCode).toBe(0);
    for (const name of ['auth', 'status|whoami', 'logout', 'token', 'keys', 'setup', 'doctor']) expect(r.stdout).toContain(name);
    expect(r.stdout).toContain('Examples:');
    const auth = await runCli(['auth', '--help'], { home: home() });
    for (const flag of ['--name', '--expires', '--rotate', '--force', '--no-browser', '--with-key', '--timeout', '--insecure-storage']) {
      expect(auth.stdout).toContain(flag);
    }
    expect(auth.stdout).toContain('$ thirdloop auth --no-browser');
    // Every subcommand's help also lists the global options it accepts.
    for (const args of [['auth'], ['status'], ['keys', 'list'], ['setup', 'claude'], ['doctor']]) {
      const help = await runCli([...args, '--help'], { home: home() });
      const globals = help.stdout.slice(help.stdout.indexOf('Global Options:'));
      for (const flag of ['--api-url <url>', '--profile <name>', '--json', '--no-color', '--debug']) expect(globals, args.join(' ')).toContain(flag);
    }
    const bare = await runCli([], { home: home() });
    expect(bare.exitCode).toBe(0);
  });

  test.each([
    [['frobnicate'], /^Error: Unknown command 'frobnicate'/],
    [['auth', '--bogus'], /^Error: Unknown option '--bogus'/],
    [['auth', '--expires', '7'], /Expiry must be one of 30, 60, 90, 180, 365 \(days\)\./],
    [['auth', '--timeout', 'soon'], /Give a whole number of seconds between 1 and 3600\./],
    [['auth', '--name'], /^Error: Option '--name <name>' argument missing/],
    [['keys', 'rename', 'tlk_x'], /^Error: Missing required argument 'name'/],
    [['--profile', '../etc', 'token'], /Invalid profile name "\.\.\/etc"/],
    [['--api-url', 'ftp://example.com', 'auth'], /--api-url must start with https:\/\//],
    [['--api-url', 'not a url', 'auth'], /is not a URL/],
    [['auth'], /Which Third Loop instance\?/],
  ])('usage error %j → exit 2, one sentence', async (args, message) => {
    const r = await runCli(args, { home: home() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  test('a command whose module is not in the build is a clear error, not a crash', () => {
    ensureCliBuilt();
    const copy = mkdtempSync(join(tmpdir(), 'thirdloop-dist-'));
    try {
      cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
      writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
      rmSync(join(copy, 'dist', 'commands', 'doctor.js'), { force: true });
      let result: { status: number; stderr: string };
      try {
        execFileSync(process.execPath, [join(copy, 'dist', 'main.js'), 'doctor'], { stdio: 'pipe', env: { ...process.env, HOME: copy } });
        result = { status: 0, stderr: '' };
      } catch (error) {
        const e = error as { status: number; stderr: Buffer };
        result = { status: e.status, stderr: e.stderr.toString() };
      }
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('`thirdloop doctor` is not available in this build yet.');
      noStack(result.stderr);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test.skipIf(needs('script'))('Ctrl+C at the one-time-code prompt on a terminal cancels with exit 130', async () => {
    const cli = startCli(['auth', '--api-url', 'http://127.0.0.1:9', '--no-browser'], { home: home(), tty: true });
    await cli.waitFor(/One-time code: /, { stream: 'stdout' });
    cli.write('\u0003');
    const r = await cli.exited;
    expect(r.exitCode).toBe(130);
    expect(r.stdout).toContain('Sign-in cancelled; nothing was stored.');
  });

  test('THIRDLOOP_API_URL and THIRDLOOP_PROFILE are read from the environment', async () => {
    const r = await runCli(['auth'], { home: home(), env: { THIRDLOOP_API_URL: 'gopher://x', THIRDLOOP_PROFILE: 'ci' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('THIRDLOOP_API_URL must start with https://');
  });
});

describe('not signed in', () => {
  test('status and token exit 4 on a fresh HOME (no Secret Service) and say what to run; token prints nothing on stdout', async () => {
    const h = home();
    const status = await runCli(['status'], { home: h });
    expect(status.exitCode).toBe(4);
    expect(status.stderr).toBe('Error: Not signed in.\nRun `thirdloop auth --api-url URL`.\n');
    const token = await runCli(['--profile', 'work', 'token'], { home: h });
    expect(token.exitCode).toBe(4);
    expect(token.stdout).toBe('');
    expect(token.stderr).toContain('Run `thirdloop auth --profile work --api-url URL`.');
  });

  test('logout is a no-op that says so', async () => {
    const r = await runCli(['logout'], { home: home() });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('Not signed in; nothing to do.');
  });

  test('a malformed THIRDLOOP_API_KEY is refused with exit 4, without echoing it', async () => {
    const r = await runCli(['token'], { home: home(), env: { THIRDLOOP_API_KEY: 'tlk_short;tls_secretvalue' } });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain('THIRDLOOP_API_KEY does not start with a Third Loop key ID');
    expect(r.stderr).not.toContain('tls_secretvalue');
  });
});

describe('against instances', () => {
  let server: ReferenceServer;
  let user: { email: string; password: string };
  beforeAll(async () => {
    server = await startReferenceServer();
    user = await server.addUser('eve@example.com', 'password of eve');
  });
  afterAll(() => server?.stop());

  async function signedInHome(name = 'box'): Promise<{ h: string; id: string; credential: string }> {
    const h = home();
    const key = await server.createKey(user.email, { name });
    const r = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, input: key.credential });
    expect(r.exitCode, r.stderr).toBe(0);
    return { h, id: key.id, credential: key.credential };
  }

  test('"Last used" means a model request: status twice leaves it, a /v1/messages request moves it', async () => {
    const { h, credential } = await signedInHome('used');
    const lastUsed = async () => {
      const r = await runCli(['status', '--json'], { home: h });
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout).key.last_used_at as string | null;
    };
    expect(await lastUsed()).toBeNull();
    expect(await lastUsed()).toBeNull();
    expect((await runCli(['keys', 'list'], { home: h })).stdout).toMatch(/^used .*Never used$/m);
    const model = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(model.status).toBe(200);
    await model.text();
    await expect.poll(lastUsed, { timeout: 10_000 }).not.toBeNull();
    const used = await lastUsed();
    expect(await lastUsed()).toBe(used);
    expect((await runCli(['status'], { home: h })).stdout).toMatch(/Last used\s+just now/);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('auth --json prints one document on stdout without the secret', async () => {
    const h = home();
    const key = await server.createKey(user.email, { name: 'json' });
    const r = await runCli(['auth', '--api-url', server.url, '--with-key', '--json'], { home: h, input: key.credential });
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ profile: 'default', api_url: server.url, key: { id: key.id, name: 'json', status: 'active' }, storage: { source: 'file' } });
    expect(r.stdout).not.toContain(key.secret);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test.skipIf(needs('script'))('already signed in, on a terminal: asks before replacing; "no" changes nothing', async () => {
    const { h, credential } = await signedInHome('asked');
    const cli = startCli(['auth', '--api-url', server.url], { home: h, tty: true });
    await cli.waitFor(/Sign in again with a new key\?/, { stream: 'stdout' });
    cli.write('n');
    const r = await cli.exited;
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('Already signed in to');
    expect(r.stdout).toMatch(/Cancelled\.\r?\n/);
    expect(r.stdout).not.toContain('Error:');
    // The answered question carries the same tick as every other line.
    expect(r.stdout).toContain('✓');
    expect(r.stdout).not.toContain('✔');
    expect((await runCli(['token'], { home: h })).stdout).toBe(`${credential}\n`);
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test.skipIf(needs('script'))('--with-key on a terminal refuses (it reads stdin) and says how to pipe', async () => {
    const cli = startCli(['auth', '--api-url', server.url, '--with-key'], { home: home(), tty: true });
    const r = await cli.exited;
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('--with-key reads the credential from stdin.');
  });

  test('--force with another key: the env files written for the old key follow; the old key is named as still active', async () => {
    const { h, id: oldId, credential: oldCredential } = await signedInHome('first');
    const setup = await runCli(['setup', 'claude', '--shell', 'bash', '--yes'], { home: h });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const envFile = join(h, '.config', 'thirdloop', 'env.sh');
    expect(readFileSync(envFile, 'utf8')).toContain(oldCredential);
    const next = await server.createKey(user.email, { name: 'second' });
    const r = await runCli(['auth', '--with-key', '--force'], { home: h, input: next.credential });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`The previous key ${oldId} is still active on the instance`);
    expect(r.stderr).toContain(`Updated the shell environment files with the new key: ${envFile}.`);
    expect(readFileSync(envFile, 'utf8')).toContain(next.credential);
    expect(readFileSync(envFile, 'utf8')).not.toContain(oldCredential);
    await fetch(`${server.url}/api/keys/${oldId}`, { method: 'DELETE', headers: { authorization: `Bearer ${oldCredential}` } });
    expect((await runCli(['logout', '--revoke', '--yes'], { home: h })).exitCode).toBe(0);
  });

  test('with the instance down: status gives the local facts, then one sentence naming the URL, exit 1; logout --revoke removes nothing', async () => {
    // Signed in to an instance that then stops, as a laptop meets it offline.
    const gone = await startReferenceServer();
    const h = home();
    try {
      await gone.addUser('off@example.com', 'password of off');
      const key = await gone.createKey('off@example.com', { name: 'box' });
      expect((await runCli(['auth', '--api-url', gone.url, '--with-key'], { home: h, input: key.credential })).exitCode).toBe(0);
    } finally {
      await gone.stop();
    }
    const r = await runCli(['status'], { home: h });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/Key\s+box \(tlk_/);
    expect(r.stdout).toContain('unknown (the instance could not be asked)');
    expect(r.stderr).toContain(`Could not connect to ${gone.url}/api/me: connection refused.`);
    noStack(r.stderr);
    const credential = (await runCli(['token'], { home: h })).stdout;
    const logout = await runCli(['logout', '--revoke', '--yes'], { home: h });
    expect(logout.exitCode).toBe(1);
    expect(logout.stderr).toContain('connection refused');
    expect((await runCli(['token'], { home: h })).stdout).toBe(credential);
  });

  test('a key the instance no longer accepts: status exits 4 with "run thirdloop auth"; logout --revoke still cleans up', async () => {
    const { h, id } = await signedInHome('doomed');
    await server.flagCompromised(id);
    const r = await runCli(['status'], { home: h });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain('did not accept the stored key');
    expect(r.stderr).toContain('Run `thirdloop auth` to sign in again.');
    const out = await runCli(['logout', '--revoke', '--yes'], { home: h });
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stderr).toContain('no longer accepts key');
    expect((await runCli(['token'], { home: h })).exitCode).toBe(4);
  });

  test('logout --revoke without a TTY and without --yes refuses, naming --yes, and changes nothing', async () => {
    const { h, credential } = await signedInHome('keep');
    const r = await runCli(['logout', '--revoke'], { home: h });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Pass --yes');
    expect((await runCli(['token'], { home: h })).stdout).toBe(`${credential}\n`);
    const plain = await runCli(['logout'], { home: h });
    expect(plain.exitCode).toBe(0);
    expect(plain.stderr).toContain('is still active on the instance');
    expect((await runCli(['token'], { home: h })).exitCode).toBe(4);
    // Still valid on the server: plain logout does not revoke.
    const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${credential}` } });
    expect(me.status).toBe(200);
    await fetch(`${server.url}/api/keys/${credential.split(';')[0]}`, { method: 'DELETE', headers: { authorization: `Bearer ${credential}` } });
  });

  test('logout removes the shell env files that hold the key, and only those; new shells no longer export it', async () => {
    const { h, credential } = await signedInHome('shells');
    expect((await runCli(['setup', 'claude', '--shell', 'bash', '--yes'], { home: h })).exitCode).toBe(0);
    const envSh = join(h, '.config', 'thirdloop', 'env.sh');
    expect(readFileSync(envSh, 'utf8')).toContain(credential);
    const other = join(h, '.config', 'thirdloop', 'env.fish');
    writeFileSync(other, "set -gx ANTHROPIC_API_KEY 'another key'\n"); // not ours to remove
    const r = await runCli(['logout', '--json'], { home: h });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ logged_out: true, removed_files: [envSh] });
    expect(existsSync(envSh)).toBe(false);
    expect(existsSync(other)).toBe(true);
    // The profile line stays, guarded: it sources nothing now.
    expect(readFileSync(join(h, '.bashrc'), 'utf8')).toContain('# >>> thirdloop >>>');
    const seen = execFileSync('bash', ['-ic', 'printf %s "${ANTHROPIC_API_KEY-unset}"'], { env: { PATH: process.env.PATH, HOME: h }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(seen).toBe('unset');
    await fetch(`${server.url}/api/keys/${credential.split(';')[0]}`, { method: 'DELETE', headers: { authorization: `Bearer ${credential}` } });
  });

  test('a corrupt config file: one sentence naming it, exit 1, the file left as it was', async () => {
    const h = home();
    const dir = join(h, '.config', 'thirdloop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{"profiles": [oops', { mode: 0o600 });
    const r = await runCli(['status'], { home: h });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`Cannot read the config file ${join(dir, 'config.json')}: it is not valid JSON.`);
    noStack(r.stderr);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"profiles": [oops');
  });

  test('THIRDLOOP_CONFIG_DIR moves everything', async () => {
    const h = home();
    const dir = join(h, 'elsewhere');
    const key = await server.createKey(user.email, { name: 'moved' });
    const r = await runCli(['auth', '--api-url', server.url, '--with-key', '--insecure-storage'], { home: h, env: { THIRDLOOP_CONFIG_DIR: dir }, input: key.credential });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'config.json'))).toBe(true);
    expect(existsSync(join(dir, 'credentials.json'))).toBe(true);
    expect(existsSync(join(h, '.config', 'thirdloop'))).toBe(false);
    await fetch(`${server.url}/api/keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${key.credential}` } });
  });

  test('an instance URL that is not a Third Loop instance (HTML answers) fails the exchange clearly', async () => {
    const h = home();
    const key = await server.createKey(user.email, { name: 'html' });
    const { createServer: createHttpServer } = await import('node:http');
    const portal = createHttpServer((_, res) => (res.writeHead(200, { 'content-type': 'text/html' }), res.end('<html>Sign in to the portal</html>')));
    await new Promise<void>((r) => portal.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(portal.address() as { port: number }).port}`;
    try {
      const r = await runCli(['auth', '--api-url', url, '--with-key'], { home: h, input: key.credential });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`${url}/api/me answered 200 with an HTML page`);
      expect(existsSync(join(h, '.config', 'thirdloop', 'credentials.json'))).toBe(false);
    } finally {
      portal.close();
      await fetch(`${server.url}/api/keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${key.credential}` } });
    }
  });
});

describe('expiry warning', () => {
  test('status warns when the key expires within 14 days', async () => {
    // The server's clock runs 20 days behind: a 30-day key it mints expires in 10 real days.
    const server = await startReferenceServer({ nowOffsetMs: -20 * 86_400_000 });
    try {
      await server.addUser('old@example.com', 'password of old');
      const key = await server.createKey('old@example.com', { name: 'short', expires: 30 });
      const h = home();
      expect((await runCli(['auth', '--api-url', server.url, '--with-key'], { home: h, input: key.credential })).exitCode).toBe(0);
      const r = await runCli(['status'], { home: h });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/Expires\s+\d{4}-\d{2}-\d{2} \(in 10 days\)/);
      expect(r.stderr).toContain('The key expires in 10 days; run `thirdloop auth --rotate` for a new one.');
      expect(JSON.parse((await runCli(['status', '--json'], { home: h })).stdout).days_left).toBe(10);
    } finally {
      await server.stop();
    }
  });
});
