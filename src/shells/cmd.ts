/**
 * cmd (and every other Windows program): the user environment, set with
 * [Environment]::SetEnvironmentVariable(name, value, "User") in a child
 * PowerShell. The script travels as -EncodedCommand and holds no value; the
 * values reach the child through its environment, never its argv (which any
 * user can read in the process list).
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { UserError } from '../core/errors.js';
import { checkValue } from './common.js';
import { API_KEY_VAR, BASE_URL_VAR } from './types.js';
import type { EnvValues, UserEnvironmentShell } from './types.js';

export interface SpawnResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program; injected in tests to record argv and env. */
export type Spawner = (command: string, args: string[], options: { env: NodeJS.ProcessEnv }) => Promise<SpawnResult>;

export const cmd: UserEnvironmentShell = {
  kind: 'user-environment',
  name: 'cmd',
  label: 'cmd (Windows user environment)',
  verifyCommand: 'echo %ANTHROPIC_BASE_URL%',
};

/** Where the user environment lives, for messages and --json. */
export const USER_ENVIRONMENT = 'HKCU\\Environment';

const VALUE_PREFIX = 'THIRDLOOP_SET_';

/** The PowerShell script: reads each value from the child's own environment. */
export function userEnvironmentScript(names: readonly string[], remove: boolean): string {
  const lines = ["$ErrorActionPreference = 'Stop'"];
  for (const name of names) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`bad variable name ${name}`);
    const value = remove ? '$null' : `$env:${VALUE_PREFIX}${name}`;
    lines.push(`[Environment]::SetEnvironmentVariable('${name}', ${value}, 'User')`);
  }
  return lines.join('\n');
}

export interface UserEnvironmentCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** The child process to run: `values` undefined removes both variables. */
export function userEnvironmentCommand(values: EnvValues | undefined, baseEnv: NodeJS.ProcessEnv): UserEnvironmentCommand {
  const names = [BASE_URL_VAR, API_KEY_VAR];
  const script = userEnvironmentScript(names, values === undefined);
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  if (values) {
    env[`${VALUE_PREFIX}${BASE_URL_VAR}`] = checkValue(BASE_URL_VAR, values.apiUrl);
    env[`${VALUE_PREFIX}${API_KEY_VAR}`] = checkValue(API_KEY_VAR, values.credential);
  }
  return {
    // Windows PowerShell 5.1 ships with every Windows; pwsh may not be installed.
    command: 'powershell.exe',
    args: [
      '-NoLogo',
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-EncodedCommand',
      Buffer.from(script, 'utf16le').toString('base64'),
    ],
    env,
  };
}

export async function setUserEnvironment(spawn: Spawner, values: EnvValues | undefined, baseEnv: NodeJS.ProcessEnv) {
  const { command, args, env } = userEnvironmentCommand(values, baseEnv);
  let result: SpawnResult;
  try {
    result = await spawn(command, args, { env });
  } catch (error) {
    throw new UserError(`Cannot run ${command} to set the user environment: ${(error as Error).message}.`, { cause: error });
  }
  if (result.code !== 0) {
    // stderr comes from our script, which never prints values.
    const detail = result.stderr.trim().split(/\r?\n/)[0] ?? '';
    throw new UserError(
      `Setting the user environment failed (${command} exited with ${result.code}${detail ? `: ${detail}` : ''}).`,
    );
  }
}

export const nodeSpawner: Spawner = (command, args, options) =>
  new Promise((resolve, reject) => {
    const child = nodeSpawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
