/**
 * configureShells on a temporary HOME with the real config store, then the
 * real bash, zsh and fish start on what was written.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_START } from '../../src/files/marked-block.js';
import type { UserError } from '../../src/core/errors.js';
import { configureShells, runShellSetup, shellsConfigured } from '../../src/shells/configure.js';
import { rewriteEnvFiles } from '../../src/shells/env-files.js';
import type { Spawner } from '../../src/shells/cmd.js';
import { needs } from '../helpers/components.js';
import { corpusFiles } from '../helpers/corpus.js';
import { makeCredential, shellSees, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('configure');
const SECRET = CREDENTIAL.split(';')[1]!;

let home: TempHome;
beforeEach(() => {
  home = tempHome();
});
afterEach(() => home.cleanup());

const h = (...parts: string[]) => path.join(home.home, ...parts);
const configDir = () => h('.config', 'thirdloop');
const profiles = () => ({
  bash: h('.bashrc'),
  zsh: h('.zshenv'),
  fish: h('.config', 'fish', 'conf.d', 'thirdloop.fish'),
  powershell: h('.config', 'powershell', 'Microsoft.PowerShell_profile.ps1'),
});
const setup = (shells: Array<'bash' | 'zsh' | 'fish' | 'powershell'>, extra: { dryRun?: boolean; env?: NodeJS.ProcessEnv } = {}) =>
  configureShells(testContext(home.home, { env: extra.env }).ctx, { shells, apiUrl: API_URL, credential: CREDENTIAL, dryRun: extra.dryRun });
const undo = (shells?: Array<'bash' | 'zsh' | 'fish' | 'powershell'>) =>
  configureShells(testContext(home.home).ctx, { shells, undo: true });

/** Every file under HOME with its bytes (for "nothing changed"). */
function snapshot(dir = home.home): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isSymbolicLink()) out.set(p, `-> ${p}`);
      else out.set(p, readFileSync(p).toString('base64') + ` mode ${(statSync(p).mode & 0o777).toString(8)}`);
    }
  };
  walk(dir);
  return out;
}

