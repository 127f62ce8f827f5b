/**
 * The real CLI end to end, as a user runs it: `thirdloop auth --with-key`
 * against the reference server, `thirdloop setup claude --shell bash,zsh,fish`,
 * then new bash, zsh and fish shells carry both variables — and a client
 * reading them (the Anthropic SDK, as Claude Code does) gets an answer
 * through the instance's gateway. Then --key-helper and --undo.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, makeHome, runCli } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { shellSees } from '../helpers/setup-env.js';

const missing = needs('bash', 'zsh', 'fish');

describe.skipIf(missing)('thirdloop auth, then thirdloop setup claude (real CLI, real server, real shells)', () => {
  let server: ReferenceServer;
  let credential: string;
  const home = makeHome('thirdloop-setup-e2e-');
  const h = (...parts: string[]) => path.join(home.home, ...parts);
  const shellEnv = { XDG_CONFIG_HOME: h('.config') };

  beforeAll(async () => {
    server = await startReferenceServer();
    const user = await server.addUser('ada@example.com');
    ({ credential } = await server.createKey(user.email, { name: 'laptop' }));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    home.cleanup();
  });

  it('signs in, configures three shells, and new shells reach the instance', async () => {
    const bashrc = '# ~/.bashrc\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\nalias ll="ls -l"\n';
    writeFileSync(h('.bashrc'), bashrc);

    const setupBefore = await runCli(['setup', 'claude', '--shell', 'bash'], { home: home.home });
    expect(setupBefore.exitCode).toBe(4);
    expect(setupBefore.stderr).toContain('Run `thirdloop auth --api-url URL`.');

    const auth = await runCli(['auth', '--api-url', server.url, '--with-key'], { home: home.home, input: `${credential}\n` });
    expect(auth.exitCode, auth.stderr).toBe(0);

    const setup = await runCli(['setup', 'claude', '--shell', 'bash,zsh,fish'], { home: home.home });
    expect(setup.exitCode, setup.stderr).toBe(0);
    expect(setup.stderr).toContain('Configured bash, zsh and fish to route Claude Code through Third Loop.');
    expect(setup.stderr).toContain('open a new one');
    expect(setup.stdout + setup.stderr).not.toContain(credential.split(';')[1]);

    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      expect(shellSees(shell, home.home, shellEnv)).toBe(`${server.url}\n${credential}`);
    }

    // The key is only in thirdloop's own 0600 files, never in a profile.
    const secret = credential.split(';')[1]!;
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    for (const file of walk(home.home)) {
      if (!readFileSync(file, 'utf8').includes(secret)) continue;
      expect(path.dirname(file)).toBe(h('.config', 'thirdloop'));
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }

    const lastUsed = async () => {
      const status = await runCli(['status', '--json'], { home: home.home });
      expect(status.exitCode, status.stderr).toBe(0);
      return JSON.parse(status.stdout).key.last_used_at as string | null;
    };
    const usedBefore = await lastUsed();

    // A client that reads the two variables, as Claude Code does, gets an answer through the gateway.
    const script =
      "import('@anthropic-ai/sdk').then(async ({ default: Anthropic }) => {" +
      " const m = await new Anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });" +
      ' process.stdout.write(m.type); })';
    const answer = execFileSync('bash', ['-ic', `cd ${JSON.stringify(ROOT)} && "${process.execPath}" -e "$0"`, script], {
      env: { HOME: home.home, PATH: process.env.PATH, ...shellEnv },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    expect(answer).toBe('message');
    // `thirdloop status` shows "Last used" move (the gateway may record it a moment later).
    let usedAfter = await lastUsed();
    for (let i = 0; i < 20 && usedAfter === usedBefore; i++) {
      await new Promise((r) => setTimeout(r, 250));
      usedAfter = await lastUsed();
    }
    expect(usedAfter).not.toBeNull();
    expect(usedAfter).not.toBe(usedBefore);

    // Running it again changes nothing.
    const again = await runCli(['setup', 'claude', '--shell', 'bash,zsh,fish', '--json'], { home: home.home });
    expect(again.exitCode, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report.files.every((f: { action: string }) => f.action === 'unchanged')).toBe(true);
    expect(readFileSync(h('.bashrc'), 'utf8').split('# >>> thirdloop >>>')).toHaveLength(2);
  }, 180_000); // a bound on a hang: five CLI runs, each of two setups starting nine terminals, on a loaded machine

  it('--key-helper: Claude Code’s apiKeyHelper prints the stored credential', async () => {
    const result = await runCli(['setup', 'claude', '--key-helper'], { home: home.home });
    expect(result.exitCode, result.stderr).toBe(0);
    const settings = JSON.parse(readFileSync(h('.claude', 'settings.json'), 'utf8'));
    expect(settings.env.ANTHROPIC_BASE_URL).toBe(server.url);
    // Claude Code runs the helper through the shell, with the user's HOME.
    const printed = execFileSync('/bin/sh', ['-c', settings.apiKeyHelper], {
      env: { HOME: home.home, PATH: process.env.PATH, ...shellEnv },
      encoding: 'utf8',
    });
    expect(printed.trim()).toBe(credential);
  });

  it('--undo --yes takes everything back', async () => {
    const dry = await runCli(['setup', 'claude', '--undo', '--dry-run'], { home: home.home });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('-# >>> thirdloop >>>');
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(true);

    const undo = await runCli(['setup', 'claude', '--undo', '--yes'], { home: home.home });
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe('# ~/.bashrc\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\nalias ll="ls -l"\n');
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(false);
    expect(existsSync(h('.config', 'fish', 'conf.d', 'thirdloop.fish'))).toBe(false);
    expect(existsSync(h('.claude', 'settings.json'))).toBe(false);
    for (const shell of ['bash', 'zsh', 'fish'] as const) expect(shellSees(shell, home.home, shellEnv)).toBe('\n');
  });
});
