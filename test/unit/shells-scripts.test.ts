import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bash, posixQuote } from '../../src/shells/bash.js';
import { cmd, setUserEnvironment, userEnvironmentCommand, type Spawner } from '../../src/shells/cmd.js';
import { anthropicBaseUrl, envFileContent, redactEnvText } from '../../src/shells/env-files.js';
import { fish, fishQuote } from '../../src/shells/fish.js';
import { currentShell, defaultShells, parseShellList, shellsFor } from '../../src/shells/index.js';
import { powershell, powershellQuote } from '../../src/shells/powershell.js';
import { zsh } from '../../src/shells/zsh.js';
import type { ShellLayout, ShellProbe } from '../../src/shells/types.js';
import { needs } from '../helpers/components.js';
import { makeCredential, tempHome } from '../helpers/setup-env.js';

const linux = (home = '/home/ada', env: NodeJS.ProcessEnv = {}) => ({ platform: 'linux' as const, homedir: home, env });
const mac = (home = '/Users/ada', env: NodeJS.ProcessEnv = {}) => ({ platform: 'darwin' as const, homedir: home, env });
const win = (home = 'C:\\Users\\ada', env: NodeJS.ProcessEnv = {}) => ({ platform: 'win32' as const, homedir: home, env });

/** A machine made of a few files, and a zsh that answers what it is told to. */
function fakeProbe(files: Record<string, string> = {}, zsh?: { before: string; after: string }): ShellProbe {
  return {
    exists: async (file) => file in files || Object.keys(files).some((f) => f.startsWith(`${file}/`)),
    read: async (file) => (file in files ? Buffer.from(files[file]!) : undefined),
    list: async (dir) => Object.keys(files).filter((f) => path.posix.dirname(f) === dir).map((f) => path.posix.basename(f)),
    run: async (_program, args) => {
      if (!zsh) return undefined;
      const mark = /print -rn -- "([^$]+)\$/.exec(args.at(-1)!)![1]!;
      const dir = args.includes('norcs') ? zsh.before : zsh.after;
      return { code: 0, stdout: `noise\n${mark}${dir}${mark}`, stderr: '', timedOut: false, ms: 1 };
    },
  };
}
const targets = (layout: ShellLayout) => layout.files.filter((f) => f.target).map((f) => f.path);