describe('setup, re-run and undo', () => {
  it('writes 0600 env files and a sourcing block; the secret is only in the env files', async () => {
    writeFileSync(profiles().bash, '# my bashrc\nalias ll="ls -l"\n');
    const changes = await setup(['bash', 'zsh', 'fish', 'powershell']);
    const byPath = new Map(changes.map((c) => [c.path, c]));
    for (const name of ['env.sh', 'env.fish', 'env.ps1']) {
      const file = path.join(configDir(), name);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toContain(CREDENTIAL);
      expect(byPath.get(file)).toMatchObject({ kind: 'env-file', action: 'create', holdsSecret: true });
    }
    expect(byPath.get(path.join(configDir(), 'env.sh'))!.shells).toEqual(['bash', 'zsh']);
    for (const file of Object.values(profiles())) {
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(BLOCK_START);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(API_URL);
    }
    expect(byPath.get(profiles().bash)).toMatchObject({ action: 'update', backupPath: `${profiles().bash}.thirdloop-backup` });
    expect(readFileSync(`${profiles().bash}.thirdloop-backup`, 'utf8')).toBe('# my bashrc\nalias ll="ls -l"\n');
    expect(byPath.get(profiles().zsh)).toMatchObject({ action: 'create' });
    expect(await shellsConfigured(testContext(home.home).ctx)).toBe(true);
    // The config records which shells, never the key.
    const config = readFileSync(path.join(configDir(), 'config.json'), 'utf8');
    expect(config).not.toContain(SECRET);
    expect(JSON.parse(config)['setup.shells'].shells).toEqual(['bash', 'zsh', 'fish', 'powershell']);
  });

  it('re-running changes nothing and keeps one block; undo restores every byte', async () => {
    const original = '# bashrc\r\nexport PATH=$PATH:/opt/bin'; // CRLF, no final newline
    writeFileSync(profiles().bash, original);
    const before = snapshot();
    await setup(['bash', 'zsh', 'fish']);
    const afterFirst = snapshot();
    const again = await setup(['bash', 'zsh', 'fish']);
    expect(again.every((c) => c.action === 'unchanged')).toBe(true);
    expect(snapshot()).toEqual(afterFirst);
    const bashrc = readFileSync(profiles().bash, 'utf8');
    expect(bashrc.split(BLOCK_START)).toHaveLength(2);
    // The block's own lines end in LF (a CR would leave `fi\r` unclosed); it ends with a newline.
    expect(bashrc.startsWith('# bashrc\r\nexport PATH=$PATH:/opt/bin\n# >>> thirdloop >>>\n')).toBe(true);
    expect(bashrc.endsWith('# <<< thirdloop <<<\n')).toBe(true);

    const undone = await undo();
    // .profile, .zshenv and the fish file were created (removed now), .bashrc updated, both env files removed.
    expect(undone.map((c) => c.action).sort()).toEqual(['remove', 'remove', 'remove', 'remove', 'remove', 'update']);
    expect(readFileSync(profiles().bash, 'utf8')).toBe(original);
    expect(existsSync(`${profiles().bash}.thirdloop-backup`)).toBe(false); // it matched the restored file
    expect(existsSync(profiles().fish)).toBe(false);
    expect(existsSync(path.join(configDir(), 'env.sh'))).toBe(false);
    expect(existsSync(path.join(configDir(), 'env.fish'))).toBe(false);
    // What is left is exactly what was there, plus our (key-free) config file; the files we created are gone.
    const left = snapshot();
    expect([...left.keys()].filter((f) => !before.has(f))).toEqual([path.join(configDir(), 'config.json')]);
    for (const [file, bytes] of before) expect(left.get(file)).toBe(bytes);
    expect(existsSync(profiles().zsh)).toBe(false);
    expect(await shellsConfigured(testContext(home.home).ctx)).toBe(false);
  });

  it('an empty profile that was there stays, empty', async () => {
    writeFileSync(profiles().zsh, ''); // e.g. to silence zsh-newuser-install
    await setup(['zsh']);
    await undo(['zsh']);
    expect(readFileSync(profiles().zsh, 'utf8')).toBe('');
    expect(existsSync(`${profiles().zsh}.thirdloop-backup`)).toBe(false);
  });

  it('undo of one shell keeps the env file another shell still sources', async () => {
    await setup(['bash', 'zsh']);
    await undo(['zsh']);
    expect(existsSync(profiles().zsh)).toBe(false); // we had created it
    expect(readFileSync(profiles().bash, 'utf8')).toContain(BLOCK_START);
    expect(existsSync(path.join(configDir(), 'env.sh'))).toBe(true);
    await undo(['bash']);
    expect(existsSync(path.join(configDir(), 'env.sh'))).toBe(false);
  });

  it('replaces an older block in place and rewrites the env file with a new key', async () => {
    writeFileSync(profiles().bash, 'before\n');
    await setup(['bash']);
    writeFileSync(profiles().bash, readFileSync(profiles().bash, 'utf8') + 'after\n');
    const other = makeCredential('other');
    await configureShells(testContext(home.home).ctx, { shells: ['bash'], apiUrl: API_URL, credential: other });
    const text = readFileSync(profiles().bash, 'utf8');
    expect(text.startsWith('before\n# >>> thirdloop >>>\n')).toBe(true);
    expect(text.endsWith('# <<< thirdloop <<<\nafter\n')).toBe(true);
    expect(readFileSync(path.join(configDir(), 'env.sh'), 'utf8')).toContain(other);
  });
});

