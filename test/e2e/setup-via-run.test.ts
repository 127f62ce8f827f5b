/**
 * `thirdloop setup claude --via-run` as a user lives it: a lived-in HOME signed in with the key in
 * the keychain (gnome-keyring in its own D-Bus session), set up first the usual way (exports), then
 * switched to --via-run. Judged by execution: new bash, zsh and fish terminals started as a terminal
 * starts them run `claude` — here a stand-in for Claude Code in ~/.local/bin that makes two calls
 * with the official Anthropic SDK — through the shell's function and the real `thirdloop run`, and
 * get the offline model's answers from the reference server; the key is in no file under HOME and
 * in no terminal's environment; doctor names each shell's mode; a rotation writes no key to disk;
 * a Claude Code setting that would bypass the broker, and an alias defined after the block, are
 * caught by the real shells; --undo gives the home back exactly.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, makeHome, runCli, type CliResult } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { claudeCodeBinDir, needsClaudeCode } from '../helpers/claude-code.js';
import { SHELL_CACHES, diffHome, snapshotHome, type HomeSnapshot } from '../helpers/homes.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

const missing = keyringMissing() ?? needs('bash', 'zsh', 'fish');
const CHILD = path.join(ROOT, 'test', 'fixtures', 'run', 'child.mjs');
const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** A Debian ~/.bashrc, with the alias Claude Code's old local installer added. */
const BASHRC = [
  '# ~/.bashrc: executed by bash(1) for non-login shells.',
  '',
  '# If not running interactively, don\'t do anything',
  'case $- in',
  '    *i*) ;;',
  '      *) return;;',
  'esac',
  '',
  'HISTCONTROL=ignoreboth',
  'shopt -s histappend',
  'alias ll=\'ls -alF\'',
  'alias claude="$HOME/.claude/local/claude"',
  '',
].join('\n');
const ZSHRC = ['# Lines configured by zsh-newuser-install', 'HISTFILE=~/.histfile', 'HISTSIZE=1000', 'bindkey -e', ''].join('\n');
const FISH_CONFIG = ['if status is-interactive', '    # Commands to run in interactive sessions can go here', 'end', ''].join('\n');

