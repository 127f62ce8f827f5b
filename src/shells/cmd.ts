/**
 * cmd (and every other Windows program): the user environment
 * (HKCU\Environment), which Explorer hands to every program it starts once
 * told of the change (the WM_SETTINGCHANGE broadcast setx also sends). The
 * values travel to the child that writes them in its environment, never in
 * its argv; the script itself (windows/scripts.ts) holds names only.
 *
 * Undo gives back what was there before: the first time setup sets the
 * variables, their previous values (and kinds, REG_SZ or REG_EXPAND_SZ) are
 * kept in a 0600 file in thirdloop's folder (a previous ANTHROPIC_API_KEY is
 * someone's key); undo writes them back, or deletes the variables that did
 * not exist, and removes that file.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { removeFile, writeFileAtomic } from '../files/atomic-write.js';
import { readRegularFile } from '../files/regular-file.js';
import { checkValue } from './common.js';
import { API_KEY_VAR, BASE_URL_VAR } from './types.js';
import type { EnvValues, UserEnvironmentShell } from './types.js';
import type { RegValue, WindowsSystem } from './windows/system.js';
import type { SpawnResult, Spawner } from './windows/spawner.js';

export type { SpawnResult, Spawner } from './windows/spawner.js';

export const cmd: UserEnvironmentShell = {
  kind: 'user-environment',
  name: 'cmd',
  label: 'cmd (Windows user environment)',
  verifyCommand: 'echo %ANTHROPIC_BASE_URL%',
};

/** Where the user environment lives, for messages and --json. */
export const USER_ENVIRONMENT = 'HKCU\\Environment';
const SUBKEY = 'Environment';
const NAMES = [BASE_URL_VAR, API_KEY_VAR] as const;

/** What was in the user environment before setup's first change (mode 0600: it may hold a key). */
export const PRIOR_VALUES_FILE = 'user-environment-before.json';

type Prior = Record<string, RegValue | null>;

function parsePrior(text: string): Prior | undefined {
  try {
    const value = JSON.parse(text) as Prior;
    if (typeof value !== 'object' || value === null) return undefined;
    for (const name of NAMES) {
      const v = value[name];
      if (v !== null && (typeof v !== 'object' || typeof v.data !== 'string' || (v.kind !== 'String' && v.kind !== 'ExpandString'))) return undefined;
    }
    return value;
  } catch {
    return undefined;
  }
}

export async function readPriorValues(dir: string): Promise<Prior | undefined> {
  const file = path.join(dir, PRIOR_VALUES_FILE);
  const found = await readRegularFile(file, file, 'read').catch(() => undefined);
  return found ? parsePrior(found.bytes.toString('utf8')) : undefined;
}

/** The variables as they are now; a clear error when the registry cannot be read (nothing is written then). */
export async function currentUserEnvironment(windows: WindowsSystem): Promise<Prior> {
  const values = await windows.readUserValues(SUBKEY, [...NAMES]);
  if (!values) {
    throw new UserError('Cannot read the Windows user environment (HKCU\\Environment), so its current values could not be kept for --undo. Nothing was changed.', {
      hint: 'Check that powershell.exe runs, or leave cmd out with --shell.',
    });
  }
  return Object.fromEntries(NAMES.map((name) => [name, values[name] ?? null]));
}

/**
 * Sets both variables. `firstTime`: setup has not set them before, so what
 * is there now is kept for undo (unless a copy from an earlier first time
 * is still there).
 */
export async function setUserEnvironment(windows: WindowsSystem, values: EnvValues, options: { dir: string; firstTime: boolean }): Promise<{ broadcast: boolean }> {
  const changes: Prior = {
    [BASE_URL_VAR]: { kind: 'String', data: checkValue(BASE_URL_VAR, values.apiUrl) },
    [API_KEY_VAR]: { kind: 'String', data: checkValue(API_KEY_VAR, values.credential) },
  };
  const priorFile = path.join(options.dir, PRIOR_VALUES_FILE);
  let savedPrior = false;
  if (options.firstTime && !(await readPriorValues(options.dir))) {
    const prior = await currentUserEnvironment(windows);
    await writeFileAtomic(priorFile, `${JSON.stringify(prior)}\n`, { mode: 0o600, forceMode: true });
    savedPrior = true;
  }
  try {
    return await windows.writeUserEnvironment(changes);
  } catch (error) {
    if (savedPrior) await removeFile(priorFile).catch(() => {});
    throw error;
  }
}

/** Undo: the values from before setup's first change, or none when there were none. */
export async function restoreUserEnvironment(windows: WindowsSystem, dir: string): Promise<{ broadcast: boolean; restored: string[] }> {
  const prior = await readPriorValues(dir);
  const changes: Prior = Object.fromEntries(NAMES.map((name) => [name, prior?.[name] ?? null]));
  const result = await windows.writeUserEnvironment(changes);
  await removeFile(path.join(dir, PRIOR_VALUES_FILE)).catch(() => {});
  return { broadcast: result.broadcast, restored: NAMES.filter((name) => prior?.[name]) };
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