/** Where a corpus profile lives in a home, by its name. */
function corpusTarget(shell: string, name: string): string {
  if (shell === 'bash') return h(name.endsWith('bash_profile') ? '.bash_profile' : name.endsWith('bashrc') ? '.bashrc' : '.profile');
  if (shell === 'zsh') return h(name.endsWith('zshenv') ? '.zshenv' : name.endsWith('zprofile') ? '.zprofile' : '.zshrc');
  if (shell === 'fish') return name.endsWith('config.fish') ? h('.config', 'fish', 'config.fish') : h('.config', 'fish', 'conf.d', name.replace(/^\d+-[^-]+-/, ''));
  return profiles().powershell;
}
const corpusCases = (['bash', 'zsh', 'fish', 'powershell'] as const).flatMap((dir) =>
  corpusFiles(`shells/${dir}`).map((file): [string, typeof dir, string] => [`${dir}/${path.basename(file)}`, dir, file]),
);
describe.skipIf(corpusCases.length === 0)('every corpus profile in its place: add, re-add, undo byte-identical', () => {
  const cases = corpusCases;
  it.each(cases)('%s', async (name, shell, source) => {
    const target = corpusTarget(shell, path.basename(name));
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(source, target);
    chmodSync(target, 0o644);
    const original = readFileSync(target);
    const before = snapshot();
    await setup([shell]);
    const added = readFileSync(target);
    // The original bytes come first, untouched (a missing final newline gets one before our block).
    expect(added.subarray(0, original.length).equals(original)).toBe(true);
    const after = snapshot();
    await setup([shell]);
    expect(snapshot()).toEqual(after);
    expect(readFileSync(target, 'utf8')).not.toContain(SECRET);
    await undo([shell]);
    expect(readFileSync(target).equals(original)).toBe(true);
    const left = snapshot();
    for (const [file, bytes] of before) expect(left.get(file), file).toBe(bytes);
  });
});

