/**
 * `setup claude` through its run(ctx, options) with the real context pieces
 * (config store, secret store reading THIRDLOOP_API_KEY) on a temporary HOME,
 * then the real shells. The CLI-as-a-process test is setup-claude-cli.test.ts.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'jsonc-parser';
import { run } from '../../src/commands/setup/claude.js';
import { UserError } from '../../src/core/errors.js';
import { needs } from '../helpers/components.js';
import { corpusFiles } from '../helpers/corpus.js';
import { makeCredential, shellSees, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';

/** What a terminal shows, without the prompt's colours and cursor moves. */
const plain = (text: string) => text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('cmd');
const SECRET = CREDENTIAL.split(';')[1]!;

let home: TempHome;
beforeEach(() => {
  home = tempHome();
});
afterEach(() => home.cleanup());
const h = (...parts: string[]) => path.join(home.home, ...parts);
const signedIn = (extra: Parameters<typeof testContext>[1] = {}) =>
  testContext(home.home, { credential: CREDENTIAL, apiUrl: API_URL, ...extra });

function allFiles(dir = home.home): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? allFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

describe('setup claude', () => {
  it('not signed in: exit 4 with "run thirdloop auth first", nothing written', async () => {
    writeFileSync(h('.bashrc'), 'x\n');
    const { ctx } = testContext(home.home);
    const error = (await run(ctx, { shell: 'bash' }).catch((e) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(4);
    expect(error.hint).toMatch(/Run `thirdloop auth --api-url URL`/);
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe('x\n');
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(false);
  });

  it('configures the default shells and says what changed and how to verify', async () => {
    writeFileSync(h('.bashrc'), '# bashrc\n');
    const { ctx, stdout, stderr } = signedIn({ env: { SHELL: '/usr/bin/zsh' } });
    await run(ctx, {});
    expect(stdout.text).toBe('');
    const err = stderr.text;
    expect(err).toContain('✓ Configured bash and zsh to route Claude Code through Third Loop.');
    expect(err).toMatch(/created  ~\/\.config\/thirdloop\/env\.sh  \(mode 0600, holds the key\)/);
    expect(err).toMatch(/updated  ~\/\.bashrc {19}\(original saved as ~\/\.bashrc\.thirdloop-backup\)/);
    // Login shells read ~/.profile (bash) and every zsh reads ~/.zshenv: both carry the block.
    expect(err).toMatch(/created  ~\/\.profile\n/);
    expect(err).toMatch(/created  ~\/\.zshenv\n/);
    expect(err).toMatch(/Checked by starting each shell as a new terminal does \(\d+\.\d s\):\n {2}✓ bash  bash -i, bash -l, bash -il: both variables, exact\n {2}✓ zsh {3}zsh -i, zsh -l, zsh -il: both variables, exact\n/);
    expect(err).toContain('Terminals that are already open keep their old environment');
    expect(err).toContain('claude ');
    expect(err).toContain('thirdloop status');
    expect(err).not.toContain(SECRET);
    // The key only in the 0600 env file.
    for (const file of allFiles()) {
      if (readFileSync(file, 'utf8').includes(SECRET)) {
        expect(path.basename(file)).toBe('env.sh');
        expect(statSync(file).mode & 0o777).toBe(0o600);
      }
    }
  });

  it('--json reports the files touched', async () => {
    const { ctx, stdout } = signedIn({ json: true });
    await run(ctx, { shell: 'bash,fish' });
    const report = JSON.parse(stdout.text);
    expect(report).toMatchObject({ action: 'setup', dryRun: false, mode: 'shells', shells: ['bash', 'fish'], failed: [] });
    expect(report.files.map((f: { path: string; action: string }) => [f.path, f.action])).toEqual([
      [h('.config', 'thirdloop', 'env.sh'), 'create'],
      [h('.config', 'thirdloop', 'env.fish'), 'create'],
      [h('.profile'), 'create'],
      [h('.bashrc'), 'create'],
      [h('.config', 'fish', 'conf.d', 'thirdloop.fish'), 'create'],
    ]);
    expect(report.checks.map((c: { shell: string; status: string; modes: Array<{ command: string }> }) => [c.shell, c.status, c.modes.map((m) => m.command)])).toEqual([
      ['bash', 'ok', ['bash -i', 'bash -l', 'bash -il']],
      ['fish', 'ok', ['fish -i', 'fish -l', 'fish -il']],
    ]);
    expect(typeof report.verifyMs).toBe('number');
    expect(stdout.text).not.toContain(SECRET);
  });

  it('--dry-run prints a unified diff on stdout and writes nothing', async () => {
    writeFileSync(h('.bashrc'), 'alias k=kubectl\n');
    const { ctx, stdout, stderr } = signedIn();
    await run(ctx, { shell: 'bash', dryRun: true });
    expect(stdout.text).toContain('--- ~/.bashrc\n+++ ~/.bashrc\n@@ -1 +1,5 @@\n alias k=kubectl\n+# >>> thirdloop >>>');
    expect(stdout.text).toContain('+export ANTHROPIC_API_KEY=<redacted>');
    expect(stdout.text).not.toContain(SECRET);
    expect(stderr.text).toContain('Dry run: 3 files would change; nothing was written.');
    expect(allFiles().filter((f) => !f.endsWith('config.json'))).toEqual([h('.bashrc')]);
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe('alias k=kubectl\n');
  });

  it('warns about a conflicting export before the block; a line after it fails bash and takes the change back', async () => {
    writeFileSync(h('.bashrc'), 'export PATH=/x\nexport ANTHROPIC_BASE_URL=http://localhost:4000\n');
    const { ctx, stderr } = signedIn();
    await run(ctx, { shell: 'bash' });
    expect(stderr.text).toContain('! ~/.bashrc line 2 also sets ANTHROPIC_BASE_URL; the thirdloop block further down wins, but remove the line to avoid confusion.');
    // A line after our block wins over it: the real bash shows it, so bash is not called configured.
    const withOverride = readFileSync(h('.bashrc'), 'utf8') + 'export ANTHROPIC_API_KEY=sk-ant-old\n';
    writeFileSync(h('.bashrc'), withOverride);
    const again = signedIn();
    const error = (await run(again.ctx, { shell: 'bash' }).catch((e) => e)) as UserError;
    expect(error.exitCode).toBe(1);
    expect(again.stderr.text).toMatch(/✗ bash {2}bash -i sees an ANTHROPIC_API_KEY that is not the Third Loop key: ~\/\.bashrc line 7 sets ANTHROPIC_API_KEY after the thirdloop block/);
    // This run changed nothing (the block was there already), so there is nothing to take back: it says so.
    expect(again.stderr.text).toContain('✗ New bash terminals do not get the Third Loop settings.');
    expect(again.stderr.text).not.toContain('sk-ant-old');
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe(withOverride);
  });

  it('a bad --shell is a usage error', async () => {
    const { ctx } = signedIn();
    const error = (await run(ctx, { shell: 'bash,csh' }).catch((e) => e)) as UserError;
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('Unknown shell "csh".');
  });

  it('--undo needs --yes without a terminal, then restores every byte', async () => {
    const original = 'export EDITOR=vim'; // no final newline
    writeFileSync(h('.bashrc'), original);
    await run(signedIn().ctx, { shell: 'bash,zsh,fish' });
    const refused = (await run(signedIn().ctx, { undo: true }).catch((e) => e)) as UserError;
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toContain('confirm with --yes');
    expect(readFileSync(h('.bashrc'), 'utf8')).not.toBe(original);

    const { ctx, stderr } = testContext(home.home); // undo does not need to be signed in
    await run(ctx, { undo: true, yes: true });
    expect(stderr.text).toContain('✓ Removed the thirdloop set-up for bash, zsh and fish.');
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe(original);
    expect(existsSync(h('.bashrc.thirdloop-backup'))).toBe(false);
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(false);
    expect(existsSync(h('.config', 'fish', 'conf.d', 'thirdloop.fish'))).toBe(false);

    const again = testContext(home.home);
    await run(again.ctx, { undo: true, yes: true });
    expect(again.stderr.text).toContain('Nothing to undo');
  });

  it('on a terminal, shows the plan and asks first; "n" changes nothing', async () => {
    writeFileSync(h('.bashrc'), 'x\n');
    const no = signedIn({ stdinIsTTY: true });
    no.stdin.write('n\n');
    const error = (await run(no.ctx, { shell: 'bash' }).catch((e) => e)) as UserError;
    expect(error.message).toBe('Cancelled.');
    expect(error.exitCode).toBe(1);
    // The question is the one prompt every command uses (core/prompt.ts), defaulting to yes here.
    expect(plain(no.stderr.text)).toMatch(/thirdloop will change:\n {2}create +~\/\.config\/thirdloop\/env\.sh\n {2}create +~\/\.profile\n {2}update +~\/\.bashrc\n[^\n]*Continue\? › \(Y\/n\)/);
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe('x\n');
    expect(existsSync(h('.config', 'thirdloop', 'env.sh'))).toBe(false);

    const yes = signedIn({ stdinIsTTY: true });
    yes.stdin.write('\n'); // the default is yes
    await run(yes.ctx, { shell: 'bash' });
    expect(readFileSync(h('.bashrc'), 'utf8')).toContain('# >>> thirdloop >>>');

    // --undo on a terminal asks too, defaulting to no.
    const undo = signedIn({ stdinIsTTY: true });
    undo.stdin.write('\n');
    await expect(run(undo.ctx, { undo: true })).rejects.toThrow('Cancelled.');
    expect(plain(undo.stderr.text)).toContain('Continue? › (y/N)');
    expect(readFileSync(h('.bashrc'), 'utf8')).toContain('# >>> thirdloop >>>');
  });

  it.skipIf(needs('bash'))('a ~/.bash_profile that does not source ~/.bashrc gets its own block: login shells see the variables', async () => {
    writeFileSync(h('.bash_profile'), 'export PATH=$HOME/bin:$PATH\n');
    writeFileSync(h('.profile'), '# not read by bash (.bash_profile comes first), read by sh in desktop sessions\n');
    const { ctx } = signedIn({ platform: 'linux' });
    await run(ctx, { shell: 'bash' });
    expect(readFileSync(h('.bash_profile'), 'utf8')).toContain('# >>> thirdloop >>>');
    expect(readFileSync(h('.profile'), 'utf8')).toContain('# >>> thirdloop >>>');
    expect(shellSees('bash', home.home, {}, '-lc')).toBe(`${API_URL}\n${CREDENTIAL}`);
  });

  it('Windows: cmd goes to the user environment through powershell.exe, the key never in argv', async () => {
    const calls: Array<{ args: string[]; env: NodeJS.ProcessEnv }> = [];
    const spawn = async (_command: string, args: string[], options: { env: NodeJS.ProcessEnv }) => {
      calls.push({ args, env: options.env });
      return { code: 0, stdout: '', stderr: '' };
    };
    const { ctx, stderr } = signedIn({ platform: 'win32', env: { THIRDLOOP_CONFIG_DIR: h('cfg') } });
    await run(ctx, { shell: 'cmd', spawn });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args.join(' ')).not.toContain(SECRET);
    expect(calls[0]!.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBe(CREDENTIAL);
    expect(stderr.text).toContain('Configured cmd (Windows user environment)');
    expect(stderr.text).toContain('user environment (HKCU\\Environment)');
    expect(stderr.text).toContain('echo %ANTHROPIC_BASE_URL%');
  });

  it.skipIf(needs('bash', 'zsh', 'fish'))('new bash, zsh and fish shells carry both variables', async () => {
    await run(signedIn().ctx, { shell: 'bash,zsh,fish' });
    for (const shell of ['bash', 'zsh', 'fish'] as const) expect(shellSees(shell, home.home)).toBe(`${API_URL}\n${CREDENTIAL}`);
  });
});

describe('setup claude --key-helper', () => {
  const cli = { nodePath: '/usr/local/bin/node', cliPath: '/opt/thirdloop/bin/thirdloop.js' };

  it('writes apiKeyHelper and env.ANTHROPIC_BASE_URL; the key stays out of every file', async () => {
    const { ctx, stderr } = signedIn();
    await run(ctx, { keyHelper: true, ...cli });
    const file = h('.claude', 'settings.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      apiKeyHelper: `'/usr/local/bin/node' '/opt/thirdloop/bin/thirdloop.js' token`,
      env: { ANTHROPIC_BASE_URL: API_URL },
    });
    expect(stderr.text).toContain('Claude Code will ask thirdloop for the key (apiKeyHelper).');
    for (const f of allFiles()) expect(readFileSync(f, 'utf8')).not.toContain(SECRET);
    expect(existsSync(h('.bashrc'))).toBe(false);
    // Undo deletes the file it created.
    await run(testContext(home.home).ctx, { undo: true, keyHelper: true, yes: true });
    expect(existsSync(file)).toBe(false);
  });

  it('asks before replacing someone else’s apiKeyHelper; without a terminal it needs --yes', async () => {
    const file = h('.claude', 'settings.json');
    mkdirSync(path.dirname(file), { recursive: true });
    const original = '{\n  "apiKeyHelper": "~/bin/vault-key.sh"\n}\n';
    writeFileSync(file, original);
    const refused = (await run(signedIn().ctx, { keyHelper: true, ...cli }).catch((e) => e)) as UserError;
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toContain('already has an apiKeyHelper (~/bin/vault-key.sh)');
    expect(readFileSync(file, 'utf8')).toBe(original);
    await run(signedIn().ctx, { keyHelper: true, yes: true, ...cli });
    expect(JSON.parse(readFileSync(file, 'utf8')).apiKeyHelper).toContain('thirdloop.js');
    // Ours from another install path is replaced without asking.
    await run(signedIn().ctx, { keyHelper: true, nodePath: '/usr/bin/node', cliPath: '/elsewhere/bin/thirdloop.js' });
    expect(JSON.parse(readFileSync(file, 'utf8')).apiKeyHelper).toBe(`'/usr/bin/node' '/elsewhere/bin/thirdloop.js' token`);
    await run(testContext(home.home).ctx, { undo: true, yes: true });
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('a read-only settings.json is refused and left alone', async () => {
    const file = h('.claude', 'settings.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{}\n');
    chmodSync(file, 0o444);
    await expect(run(signedIn().ctx, { keyHelper: true, ...cli })).rejects.toThrow('Cannot edit ~/.claude/settings.json: it is read-only (mode 0444). Nothing was changed.');
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
  });

  it('--dry-run shows the settings diff; --shell is refused with it', async () => {
    const { ctx, stdout } = signedIn();
    await run(ctx, { keyHelper: true, dryRun: true, ...cli });
    expect(stdout.text).toContain('--- /dev/null\n+++ ~/.claude/settings.json');
    expect(stdout.text).toContain('+  "apiKeyHelper": ');
    expect(existsSync(h('.claude'))).toBe(false);
    await expect(run(signedIn().ctx, { keyHelper: true, shell: 'bash' })).rejects.toThrow(/drop --shell/);
  });

  const claudeFiles = corpusFiles('claude');
  it.skipIf(claudeFiles.length === 0)('merges into every corpus settings.json without losing keys, and undo restores it', async () => {
    for (const source of claudeFiles) {
      const name = path.basename(source);
      const file = h('.claude', 'settings.json');
      mkdirSync(path.dirname(file), { recursive: true });
      copyFileSync(source, file);
      chmodSync(file, 0o644); // the corpus is read-only
      const original = readFileSync(file, 'utf8');
      const { ctx, stderr } = signedIn();
      await run(ctx, { keyHelper: true, yes: true, ...cli });
      const merged = parse(readFileSync(file, 'utf8'), [], { allowTrailingComma: true });
      const before = parse(original, [], { allowTrailingComma: true });
      expect(merged.apiKeyHelper, name).toContain('token');
      expect(merged.env.ANTHROPIC_BASE_URL).toBe(API_URL);
      for (const key of Object.keys(before)) if (key !== 'env' && key !== 'apiKeyHelper') expect(merged[key]).toEqual(before[key]);
      if (original.includes('ANTHROPIC_AUTH_TOKEN')) expect(stderr.text).toContain('env.ANTHROPIC_AUTH_TOKEN');
      await run(testContext(home.home).ctx, { undo: true, yes: true });
      expect(readFileSync(file, 'utf8'), name).toBe(original);
      // The backup made on the first edit was the original: redundant now, so gone.
      expect(existsSync(`${file}.thirdloop-backup`)).toBe(false);
      home.cleanup();
      home = tempHome();
    }
  });
});
