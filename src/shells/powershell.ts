/**
 * PowerShell: the current user's $PROFILE for the current host, i.e.
 * ~/.config/powershell/Microsoft.PowerShell_profile.ps1 on Linux and macOS
 * (XDG_CONFIG_HOME respected, as pwsh does) and
 * Documents\PowerShell\Microsoft.PowerShell_profile.ps1 on Windows.
 */
import { ENV_FILE_HEADER, checkValue, pathFor, underHome, xdgConfigHome } from './common.js';
import { posixFunctionTracker } from './posix.js';
import { powershellProbe } from './probe-command.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, ProfileShell, ShellEnv } from './types.js';

/**
 * PowerShell single quotes: literal, a quote is doubled. PowerShell also
 * treats the typographic single quotes as quotes, so those are doubled too.
 */
export const powershellQuote = (value: string) => `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;

function powershellPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  if (rel === undefined) return powershellQuote(file);
  // underHome() allows only plain characters, so nothing in `rel` expands inside double quotes.
  return `"$HOME${e.platform === 'win32' ? '\\' : '/'}${rel}"`;
}

export function powershellProfilePath(e: ShellEnv): string {
  const p = pathFor(e.platform);
  if (e.platform === 'win32') return p.join(e.homedir, 'Documents', 'PowerShell', 'Microsoft.PowerShell_profile.ps1');
  return p.join(xdgConfigHome(e), 'powershell', 'Microsoft.PowerShell_profile.ps1');
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

export const powershell: ProfileShell = {
  kind: 'profile',
  name: 'powershell',
  label: 'PowerShell',
  program: 'pwsh',
  // A PowerShell window is one kind of shell: it loads $PROFILE unless told not to.
  startArgs: { interactive: (command) => ['-NoLogo', '-Command', command] },
  layout: async (e) => ({ files: [{ path: powershellProfilePath(e), modes: ['interactive'], target: true, create: true }], notes: [] }),
  usageHints: (e) => {
    const p = pathFor(e.platform);
    const profile = powershellProfilePath(e);
    // Windows PowerShell 5.1 keeps its profile next door.
    const legacy =
      e.platform === 'win32'
        ? [p.join(e.homedir, 'Documents', 'WindowsPowerShell', 'Microsoft.PowerShell_profile.ps1')]
        : [];
    return [profile, ...legacy];
  },
  envFileName: 'env.ps1',
  envFileContent: powershellEnvFile,
  sourceBlock: (envFile, e) => {
    const file = powershellPath(envFile, e);
    return [BLOCK_COMMENT, `if (Test-Path -LiteralPath ${file}) { . ${file} }`];
  },
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
