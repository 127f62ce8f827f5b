/**
 * PowerShell: the current user's $PROFILE for the current host
 * (CurrentUserCurrentHost, about_Profiles), i.e.
 * ~/.config/powershell/Microsoft.PowerShell_profile.ps1 on Linux and macOS
 * (XDG_CONFIG_HOME respected, as pwsh does); on Windows, of each PowerShell:
 * Windows PowerShell 5.1 (every Windows 10 and 11 opens it by default) reads
 * Documents\WindowsPowerShell\Microsoft.PowerShell_profile.ps1, PowerShell 7
 * Documents\PowerShell\Microsoft.PowerShell_profile.ps1, with Documents
 * wherever the registry puts it (OneDrive, a redirected folder: windows/facts.ts).
 */
import path from 'node:path';
import { ENV_FILE_HEADER, RUN_FILE_HEADER, checkValue, pathFor, runWords, underHome, xdgConfigHome } from './common.js';
import { posixFunctionTracker } from './posix.js';
import { powershellProbe } from './probe-command.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, ProfileShell, RunValues, ShellEnv, StartupFile } from './types.js';
import { EDITION_FOLDER, EDITION_LABEL, blockedProfiles, windowsJoin } from './windows/facts.js';
import { envValue } from './windows/paths.js';

/**
 * PowerShell single quotes: literal, a quote is doubled. PowerShell also
 * treats the typographic single quotes as quotes, so those are doubled too.
 */