describe('start-up layouts: the files each shell really reads', () => {
  it('bash: ~/.bashrc, and the first of .bash_profile, .bash_login, .profile (never creating .bash_profile)', async () => {
    expect(targets(await bash.layout(linux(), fakeProbe()))).toEqual(['/home/ada/.profile', '/home/ada/.bashrc']);
    expect(targets(await bash.layout(mac(), fakeProbe({ '/Users/ada/.profile': '' })))).toEqual(['/Users/ada/.profile', '/Users/ada/.bashrc']);
    const both = fakeProbe({ '/Users/ada/.profile': '', '/Users/ada/.bash_login': '' });
    expect(targets(await bash.layout(mac(), both))).toEqual(['/Users/ada/.bash_login', '/Users/ada/.bashrc']);
    const all = fakeProbe({ '/home/ada/.profile': '', '/home/ada/.bash_profile': '' });
    expect(targets(await bash.layout(linux(), all))).toEqual(['/home/ada/.bash_profile', '/home/ada/.bashrc']);
    // Git Bash: the same rules, Windows paths.
    expect(targets(await bash.layout(win(), fakeProbe()))).toEqual(['C:\\Users\\ada\\.profile', 'C:\\Users\\ada\\.bashrc']);
  });

  it('zsh: asks zsh where .zshenv and .zshrc are; the block goes to that .zshenv and an existing .zshrc', async () => {
    const layout = await zsh.layout(linux(), fakeProbe({}, { before: '', after: '/home/ada/.config/zsh' }));
    expect(layout.files.map((f) => f.path)).toEqual([
      '/home/ada/.zshenv',
      '/home/ada/.config/zsh/.zprofile',
      '/home/ada/.config/zsh/.zshrc',
      '/home/ada/.config/zsh/.zlogin',
    ]);
    expect(layout.files.filter((f) => f.target).map((f) => [f.path, Boolean(f.create)])).toEqual([
      ['/home/ada/.zshenv', true],
      ['/home/ada/.config/zsh/.zshrc', false],
    ]);
    expect(layout.notes.join(' ')).toContain('zsh reads .zshrc from /home/ada/.config/zsh');
  });

  it('zsh without zsh installed: reads ZDOTDIR from ~/.zshenv, exported or not', async () => {
    for (const line of ['ZDOTDIR=$HOME/.config/zsh', 'export ZDOTDIR="${XDG_CONFIG_HOME:-$HOME/.config}/zsh"', "export ZDOTDIR='~/.config/zsh'  # XDG"]) {
      const layout = await zsh.layout(linux(), fakeProbe({ '/home/ada/.zshenv': `# env\n${line}\n` }));
      expect(layout.files.map((f) => f.path).slice(0, 3), line).toEqual(['/home/ada/.zshenv', '/home/ada/.config/zsh/.zprofile', '/home/ada/.config/zsh/.zshrc']);
    }
    // A ZDOTDIR this environment really carries is where .zshenv is read.
    const env = linux('/home/ada', { ZDOTDIR: '/home/ada/zdot' });
    expect((await zsh.layout(env, fakeProbe())).files[0]!.path).toBe('/home/ada/zdot/.zshenv');
    expect((await zsh.layout(linux('/home/ada', { ZDOTDIR: 'relative' }), fakeProbe())).files[0]!.path).toBe('/home/ada/.zshenv');
  });

  it('fish: conf.d in natural order with ours among them, then config.fish; XDG_CONFIG_HOME respected', async () => {
    const files = { '/home/ada/.config/fish/conf.d/10-z.fish': '', '/home/ada/.config/fish/conf.d/2-a.fish': '', '/home/ada/.config/fish/conf.d/zoxide.fish': '', '/home/ada/.config/fish/conf.d/notes.txt': '' };
    const layout = await fish.layout(linux(), fakeProbe(files));
    expect(layout.files.map((f) => path.posix.basename(f.path))).toEqual(['2-a.fish', '10-z.fish', 'thirdloop.fish', 'zoxide.fish', 'config.fish']);
    expect(targets(layout)).toEqual(['/home/ada/.config/fish/conf.d/thirdloop.fish']);
    expect(targets(await fish.layout(linux('/home/ada', { XDG_CONFIG_HOME: '/xdg' }), fakeProbe()))).toEqual(['/xdg/fish/conf.d/thirdloop.fish']);
    // A relative XDG_CONFIG_HOME is invalid and ignored.
    expect(targets(await fish.layout(linux('/home/ada', { XDG_CONFIG_HOME: 'rel' }), fakeProbe()))).toEqual(['/home/ada/.config/fish/conf.d/thirdloop.fish']);
  });

  it('PowerShell: $PROFILE per platform', async () => {
    expect(targets(await powershell.layout(linux(), fakeProbe()))).toEqual(['/home/ada/.config/powershell/Microsoft.PowerShell_profile.ps1']);
    expect(targets(await powershell.layout(mac(), fakeProbe()))).toEqual(['/Users/ada/.config/powershell/Microsoft.PowerShell_profile.ps1']);
    expect(targets(await powershell.layout(win(), fakeProbe()))).toEqual(['C:\\Users\\ada\\Documents\\PowerShell\\Microsoft.PowerShell_profile.ps1']);
  });
});

describe('source blocks', () => {
  it('source the env file only if it exists, relative to $HOME when under it', () => {
    expect(bash.sourceBlock('/home/ada/.config/thirdloop/env.sh', linux())[1]).toBe(
      'if [ -f "$HOME/.config/thirdloop/env.sh" ]; then . "$HOME/.config/thirdloop/env.sh"; fi',
    );
    expect(fish.sourceBlock('/home/ada/.config/thirdloop/env.fish', linux())[1]).toBe(
      'if test -f "$HOME/.config/thirdloop/env.fish"; source "$HOME/.config/thirdloop/env.fish"; end',
    );
    expect(powershell.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.ps1', win())[1]).toBe(
      'if (Test-Path -LiteralPath "$HOME\\AppData\\Roaming\\thirdloop\\env.ps1") { . "$HOME\\AppData\\Roaming\\thirdloop\\env.ps1" }',
    );
  });
  it('quote odd paths literally instead', () => {
    expect(bash.sourceBlock("/opt/it's $here/env.sh", linux())[1]).toBe(
      `if [ -f '/opt/it'\\''s $here/env.sh' ]; then . '/opt/it'\\''s $here/env.sh'; fi`,
    );
    expect(powershell.sourceBlock("D:\\it's\\env.ps1", win())[1]).toBe(
      "if (Test-Path -LiteralPath 'D:\\it''s\\env.ps1') { . 'D:\\it''s\\env.ps1' }",
    );
  });
});

