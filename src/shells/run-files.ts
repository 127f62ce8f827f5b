/**
 * The files `setup claude --via-run` writes for the shells instead of the env files: one per shell
 * family in the config folder, sourced by the same marked block, defining `claude` (and any other
 * wrapped command) as a function that starts `thirdloop run -- claude`. They hold no key, so a
 * rotation never touches them; the mode is 0644 like any profile.
 *
 * Also the stand-ins (`claude`, `opencode`) the check puts first on PATH: started through the shell's
 * function and `thirdloop run`, each prints the environment run gave it, so the real chain is what is judged.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { cliScriptPath, isNpxCache } from '../core/cli-path.js';
import { bash } from './bash.js';
import { fish } from './fish.js';
import { powershell } from './powershell.js';
import { STAND_IN_JS, STAND_IN_SH } from './probe-command.js';
import { findProgram } from './terminal.js';
import { WRAPPED_COMMANDS, type ProfileShell, type RunFileName, type RunValues, type ShellMode } from './types.js';

export const RUN_FILE_MODE = 0o644;

const writers: Record<RunFileName, (values: RunValues) => string> = {
  'run.sh': bash.runFileContent,
  'run.fish': fish.runFileContent,
  'run.ps1': powershell.runFileContent,
};
export const RUN_FILE_NAMES = Object.keys(writers) as RunFileName[];

export const runFileContent = (name: RunFileName, values: RunValues) => writers[name](values);

/** The file a shell's block sources in each mode. */
export const ownFileName = (shell: ProfileShell, mode: ShellMode) => (mode === 'run' ? shell.runFileName : shell.envFileName);

/** A path's last part naming one of our files, where the path ends (a quote, a space, `;`, `)`). */
const SOURCED = /[\\/](run|env)\.(?:sh|fish|ps1)(?=['"\s;)]|$)/gm;

/**
 * Which mode a block's text is in: it names the run file or the env file it sources. The last
 * such name is the file itself; one earlier may be a folder on the way (~/run.sh.d/thirdloop/env.sh).
 */
export function blockMode(blockText: string): ShellMode | undefined {
  const sourced = [...blockText.matchAll(SOURCED)].at(-1);
  return sourced ? (sourced[1] === 'run' ? 'run' : 'env') : undefined;
}

export interface InvocationInput {
  platform: NodeJS.Platform;
  /** The PATH new terminals start with. */
  env: NodeJS.ProcessEnv;
  /** Test seams: the running node and thirdloop script, the working folder. */
  nodePath?: string;
  cliPath?: string;
  cwd?: string;
}

/**
 * Folders npm puts first on PATH for what it runs: npx's cache, node_modules/.bin in the working
 * folder and each one above it, npm's node-gyp-bin. A new terminal has none of them, so a
 * `thirdloop` there (npx's own is always there) is not one `claude` can start. A node_modules/.bin
 * elsewhere is the user's own choice of folder and stays.
 */
function addedByNpm(dir: string, cwd: string, platform: NodeJS.Platform): boolean {
  if (isNpxCache(`${dir}/`) || /[\\/]node-gyp-bin[\\/]?$/.test(dir)) return true;
  const p = platform === 'win32' ? path.win32 : path.posix;
  const bin = /^(.*)[\\/]node_modules[\\/]\.bin[\\/]?$/.exec(dir);
  if (!bin) return false;
  const project = p.resolve(bin[1] || p.sep);
  const relative = p.relative(project, p.resolve(cwd));
  return !relative.startsWith('..') && !p.isAbsolute(relative);
}

/**
 * How the functions start thirdloop. The running install by its absolute paths (node, then the
 * script): it works in every kind of shell whatever PATH its files build, and stays put across
 * `npm update -g`. From npx's cache, which npm may clean at any time, only a `thirdloop` on the
 * PATH new terminals have will do; without one, setup stops before changing anything.
 */
export function thirdloopInvocation(input: InvocationInput): string[] {
  const script = input.cliPath ?? cliScriptPath();
  if (!isNpxCache(script)) return [input.nodePath ?? process.execPath, script];
  const sep = input.platform === 'win32' ? ';' : ':';
  const cwd = input.cwd ?? process.cwd();
  const terminalPath = (input.env.PATH ?? input.env.Path ?? '')
    .split(sep)
    .filter((dir) => dir && !addedByNpm(dir, cwd, input.platform))
    .join(sep);
  if (findProgram('thirdloop', { PATH: terminalPath }, input.platform)) return ['thirdloop'];
  throw new UserError(
    'thirdloop is running from npx’s temporary cache, which npm may clean at any time, and there is no thirdloop on PATH for `claude` to start. Nothing was changed.',
    { hint: 'Install it (npm install -g thirdloop), then run `thirdloop setup claude --via-run`.' },
  );
}

export interface StandIn {
  dir: string;
  remove(): Promise<void>;
}

/**
 * A folder holding a stand-in for each wrapped command (`claude`, `opencode`): a /bin/sh script, and
 * on Windows also <command>.cmd and its script (Node on Windows finds programs through PATHEXT, so
 * the .cmd is what `run` starts there; the extensionless one serves a POSIX `run`). Readable by
 * `owner` when root acts for someone.
 */
export async function makeStandIn(platform: NodeJS.Platform, nodePath = process.execPath, owner?: { uid: number; gid: number }): Promise<StandIn> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'thirdloop-check-'));
  for (const command of WRAPPED_COMMANDS) await fs.writeFile(path.join(dir, command), STAND_IN_SH, { mode: 0o755 });
  if (platform === 'win32') {
    await fs.writeFile(path.join(dir, 'stand-in.cjs'), STAND_IN_JS);
    for (const command of WRAPPED_COMMANDS) await fs.writeFile(path.join(dir, `${command}.cmd`), `@"${nodePath}" "%~dp0stand-in.cjs" %*\r\n`);
  }
  if (process.platform !== 'win32') {
    await fs.chmod(dir, 0o755);
    if (owner) await fs.chown(dir, owner.uid, owner.gid).catch(() => {});
  }
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}
