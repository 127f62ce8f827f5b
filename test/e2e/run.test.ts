/**
 * `thirdloop run` end to end, the way people use it: the built CLI signed in with its default
 * storage (the OS keychain: gnome-keyring in its own D-Bus session), the reference server with its
 * gateway and offline model, and real commands as the child: `env`, the official Anthropic SDK,
 * a shell, a Node program reporting its signals, a pseudo-terminal for Ctrl+C.
 */
import { readdirSync, readFileSync, mkdirSync, rmSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHome, ROOT, runCli, startCli, type CliResult } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { runCliSafe } from '../robustness/tree.js';
import { needsOpencode, opencodeBinary } from '../helpers/opencode.js';

const CHILD = path.join(ROOT, 'test', 'fixtures', 'run', 'child.mjs');
const node = process.execPath;
const missing = keyringMissing() ?? needs('script', 'sh');

/** Where the port listens, from the kernel's own table (/proc/net/tcp and tcp6): hex address → dotted. */
function listeners(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A: LISTEN
      const [hex, portHex] = local.split(':');
      if (Number.parseInt(portHex!, 16) !== port) continue;
      found.push(hex!.length === 8 ? hex!.match(/../g)!.reverse().map((b) => Number.parseInt(b, 16)).join('.') : `ipv6:${hex}`);
    }
  }
  return found;
}

const tryConnect = (port: number, host: string) =>
  new Promise<string>((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });

function post(url: string, key: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end('{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}');
  });
}