describe.skipIf(missing)('setup claude --via-run (real CLI, keychain, shells, reference server)', { timeout: 240_000 }, () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  const home = makeHome('thirdloop-via-run-');
  const h = (...parts: string[]) => path.join(home.home, ...parts);
  let key: { id: string; secret: string; credential: string };
  let original: HomeSnapshot;
  // The PATH of the user's terminals: Claude Code's native installer puts `claude` in ~/.local/bin.
  const PATH = `${h('.local', 'bin')}:${process.env.PATH}`;
  const env = (extra: Record<string, string | undefined> = {}) => ({ ...keyring.env, PATH, SHELL: '/bin/bash', ...extra });
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, { home: home.home, env: env(extra) });
  const noSecret = (r: CliResult) => {
    expect(r.stdout).not.toContain(key.secret);
    expect(r.stderr).not.toContain(key.secret);
  };

  /** A new terminal: only what a desktop session hands it (HOME, PATH, the session bus, TERM). */
  const terminal = (shell: string, flags: string, command: string, path_ = PATH) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        shell,
        [flags, command],
        { cwd: home.home, env: { HOME: home.home, PATH: path_, TERM: 'xterm-256color', USER: process.env.USER ?? 'user', ...keyring.env }, timeout: 90_000 },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(); // nothing typed after the command: `claude -p` reads a piped stdin to its end
    });

  const filesHolding = (needle: string) => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) return walk(full);
        return e.isFile() && readFileSync(full).includes(needle) ? [path.relative(home.home, full)] : [];
      });
    return walk(home.home);
  };

  const lastUsed = async () => {
    const status = await cli(['status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    return JSON.parse(status.stdout).key.last_used_at as string | null;
  };

  beforeAll(async () => {
    [server, keyring] = await Promise.all([startReferenceServer(), startKeyring()]);
    const user = await server.addUser('ada@example.com');
    key = await server.createKey(user.email, { name: 'laptop' });
    writeFileSync(h('.bashrc'), BASHRC);
    writeFileSync(h('.profile'), '# ~/.profile\nif [ -d "$HOME/.local/bin" ] ; then\n    PATH="$HOME/.local/bin:$PATH"\nfi\n');
    writeFileSync(h('.zshrc'), ZSHRC);
    mkdirSync(h('.config', 'fish'), { recursive: true });
    writeFileSync(h('.config', 'fish', 'config.fish'), FISH_CONFIG);
    mkdirSync(h('.local', 'bin'), { recursive: true });
    // Claude Code stands in as an Anthropic SDK client: it reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL as Claude Code does.
    writeFileSync(h('.local', 'bin', 'claude'), `#!/bin/sh\nif [ "$1" = env ]; then exec cat /proc/self/environ; fi\nexec '${process.execPath}' '${CHILD}' sdk\n`);
    chmodSync(h('.local', 'bin', 'claude'), 0o755);
    original = snapshotHome(home.home);

    // Signed in the default way: the key goes to the keychain.
    const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: home.home, env: env(), input: key.credential });
    expect(auth.exitCode, auth.stderr).toBe(0);
    expect(await keyring.lookup('default')).toBe(key.credential);
    const exports = await cli(['setup', 'claude', '--shell', 'bash,zsh,fish', '--yes']);
    expect(exports.exitCode, exports.stderr).toBe(0);
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([server?.stop(), keyring?.stop()]);
    home.cleanup();
  });

  it('switches every shell to --via-run: the key leaves the disk, the real shells check `claude` through `thirdloop run`', async () => {
    expect(filesHolding(key.secret)).toEqual(['.config/thirdloop/env.fish', '.config/thirdloop/env.sh']);
    const setup = await cli(['setup', 'claude', '--via-run', '--shell', 'bash,zsh,fish', '--yes']);
    expect(setup.exitCode, setup.stderr).toBe(0);
    noSecret(setup);
    expect(setup.stderr).toContain('Configured bash, zsh and fish so that `claude` runs through `thirdloop run`: no key in new terminals.');
    expect(setup.stderr).toMatch(/removed\s+~\/\.config\/thirdloop\/env\.sh\s+\(held the key\)/);
    expect(setup.stderr).toMatch(/created\s+~\/\.config\/thirdloop\/run\.sh\s+\(no key\)/);
    for (const shell of SHELLS) {
      expect(setup.stderr).toMatch(new RegExp(`✓ ${shell}\\s+${shell} -i, ${shell} -l, ${shell} -il: \`claude\` goes through \`thirdloop run\``));
    }
    // No file under HOME holds the key any more (it is in the keychain alone), and no profile changed mode.
    expect(filesHolding(key.secret)).toEqual([]);
    // Its ID is in thirdloop's profile, as for every sign-in; no file holds the secret.
    expect(filesHolding(key.id)).toEqual(['.config/thirdloop/config.json']);
    expect(statSync(h('.config', 'thirdloop', 'run.sh')).mode & 0o777).toBe(0o644);
    expect(await keyring.lookup('default')).toBe(key.credential);
  });

  it('`claude` typed in new bash, zsh and fish terminals gets answers through the instance, with no key in the terminal', async () => {
    const before = await lastUsed();
    for (const shell of SHELLS) {
      for (const flags of ['-ic', '-lc']) {
        const answer = await terminal(shell, flags, 'claude');
        expect(answer.code, `${shell} ${flags}: ${answer.stderr}`).toBe(0);
        const parsed = JSON.parse(answer.stdout.trim().split('\n').at(-1)!) as { plain: string; streamed: string };
        expect(parsed.plain, `${shell} ${flags}`).toMatch(/offline model/);
        expect(parsed.streamed).toMatch(/offline model/);
        expect(answer.stdout + answer.stderr).not.toContain(key.secret);
      }
      // The terminal itself carries no key; what `claude` gets is a run token and the broker.
      const plain = await terminal(shell, '-ic', 'env');
      expect(plain.stdout).not.toContain(key.secret);
      expect(plain.stdout).not.toMatch(/^ANTHROPIC_(API_KEY|BASE_URL)=/m);
      const inside = await terminal(shell, '-ic', 'claude env');
      const vars = inside.stdout.split('\0');
      expect(vars).toContainEqual(expect.stringMatching(/^ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:\d+$/));
      expect(vars).toContainEqual(expect.stringMatching(/^ANTHROPIC_API_KEY=tlr_/));
      expect(inside.stdout).not.toContain(key.secret);
    }
    let after = await lastUsed();
    for (let i = 0; i < 20 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await lastUsed();
    }
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
  });

  it.skipIf(needsClaudeCode())('the real Claude Code, typed as `claude` in a new terminal, answers through `thirdloop run`; it leaves no key on disk', async () => {
    const before = await lastUsed();
    // Claude Code installed where the shell finds it first (as `npm install -g` or its installer puts it).
    const answer = await terminal('bash', '-ic', 'claude -p --model claude-sonnet-4-5 "Say hello in five words"', `${claudeCodeBinDir()}:${PATH}`);
    expect(answer.code, answer.stderr).toBe(0);
    expect(answer.stdout).toMatch(/offline model/);
    expect(answer.stdout + answer.stderr).not.toContain(key.secret);
    let after = await lastUsed();
    for (let i = 0; i < 20 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await lastUsed();
    }
    expect(after).not.toBe(before);
    // Claude Code wrote its own files under HOME (~/.claude.json, ~/.claude/): none holds the key.
    expect(existsSync(h('.claude.json'))).toBe(true);
    expect(filesHolding(key.secret)).toEqual([]);
  });

  it('doctor reports each shell’s mode, judged through the shells; this terminal without a key is right', async () => {
    const doctor = await cli(['doctor', '--json']);
    noSecret(doctor);
    const results = JSON.parse(doctor.stdout) as { results?: Array<{ check: string; status: string; mode?: string; message: string }> } | Array<{ check: string; status: string; mode?: string; message: string }>;
    const list = Array.isArray(results) ? results : results.results!;
    const by = (name: string) => list.find((r) => r.check === name);
    for (const shell of SHELLS) {
      expect(by(`shell:${shell}`), JSON.stringify(list)).toMatchObject({ status: 'ok', mode: 'via-run' });
    }
    expect(by('run-file:run.sh')?.status).toBe('ok');
    expect(by('run-file:run.fish')?.status).toBe('ok');
    expect(by('env-file:env.sh')).toBeUndefined();
    expect(by('environment')).toMatchObject({ status: 'ok' });
    expect(doctor.exitCode, doctor.stderr).toBe(0);
  });

  it('a rotation puts the new key in the keychain only; `claude` goes on working with it', async () => {
    const rotated = await cli(['keys', 'rotate', 'laptop', '--yes', '--json']);
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const stored = await keyring.lookup('default');
    expect(stored).not.toBe(key.credential);
    const newSecret = stored!.split(';')[1]!;
    expect(filesHolding(newSecret)).toEqual([]);
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(false);
    const answer = await terminal('bash', '-ic', 'claude');
    expect(answer.code, answer.stderr).toBe(0);
    expect(answer.stdout).toMatch(/offline model/);
    key = { id: stored!.split(';')[0]!, secret: newSecret, credential: stored! };
  });

  it('an alias defined after the block is found by the real shell, named by doctor, and setup refuses to call it done', async () => {
    const zshrc = readFileSync(h('.zshrc'));
    appendFileSync(h('.zshrc'), 'alias claude="$HOME/.claude/local/claude"\n');
    const doctor = await cli(['doctor', '--json']);
    expect(doctor.exitCode).toBe(1);
    const list = JSON.parse(doctor.stdout) as Array<{ check: string; status: string; message: string }> | { results: Array<{ check: string; status: string; message: string }> };
    const zsh = (Array.isArray(list) ? list : list.results).find((r) => r.check === 'shell:zsh')!;
    expect(zsh.status).toBe('fail');
    expect(zsh.message).toMatch(/~\/\.zshrc line \d+ defines `claude` again after the thirdloop block/);
    const again = await cli(['setup', 'claude', '--via-run', '--shell', 'zsh', '--yes']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/New zsh terminals (would not|do not) get `claude` through `thirdloop run`/);
    writeFileSync(h('.zshrc'), zshrc);
  });

  it('Claude Code settings that would bypass the broker: the check fails with run’s reason, and the change is taken back', async () => {
    // Back to exports for bash, then try --via-run again with a settings.json pointing Claude Code elsewhere.
    const exports = await cli(['setup', 'claude', '--shell', 'bash', '--yes']);
    expect(exports.exitCode, exports.stderr).toBe(0);
    const bashrc = readFileSync(h('.bashrc'));
    mkdirSync(h('.claude'), { recursive: true });
    writeFileSync(h('.claude', 'settings.json'), JSON.stringify({ env: { ANTHROPIC_BASE_URL: 'https://api.anthropic.com' } }));
    const refused = await cli(['setup', 'claude', '--via-run', '--shell', 'bash', '--yes']);
    expect(refused.exitCode).toBe(1);
    noSecret(refused);
    expect(refused.stderr).toContain("Claude Code's settings would take this session out of `thirdloop run`");
    expect(refused.stderr).toContain('took its changes for that shell back');
    // bash is as it was: the exports block, and env.sh (which it sources) is back.
    expect(readFileSync(h('.bashrc')).equals(bashrc)).toBe(true);
    expect(readFileSync(h('.config', 'thirdloop', 'env.sh'), 'utf8')).toContain(key.credential);
    const sees = await terminal('bash', '-ic', 'printf %s "$ANTHROPIC_API_KEY"');
    expect(sees.stdout).toBe(key.credential);
    writeFileSync(h('.claude', 'settings.json'), '{}\n');
  });

  it('one shell alone: the report names only that shell, setting up and undoing (run.sh serves zsh too, but zsh was never set up)', async () => {
    const other = makeHome('thirdloop-via-run-bash-');
    try {
      writeFileSync(path.join(other.home, '.bashrc'), BASHRC);
      const signIn = await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', server.url], { home: other.home, env: env(), input: key.credential });
      expect(signIn.exitCode, signIn.stderr).toBe(0);
      const setup = await runCli(['setup', 'claude', '--via-run', '--shell', 'bash', '--yes'], { home: other.home, env: env() });
      expect(setup.exitCode, setup.stderr).toBe(0);
      expect(setup.stderr).toContain('✓ Configured bash so that');
      const undo = await runCli(['setup', 'claude', '--undo', '--yes'], { home: other.home, env: env() });
      expect(undo.exitCode, undo.stderr).toBe(0);
      expect(undo.stderr).toContain('✓ Removed the thirdloop set-up for bash.');
      expect(readFileSync(path.join(other.home, '.bashrc'), 'utf8')).toBe(BASHRC);
    } finally {
      other.cleanup();
    }
  });

  it('--undo gives the home back exactly as it was before the first setup', async () => {
    const undo = await cli(['setup', 'claude', '--undo', '--yes']);
    expect(undo.exitCode, undo.stderr).toBe(0);
    noSecret(undo);
    // Not ours: thirdloop's own state, and what Claude Code writes for itself (~/.claude, ~/.claude.json).
    const ignore = new RegExp(`${SHELL_CACHES.source}|^\\.config\\/thirdloop(\\/.*)?$|^\\.claude(\\.json.*|\\/.*)?$|^\\.histfile$`);
    expect(diffHome(original, snapshotHome(home.home), ignore)).toEqual([]);
    expect(readdirSync(h('.config', 'thirdloop')).sort()).toEqual(['config.json']);
    const after = await terminal('bash', '-ic', 'type -t claude; echo "[$ANTHROPIC_API_KEY]"');
    expect(after.stdout).toBe('alias\n[]\n');
  });
});
