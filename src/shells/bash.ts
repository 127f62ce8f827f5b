/**
 * bash, as its INVOCATION rules say: an interactive shell that is not a
 * login shell reads ~/.bashrc; a login shell (macOS Terminal, ssh, `su -`,
 * `bash -l`) reads only the first of ~/.bash_profile, ~/.bash_login and
 * ~/.profile that exists. So the block goes into ~/.bashrc and into that
 * first login file, and when there is none, into ~/.profile: creating
 * ~/.bash_profile would make bash stop reading the user's ~/.profile.
 * An existing ~/.profile gets it as well, for the desktop sessions that read
 * it with sh whatever bash does.
 * The same on every platform, with one difference for Git Bash on Windows
 * (Claude Code's shell there): every Git Bash window is a login shell, and
 * when none of the login files exists Git for Windows itself creates
 * ~/.bash_profile holding `if [ -f ~/.bashrc ]; then . ~/.bashrc; fi`
 * (git-extra/bash_profile.sh). So that is what setup creates there: the same
 * line, then the block; undo deletes the file again when that line is all
 * that is left. Git Bash reads the block with LF line endings and the env
 * file as a POSIX path (/c/Users/…) or "$HOME/…".
 */
import { pathFor } from './common.js';
import { windowsJoin } from './windows/facts.js';
import { shProbe } from './probe-command.js';
import {
  posixEnvFile,
  posixFunctionTracker,
  posixRunFile,
  posixRunProbe,
  posixSetsVariable,
  posixSourceBlock,
  posixStopsReading,
  posixTestsInteractive,
} from './posix.js';
import type { ProfileShell, ShellEnv, ShellLayout, ShellProbe } from './types.js';

export { posixEnvFile, posixPath, posixQuote, posixSetsVariable, posixSourceBlock } from './posix.js';

/** The login files in the order bash looks for them. */
export const BASH_LOGIN_FILES = ['.bash_profile', '.bash_login', '.profile'] as const;

/** What Git for Windows writes into the ~/.bash_profile it creates (git-extra/bash_profile.sh). */
export const GIT_BASH_PROFILE = 'if [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n';

export async function bashLayout(e: ShellEnv, probe: ShellProbe): Promise<ShellLayout> {
  const windows = e.platform === 'win32';
  const join = (name: string) => (windows ? windowsJoin(e.homedir, e.homedir, name) : pathFor(e.platform).join(e.homedir, name));
  let login: string | undefined;
  for (const name of BASH_LOGIN_FILES) {
    const file = join(name);
    if (await probe.exists(file)) {
      login = file;
      break;
    }
  }
  const profile = join('.profile');
  const loginFile = login ?? join(windows ? '.bash_profile' : '.profile');
  const files: ShellLayout['files'] = [
    {
      path: loginFile,
      modes: ['login', 'interactive login'],
      target: true,
      create: true,
      ...(windows && loginFile === join('.bash_profile') ? { prelude: GIT_BASH_PROFILE } : {}),
    },
    { path: join('.bashrc'), modes: ['interactive'], target: true, create: true },
  ];
  // bash reads ~/.profile no more once ~/.bash_profile exists, but desktop sessions still do (Xsession, display
  // managers: sh reads it), as rustup covers it: an existing ~/.profile gets the block too (sourcing twice is harmless).
  // Not for Git Bash: no desktop session reads it there.
  if (!windows && login !== undefined && login !== profile && (await probe.exists(profile))) files.push({ path: profile, modes: [], target: true });
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
  usageHints: (e) =>
    ['.bashrc', ...BASH_LOGIN_FILES.filter((n) => n !== '.profile')].map((n) =>
      e.platform === 'win32' ? windowsJoin(e.homedir, e.homedir, n) : pathFor(e.platform).join(e.homedir, n),
    ),
  envFileName: 'env.sh',
  envFileContent: posixEnvFile,
  runFileName: 'run.sh',
  runFileContent: posixRunFile,
  runProbeCommand: posixRunProbe,
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