describe('env files', () => {
  const values = { apiUrl: 'https://tl.example.com', credential: makeCredential() };
  it('hold both variables, quoted for each shell', () => {
    const sh = envFileContent('env.sh', values);
    expect(sh).toContain(`export ANTHROPIC_BASE_URL='https://tl.example.com'\n`);
    expect(sh).toContain(`export ANTHROPIC_API_KEY='${values.credential}'\n`);
    expect(envFileContent('env.fish', values)).toContain(`set -gx ANTHROPIC_API_KEY '${values.credential}'\n`);
    expect(envFileContent('env.ps1', values)).toContain(`$env:ANTHROPIC_API_KEY = '${values.credential}'\n`);
  });
  it('strip a trailing slash or /v1 from the base URL (Claude Code appends /v1 itself)', () => {
    expect(anthropicBaseUrl('https://tl.example.com/')).toBe('https://tl.example.com');
    expect(anthropicBaseUrl('https://tl.example.com/v1/')).toBe('https://tl.example.com');
    expect(anthropicBaseUrl('https://tl.example.com/gw/v1')).toBe('https://tl.example.com/gw');
  });
  it('refuse control characters', () => {
    expect(() => envFileContent('env.sh', { ...values, credential: 'a\nb' })).toThrow(/control character/);
  });
  it('redact the key for diffs', () => {
    for (const name of ['env.sh', 'env.fish', 'env.ps1'] as const) {
      const text = redactEnvText(envFileContent(name, values));
      expect(text).not.toContain(values.credential.split(';')[1]);
      expect(text).toContain('https://tl.example.com');
      expect(text).toContain('<redacted>');
    }
  });
  it('quote like the shells do', () => {
    expect(posixQuote("a'b")).toBe(`'a'\\''b'`);
    expect(fishQuote("a'b\\c")).toBe(`'a\\'b\\\\c'`);
    expect(powershellQuote("a'b\u2019c")).toBe(`'a''b\u2019\u2019c'`);
  });
});

// The values a real shell reads back must be exactly the ones written, whatever they contain.
const nasty = [
  'tlk_abc;tls_def',
  `semi;colon 'single' "double" $HOME \`tick\` \\back\\slash !bang *glob* #hash ~tilde`,
  "trailing backslash\\",
  'üñíçødé ; 日本',
];
describe.each(['bash', 'zsh', 'fish'] as const)('env file sourced by real %s', (shell) => {
  const home = tempHome();
  afterAll(home.cleanup);
  it.skipIf(needs(shell))('prints each value exactly', () => {
    const file = path.join(home.home, shell === 'fish' ? 'env.fish' : 'env.sh');
    for (const value of nasty) {
      writeFileSync(file, envFileContent(shell === 'fish' ? 'env.fish' : 'env.sh', { apiUrl: 'https://x.test', credential: value }));
      const script = shell === 'fish' ? `source ${fishQuote(file)}; printf %s "$ANTHROPIC_API_KEY"` : `. ${posixQuote(file)}; printf %s "$ANTHROPIC_API_KEY"`;
      const seen = execFileSync(shell, ['-c', script], { env: { HOME: home.home, PATH: process.env.PATH }, encoding: 'utf8' });
      expect(seen).toBe(value);
    }
  });
});