export const powershellQuote = (value: string) => `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;

/** Inside PowerShell double quotes, only $, ` and the double quotes (also typographic) are special. */
const PLAIN_IN_DOUBLE_QUOTES = /^[^$`"\u201c\u201d\u201e\u0000-\u001f]+$/;

/**
 * The env file's path in the profile line. On Windows it is under
 * $env:APPDATA when it can be (roaming profiles and folder redirection put
 * AppData elsewhere than $HOME\AppData\Roaming, and the profile may roam
 * with it); elsewhere under $HOME; otherwise the full path, single-quoted.
 */
export function powershellPath(file: string, e: ShellEnv): string {
  if (e.platform === 'win32') {
    const appData = envValue(e.env, 'APPDATA');
    if (appData) {
      const p = path.win32;
      const rel = p.relative(p.normalize(appData), p.normalize(file));
      if (rel && !rel.startsWith('..') && !p.isAbsolute(rel)) {
        const tail = rel.split(/[\\/]/).join('\\');
        return PLAIN_IN_DOUBLE_QUOTES.test(tail) ? `"$env:APPDATA\\${tail}"` : `(Join-Path $env:APPDATA ${powershellQuote(tail)})`;
      }
    }
    return powershellQuote(file);
  }
  const rel = underHome(file, e);
  if (rel === undefined) return powershellQuote(file);
  // underHome() allows only plain characters, so nothing in `rel` expands inside double quotes.
  return `"$HOME/${rel}"`;
}

const PROFILE_NAME = 'Microsoft.PowerShell_profile.ps1';

/** Each PowerShell's CurrentUserCurrentHost profile on Windows: 5.1 first, then 7. */
export function windowsProfiles(e: ShellEnv): Array<{ edition: 'Desktop' | 'Core'; path: string; installed: boolean | undefined }> {
  const documents = e.windows?.documents ?? windowsJoin(e.homedir, envValue(e.env, 'USERPROFILE') || e.homedir, 'Documents');
  return (['Desktop', 'Core'] as const).map((edition) => ({
    edition,
    path: windowsJoin(e.homedir, documents, EDITION_FOLDER[edition], PROFILE_NAME),
    installed: e.windows?.powershells.find((ps) => ps.edition === edition)?.installed,
  }));
}

export function powershellProfilePath(e: ShellEnv): string {
  if (e.platform === 'win32') return windowsProfiles(e).find((f) => f.edition === 'Core')!.path;
  return pathFor(e.platform).join(xdgConfigHome(e), 'powershell', PROFILE_NAME);
}

/**
 * Windows: the profile of each PowerShell that is installed, or of both when
 * that cannot be told; an existing profile always gets the block (its
 * PowerShell may come back).
 */
function windowsLayout(e: ShellEnv): StartupFile[] {
  return windowsProfiles(e).map(({ edition, path: file, installed }) => ({
    path: file,
    modes: ['interactive'],
    target: true,
    create: installed !== false,
    readBy: EDITION_LABEL[edition],
  }));
}

const assignment = new RegExp(
  `(?:\\$env:${WATCHED_VAR_PATTERN}\\s*=|SetEnvironmentVariable\\(\\s*['"]${WATCHED_VAR_PATTERN}['"])`,
  'i',
);

export function powershellEnvFile(values: EnvValues): string {
  return [
    ...ENV_FILE_HEADER.map((line) => `# ${line}`),
    `$env:${BASE_URL_VAR} = ${powershellQuote(checkValue(BASE_URL_VAR, values.apiUrl))}`,
    `$env:${API_KEY_VAR} = ${powershellQuote(checkValue(API_KEY_VAR, values.credential))}`,
    '',
  ].join('\n');
}

/**
 * run.ps1: a function per command, dot-sourced by the profile. An alias of the same name would win
 * over the function, so it goes first. `'--'` is quoted so that PowerShell hands it to the program
 * instead of taking it as its own end of parameters.
 */
export function powershellRunFile(values: RunValues): string {
  const words = `& ${runWords(values, powershellQuote, 'thirdloop')}`;
  return [
    ...RUN_FILE_HEADER.map((line) => `# ${line}`),
    ...values.commands.flatMap((command) => [
      `Remove-Item -LiteralPath Alias:${command} -ErrorAction SilentlyContinue`,
      `function ${command} { ${words} '--' ${command} @args }`,
    ]),
    '',
  ].join('\n');
}

export const powershell: ProfileShell = {
  kind: 'profile',
  name: 'powershell',
  label: 'PowerShell',
  program: 'pwsh',
  // A PowerShell window is one kind of shell: it loads $PROFILE unless told not to.
  startArgs: { interactive: (command) => ['-NoLogo', '-Command', command] },
  layout: async (e) => ({
    files: e.platform === 'win32' ? windowsLayout(e) : [{ path: powershellProfilePath(e), modes: ['interactive'], target: true, create: true }],
    notes: e.platform === 'win32' && e.windows?.documentsNote ? [e.windows.documentsNote] : [],
  }),
  usageHints: (e) => (e.platform === 'win32' ? windowsProfiles(e).map((f) => f.path) : [powershellProfilePath(e)]),
  envFileName: 'env.ps1',
  envFileContent: powershellEnvFile,
  sourceBlock: (envFile, e, comment = BLOCK_COMMENT) => {
    const file = powershellPath(envFile, e);
    return [comment, `if (Test-Path -LiteralPath ${file}) { . ${file} }`];
  },
  runFileName: 'run.ps1',
  runFileContent: powershellRunFile,
  runProbeCommand: (mark, standInDir) =>
    `${powershellProbe(mark)}; $env:PATH = ${powershellQuote(standInDir)} + [IO.Path]::PathSeparator + $env:PATH; claude ${mark}S 'a b'`,
  // PowerShell reads either line ending; the block follows the file's.
  blockEol: (fileEol) => fileEol,
  setsVariable: (line) => {
    if (/^\s*#/.test(line)) return undefined;
    const match = assignment.exec(line);
    const name = match?.[1] ?? match?.[2];
    return name?.toUpperCase();
  },
  stopsReading: (line) => /^\s*(return|exit)\b/i.exec(line)?.[1]?.toLowerCase(),
  testsInteractive: () => false,
  functionTracker: posixFunctionTracker,
  probeCommand: powershellProbe,
  verifyCommand: '$env:ANTHROPIC_BASE_URL',
};

/**
 * Windows: the PowerShells to start after writing, as new windows would:
 * Windows PowerShell 5.1 (powershell) and PowerShell 7 (pwsh), except one
 * whose execution policy skips profiles (that is reported instead; it
 * could only fail).
 */
export function windowsPowerShellChecks(e: ShellEnv): ProfileShell[] {
  const blocked = new Set(blockedProfiles(e.windows).map((v) => v.edition));
  return (['Desktop', 'Core'] as const)
    .filter((edition) => !blocked.has(edition))
    .map((edition) => ({ ...powershell, program: edition === 'Desktop' ? 'powershell' : 'pwsh' }));
}