// Most tests start the CLI several times; each start is a Node process, slow on a loaded machine.
describe.skipIf(missing)('thirdloop run', { timeout: 90_000 }, () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  let home: { home: string; cleanup(): void };
  let key: { id: string; secret: string; credential: string };
  let scratch: string;

  const env = (extra: Record<string, string | undefined> = {}) => ({ ...keyring.env, ...extra });
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { home: home.home, env: env(extra) });
  const runCliIn = (cwd: string, args: string[], extra: Record<string, string | undefined> = {}) =>
    runCliSafe(args, { home: home.home, cwd, env: env(extra) });
  const noSecret = (r: CliResult) => {
    expect(r.stdout).not.toContain(key.secret);
    expect(r.stderr).not.toContain(key.secret);
  };

  beforeAll(async () => {
    [server, keyring] = await Promise.all([startReferenceServer(), startKeyring()]);
    home = makeHome('thirdloop-run-');
    scratch = path.join(home.home, 'scratch');
    mkdirSync(scratch);
    const user = await server.addUser('runner@example.com');
    key = await server.createKey(user.email, { name: 'laptop' });
    // The default storage: the keychain.
    const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: home.home, env: env(), input: key.credential });
    expect(auth.exitCode, auth.stderr).toBe(0);
    expect(await keyring.lookup('default')).toBe(key.credential);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([server?.stop(), keyring?.stop()]);
    home?.cleanup();
  });

  it('the command’s environment points at the broker with a run token, and holds no secret (env, /proc/self/environ)', async () => {
    // As a terminal after `setup claude` has it: the real key exported, plus one pasted elsewhere.
    const parent = { ANTHROPIC_API_KEY: key.credential, ANTHROPIC_BASE_URL: server.url, MY_NOTES: `key=${key.credential}`, ANTHROPIC_AUTH_TOKEN: 'sk-other' };
    const printed = await cli(['run', '--', 'env'], parent);
    expect(printed.exitCode, printed.stderr).toBe(0);
    const vars = new Map(printed.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(vars.get('ANTHROPIC_BASE_URL')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(vars.get('ANTHROPIC_API_KEY')).toMatch(/^tlr_[A-Za-z0-9_-]{43}-thirdloop-run-token$/);
    expect(vars.has('MY_NOTES')).toBe(false);
    expect(vars.has('ANTHROPIC_AUTH_TOKEN')).toBe(false);
    expect(vars.has('THIRDLOOP_API_KEY')).toBe(false);
    expect(vars.get('HOME')).toBe(home.home);
    noSecret(printed);
    // What was left out is named on stderr, never shown.
    expect(printed.stderr).toContain('MY_NOTES');
    expect(printed.stderr).toContain('ANTHROPIC_AUTH_TOKEN');

    const environ = await cli(['run', '--', node, CHILD, 'environ'], parent);
    expect(environ.exitCode, environ.stderr).toBe(0);
    const entries = environ.stdout.split('\0');
    expect(entries.some((e) => /^ANTHROPIC_API_KEY=tlr_/.test(e))).toBe(true);
    expect(environ.stdout).not.toContain(key.secret);
    expect(environ.stdout).not.toContain(key.id);
    // Two runs, two tokens.
    const first = vars.get('ANTHROPIC_API_KEY');
    expect(entries.find((e) => e.startsWith('ANTHROPIC_API_KEY='))).not.toBe(`ANTHROPIC_API_KEY=${first}`);
  });

  it('the official Anthropic SDK, as the command, gets answers through the broker, plain and streaming', async () => {
    const result = await cli(['run', '--', node, CHILD, 'sdk']);
    expect(result.exitCode, result.stderr).toBe(0);
    const answer = JSON.parse(result.stdout) as { plain: string; streamed: string; events: number };
    expect(answer.plain).toMatch(/offline model/);
    expect(answer.streamed).toMatch(/offline model/);
    expect(answer.events).toBeGreaterThan(3);
    noSecret(result);
    // The instance saw this key: its "last used" is set.
    const status = await cli(['status', '--json']);
    expect(JSON.parse(status.stdout).key.last_used_at).not.toBeNull();
  });

  it('a wrong token gets 401 in Anthropic’s shape; the run’s own token gets the model', async () => {
    const wrong = await cli(['run', '--', node, CHILD, 'raw', '/v1/messages', 'tlr_not-the-token']);
    const refused = JSON.parse(wrong.stdout) as { status: number; body: string };
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const real = await cli(['run', '--', node, CHILD, 'raw', '/v1/messages', key.credential]);
    expect(JSON.parse(real.stdout).status).toBe(401);
    const own = await cli(['run', '--', node, CHILD, 'raw', '/v1/messages', 'own']);
    const ok = JSON.parse(own.stdout) as { status: number; body: string };
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).type).toBe('message');
  });

  it('once the command has exited, its token meets a closed port', async () => {
    const file = path.join(scratch, 'remembered.json');
    const result = await cli(['run', '--', node, CHILD, 'remember', file]);
    expect(result.exitCode, result.stderr).toBe(0);
    const { base, token } = JSON.parse(readFileSync(file, 'utf8')) as { base: string; token: string };
    await expect(post(base, token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('the broker listens on 127.0.0.1 alone while the command runs, and SIGTERM to run ends both', async () => {
    const file = path.join(scratch, 'live.json');
    rmSync(file, { force: true });
    const proc = startCli(['run', '--', 'sh', '-c', `"$0" "$1" remember "$2" && exec "$0" "$1" signals`, node, CHILD, file], { home: home.home, env: env() });
    await proc.waitFor(/ready/, { stream: 'stdout' });
    const { base, token } = JSON.parse(readFileSync(file, 'utf8')) as { base: string; token: string };
    const port = Number(new URL(base).port);
    expect(listeners(port)).toEqual(['127.0.0.1']);
    // Every other address of this machine (a link-local IPv6 one with its interface).
    const others = Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
      (addresses ?? []).filter((a) => !a.internal).map((a) => (a.family === 'IPv6' && a.scopeid ? `${a.address}%${name}` : a.address)),
    );
    for (const host of ['127.0.0.2', '::1', ...others]) expect(`${host}: ${await tryConnect(port, host)}`).toBe(`${host}: ECONNREFUSED`);
    expect((await post(base, token)).status).toBe(200);
    proc.child.kill('SIGTERM');
    const done = await proc.exited;
    expect(done.stdout.match(/SIGTERM/g)).toEqual(['SIGTERM']);
    expect(done.exitCode).toBe(143);
    await expect(post(base, token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it.each([
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)('%s sent to run reaches the command once; run exits as the command did (%i)', async (signal, status) => {
    const proc = startCli(['run', '--', node, CHILD, 'signals'], { home: home.home, env: env() });
    await proc.waitFor(/ready/, { stream: 'stdout' });
    proc.child.kill(signal);
    const done = await proc.exited;
    expect(done.stdout.match(new RegExp(signal, 'g'))).toEqual([signal]);
    expect(done.exitCode).toBe(status);
  });

  it('in a terminal: the command has a TTY, and Ctrl+C reaches it once (from the terminal, not twice)', async () => {
    const tty = startCli(['run', '--', node, CHILD, 'tty'], { home: home.home, env: env(), tty: true });
    expect((await tty.exited).stdout).toContain('tty true true true');

    const proc = startCli(['run', '--', node, CHILD, 'signals'], { home: home.home, env: env(), tty: true });
    await proc.waitFor(/ready/, { stream: 'stdout' });
    proc.write('\x03');
    const done = await proc.exited;
    expect(done.stdout.match(/SIGINT \d/g)).toEqual(['SIGINT 1']);
    expect(done.exitCode).toBe(130);
  });

  it('exit status: the command’s code, 128 + signal, 127 when not found', async () => {
    expect((await cli(['run', '--', 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
    expect((await cli(['run', '--', 'sh', '-c', 'kill -TERM $$'])).exitCode).toBe(143);
    const notFound = await cli(['run', '--', 'no-such-command-thirdloop']);
    expect(notFound.exitCode).toBe(127);
    expect(notFound.stderr).toMatch(/Command not found: no-such-command-thirdloop/);
    const ok = await cli(['run', '--', 'true']);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout + ok.stderr).toBe('');
  });

  it('refuses without `--`, when not signed in, and for another instance than the profile’s', async () => {
    const noDash = await cli(['run', 'env']);
    expect(noDash.exitCode).toBe(2);
    expect(noDash.stderr).toMatch(/Put `--` before the command/);
    expect(noDash.stdout).toBe('');

    const stranger = makeHome();
    try {
      // No keyring here: this suite's keyring holds the signed-in key for any HOME of this user.
      const notSignedIn = await runCli(['run', '--', 'env'], { home: stranger.home });
      expect(notSignedIn.exitCode, notSignedIn.stderr).toBe(4);
      expect(notSignedIn.stdout).toBe('');
    } finally {
      stranger.cleanup();
    }

    const elsewhere = await cli(['run', '--api-url', 'https://elsewhere.example', '--', 'env']);
    expect(elsewhere.exitCode).toBe(2);
    expect(elsewhere.stderr).toMatch(/The key stored for this profile belongs to .*; it is never sent to another instance\./);
    expect(elsewhere.stdout).toBe('');
  });

  // opencode.json names the instance itself (it must, outside `run`); under run the request has to go
  // to the broker anyway, or the run token reaches the instance and gets 401.
  it.skipIf(needsOpencode())('`run -- opencode` in a project set up by `setup opencode`: the real opencode gets its answer through the broker', { timeout: 300_000 }, async () => {
    const project = path.join(home.home, 'oc-project');
    mkdirSync(project);
    const setup = await runCliIn(project, ['setup', 'opencode', '--yes']);
    expect(setup.exitCode, setup.stderr).toBe(0);
    expect(readFileSync(path.join(project, 'opencode.json'), 'utf8')).toContain(`${server.url}/v1`);
    const before = JSON.parse((await cli(['status', '--json'])).stdout).key.last_used_at as string | null;
    const opencodeDir = path.dirname(opencodeBinary()!);
    // PWD as a shell in that folder has it: opencode takes its project folder from PWD, not the process's cwd.
    const quiet = { PWD: project, PATH: `${opencodeDir}:${process.env.PATH}`, OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_DISABLE_AUTOUPDATE: '1', NO_COLOR: '1' };
    const answered = await runCliSafe(['run', '--', 'opencode', 'run', 'say hi'], { home: home.home, cwd: project, env: env(quiet), timeoutMs: 240_000 });
    const logs = path.join(home.home, '.local/share/opencode/log');
    const log = () => (existsSync(logs) ? readdirSync(logs).map((f) => readFileSync(path.join(logs, f), 'utf8').split('\n').filter((l) => /ERROR|error=/.test(l)).join('\n')).join('\n') : '');
    expect(answered.exitCode, `${answered.stderr}${answered.stdout}\n${log()}`).toBe(0);
    expect(answered.stdout).toContain('offline model');
    noSecret(answered);
    const after = JSON.parse((await cli(['status', '--json'])).stdout).key.last_used_at as string | null;
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
  });

  it('THIRDLOOP_API_KEY (CI) is used and kept from the command', async () => {
    const ci = makeHome();
    try {
      const result = await runCli(['run', '--api-url', server.url, '--', node, CHILD, 'raw', '/v1/messages', 'own'], { home: ci.home, env: { THIRDLOOP_API_KEY: key.credential } });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).status).toBe(200);
      const printed = await runCli(['run', '--api-url', server.url, '--', 'env'], { home: ci.home, env: { THIRDLOOP_API_KEY: key.credential } });
      expect(printed.stdout).not.toContain('THIRDLOOP_API_KEY');
      expect(printed.stdout).not.toContain(key.secret);
    } finally {
      ci.cleanup();
    }
  });

  it('`run -- claude` stops before starting when Claude Code’s settings would take the session past the broker', async () => {
    const bin = path.join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    // A stand-in for Claude Code that shows what it was given.
    writeFileSync(path.join(bin, 'claude'), '#!/bin/sh\necho "claude got $ANTHROPIC_BASE_URL"\n');
    chmodSync(path.join(bin, 'claude'), 0o755);
    const settings = path.join(home.home, '.claude', 'settings.json');
    mkdirSync(path.dirname(settings), { recursive: true });
    const PATH = `${bin}:${process.env.PATH}`;
    try {
      const clean = await cli(['run', '--', 'claude'], { PATH });
      expect(clean.exitCode, clean.stderr).toBe(0);
      expect(clean.stderr).toBe('');
      expect(clean.stdout).toMatch(/^claude got http:\/\/127\.0\.0\.1:\d+$/m);

      // What `setup claude --key-helper` writes (a comment as users keep them: the file is JSONC).
      writeFileSync(settings, `{\n  // mine\n  "apiKeyHelper": "thirdloop token",\n  "env": { "ANTHROPIC_BASE_URL": "${server.url}" }\n}\n`);
      const stopped = await cli(['run', '--', 'claude'], { PATH });
      expect(stopped.exitCode).toBe(1);
      expect(stopped.stdout).toBe('');
      expect(stopped.stderr).toContain(`${settings} sets env.ANTHROPIC_BASE_URL`);
      expect(stopped.stderr).toContain(`${settings} sets apiKeyHelper`);
      expect(stopped.stderr).toContain('thirdloop setup claude --undo');
      // In the project's own settings too.
      rmSync(settings);
      const project = path.join(scratch, 'project');
      mkdirSync(path.join(project, '.claude'), { recursive: true });
      writeFileSync(path.join(project, '.claude', 'settings.local.json'), '{"env": {"ANTHROPIC_AUTH_TOKEN": "sk-x"}}');
      // Outside the project nothing is wrong; inside it, the project's settings count.
      expect((await cli(['run', '--', 'claude'], { PATH })).exitCode).toBe(0);
      const there = await runCliIn(project, ['run', '--', 'claude'], { PATH });
      expect(there.exitCode).toBe(1);
      expect(there.stderr).toContain('settings.local.json sets env.ANTHROPIC_AUTH_TOKEN');
      // Another command is not Claude Code: nothing is checked.
      expect((await runCliIn(project, ['run', '--', 'true'], { PATH })).exitCode).toBe(0);
    } finally {
      rmSync(path.join(home.home, '.claude'), { recursive: true, force: true });
    }
  }, 120_000);
});
