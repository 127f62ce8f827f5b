/** zsh: ${ZDOTDIR:-~}/.zshrc, sourcing the same env.sh as bash. */
import { pathFor } from './common.js';
import { posixEnvFile, posixSetsVariable, posixSourceBlock } from './bash.js';
import type { ProfileShell, ShellEnv } from './types.js';

const zdotdir = (e: ShellEnv) => {
  const dir = e.env.ZDOTDIR?.trim();
  return dir && pathFor(e.platform).isAbsolute(dir) ? dir : e.homedir;
};

const zshrc = (e: ShellEnv) => pathFor(e.platform).join(zdotdir(e), '.zshrc');

export const zsh: ProfileShell = {
  kind: 'profile',
  name: 'zsh',
  label: 'zsh',
  profilePath: (e) => zshrc(e),
  usageHints: (e) => [zshrc(e)],
  envFileName: 'env.sh',
  envFileContent: posixEnvFile,
  sourceBlock: posixSourceBlock,
  ownsProfile: false,
  setsVariable: posixSetsVariable,
  verifyCommand: 'echo "$ANTHROPIC_BASE_URL"',
};
