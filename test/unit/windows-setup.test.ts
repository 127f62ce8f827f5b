/**
 * Windows as people have it, on this machine: the platform injected as
 * win32, a fake registry and PowerShell (test/helpers/fake-windows.ts) that
 * answers the very scripts thirdloop sends, a real temporary home holding
 * the files, and the real bash reading what Git Bash would read.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_START } from '../../src/files/marked-block.js';
import { GIT_BASH_PROFILE, bash } from '../../src/shells/bash.js';
import { PRIOR_VALUES_FILE } from '../../src/shells/cmd.js';
import { runShellSetup, shellsConfigured } from '../../src/shells/configure.js';
import { rewriteEnvFiles } from '../../src/shells/env-files.js';
import { gitBashPath } from '../../src/shells/posix.js';
import { powershell } from '../../src/shells/powershell.js';
import { blockedProfiles, documentsFolder, windowsFacts } from '../../src/shells/windows/facts.js';
import { spawnedWindows, type RegValue } from '../../src/shells/windows/system.js';
import type { ShellProbe } from '../../src/shells/types.js';
import { needs } from '../helpers/components.js';
import { REMOTE_SIGNED_USER, RESTRICTED_DEFAULT, fakeWindows } from '../helpers/fake-windows.js';
import { makeCredential, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';
import { writeSignedInHome } from '../helpers/signed-in-home.js';

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('windows');
const SECRET = CREDENTIAL.split(';')[1]!;
const noFiles: ShellProbe = { exists: async () => false, read: async () => undefined, list: async () => [], run: async () => undefined };

describe('Documents, where Windows says it is', () => {
  const env = { USERPROFILE: 'C:\\Users\\José', OneDrive: 'C:\\Users\\José\\OneDrive - Contoso' };
  const docs = async (personal: RegValue | undefined, extra: NodeJS.ProcessEnv = {}) =>
    documentsFolder(spawnedWindows(fakeWindows({ personal }).spawn, { ...env, ...extra }), 'C:\\Users\\José', { ...env, ...extra });

  it('follows OneDrive Known Folder Move: Personal is REG_EXPAND_SZ, expanded with the environment', async () => {
    expect((await docs({ kind: 'ExpandString', data: '%USERPROFILE%\\OneDrive - Contoso\\Documents' })).path).toBe('C:\\Users\\José\\OneDrive - Contoso\\Documents');
    // Names are case-insensitive on Windows; separators come out consistent.
    expect((await docs({ kind: 'ExpandString', data: '%onedrive%/Documents' })).path).toBe('C:\\Users\\José\\OneDrive - Contoso\\Documents');
    expect((await docs({ kind: 'String', data: 'D:\\Docs' })).path).toBe('D:\\Docs');
    expect((await docs({ kind: 'String', data: '\\\\fs01\\home$\\jose\\Documents' })).path).toBe('\\\\fs01\\home$\\jose\\Documents');
  });

  it('uses %USERPROFILE%\\Documents only when the registry has no Personal value, and says so when it cannot be read', async () => {
    expect(await docs(undefined)).toEqual({ path: 'C:\\Users\\José\\Documents' });
    // An unknown variable is not a place: the default, with a word.
    const odd = await docs({ kind: 'ExpandString', data: '%NOPE%\\Documents' });
    expect(odd.path).toBe('C:\\Users\\José\\Documents');
    expect(odd.note).toContain('%NOPE%\\Documents');
    const broken = fakeWindows();
    broken.broken = true;
    const unread = await documentsFolder(spawnedWindows(broken.spawn, env), 'C:\\Users\\José', env);
    expect(unread.note).toContain('Could not read');
  });

  it('both PowerShells get their $PROFILE under it; one not installed gets none created', async () => {
    const e = { platform: 'win32' as const, homedir: 'C:\\Users\\José', env };
    const facts = { documents: 'C:\\Users\\José\\OneDrive - Contoso\\Documents', powershells: [{ edition: 'Desktop' as const, installed: true }, { edition: 'Core' as const, installed: undefined }] };
    const layout = await powershell.layout({ ...e, windows: facts }, noFiles);
    expect(layout.files.map((f) => [f.path, f.create])).toEqual([
      ['C:\\Users\\José\\OneDrive - Contoso\\Documents\\WindowsPowerShell\\Microsoft.PowerShell_profile.ps1', true],
      ['C:\\Users\\José\\OneDrive - Contoso\\Documents\\PowerShell\\Microsoft.PowerShell_profile.ps1', true],
    ]);
    const only51 = await powershell.layout({ ...e, windows: { ...facts, powershells: [{ edition: 'Desktop', installed: true }, { edition: 'Core', installed: false }] } }, noFiles);
    expect(only51.files.map((f) => f.create)).toEqual([true, false]);
  });
});

describe('the env file in the profile line', () => {
  const e = (env: NodeJS.ProcessEnv) => ({ platform: 'win32' as const, homedir: 'C:\\Users\\ada', env });
  it('is under $env:APPDATA, whatever APPDATA is (roaming, redirected)', () => {
    const redirected = e({ APPDATA: '\\\\fs01\\profiles$\\ada\\AppData\\Roaming' });
    expect(powershell.sourceBlock('\\\\fs01\\profiles$\\ada\\AppData\\Roaming\\thirdloop\\env.ps1', redirected)[1]).toBe(
      'if (Test-Path -LiteralPath "$env:APPDATA\\thirdloop\\env.ps1") { . "$env:APPDATA\\thirdloop\\env.ps1" }',
    );
    // A folder name with a $ or a backtick is not left to double quotes.
    const odd = e({ APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' });
    expect(powershell.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\t$(x)`\\env.ps1', odd)[1]).toBe(
      "if (Test-Path -LiteralPath (Join-Path $env:APPDATA 't$(x)`\\env.ps1')) { . (Join-Path $env:APPDATA 't$(x)`\\env.ps1') }",
    );
    // Elsewhere (THIRDLOOP_CONFIG_DIR): the full path, single-quoted, apostrophes doubled.
    expect(powershell.sourceBlock("D:\\O'Brien\\env.ps1", odd)[1]).toBe("if (Test-Path -LiteralPath 'D:\\O''Brien\\env.ps1') { . 'D:\\O''Brien\\env.ps1' }");
  });
});

describe('Git Bash paths', () => {
  it('names Windows paths the MSYS2 way', () => {
    expect(gitBashPath('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.sh')).toBe('/c/Users/ada/AppData/Roaming/thirdloop/env.sh');
    expect(gitBashPath('\\\\fs01\\share\\x')).toBe('//fs01/share/x');
    const e = { platform: 'win32' as const, homedir: 'C:\\Users\\ada', env: {} };
    expect(bash.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.sh', e)[1]).toBe(
      'if [ -f "$HOME/AppData/Roaming/thirdloop/env.sh" ]; then . "$HOME/AppData/Roaming/thirdloop/env.sh"; fi',
    );
    expect(bash.sourceBlock("D:\\it's\\env.sh", e)[1]).toBe(`if [ -f '/d/it'\\''s/env.sh' ]; then . '/d/it'\\''s/env.sh'; fi`);
  });

  it('creates ~/.bash_profile as Git for Windows would when no login file exists', async () => {
    const e = { platform: 'win32' as const, homedir: 'C:\\Users\\ada', env: {} };
    const layout = await bash.layout(e, noFiles);
    expect(layout.files.map((f) => [f.path, f.prelude])).toEqual([
      ['C:\\Users\\ada\\.bash_profile', GIT_BASH_PROFILE],
      ['C:\\Users\\ada\\.bashrc', undefined],
    ]);
  });
});

describe('execution policy', () => {
  const facts = (Desktop?: typeof RESTRICTED_DEFAULT, Core?: typeof RESTRICTED_DEFAULT) => ({
    documents: 'C:\\D',
    powershells: [
      { edition: 'Desktop' as const, installed: true, policy: Desktop },
      { edition: 'Core' as const, installed: true, policy: Core },
    ],
  });
  it('Restricted (the client default) and AllSigned keep profiles from running; RemoteSigned does not', () => {
    expect(blockedProfiles(facts(RESTRICTED_DEFAULT, REMOTE_SIGNED_USER))).toEqual([{ edition: 'Desktop', policy: 'Restricted', scope: undefined, groupPolicy: false }]);
    const gpo = { effective: 'AllSigned', scopes: [{ scope: 'MachinePolicy', policy: 'AllSigned' }, { scope: 'CurrentUser', policy: 'RemoteSigned' }] };
    expect(blockedProfiles(facts(REMOTE_SIGNED_USER, gpo))).toEqual([{ edition: 'Core', policy: 'AllSigned', scope: 'MachinePolicy', groupPolicy: true }]);
  });

  it('is asked of each PowerShell without -ExecutionPolicy (which would set the Process scope)', async () => {
    const win = fakeWindows({ policies: { Desktop: RESTRICTED_DEFAULT } });
    const home = tempHome();
    try {
      const root = path.join(home.home, 'Windows');
      mkdirSync(path.join(root, 'System32', 'WindowsPowerShell', 'v1.0'), { recursive: true });
      writeFileSync(path.join(root, 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe'), '');
      const env = { SystemRoot: root, PSExecutionPolicyPreference: 'Bypass' };
      const found = await windowsFacts(spawnedWindows(win.spawn, env), home.home, env);
      expect(found.powershells).toEqual([
        { edition: 'Desktop', installed: true, policy: RESTRICTED_DEFAULT },
        { edition: 'Core', installed: false },
      ]);
      const asked = win.calls.find((c) => c.script.includes('Get-ExecutionPolicy'))!;
      expect(asked.args).not.toContain('-ExecutionPolicy');
      expect(asked.env.PSExecutionPolicyPreference).toBeUndefined();
    } finally {
      home.cleanup();
    }
  });
});

/** Every file under a folder with its bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) {
        out.set(`${p}/`, 'dir');
        walk(p);
      } else out.set(p, readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

describe('setup on a Windows home (win32 injected, real files)', () => {
  let home: TempHome;
  const h = (...parts: string[]) => path.join(home.home, ...parts);
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());

  /** A Windows user's environment, with the home as %USERPROFILE% and both PowerShells installed. */
  function windowsEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const exe = (...parts: string[]) => {
      mkdirSync(h(...parts.slice(0, -1)), { recursive: true });
      writeFileSync(h(...parts), '');
    };
    exe('Windows', 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
    exe('Program Files', 'PowerShell', '7', 'pwsh.exe');
    return {
      USERPROFILE: home.home,
      APPDATA: h('AppData', 'Roaming'),
      SystemRoot: h('Windows'),
      ProgramFiles: h('Program Files'),
      // Where thirdloop's folder is on Windows (%APPDATA%\thirdloop), given as a real folder here.
      THIRDLOOP_CONFIG_DIR: h('AppData', 'Roaming', 'thirdloop'),
      ...extra,
    };
  }
  const ctxFor = (env: NodeJS.ProcessEnv) => testContext(home.home, { platform: 'win32', env }).ctx;

  it('writes both PowerShell profiles in OneDrive Documents; undo gives back the exact bytes', async () => {
    const win = fakeWindows({ personal: { kind: 'ExpandString', data: '%USERPROFILE%\\OneDrive - Contoso\\Documents' }, policies: { Desktop: REMOTE_SIGNED_USER, Core: REMOTE_SIGNED_USER } });
    const env = windowsEnv();
    // Windows PowerShell 5.1 saved this profile: UTF-16 LE with a BOM, CRLF.
    const ps51 = h('OneDrive - Contoso', 'Documents', 'WindowsPowerShell', 'Microsoft.PowerShell_profile.ps1');
    const ps7 = h('OneDrive - Contoso', 'Documents', 'PowerShell', 'Microsoft.PowerShell_profile.ps1');
    mkdirSync(path.dirname(ps51), { recursive: true });
    const original = Buffer.from('\ufeffSet-Alias g git\r\n$env:EDITOR = \'code\'\r\n', 'utf16le');
    writeFileSync(ps51, original);
    const before = snapshot(home.home);

    const result = await runShellSetup(ctxFor(env), { shells: ['powershell'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(result.changes.map((c) => [c.path, c.action])).toEqual([
      [h('AppData', 'Roaming', 'thirdloop', 'env.ps1'), 'create'],
      [ps51, 'update'],
      [ps7, 'create'],
    ]);
    const text51 = readFileSync(ps51).toString('utf16le');
    expect(text51.startsWith('\ufeffSet-Alias g git\r\n')).toBe(true);
    expect(text51).toContain(`${BLOCK_START}\r\n`);
    expect(text51).toContain('. "$env:APPDATA\\thirdloop\\env.ps1"');
    expect(readFileSync(ps7, 'utf8')).toContain('. "$env:APPDATA\\thirdloop\\env.ps1"');
    expect(existsSync(h('Documents'))).toBe(false); // never the guessed %USERPROFILE%\Documents
    expect(statSync(h('AppData', 'Roaming', 'thirdloop', 'env.ps1')).mode & 0o777).toBe(0o600);
    expect(result.notes.join(' ')).toContain('Documents is in OneDrive');
    // No secret in any command line.
    for (const call of win.calls) expect(call.args.join(' ')).not.toContain(SECRET);

    const undone = await runShellSetup(ctxFor(env), { undo: true, spawn: win.spawn });
    expect(undone.changes.filter((c) => c.action !== 'unchanged').map((c) => [c.path, c.action])).toEqual(
      expect.arrayContaining([
        [ps51, 'update'],
        [ps7, 'remove'],
        [h('AppData', 'Roaming', 'thirdloop', 'env.ps1'), 'remove'],
      ]),
    );
    const after = snapshot(home.home);
    // thirdloop's own state folder stays (config.json); everything else is as it was.
    for (const [file] of after) if (file.startsWith(h('AppData', 'Roaming', 'thirdloop'))) after.delete(file);
    for (const [file] of before) if (file.startsWith(h('AppData'))) before.delete(file);
    for (const [file] of after) if (file.startsWith(h('AppData'))) after.delete(file);
    expect(after).toEqual(before);
    expect(readFileSync(ps51).equals(original)).toBe(true);
  });

  it('says when an execution policy keeps a PowerShell from running its profile, and how to fix it', async () => {
    const win = fakeWindows({ policies: { Desktop: RESTRICTED_DEFAULT, Core: REMOTE_SIGNED_USER } });
    const result = await runShellSetup(ctxFor(windowsEnv()), { shells: ['powershell'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(result.warnings).toEqual([
      expect.stringMatching(/^Windows PowerShell 5\.1's execution policy is Restricted \(the default on Windows client\), so it does not run profiles.*Set-ExecutionPolicy -Scope CurrentUser -ExecutionPolicy RemoteSigned.*--shell cmd/),
    ]);
  });

  it.skipIf(needs('bash'))('Git Bash: ~/.bash_profile as Git for Windows makes it, LF, read by a real bash; undo leaves no trace', async () => {
    const win = fakeWindows();
    // Windows separates PATH with ';' (Git for Windows puts its bash there).
    const env = { ...windowsEnv(), HOME: home.home, PATH: (process.env.PATH ?? '/usr/bin:/bin').split(':').join(';') };
    // A Windows user's .bashrc, and no login file yet (Git Bash would create one at its next start).
    writeFileSync(h('.bashrc'), 'alias ll="ls -l"\nexport FROM_BASHRC=yes\n');
    const before = snapshot(home.home);
    const result = await runShellSetup(ctxFor(env), { shells: ['bash'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    const profile = readFileSync(h('.bash_profile'), 'utf8');
    expect(profile.startsWith(GIT_BASH_PROFILE)).toBe(true);
    expect(profile).toContain('. "$HOME/AppData/Roaming/thirdloop/env.sh"');
    expect(profile).not.toContain('\r');
    expect(readFileSync(h('AppData', 'Roaming', 'thirdloop', 'env.sh'), 'utf8')).not.toContain('\r');
    // The real bash, started as Git Bash starts it (login) and as an interactive shell.
    expect(result.checks).toEqual([expect.objectContaining({ shell: 'bash', installed: true, ok: true })]);
    const { execFileSync } = await import('node:child_process');
    const seen = execFileSync('bash', ['-lc', 'printf "%s|%s|%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY" "$FROM_BASHRC"'], {
      env: { HOME: home.home, PATH: process.env.PATH },
      encoding: 'utf8',
    });
    expect(seen).toBe(`${API_URL}|${CREDENTIAL}|yes`);

    await runShellSetup(ctxFor(env), { undo: true, spawn: win.spawn });
    const after = snapshot(home.home);
    for (const map of [before, after]) for (const [file] of map) if (file.startsWith(h('AppData')) || file.startsWith(h('Windows')) || file.startsWith(h('Program Files'))) map.delete(file);
    expect(after).toEqual(before);
  });
});

describe('cmd: the user environment', () => {
  let home: TempHome;
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());
  const ctxFor = () => testContext(home.home, { platform: 'win32', env: { THIRDLOOP_CONFIG_DIR: path.join(home.home, 'cfg') } }).ctx;

  it('is set and broadcast, the key never in argv; undo puts back the values from before, kinds included', async () => {
    const personal = 'sk-ant-api03-personal-key-of-the-user';
    const win = fakeWindows({
      environment: {
        ANTHROPIC_BASE_URL: { kind: 'ExpandString', data: '%PROXY_HOST%/anthropic' },
        ANTHROPIC_API_KEY: { kind: 'String', data: personal },
        PATH: { kind: 'ExpandString', data: '%USERPROFILE%\\bin' },
      },
    });
    const before = new Map(win.registry.get('environment'));
    const ctx = ctxFor();
    const result = await runShellSetup(ctx, { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(result.changes).toEqual([expect.objectContaining({ kind: 'user-environment', action: 'create', holdsSecret: true })]);
    const env = win.registry.get('environment')!;
    expect(env.get('ANTHROPIC_API_KEY')).toEqual({ kind: 'String', data: CREDENTIAL });
    expect(env.get('ANTHROPIC_BASE_URL')).toEqual({ kind: 'String', data: API_URL });
    expect(win.broadcasts).toBe(1);
    const prior = path.join(home.home, 'cfg', PRIOR_VALUES_FILE);
    expect(statSync(prior).mode & 0o777).toBe(0o600);
    for (const call of win.calls) {
      expect(call.args.join(' ')).not.toContain(SECRET);
      expect(call.args.join(' ')).not.toContain(personal);
      expect(call.script).not.toContain(SECRET);
    }
    expect(await shellsConfigured(ctx)).toBe(true);

    // A rotation rewrites ours and keeps the values from before for undo.
    const rotated = makeCredential('rotated');
    expect(await rewriteEnvFiles(ctx, { apiUrl: API_URL, credential: rotated }, { spawn: win.spawn })).toEqual(['HKCU\\Environment']);
    expect(env.get('ANTHROPIC_API_KEY')!.data).toBe(rotated);
    // A second setup too.
    await runShellSetup(ctx, { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });

    const undone = await runShellSetup(ctx, { shells: ['cmd'], undo: true, spawn: win.spawn });
    expect(undone.changes[0]!.notes.join(' ')).toContain('Put back the values ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY had');
    expect(new Map(env)).toEqual(before);
    expect(existsSync(prior)).toBe(false);
    expect(win.broadcasts).toBe(4);
    expect(await shellsConfigured(ctx)).toBe(false);
  });

  it('undo deletes variables that did not exist before; a failed broadcast is said', async () => {
    const win = fakeWindows();
    win.noBroadcast = true;
    const ctx = ctxFor();
    const result = await runShellSetup(ctx, { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(result.changes[0]!.notes.join(' ')).toContain('WM_SETTINGCHANGE');
    await runShellSetup(ctx, { shells: ['cmd'], undo: true, spawn: win.spawn });
    expect([...win.registry.get('environment')!.keys()]).toEqual([]);
  });

  it('refuses, changing nothing, when the registry cannot be read (the values from before would be lost)', async () => {
    const win = fakeWindows();
    win.broken = true;
    const error = await runShellSetup(ctxFor(), { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn }).catch((e: Error) => e);
    expect((error as Error).message).toContain('Cannot read the Windows user environment');
    expect((error as Error).message).toContain('Nothing was changed.');
    expect(existsSync(path.join(home.home, 'cfg', PRIOR_VALUES_FILE))).toBe(false);
  });
});

describe('execution policy: the user environment as a fallback, with consent', () => {
  let home: TempHome;
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());
  const ctxFor = () => testContext(home.home, { platform: 'win32', env: { USERPROFILE: home.home, THIRDLOOP_CONFIG_DIR: path.join(home.home, 'cfg') } }).ctx;

  it('asks, naming the blocked PowerShell; yes adds the user environment, no leaves it alone', async () => {
    const win = fakeWindows({ policies: { Desktop: RESTRICTED_DEFAULT } });
    const asked: string[][] = [];
    const yes = await runShellSetup(ctxFor(), {
      shells: ['powershell'],
      apiUrl: API_URL,
      credential: CREDENTIAL,
      spawn: win.spawn,
      askUserEnvironment: async (reasons) => (asked.push(reasons), true),
    });
    expect(asked).toEqual([[expect.stringContaining("Windows PowerShell 5.1's execution policy is Restricted")]]);
    expect(yes.changes.map((c) => c.kind)).toContain('user-environment');
    expect(win.registry.get('environment')!.get('ANTHROPIC_API_KEY')!.data).toBe(CREDENTIAL);
    // With the user environment set, the warning says the variables arrive anyway.
    expect(yes.warnings.join(' ')).toContain('still gets the Third Loop settings from the user environment');

    const other = fakeWindows({ policies: { Desktop: RESTRICTED_DEFAULT } });
    const no = await runShellSetup(ctxFor(), { shells: ['powershell'], apiUrl: API_URL, credential: CREDENTIAL, spawn: other.spawn, askUserEnvironment: async () => false });
    expect(no.changes.map((c) => c.kind)).not.toContain('user-environment');
    expect(other.registry.get('environment')!.size).toBe(0);
  });
});

describe('after writing, each PowerShell is started as a new window would be', () => {
  let home: TempHome;
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());

  it('both 5.1 (powershell) and 7 (pwsh), except one whose policy skips profiles; a PowerShell that does not see the values takes the edits back', async () => {
    // Stand-ins that record being started and print nothing: no PowerShell runs here, so the check must fail.
    const bin = path.join(home.home, 'bin');
    mkdirSync(bin);
    const log = path.join(home.home, 'started.log');
    for (const name of ['powershell.exe', 'pwsh.exe']) {
      writeFileSync(path.join(bin, name), `#!/bin/sh\necho ${name} >> '${log}'\n`, { mode: 0o755 });
    }
    const win = fakeWindows({ policies: { Desktop: RESTRICTED_DEFAULT, Core: REMOTE_SIGNED_USER } });
    const env = { USERPROFILE: home.home, PATH: bin, ProgramFiles: path.join(home.home, 'none'), THIRDLOOP_CONFIG_DIR: path.join(home.home, 'cfg') };
    const ctx = testContext(home.home, { platform: 'win32', env }).ctx;
    const before = snapshot(home.home);
    const result = await runShellSetup(ctx, { shells: ['powershell'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn, timeoutMs: 5000 });
    expect(readFileSync(log, 'utf8')).toBe('pwsh.exe\n');
    expect(result.checks).toEqual([expect.objectContaining({ shell: 'powershell', installed: true, ok: false })]);
    expect(result.checks[0]!.modes.map((m) => m.command)).toEqual(['pwsh']);
    expect(result.failed).toEqual(['powershell']);
    // Taken back: the profiles are as they were (the env file and thirdloop's state aside).
    const after = snapshot(home.home);
    for (const map of [before, after]) for (const [file] of map) if (file.startsWith(path.join(home.home, 'cfg')) || file === log) map.delete(file);
    expect(after).toEqual(before);
  });
});

describe('logout on Windows', () => {
  let home: TempHome;
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());

  it('takes the key out of the user environment too (the values from before come back)', async () => {
    const { run: logout } = await import('../../src/commands/auth/logout.js');
    const win = fakeWindows({ environment: { ANTHROPIC_BASE_URL: { kind: 'String', data: 'https://proxy.example' } } });
    const ctx = testContext(home.home, { platform: 'win32', env: { USERPROFILE: home.home, THIRDLOOP_CONFIG_DIR: path.join(home.home, 'cfg') } }).ctx;
    const config = await ctx.config();
    config.setProfile('default', { apiUrl: API_URL });
    await (await ctx.secrets()).set('default', CREDENTIAL, { insecure: true });
    await runShellSetup(ctx, { shells: ['cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(win.registry.get('environment')!.get('ANTHROPIC_API_KEY')!.data).toBe(CREDENTIAL);

    await logout(ctx, { windows: spawnedWindows(win.spawn, {}) });
    expect([...win.registry.get('environment')!.entries()]).toEqual([['ANTHROPIC_BASE_URL', { kind: 'String', data: 'https://proxy.example' }]]);
    expect(existsSync(path.join(home.home, 'cfg', PRIOR_VALUES_FILE))).toBe(false);
    expect(await shellsConfigured(ctx)).toBe(false);
  });
});

describe('--via-run on Windows', () => {
  let home: TempHome;
  const h = (...parts: string[]) => path.join(home.home, ...parts);
  beforeEach(() => {
    home = tempHome('thirdloop-win-');
  });
  afterEach(() => home.cleanup());

  it.skipIf(needs('bash'))('Git Bash gets the claude function (checked by the real bash through run); the key leaves the user environment, its old values come back', async () => {
    const personal = 'sk-ant-api03-personal-key-of-the-user';
    const win = fakeWindows({ environment: { ANTHROPIC_API_KEY: { kind: 'String', data: personal } } });
    const before = new Map(win.registry.get('environment'));
    const env = {
      USERPROFILE: home.home,
      APPDATA: h('AppData', 'Roaming'),
      THIRDLOOP_CONFIG_DIR: h('AppData', 'Roaming', 'thirdloop'),
      HOME: home.home,
      // Windows separates PATH with ';' (Git for Windows puts its bash there).
      PATH: (process.env.PATH ?? '/usr/bin:/bin').split(':').join(';'),
    };
    const ctx = testContext(home.home, { platform: 'win32', env }).ctx;
    // The `thirdloop run` the function starts is this machine's: signed in where it looks.
    writeSignedInHome(home.home, { apiUrl: API_URL, credential: CREDENTIAL, platform: 'linux', env: { HOME: home.home } });
    writeFileSync(h('.bashrc'), 'alias ll="ls -l"\n');

    await runShellSetup(ctx, { shells: ['bash', 'cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn });
    expect(win.registry.get('environment')!.get('ANTHROPIC_API_KEY')!.data).toBe(CREDENTIAL);

    const result = await runShellSetup(ctx, { shells: ['bash', 'cmd'], apiUrl: API_URL, credential: CREDENTIAL, spawn: win.spawn, mode: 'run' });
    expect(result.failed).toEqual([]);
    expect(result.checks).toEqual([expect.objectContaining({ shell: 'bash', installed: true, ok: true })]);
    expect(result.checks[0]!.modes.map((m) => m.saw)).toEqual(['`claude` through `thirdloop run`', '`claude` through `thirdloop run`', '`claude` through `thirdloop run`']);
    const profile = readFileSync(h('.bash_profile'), 'utf8');
    expect(profile).toContain('. "$HOME/AppData/Roaming/thirdloop/run.sh"');
    expect(profile).not.toContain('\r');
    expect(existsSync(h('AppData', 'Roaming', 'thirdloop', 'env.sh'))).toBe(false);
    // cmd cannot have the function: said, and the key is out of the user environment, the user's own value back.
    expect(result.notes.join(' ')).toContain('type `thirdloop run -- claude` there');
    const userEnvironment = result.changes.find((c) => c.kind === 'user-environment')!;
    expect(userEnvironment.action).toBe('remove');
    expect(new Map(win.registry.get('environment'))).toEqual(before);
    expect(existsSync(h('AppData', 'Roaming', 'thirdloop', PRIOR_VALUES_FILE))).toBe(false);
    for (const call of win.calls) expect(call.args.join(' ') + call.script).not.toContain(SECRET);
    const record = JSON.parse(readFileSync(h('AppData', 'Roaming', 'thirdloop', 'config.json'), 'utf8'))['setup.shells'];
    expect(record).toMatchObject({ shells: ['bash'], runShells: ['bash'], userEnvironment: false });
  });
});
