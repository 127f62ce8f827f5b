/**
 * fish: a file of our own in conf.d (fish sources conf.d itself), so the
 * user's config.fish is never touched. XDG_CONFIG_HOME is respected.
 */
import { ENV_FILE_HEADER, checkValue, pathFor, underHome, xdgConfigHome } from './common.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, ProfileShell, ShellEnv } from './types.js';

/** fish single quotes: only \\ and \' are escapes. */
export const fishQuote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

function fishPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  return rel !== undefined && e.platform !== 'win32' ? `"$HOME/${rel}"` : fishQuote(file);
}

const fishDir = (e: ShellEnv) => pathFor(e.platform).join(xdgConfigHome(e), 'fish');

const assignment = new RegExp(`^\\s*set\\s+(?:-[-A-Za-z]+\\s+)*${WATCHED_VAR_PATTERN}(?:\\s|$)`);

export const fish: ProfileShell = {
  kind: 'profile',
  name: 'fish',
  label: 'fish',
  profilePath: (e) => pathFor(e.platform).join(fishDir(e), 'conf.d', 'thirdloop.fish'),
  usageHints: (e) => {
    const p = pathFor(e.platform);
    return [p.join(fishDir(e), 'config.fish'), p.join(fishDir(e), 'conf.d'), p.join(fishDir(e), 'conf.d', 'thirdloop.fish')];
  },
  envFileName: 'env.fish',
  envFileContent: (values: EnvValues) =>
    [
      ...ENV_FILE_HEADER.map((line) => `# ${line}`),
      `set -gx ${BASE_URL_VAR} ${fishQuote(checkValue(BASE_URL_VAR, values.apiUrl))}`,
      `set -gx ${API_KEY_VAR} ${fishQuote(checkValue(API_KEY_VAR, values.credential))}`,
      '',
    ].join('\n'),
  sourceBlock: (envFile, e) => {
    const quoted = fishPath(envFile, e);
    return [BLOCK_COMMENT, `if test -f ${quoted}; source ${quoted}; end`];
  },
  ownsProfile: true,
  setsVariable: (line) => assignment.exec(line)?.[1],
  verifyCommand: 'echo $ANTHROPIC_BASE_URL',
};