describe('edge cases', () => {
  it('keeps a BOM and CRLF (PowerShell style)', async () => {
    const original = '\ufeffSet-Alias g git\r\nImport-Module posh-git\r\n';
    mkdirSync(path.dirname(profiles().powershell), { recursive: true });
    writeFileSync(profiles().powershell, original);
    await setup(['powershell']);
    const bytes = readFileSync(profiles().powershell);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString('utf8').replaceAll('\r\n', '')).not.toContain('\n');
    await undo(['powershell']);
    expect(readFileSync(profiles().powershell, 'utf8')).toBe(original);
  });

  it('keeps a UTF-16 LE profile in UTF-16', async () => {
    const original = Buffer.from('\ufeff# Windows PowerShell 5\r\nSet-Alias g git\r\n', 'utf16le');
    mkdirSync(path.dirname(profiles().powershell), { recursive: true });
    writeFileSync(profiles().powershell, original);
    await setup(['powershell']);
    const text = readFileSync(profiles().powershell).toString('utf16le');
    expect(text).toContain('# >>> thirdloop >>>\r\n');
    await undo(['powershell']);
    expect(readFileSync(profiles().powershell).equals(original)).toBe(true);
  });

  it('keeps bytes that are not UTF-8', async () => {
    const original = Buffer.from([0x23, 0x20, 0xe9, 0xe8, 0x0a, 0x78, 0x3d, 0x31, 0x0a]); // Latin-1 comment
    writeFileSync(profiles().bash, original);
    await setup(['bash']);
    await undo(['bash']);
    expect(readFileSync(profiles().bash).equals(original)).toBe(true);
  });

  it('follows a symlinked profile and keeps the link', async () => {
    mkdirSync(h('dotfiles'));
    writeFileSync(h('dotfiles', 'bashrc'), 'export EDITOR=vim\n');
    symlinkSync(path.join('dotfiles', 'bashrc'), profiles().bash);
    const changes = await setup(['bash']);
    expect(lstatSync(profiles().bash).isSymbolicLink()).toBe(true);
    expect(readFileSync(h('dotfiles', 'bashrc'), 'utf8')).toContain(BLOCK_START);
    const change = changes.find((c) => c.path === profiles().bash)!;
    expect(change.realPath).toBe(h('dotfiles', 'bashrc'));
    expect(change.notes.join(' ')).toMatch(/is a symlink: edited its target ~\/dotfiles\/bashrc/);
    await undo(['bash']);
    expect(lstatSync(profiles().bash).isSymbolicLink()).toBe(true);
    expect(readFileSync(h('dotfiles', 'bashrc'), 'utf8')).toBe('export EDITOR=vim\n');
  });

  it('a read-only profile is a clear error and nothing at all is written', async () => {
    writeFileSync(profiles().bash, 'x\n');
    writeFileSync(profiles().zsh, 'y\n');
    chmodSync(profiles().zsh, 0o444);
    const before = snapshot();
    const error = await setup(['bash', 'zsh', 'fish']).catch((e: Error) => e);
    expect((error as Error).message).toBe('Cannot edit ~/.zshenv: it is read-only (mode 0444). Nothing was changed.');
    expect(snapshot()).toEqual(before);
  });

  it('a profile linked into a read-only store says so', async () => {
    mkdirSync(h('store'));
    writeFileSync(h('store', 'bashrc'), 'x\n');
    chmodSync(h('store', 'bashrc'), 0o444);
    symlinkSync(h('store', 'bashrc'), profiles().bash);
    const before = snapshot();
    const error = (await setup(['bash']).catch((e: Error) => e)) as UserError;
    expect(error.message).toBe('Cannot edit ~/.bashrc: it links to ~/store/bashrc, which is read-only (mode 0444). Nothing was changed.');
    // --dry-run still shows the lines, to add where the file is generated.
    const dry = await setup(['bash'], { dryRun: true });
    const change = dry.find((c) => c.path === profiles().bash)!;
    expect(change.diff).toContain('+# >>> thirdloop >>>');
    expect(change.blocked).toBe('Cannot edit ~/.bashrc: it links to ~/store/bashrc, which is read-only (mode 0444)');
    expect(error.hint).toContain('--dry-run');
    expect(snapshot()).toEqual(before);
  });

  it('an unreadable profile is a clear error and nothing at all is written', async () => {
    writeFileSync(profiles().bash, 'x\n');
    mkdirSync(profiles().zsh); // a folder where the profile should be
    const before = snapshot();
    await expect(setup(['bash', 'zsh'])).rejects.toThrow('Cannot edit ~/.zshenv: it is a directory, not a regular file, and thirdloop only edits regular files. Nothing was changed.');
    expect(snapshot()).toEqual(before);
    if (process.getuid?.() !== 0) {
      // Root reads everything; elsewhere mode 000 is the real unreadable case.
      const other = h('.config', 'fish', 'conf.d', 'thirdloop.fish');
      mkdirSync(path.dirname(other), { recursive: true });
      writeFileSync(other, '');
      chmodSync(other, 0o000);
      await expect(setup(['bash', 'fish'])).rejects.toThrow(/Cannot read ~\/\.config\/fish\/conf\.d\/thirdloop\.fish: permission denied/);
    }
  });

  it('a damaged block (start without end) is refused with its line', async () => {
    writeFileSync(profiles().bash, 'a\n# >>> thirdloop >>>\nb\n');
    await expect(setup(['bash'])).rejects.toThrow(/Cannot edit ~\/\.bashrc: "# >>> thirdloop >>>" on line 2 has no "# <<< thirdloop <<<" after it\./);
  });

  it('warns about competing exports with their line numbers', async () => {
    writeFileSync(h('.zshrc'), '# keys\nexport ANTHROPIC_API_KEY="$(cat ~/.anthropic)"\n# export ANTHROPIC_BASE_URL=x\nexport ANTHROPIC_AUTH_TOKEN=t\n');
    mkdirSync(path.dirname(profiles().fish), { recursive: true });
    mkdirSync(h('.config', 'powershell'), { recursive: true });
    writeFileSync(profiles().powershell, "$env:ANTHROPIC_BASE_URL = 'http://localhost:4000'\n");
    const result = await runShellSetup(testContext(home.home).ctx, { shells: ['zsh', 'powershell'], apiUrl: API_URL, credential: CREDENTIAL });
    expect(result.warnings).toEqual([
      '~/.zshrc line 2 also sets ANTHROPIC_API_KEY; the thirdloop block further down wins, but remove the line to avoid confusion.',
      '~/.zshrc line 4 sets ANTHROPIC_AUTH_TOKEN, which Claude Code may send instead of your Third Loop key: remove it to use Third Loop.',
      '~/.config/powershell/Microsoft.PowerShell_profile.ps1 line 1 also sets ANTHROPIC_BASE_URL; the thirdloop block further down wins, but remove the line to avoid confusion.',
    ]);
  });

  it('notes a profile inside a git work tree', async () => {
    mkdirSync(h('dotfiles', '.git'), { recursive: true });
    writeFileSync(h('dotfiles', 'zshrc'), 'setopt autocd\n');
    symlinkSync(h('dotfiles', 'zshrc'), h('.zshrc'));
    const changes = await setup(['zsh']);
    const notes = changes.flatMap((c) => c.notes).join('\n');
    expect(notes).toContain('is in the git work tree ~/dotfiles; only the line that sources ~/.config/thirdloop/env.sh goes there, never the key.');
  });

  it('--dry-run returns diffs with the key redacted and writes nothing', async () => {
    writeFileSync(profiles().bash, 'alias k=kubectl\n');
    const before = snapshot();
    const changes = await setup(['bash', 'fish'], { dryRun: true });
    expect(snapshot()).toEqual(before);
    const diff = changes.map((c) => c.diff ?? '').join('');
    expect(diff).toContain('+++ ~/.bashrc');
    expect(diff).toContain('+# >>> thirdloop >>>');
    expect(diff).toContain('--- /dev/null\n+++ ~/.config/thirdloop/env.sh');
    expect(diff).toContain("+export ANTHROPIC_BASE_URL='https://thirdloop.example.com'");
    expect(diff).toContain('+export ANTHROPIC_API_KEY=<redacted>');
    expect(diff).not.toContain(SECRET);
  });

  it('rewriteEnvFiles updates only the env files that exist, keeping 0600', async () => {
    await setup(['bash', 'fish']);
    chmodSync(path.join(configDir(), 'env.sh'), 0o644);
    const rotated = makeCredential('rotated');
    const changed = await rewriteEnvFiles(testContext(home.home).ctx, { apiUrl: `${API_URL}/`, credential: rotated });
    expect(changed.sort()).toEqual([path.join(configDir(), 'env.fish'), path.join(configDir(), 'env.sh')]);
    expect(existsSync(path.join(configDir(), 'env.ps1'))).toBe(false);
    for (const name of ['env.sh', 'env.fish']) {
      const file = path.join(configDir(), name);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toContain(rotated);
      expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    }
    expect(await rewriteEnvFiles(testContext(home.home).ctx, { apiUrl: API_URL, credential: rotated })).toEqual([]);
  });

  it('rewriteEnvFiles leaves the env files alone when another profile’s key is rotated', async () => {
    await setup(['bash']);
    const work = testContext(home.home);
    work.ctx.globals.profile = 'work';
    expect(await rewriteEnvFiles(work.ctx, { apiUrl: API_URL, credential: makeCredential('work') })).toEqual([]);
    expect(readFileSync(path.join(configDir(), 'env.sh'), 'utf8')).toContain(CREDENTIAL);
    // Setting up with the other profile switches the files over, and says so.
    const changes = await configureShells(work.ctx, { shells: ['bash'], apiUrl: API_URL, credential: makeCredential('work') });
    expect(changes.flatMap((c) => c.notes)).toContain('~/.config/thirdloop/env.sh held the key of profile "default"; it now holds profile "work"\'s.');
    expect(await rewriteEnvFiles(work.ctx, { apiUrl: API_URL, credential: makeCredential('work2') })).toHaveLength(1);
  });

  it('Windows: cmd sets the user environment through a child that gets the key in its env only', async () => {
    const calls: Array<{ command: string; args: string[]; env: NodeJS.ProcessEnv }> = [];
    const spawn: Spawner = async (command, args, options) => {
      calls.push({ command, args, env: options.env });
      return { code: 0, stdout: '', stderr: '' };
    };
    const winHome = home.home;
    const { ctx } = testContext(winHome, { platform: 'win32', env: { THIRDLOOP_CONFIG_DIR: path.join(winHome, 'cfg') } });
    const changes = await configureShells(ctx, { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn });
    expect(changes).toEqual([expect.objectContaining({ kind: 'user-environment', action: 'create', holdsSecret: true })]);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args.join(' ')).not.toContain(SECRET);
    expect(calls[0]!.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBe(CREDENTIAL);
    expect(calls[0]!.env.THIRDLOOP_SET_ANTHROPIC_BASE_URL).toBe(API_URL);
    expect(await shellsConfigured(ctx)).toBe(true);
    // A rotation reaches the user environment too.
    expect(await rewriteEnvFiles(ctx, { apiUrl: API_URL, credential: makeCredential('r') }, { spawn })).toEqual(['HKCU\\Environment']);
    expect(calls[1]!.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBe(makeCredential('r'));
    // Undo removes both variables.
    const undone = await configureShells(ctx, { shells: ['cmd'], undo: true, spawn });
    expect(undone).toEqual([expect.objectContaining({ kind: 'user-environment', action: 'remove' })]);
    expect(Buffer.from(calls[2]!.args.at(-1)!, 'base64').toString('utf16le')).toContain("'ANTHROPIC_API_KEY', $null, 'User'");
    expect(calls[2]!.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBeUndefined();
    expect(await shellsConfigured(ctx)).toBe(false);
  });
});

describe('real shells read what was written', () => {
  it.skipIf(needs('bash', 'zsh', 'fish'))('bash -ic, zsh -ic and fish -c print both variables exactly', async () => {
    // Realistic profiles: the Debian-style early return for non-interactive bash, an oh-my-zsh-less zshrc.
    writeFileSync(profiles().bash, 'case $- in\n    *i*) ;;\n      *) return;;\nesac\nHISTSIZE=1000\n');
    writeFileSync(profiles().zsh, 'setopt autocd\nbindkey -e');
    await setup(['bash', 'zsh', 'fish']);
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      expect(shellSees(shell, home.home)).toBe(`${API_URL}\n${CREDENTIAL}`);
    }
    await undo();
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      expect(shellSees(shell, home.home)).toBe('\n');
    }
  });

  it.skipIf(needs('bash', 'zsh', 'fish'))('an odd config dir (quote, space, $) is quoted right in every source line', async () => {
    const env = { THIRDLOOP_CONFIG_DIR: h(`it's a "dir" $HOME \\x`) };
    await configureShells(testContext(home.home, { env }).ctx, { shells: ['bash', 'zsh', 'fish'], apiUrl: API_URL, credential: CREDENTIAL });
    expect(readFileSync(profiles().bash, 'utf8')).toContain(`'${home.home}/it'\\''s a "dir" $HOME \\x/env.sh'`);
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      expect(shellSees(shell, home.home)).toBe(`${API_URL}\n${CREDENTIAL}`);
    }
  });

  it.skipIf(needs('zsh'))('zsh honours ZDOTDIR', async () => {
    mkdirSync(h('.config', 'zsh'), { recursive: true });
    const env = { ZDOTDIR: h('.config', 'zsh') };
    await configureShells(testContext(home.home, { env }).ctx, { shells: ['zsh'], apiUrl: API_URL, credential: CREDENTIAL });
    expect(existsSync(h('.config', 'zsh', '.zshenv'))).toBe(true);
    expect(existsSync(h('.zshenv'))).toBe(false);
    expect(shellSees('zsh', home.home, env)).toBe(`${API_URL}\n${CREDENTIAL}`);
  });

  it.skipIf(needs('fish'))('fish honours XDG_CONFIG_HOME', async () => {
    const env = { XDG_CONFIG_HOME: h('xdg') };
    await configureShells(testContext(home.home, { env }).ctx, { shells: ['fish'], apiUrl: API_URL, credential: CREDENTIAL });
    expect(existsSync(h('xdg', 'fish', 'conf.d', 'thirdloop.fish'))).toBe(true);
    expect(existsSync(h('xdg', 'thirdloop', 'env.fish'))).toBe(true);
    expect(shellSees('fish', home.home, env)).toBe(`${API_URL}\n${CREDENTIAL}`);
  });
});
