/**
 * zsh, as its STARTUP/SHUTDOWN FILES say: every zsh reads
 * ${ZDOTDIR:-$HOME}/.zshenv (ZDOTDIR as the environment and /etc/zsh/zshenv
 * leave it); then, with ZDOTDIR as .zshenv left it, a login shell reads
 * .zprofile, an interactive one .zshrc, a login one .zlogin. The block goes
 * into that .zshenv (so login shells get it, as rustup does), and into an
 * existing .zshrc too, at its end, so it wins over an earlier line there.
 * Where ZDOTDIR points is asked of zsh itself (zdotdir.ts).
 */
import { pathFor } from './common.js';
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
import { resolveZdotdir } from './zdotdir.js';
import type { ProfileShell, ShellEnv, ShellLayout, ShellProbe, StartMode } from './types.js';

const ALL: StartMode[] = ['interactive', 'login', 'interactive login'];
const LOGIN: StartMode[] = ['login', 'interactive login'];
const INTERACTIVE: StartMode[] = ['interactive', 'interactive login'];

export async function zshLayout(e: ShellEnv, probe: ShellProbe): Promise<ShellLayout> {
  const p = pathFor(e.platform);
  const dirs = await resolveZdotdir(e, probe);
  return {
    files: [
      { path: p.join(dirs.envDir, '.zshenv'), modes: ALL, target: true, create: true },
      { path: p.join(dirs.rcDir, '.zprofile'), modes: LOGIN },
      { path: p.join(dirs.rcDir, '.zshrc'), modes: INTERACTIVE, target: true },
      { path: p.join(dirs.rcDir, '.zlogin'), modes: LOGIN },
    ],
    notes: dirs.notes,
  };
}

export const zsh: ProfileShell = {
  kind: 'profile',
  name: 'zsh',
  label: 'zsh',
  program: 'zsh',
  startArgs: {
    interactive: (command) => ['-ic', command],
    login: (command) => ['-lc', command],
    'interactive login': (command) => ['-lic', command],
  },
  layout: zshLayout,
  usageHints: (e) => {
    const p = pathFor(e.platform);
    const dir = e.env.ZDOTDIR?.trim();
    const dirs = [...new Set([e.homedir, ...(dir && p.isAbsolute(dir) ? [dir] : [])])];
    return dirs.flatMap((d) => ['.zshrc', '.zshenv', '.zprofile', '.zlogin'].map((n) => p.join(d, n)));
  },
  envFileName: 'env.sh',
  envFileContent: posixEnvFile,
  runFileName: 'run.sh',
  runFileContent: posixRunFile,
  runProbeCommand: posixRunProbe,
  sourceBlock: posixSourceBlock,
  blockEol: () => '\n',
  setsVariable: posixSetsVariable,
  stopsReading: posixStopsReading,
  testsInteractive: posixTestsInteractive,
  functionTracker: posixFunctionTracker,
  probeCommand: shProbe,
  verifyCommand: 'echo "$ANTHROPIC_BASE_URL"',
};
