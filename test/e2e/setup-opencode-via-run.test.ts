/**
 * `thirdloop setup opencode --via-run` end to end, as a person uses it: a lived-in HOME signed in with
 * the default storage (the OS keychain: gnome-keyring in its own D-Bus session) against the reference
 * server, its shells first set up by `setup claude` (exports), a project folder; then the real bash
 * started as a terminal runs `opencode` there: its function starts the real `thirdloop run`, which
 * points the real opencode at its broker, and the offline model answers. No file and no shell
 * environment holds the key. Then `setup opencode --undo` takes `opencode` out of the functions and
 * `setup claude --undo` gives the profiles back byte for byte.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli, startCli } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { buildHome, type BuiltHome } from '../helpers/homes.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { needsOpencode, opencodeBinary } from '../helpers/opencode.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { runCliSafe } from '../robustness/tree.js';

const missing = keyringMissing() ?? needs('bash', 'zsh', 'fish') ?? needsOpencode();

/** Debian's skeleton .bashrc, shortened: the interactive guard, history, a prompt, aliases, a PATH line. */
const BASHRC = `# ~/.bashrc: executed by bash(1) for non-login shells.
case $- in
    *i*) ;;
      *) return;;
esac
HISTCONTROL=ignoreboth
shopt -s histappend
HISTSIZE=1000
[ -x /usr/bin/lesspipe ] && eval "$(SHELL=/bin/sh lesspipe)"
PS1='\${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ '
alias ls='ls --color=auto'
alias ll='ls -alF'
if [ -f ~/.bash_aliases ]; then
    . ~/.bash_aliases
fi
export PATH="$HOME/.local/bin:$PATH"
`;
const PROFILE = `# ~/.profile: executed by the command interpreter for login shells.
if [ -n "$BASH_VERSION" ]; then
    if [ -f "$HOME/.bashrc" ]; then
	. "$HOME/.bashrc"
    fi
fi
if [ -d "$HOME/bin" ] ; then
    PATH="$HOME/bin:$PATH"
fi
`;
const ZSHRC = `# ~/.zshrc
HISTFILE=~/.zsh_history
HISTSIZE=10000
SAVEHIST=10000
setopt appendhistory autocd
bindkey -e
autoload -Uz compinit && compinit -u
alias gs='git status'
export EDITOR=vim
`;
const FISH = `if status is-interactive
    set -g fish_greeting ''
    abbr -a gs git status
end
fish_add_path -g $HOME/.local/bin
`;

const lived = (): BuiltHome =>
  buildHome({
    name: 'opencode via run',
    entries: [
      { file: '.bashrc', bytes: BASHRC },
      { file: '.bash_aliases', bytes: "alias gl='git log --oneline'\n" },
      { file: '.profile', bytes: PROFILE },
      { file: '.zshrc', bytes: ZSHRC },
      { file: '.config/fish/config.fish', bytes: FISH },
      { file: '.gitconfig', bytes: '[user]\n\tname = Ada\n\temail = ada@example.com\n' },
      { file: '.ssh/config', bytes: 'Host *\n  AddKeysToAgent yes\n', mode: 0o600 },
      { dir: '.local/bin' },
      { file: 'code/app/package.json', bytes: '{\n  "name": "app",\n  "private": true\n}\n' },
      { file: 'code/app/README.md', bytes: '# app\n' },
    ],
  });

const PROFILES = ['.bashrc', '.profile', '.zshrc', '.config/fish/config.fish'];

/** Every regular file under `root` (no FIFOs or devices opened). */
const walk = (root: string): string[] =>
  readdirSync(root, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(root, e.name);
    if (e.isDirectory()) return walk(full);
    return e.isFile() ? [full] : [];
  });

