/**
 * Every PowerShell text thirdloop generates — the env file, the profile
 * block, and each script it runs through -EncodedCommand — parsed by a real
 * PowerShell grammar, with hostile values: quotes of every kind, backticks,
 * $( and $env:, non-ASCII. Parsing cleanly is not enough for values: the
 * tree must show each value as one literal string that reads back exactly.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { placeBlock } from '../../src/files/marked-block.js';
import { reloadHint } from '../../src/doctor/environment.js';
import { runShellSetup } from '../../src/shells/configure.js';
import { powershell, powershellEnvFile } from '../../src/shells/powershell.js';
import { powershellProbe } from '../../src/shells/probe-command.js';
import { USER_SHELL_FOLDERS } from '../../src/shells/windows/facts.js';
import { executionPolicyScript, readValuesScript, writeUserEnvironmentScript } from '../../src/shells/windows/scripts.js';
import { RESTRICTED_DEFAULT, fakeWindows } from '../helpers/fake-windows.js';
import { parsePowerShell, verbatimValue, walk } from '../helpers/powershell-grammar.js';
import { makeCredential, tempHome, testContext } from '../helpers/setup-env.js';

const HOSTILE = [
  "it's",
  'say "hi"',
  'back`tick`$(whoami)',
  '$(Remove-Item -Recurse C:\\)',
  '$env:USERPROFILE and ${x}',
  '‘curly’ “double” ‚low‛ „low”',
  'naïve Ünïcødé 中文 🙂',
  "'';Write-Host pwned;''",
  '@(1,2) # not a comment; -not $true',
];

async function clean(text: string) {
  const parsed = await parsePowerShell(text);
  expect(parsed.errors, text).toEqual([]);
  return parsed;
}

describe('a real PowerShell grammar reads what thirdloop writes', () => {
  it('the grammar itself finds errors (so a clean parse means something)', async () => {
    expect((await parsePowerShell("$env:A = 'unterminated\n")).errors).not.toEqual([]);
    expect((await parsePowerShell('if (Test-Path x) { . "$HOME\\x" \n')).errors).not.toEqual([]);
    expect((await parsePowerShell('$x = "a$(b"\n')).errors).not.toEqual([]);
  });

  it.each(HOSTILE)('env.ps1 holds %j exactly, as one literal string', async (hostile) => {
    const apiUrl = `https://tl.example.com/${hostile}`;
    const credential = `tlk_abc;${hostile}`;
    const { root } = await clean(powershellEnvFile({ apiUrl, credential }));
    const strings = [...walk(root)].filter((n) => n.type === 'string_literal');
    expect(strings.map((s) => s.children[0]!.type)).toEqual(['verbatim_string_characters', 'verbatim_string_characters']);
    expect(strings.map((s) => verbatimValue(s.text))).toEqual([apiUrl, credential]);
    // Nothing in it runs: the only variables are the two assigned.
    expect([...walk(root)].filter((n) => n.type === 'variable').map((n) => n.text)).toEqual(['$env:ANTHROPIC_BASE_URL', '$env:ANTHROPIC_API_KEY']);
    expect([...walk(root)].some((n) => n.type === 'sub_expression' || n.type === 'command')).toBe(false);
  });

  it.each(HOSTILE)('the profile block loads the env file at a path holding %j, and nothing else', async (hostile) => {
    const win = (env: NodeJS.ProcessEnv) => ({ platform: 'win32' as const, homedir: 'C:\\Users\\ada', env });
    const appData = 'C:\\Users\\ada\\AppData\\Roaming';
    const cases = [
      // Under APPDATA: "$env:APPDATA\…", or Join-Path with a literal when the rest is not plain.
      { file: `${appData}\\${hostile}\\env.ps1`, e: win({ APPDATA: appData }) },
      // Elsewhere (THIRDLOOP_CONFIG_DIR): the literal path.
      { file: `D:\\${hostile}\\env.ps1`, e: win({ APPDATA: appData }) },
      { file: `/home/${hostile}/env.ps1`, e: { platform: 'linux' as const, homedir: '/home/ada', env: {} } },
    ];
    for (const { file, e } of cases) {
      const block = powershell.sourceBlock(file, e);
      const { root } = await clean(block.join('\n'));
      const vars = [...walk(root)].filter((n) => n.type === 'variable').map((n) => n.text);
      expect(vars.every((v) => v === '$env:APPDATA' || v === '$HOME'), `${vars.join(' ')} in ${block[1]}`).toBe(true);
      expect([...walk(root)].some((n) => n.type === 'sub_expression'), block[1]).toBe(false);
      const literals = [...walk(root)].filter((n) => n.type === 'verbatim_string_characters').map((n) => verbatimValue(n.text));
      if (vars.length === 0) expect(literals).toEqual([file, file]);
      else if (literals.length > 0) expect(literals.map((l) => `${appData}\\${l}`)).toEqual([file, file]);
      // The commands are Test-Path, Join-Path and the dot-source, nothing more.
      const commands = [...walk(root)].filter((n) => n.type === 'command_name').map((n) => n.text);
      expect(commands.filter((c) => c !== 'Join-Path')).toEqual(['Test-Path']);
    }
  });

  it('the block placed into a Windows PowerShell 5.1 profile (BOM, CRLF) keeps the whole file parsing', async () => {
    const profile = '\ufeff# my profile\r\nSet-Alias g git\r\nfunction prompt { "PS $($executionContext.SessionState.Path.CurrentLocation)> " }\r\n';
    const body = powershell.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.ps1', { platform: 'win32', homedir: 'C:\\Users\\ada', env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' } });
    const placed = placeBlock(profile, body, { eol: '\r\n' });
    await clean(placed.text.replace(/^\ufeff/, ''));
  });

  it('the scripts run through -EncodedCommand, and the probe', async () => {
    await clean(readValuesScript(USER_SHELL_FOLDERS, ['Personal']));
    await clean(readValuesScript('Environment', ['ANTHROPIC_BASE_URL', 'ANTHROPIC_API_KEY']));
    await clean(writeUserEnvironmentScript([{ name: 'ANTHROPIC_BASE_URL', kind: 'String' }, { name: 'ANTHROPIC_API_KEY', kind: 'ExpandString' }]));
    await clean(writeUserEnvironmentScript([{ name: 'ANTHROPIC_BASE_URL' }, { name: 'ANTHROPIC_API_KEY' }]));
    await clean(executionPolicyScript());
    await clean(powershellProbe('TL0123456789ab:'));
  });

  it('every script a real setup and undo send (as recorded) parses, and none holds a value', async () => {
    const home = tempHome('thirdloop-win-');
    try {
      const credential = makeCredential('grammar');
      const win = fakeWindows({
        personal: { kind: 'ExpandString', data: '%USERPROFILE%\\OneDrive\\Documents' },
        environment: { ANTHROPIC_API_KEY: { kind: 'String', data: "sk-ant-'$(x)`" } },
        policies: { Desktop: RESTRICTED_DEFAULT },
      });
      const env = { USERPROFILE: home.home, APPDATA: path.join(home.home, 'AppData'), THIRDLOOP_CONFIG_DIR: path.join(home.home, 'AppData', 'thirdloop') };
      const ctx = () => testContext(home.home, { platform: 'win32', env }).ctx;
      await runShellSetup(ctx(), { shells: ['powershell', 'cmd'], apiUrl: 'https://tl.example.com', credential, spawn: win.spawn });
      await runShellSetup(ctx(), { shells: ['powershell', 'cmd'], undo: true, spawn: win.spawn });
      expect(win.calls.length).toBeGreaterThanOrEqual(4);
      for (const call of win.calls) {
        await clean(call.script);
        expect(call.script).not.toContain(credential.split(';')[1]);
        expect(call.script).not.toContain('sk-ant-');
      }
    } finally {
      home.cleanup();
    }
  });

  it("doctor's reload hint is a command PowerShell reads, whatever the folder's name", async () => {
    const hint = reloadHint({}, "C:\\Users\\O'Brien\\AppData\\Roaming\\thirdloop", 'win32');
    const command = /`([^`]+)`/.exec(hint)![1]!;
    const { root } = await clean(command);
    expect([...walk(root)].filter((n) => n.type === 'verbatim_string_characters').map((n) => verbatimValue(n.text))).toEqual([
      "C:\\Users\\O'Brien\\AppData\\Roaming\\thirdloop\\env.ps1",
    ]);
  });
});
