/** bash: ~/.bashrc on Linux, ~/.bash_profile on macOS (Terminal.app starts login shells). */
import { ENV_FILE_HEADER, checkValue, pathFor, underHome } from './common.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, ProfileShell, ShellEnv } from './types.js';

/** POSIX single quotes: everything literal; a quote becomes '\''. */
export const posixQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** A path for a POSIX-shell source line: "$HOME/…" when possible, else single-quoted. */
export function posixPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  return rel !== undefined && e.platform !== 'win32' ? `"$HOME/${rel}"` : posixQuote(file);
}

/** env.sh, shared by bash and zsh. */
export function posixEnvFile(values: EnvValues): string {
  return [
    ...ENV_FILE_HEADER.map((line) => `# ${line}`),
    `export ${BASE_URL_VAR}=${posixQuote(checkValue(BASE_URL_VAR, values.apiUrl))}`,
    `export ${API_KEY_VAR}=${posixQuote(checkValue(API_KEY_VAR, values.credential))}`,
    '',
  ].join('\n');
}

export function posixSourceBlock(envFile: string, e: ShellEnv): string[] {
  const quoted = posixPath(envFile, e);
  return [BLOCK_COMMENT, `if [ -f ${quoted} ]; then . ${quoted}; fi`];
}

const posixAssignment = new RegExp(
  `^\\s*(?:export\\s+|(?:declare|typeset|local)\\s+-[A-Za-z]*\\s+)?${WATCHED_VAR_PATTERN}=`,
);
export function posixSetsVariable(line: string): string | undefined {
  return posixAssignment.exec(line)?.[1];
}

// macOS terminals open login shells, which read ~/.bash_profile rather than ~/.bashrc.
const bashProfile = (e: ShellEnv) => pathFor(e.platform).join(e.homedir, e.platform === 'darwin' ? '.bash_profile' : '.bashrc');

export const bash: ProfileShell = {
  kind: 'profile',
  name: 'bash',
  label: 'bash',
  profilePath: (e) => bashProfile(e),
  usageHints: (e) => [bashProfile(e)],
  envFileName: 'env.sh',
  envFileContent: posixEnvFile,
  sourceBlock: posixSourceBlock,
  ownsProfile: false,
  setsVariable: posixSetsVariable,
  verifyCommand: 'echo "$ANTHROPIC_BASE_URL"',
};