describe.skipIf(missing)('setup opencode --via-run (real CLI, keychain, server, shells, opencode)', { timeout: 120_000 }, () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  let home: BuiltHome;
  let key: { id: string; secret: string; credential: string };
  let project: string;
  const originals = new Map<string, Buffer>();
  const opencodeDir = () => path.dirname(opencodeBinary()!);

  /** The environment a terminal on this desktop starts with: the session bus, opencode installed, nothing of ours. */
  const terminal = (extra: Record<string, string> = {}) =>
    cliEnv(home.dir, { ...keyring.env, PATH: `${opencodeDir()}:${process.env.PATH}`, TERM: 'dumb', NO_COLOR: '1', OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_MODELS_FETCH: '1', ...extra });
  const cli = (args: string[], cwd = home.dir) => runCliSafe(args, { home: home.dir, cwd, env: terminal(), timeoutMs: 90_000 });
  const shell = (program: 'bash' | 'zsh' | 'fish', script: string) =>
    execFileSync(program, ['-ic', script], { cwd: home.dir, env: terminal(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const noSecret = (r: { stdout: string; stderr: string }) => {
    expect(r.stdout).not.toContain(key.secret);
    expect(r.stderr).not.toContain(key.secret);
  };
  const lastUsed = async () => {
    const status = await cli(['status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    return JSON.parse(status.stdout).key.last_used_at as string | null;
  };

  beforeAll(async () => {
    [server, keyring] = await Promise.all([startReferenceServer(), startKeyring()]);
    home = lived();
    project = path.join(home.dir, 'code', 'app');
    for (const rel of PROFILES) originals.set(rel, readFileSync(path.join(home.dir, rel)));
    const user = await server.addUser('ada@example.com');
    key = await server.createKey(user.email, { name: 'laptop' });
    const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: home.dir, env: keyring.env, input: key.credential });
    expect(auth.exitCode, auth.stderr).toBe(0);
    expect(await keyring.lookup('default')).toBe(key.credential);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([server?.stop(), keyring?.stop()]);
    home?.cleanup();
  });

  it('--via-run with --with-env is a usage error; --dry-run shows the functions and writes nothing', async () => {
    const both = await cli(['setup', 'opencode', '--via-run', '--with-env'], project);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('--with-env exports the key in the shells and --via-run keeps it out of them; choose one.');
    const dry = await cli(['setup', 'opencode', '--via-run', '--dry-run'], project);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^\+opencode\(\) \{ .* run -- opencode "\$@"; \}$/m);
    expect(dry.stdout).toMatch(/^\+claude\(\) \{ .* run -- claude "\$@"; \}$/m);
    expect(dry.stdout).toContain('+# >>> thirdloop >>>');
    expect(existsSync(path.join(project, 'opencode.json'))).toBe(false);
    expect(existsSync(path.join(home.dir, '.config/thirdloop/run.sh'))).toBe(false);
    for (const [rel, bytes] of originals) expect(readFileSync(path.join(home.dir, rel)).equals(bytes), rel).toBe(true);
  });

  it('switches shells that exported the key (setup claude) to functions, and `opencode` typed in bash answers through thirdloop run', { timeout: 360_000 }, async () => {
    // Set up as most users already are: the key exported by every shell.
    const exported = await cli(['setup', 'claude', '--shell', 'bash,zsh,fish']);
    expect(exported.exitCode, exported.stderr).toBe(0);
    expect(shell('bash', 'printf %s "$ANTHROPIC_API_KEY"')).toBe(key.credential);

    const setup = await cli(['setup', 'opencode', '--via-run', '--yes'], project);
    expect(setup.exitCode, setup.stderr).toBe(0);
    noSecret(setup);
    expect(setup.stderr).toContain('Configured bash, zsh and fish so that `claude` and `opencode` run through `thirdloop run`: no key in new terminals.');
    expect(setup.stderr).toContain('`claude` is wrapped too: in this mode it always is.');
    // The switch from exports is said, with where the key was.
    expect(setup.stderr).toMatch(/bash, zsh and fish exported the key until now \(`thirdloop setup claude`\); --via-run switches them: .*the key left ~\/\.config\/thirdloop\/env\.sh and ~\/\.config\/thirdloop\/env\.fish\./);
    // Each shell was judged by running `claude` and `opencode` through its function and thirdloop run.
    for (const name of ['bash', 'zsh', 'fish']) expect(setup.stderr).toMatch(new RegExp(`✓ ${name}\\s.*: \`claude\` and \`opencode\` go through \`thirdloop run\`, no key in the environment`));
    expect(existsSync(path.join(home.dir, '.config/thirdloop/env.sh'))).toBe(false);
    expect(existsSync(path.join(home.dir, '.config/thirdloop/env.fish'))).toBe(false);
    expect(readFileSync(path.join(project, 'opencode.json'), 'utf8')).toContain('{env:ANTHROPIC_API_KEY}');
    for (const runFile of ['run.sh', 'run.fish']) {
      const text = readFileSync(path.join(home.dir, '.config/thirdloop', runFile), 'utf8');
      expect(text).toMatch(/-- opencode/);
      expect(text).toMatch(/-- claude/);
    }

    // Again, for scripts: nothing left to change, and --json says which commands go through run.
    const again = await cli(['setup', 'opencode', '--via-run', '--json'], project);
    expect(again.exitCode, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout) as { shells: { mode: string; commands: string[]; shells: string[]; failed: string[]; files: Array<{ action: string }> } };
    expect(report.shells).toMatchObject({ mode: 'via-run', commands: ['claude', 'opencode'], shells: ['bash', 'zsh', 'fish'], failed: [] });
    expect(report.shells.files.every((f) => f.action === 'unchanged')).toBe(true);

    // New terminals export no key, in any shell.
    for (const program of ['bash', 'zsh', 'fish'] as const) {
      const env = shell(program, 'env');
      expect(env).not.toMatch(/^ANTHROPIC_API_KEY=/m);
      expect(env).not.toContain(key.secret);
    }

    // The real chain: bash as a terminal, `opencode` its function, the real thirdloop run and opencode.
    const before = await lastUsed();
    const answered = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-ic', `cd ${JSON.stringify(project)} && opencode run "hello"`], { cwd: home.dir, env: terminal(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.once('error', reject);
      child.once('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
    });
    expect(answered.code, `${answered.stderr}${answered.stdout}`).toBe(0);
    expect(answered.stdout).toContain('offline model');
    noSecret(answered);
    let after = await lastUsed();
    for (let i = 0; i < 20 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await lastUsed();
    }
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);

    // No file under HOME (opencode's own logs and data included) or in the project holds the secret.
    for (const file of walk(home.dir)) {
      expect(readFileSync(file).includes(key.secret), path.relative(home.dir, file)).toBe(false);
    }
  });

  it('doctor names the wrapped commands and judges both through the shells', async () => {
    const doctor = await cli(['doctor', '--json'], project);
    noSecret(doctor);
    const results = JSON.parse(doctor.stdout) as Array<{ check: string; status: string; message: string }>;
    const bash = results.find((r) => r.check === 'shell:bash')!;
    expect(bash.status, bash.message).toBe('ok');
    expect(bash.message).toContain('`claude` and `opencode` start through `thirdloop run`');
    const runFile = results.find((r) => r.check === 'run-file:run.sh')!;
    expect(runFile.message).toContain('defines `claude` and `opencode` as `thirdloop run -- <command>` and holds no key');
  });

  it('setup opencode --undo takes `opencode` out of the functions (claude stays); setup claude --undo gives the profiles back byte for byte', { timeout: 180_000 }, async () => {
    expect(shell('bash', 'type -t opencode').trim()).toBe('function');
    const runSh = readFileSync(path.join(home.dir, '.config/thirdloop/run.sh'));
    const dry = await cli(['setup', 'opencode', '--undo', '--dry-run'], project);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^-opencode\(\) \{ .* run -- opencode "\$@"; \}$/m);
    expect(dry.stdout).not.toMatch(/^-claude\(\)/m);
    expect(readFileSync(path.join(home.dir, '.config/thirdloop/run.sh')).equals(runSh)).toBe(true);
    const undo = await cli(['setup', 'opencode', '--undo'], project);
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(undo.stderr).toContain('Took `opencode` out of ~/.config/thirdloop/run.sh');
    expect(existsSync(path.join(project, 'opencode.json'))).toBe(false);
    for (const runFile of ['run.sh', 'run.fish']) {
      const text = readFileSync(path.join(home.dir, '.config/thirdloop', runFile), 'utf8');
      expect(text).not.toMatch(/^(unalias opencode|opencode\(\)|function opencode)|-- opencode/m);
      expect(text).toMatch(/-- claude/);
    }
    // In new terminals `opencode` is the program again, and `claude` still the function.
    expect(shell('bash', 'type -t opencode; type -t claude').split('\n')).toEqual(['file', 'function', '']);
    expect(shell('zsh', 'whence -w opencode claude').trim().split('\n')).toEqual(['opencode: command', 'claude: function']);
    expect(shell('fish', 'type -t opencode; type -t claude').trim().split('\n')).toEqual(['file', 'function']);
    // Running it again has nothing left to take out.
    const again = await cli(['setup', 'opencode', '--undo'], project);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain('Nothing to undo');

    const all = await cli(['setup', 'claude', '--undo', '--yes']);
    expect(all.exitCode, all.stderr).toBe(0);
    for (const [rel, bytes] of originals) expect(readFileSync(path.join(home.dir, rel)).equals(bytes), rel).toBe(true);
    expect(existsSync(path.join(home.dir, '.config/thirdloop/run.sh'))).toBe(false);
    expect(existsSync(path.join(home.dir, '.config/fish/conf.d/thirdloop.fish'))).toBe(false);
    expect(shell('bash', 'type -t claude || echo none').trim()).toBe('none');
  });

  it('an alias of `opencode` after the thirdloop block fails the check, is named, and the run file is taken back', { timeout: 180_000 }, async () => {
    const other = buildHome({ name: 'opencode alias', entries: [{ file: '.bashrc', bytes: BASHRC }, { dir: 'app' }] });
    try {
      const env = cliEnv(other.dir, { ...keyring.env, PATH: `${opencodeDir()}:${process.env.PATH}`, SHELL: '/bin/bash' });
      const run = (args: string[]) => runCliSafe(args, { home: other.dir, cwd: path.join(other.dir, 'app'), env, timeoutMs: 90_000 });
      const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: other.dir, env: keyring.env, input: key.credential });
      expect(auth.exitCode, auth.stderr).toBe(0);
      const claude = await run(['setup', 'claude', '--via-run']);
      expect(claude.exitCode, claude.stderr).toBe(0);
      // The user's own shortcut, below the block: it would take `opencode` past thirdloop run.
      const bashrc = path.join(other.dir, '.bashrc');
      writeFileSync(bashrc, `${readFileSync(bashrc, 'utf8')}alias opencode='opencode --continue'\n`);
      const line = readFileSync(bashrc, 'utf8').split('\n').length - 1;
      const runFile = readFileSync(path.join(other.dir, '.config/thirdloop/run.sh'));

      const setup = await run(['setup', 'opencode', '--via-run', '--yes']);
      expect(setup.exitCode, setup.stderr).toBe(1);
      noSecret(setup);
      expect(setup.stderr).toMatch(new RegExp(`✗ bash\\s+bash -i sees \`opencode\` [^:]*: ~/\\.bashrc line ${line} defines \`opencode\` again after the thirdloop block`));
      expect(setup.stderr).toContain('New bash terminals would not get `opencode` through `thirdloop run`, so thirdloop took its shell changes for that shell back.');
      // `claude` alone is wrapped, as before.
      expect(readFileSync(path.join(other.dir, '.config/thirdloop/run.sh')).equals(runFile)).toBe(true);
    } finally {
      other.cleanup();
    }
  });

  it('setup opencode without --via-run, on shells set up with --via-run: no offer to export the key (even with --yes on a terminal), the way to wrap opencode is named', { timeout: 180_000 }, async () => {
    const other = buildHome({ name: 'opencode after via-run', entries: [{ file: '.bashrc', bytes: BASHRC }] });
    try {
      const env = { ...keyring.env, PATH: `${opencodeDir()}:${process.env.PATH}`, SHELL: '/bin/bash' };
      const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: other.dir, env: keyring.env, input: key.credential });
      expect(auth.exitCode, auth.stderr).toBe(0);
      const claude = await runCli(['setup', 'claude', '--via-run'], { home: other.dir, env });
      expect(claude.exitCode, claude.stderr).toBe(0);
      const runFile = readFileSync(path.join(other.dir, '.config/thirdloop/run.sh'));
      const bashrc = readFileSync(path.join(other.dir, '.bashrc'));

      // On a terminal, --yes would accept the offer to export the key: it must not be made.
      const setup = await startCli(['setup', 'opencode', '--global', '--yes'], { home: other.dir, env, tty: true, timeoutMs: 90_000 }).exited;
      // eslint-disable-next-line no-control-regex
      const shown = setup.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      expect(setup.exitCode, shown).toBe(0);
      expect(shown).toContain('Your shells are set up with --via-run: they export no key, so `opencode` started there has none.');
      expect(shown).toContain('Next: `thirdloop setup opencode --via-run`, then run `opencode` in a new terminal');
      expect(existsSync(path.join(other.dir, '.config/thirdloop/env.sh'))).toBe(false);
      expect(readFileSync(path.join(other.dir, '.config/thirdloop/run.sh')).equals(runFile)).toBe(true);
      expect(readFileSync(path.join(other.dir, '.bashrc')).equals(bashrc)).toBe(true);
      expect(setup.stdout).not.toContain(key.secret);
    } finally {
      other.cleanup();
    }
  });

  it('a shell left exporting the key while others use --via-run is named, with the command that switches it (opencode included)', { timeout: 180_000 }, async () => {
    const other = buildHome({ name: 'mixed modes', entries: [{ file: '.bashrc', bytes: BASHRC }, { file: '.zshrc', bytes: ZSHRC }, { dir: 'app' }] });
    try {
      const env = cliEnv(other.dir, { ...keyring.env, PATH: `${opencodeDir()}:${process.env.PATH}`, SHELL: '/bin/bash', TERM: 'dumb' });
      const run = (args: string[]) => runCliSafe(args, { home: other.dir, cwd: path.join(other.dir, 'app'), env, timeoutMs: 90_000 });
      const auth = await runCli(['auth', '--with-key', '--api-url', server.url], { home: other.dir, env: keyring.env, input: key.credential });
      expect(auth.exitCode, auth.stderr).toBe(0);
      expect((await run(['setup', 'claude', '--shell', 'bash,zsh'])).exitCode).toBe(0);
      expect((await run(['setup', 'claude', '--via-run', '--shell', 'bash'])).exitCode).toBe(0);

      const setup = await run(['setup', 'opencode', '--via-run', '--yes']);
      expect(setup.exitCode, setup.stderr).toBe(0);
      expect(setup.stderr).toContain('Configured bash so that `claude` and `opencode` run through `thirdloop run`');
      expect(setup.stderr).toContain('zsh still exports the key (`thirdloop setup claude`), so `opencode` there is not wrapped: `thirdloop setup claude --via-run --shell zsh` switches it, with `opencode` too.');

      const zsh = await run(['setup', 'claude', '--via-run', '--shell', 'zsh']);
      expect(zsh.exitCode, zsh.stderr).toBe(0);
      expect(zsh.stderr).toContain('Configured zsh so that `claude` and `opencode` run through `thirdloop run`');
      const seen = execFileSync('zsh', ['-ic', 'whence -w opencode claude; printf "key:%s" "${ANTHROPIC_API_KEY-}"'], { cwd: other.dir, env, encoding: 'utf8', timeout: 30_000 });
      expect(seen.trim().split('\n')).toEqual(['opencode: function', 'claude: function', 'key:']);
      expect(existsSync(path.join(other.dir, '.config/thirdloop/env.sh'))).toBe(false);
    } finally {
      other.cleanup();
    }
  });
});
