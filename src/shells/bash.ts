/**
 * bash, as its INVOCATION rules say: an interactive shell that is not a
 * login shell reads ~/.bashrc; a login shell (macOS Terminal, ssh, `su -`,
 * `bash -l`) reads only the first of ~/.bash_profile, ~/.bash_login and
 * ~/.profile that exists. So the block goes into ~/.bashrc and into that
 * first login file, and when there is none, into ~/.profile: creating
 * ~/.bash_profile would make bash stop reading the user's ~/.profile.
 * An existing ~/.profile gets it as well, for the desktop sessions that read
 * it with sh whatever bash does.
 * The same on every platform (Git Bash included); only the path flavour differs.
 */
import { pathFor } from './common.js';
import { shProbe } from './probe-command.js';
import {
  posixEnvFile,
  posixFunctionTracker,
  posixSetsVariable,
  posixSourceBlock,
  posixStopsReading,
  posixTestsInteractive,
} from './posix.js';
import type { ProfileShell, ShellEnv, ShellLayout, ShellProbe } from './types.js';

export { posixEnvFile, posixPath, posixQuote, posixSetsVariable, posixSourceBlock } from './posix.js';

/** The login files in the order bash looks for them. */
export const BASH_LOGIN_FILES = ['.bash_profile', '.bash_login', '.profile'] as const;

export async function bashLayout(e: ShellEnv, probe: ShellProbe): Promise<ShellLayout> {
  const p = pathFor(e.platform);
  let login: string | undefined;
  for (const name of BASH_LOGIN_FILES) {
    const file = p.join(e.homedir, name);
    if (await probe.exists(file)) {
      login = file;
      break;
    }
  }
  const profile = p.join(e.homedir, '.profile');
  const files: ShellLayout['files'] = [
    { path: login ?? profile, modes: ['login', 'interactive login'], target: true, create: true },
    { path: p.join(e.homedir, '.bashrc'), modes: ['interactive'], target: true, create: true },
  ];
  // bash reads ~/.profile no more once ~/.bash_profile exists, but desktop sessions still do (Xsession, display
  // managers: sh reads it), as rustup covers it: an existing ~/.profile gets the block too (sourcing twice is harmless).
  if (login !== undefined && login !== profile && (await probe.exists(profile))) files.push({ path: profile, modes: [], target: true });
  return { files, notes: [] };
}

export const bash: ProfileShell = {
  kind: 'profile',
  name: 'bash',
  label: 'bash',
  program: 'bash',
  startArgs: {
    interactive: (command) => ['-ic', command],
    login: (command) => ['-lc', command],
    'interactive login': (command) => ['-lic', command],
  },
  layout: bashLayout,
  usageHints: (e) => ['.bashrc', ...BASH_LOGIN_FILES.filter((n) => n !== '.profile')].map((n) => pathFor(e.platform).join(e.homedir, n)),
  envFileName: 'env.sh',
  envFileContent: posixEnvFile,
  sourceBlock: posixSourceBlock,
  // A CR before the LF would end up in `fi\r`, which never closes the `if`.
  blockEol: () => '\n',
  setsVariable: posixSetsVariable,
  stopsReading: posixStopsReading,
  testsInteractive: posixTestsInteractive,
  functionTracker: posixFunctionTracker,
  probeCommand: shProbe,
  verifyCommand: 'echo "$ANTHROPIC_BASE_URL"',
};