describe('shell selection', () => {
  it('parses --shell lists, aliases and all', () => {
    expect(parseShellList('bash, zsh,fish', 'linux')).toEqual(['bash', 'zsh', 'fish']);
    expect(parseShellList('pwsh', 'linux')).toEqual(['powershell']);
    expect(parseShellList('all', 'linux')).toEqual(shellsFor('linux'));
    expect(parseShellList('all', 'win32')).toEqual(['bash', 'powershell', 'cmd']);
    expect(() => parseShellList('tcsh', 'linux')).toThrow(/Unknown shell "tcsh"/);
    expect(() => parseShellList('cmd', 'linux')).toThrow(/not supported on linux/);
    expect(() => parseShellList('', 'linux')).toThrow(/at least one/);
  });
  it('reads the current shell from $SHELL', () => {
    expect(currentShell(linux('/h', { SHELL: '/usr/bin/zsh' }))).toBe('zsh');
    expect(currentShell(linux('/h', { SHELL: '/opt/homebrew/bin/fish' }))).toBe('fish');
    expect(currentShell(linux('/h', { SHELL: '/bin/tcsh' }))).toBeUndefined();
  });
  it('defaults to the current shell plus shells whose profile exists', async () => {
    const home = tempHome();
    try {
      const e = linux(home.home, { SHELL: '/usr/bin/zsh' });
      expect(await defaultShells(e)).toEqual(['zsh']);
      writeFileSync(path.join(home.home, '.bashrc'), '');
      mkdirSync(path.join(home.home, '.config', 'fish'), { recursive: true });
      writeFileSync(path.join(home.home, '.config', 'fish', 'config.fish'), '');
      expect(await defaultShells(e)).toEqual(['bash', 'zsh', 'fish']);
      expect(await defaultShells(win(home.home))).toContain('cmd');
    } finally {
      home.cleanup();
    }
  });
});

describe('cmd: the Windows user environment', () => {
  const values = { apiUrl: 'https://tl.example.com/', credential: makeCredential('w') };
  const secret = values.credential.split(';')[1]!;

  it('passes values through the child environment, never argv', () => {
    const command = userEnvironmentCommand(values, { PATH: 'C:\\Windows' });
    expect(command.command).toBe('powershell.exe');
    expect(command.args.join(' ')).not.toContain(secret);
    expect(command.args.join(' ')).not.toContain('tl.example.com');
    const script = Buffer.from(command.args[command.args.indexOf('-EncodedCommand') + 1]!, 'base64').toString('utf16le');
    expect(script).toContain("[Environment]::SetEnvironmentVariable('ANTHROPIC_API_KEY', $env:THIRDLOOP_SET_ANTHROPIC_API_KEY, 'User')");
    expect(script).toContain("[Environment]::SetEnvironmentVariable('ANTHROPIC_BASE_URL', $env:THIRDLOOP_SET_ANTHROPIC_BASE_URL, 'User')");
    expect(script).not.toContain(secret);
    expect(command.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBe(values.credential);
    expect(command.env.PATH).toBe('C:\\Windows');
  });

  it('removes with $null and no values', () => {
    const command = userEnvironmentCommand(undefined, {});
    const script = Buffer.from(command.args.at(-1)!, 'base64').toString('utf16le');
    expect(script).toContain("[Environment]::SetEnvironmentVariable('ANTHROPIC_API_KEY', $null, 'User')");
    expect(command.env.THIRDLOOP_SET_ANTHROPIC_API_KEY).toBeUndefined();
  });

  it('reports a failing child as one sentence without the value', async () => {
    const spawn: Spawner = async () => ({ code: 1, stdout: '', stderr: 'Access denied\r\nat line 2' });
    const error = await setUserEnvironment(spawn, values, {}).catch((e: Error) => e);
    expect(String((error as Error).message)).toBe('Setting the user environment failed (powershell.exe exited with 1: Access denied).');
    expect(cmd.kind).toBe('user-environment');
  });
});

describe('tildify', () => {
  it('shortens paths under HOME on both path flavours', async () => {
    const { tildify } = await import('../../src/shells/configure.js');
    expect(tildify('/home/ada/.bashrc', '/home/ada')).toBe('~/.bashrc');
    expect(tildify('/etc/profile', '/home/ada')).toBe('/etc/profile');
    expect(tildify('C:\\Users\\ada\\Documents\\PowerShell\\p.ps1', 'C:\\Users\\ada')).toBe('~\\Documents\\PowerShell\\p.ps1');
  });
});
