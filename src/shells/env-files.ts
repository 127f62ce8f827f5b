/**
 * The files that hold the secret for the shells (the rustup pattern): one
 * per shell family in the config directory, mode 0600, sourced by the
 * marked block in each profile. A rotated key only needs these rewritten.
 */
import path from 'node:path';
import type { ConfigStore, Context } from '../context.js';
import { writeFileAtomic } from '../files/atomic-write.js';
import { readRegularFile } from '../files/regular-file.js';
import { bash } from './bash.js';
import { USER_ENVIRONMENT, nodeSpawner, setUserEnvironment, type Spawner } from './cmd.js';
import { spawnedWindows, type WindowsSystem } from './windows/system.js';
import { fish } from './fish.js';
import { powershell } from './powershell.js';
import { API_KEY_VAR } from './types.js';
import type { EnvFileName, EnvValues, ShellName, WrappedCommand } from './types.js';

export const SECRET_FILE_MODE = 0o600;

const writers: Record<EnvFileName, (values: EnvValues) => string> = {
  'env.sh': bash.envFileContent,
  'env.fish': fish.envFileContent,
  'env.ps1': powershell.envFileContent,
};
export const ENV_FILE_NAMES = Object.keys(writers) as EnvFileName[];

export const envFileContent = (name: EnvFileName, values: EnvValues) => writers[name](normalizeValues(values));

/**
 * ANTHROPIC_BASE_URL is the instance's root: Claude Code appends /v1/… itself,
 * so a trailing slash or /v1 would double up.
 */
export function anthropicBaseUrl(apiUrl: string): string {
  let url = apiUrl.trim();
  while (url.endsWith('/')) url = url.slice(0, -1);
  if (url.toLowerCase().endsWith('/v1')) url = url.slice(0, -3);
  while (url.endsWith('/')) url = url.slice(0, -1);
  return url;
}

export const normalizeValues = (values: EnvValues): EnvValues => ({
  apiUrl: anthropicBaseUrl(values.apiUrl),
  credential: values.credential.trim(),
});

/** An env file's text with the key's value hidden, for diffs and logs. */
export function redactEnvText(text: string): string {
  const line = new RegExp(`^(\\s*(?:export\\s+|set\\s+(?:-[A-Za-z]+\\s+)*|\\$env:)${API_KEY_VAR}(?:\\s*=\\s*|\\s+))(\\S.*)$`, 'gm');
  return text.replace(line, '$1<redacted>');
}

/** What setup recorded in the config (non-secret): which shells it configured. */
export interface ShellRecord {
  shells: ShellName[];
  /** The profile whose key the env files hold (they are shared by all profiles). */
  profile?: string;
  /** Windows: the user environment holds the variables (cmd). */
  userEnvironment?: boolean;
  /** The shells set up with --via-run: their block sources the run file, which defines `claude`. */
  runShells?: ShellName[];
  /** The commands the run files wrap. */
  runCommands?: WrappedCommand[];
  /** How the run files start thirdloop (RunValues.thirdloop), so that one command can be taken out of them as they are. */
  runInvocation?: string[];
}

const RECORD_KEY = 'setup.shells';

export function readShellRecord(config: ConfigStore): ShellRecord {
  const value = config.get<ShellRecord>(RECORD_KEY);
  return value && Array.isArray(value.shells) ? value : { shells: [] };
}

export function writeShellRecord(config: ConfigStore, record: ShellRecord): void {
  const runShells = record.runShells?.filter((s) => record.shells.includes(s)) ?? [];
  const tidy: ShellRecord = {
    ...record,
    runShells: runShells.length ? runShells : undefined,
    runCommands: runShells.length ? record.runCommands : undefined,
    runInvocation: runShells.length ? record.runInvocation : undefined,
  };
  if (!tidy.runShells) delete tidy.runShells;
  if (!tidy.runCommands) delete tidy.runCommands;
  if (!tidy.runInvocation) delete tidy.runInvocation;
  config.set(RECORD_KEY, record.shells.length === 0 && !record.userEnvironment ? undefined : tidy);
}

export interface RewriteDeps {
  spawn?: Spawner;
  windows?: WindowsSystem;
}

/**
 * After the key changed (rotate, auth --rotate): rewrites every env file
 * that exists with the new values and, on Windows, the user environment if
 * setup put the variables there. Returns what changed, for "which files
 * changed". Files that do not exist stay absent: the user never set up that shell.
 */
export async function rewriteEnvFiles(ctx: Context, values: EnvValues, deps: RewriteDeps = {}): Promise<string[]> {
  const config = await ctx.config();
  const record = readShellRecord(config);
  // The env files hold one profile's key: rotating another profile's key leaves them alone.
  if (record.profile && record.profile !== ctx.globals.profile) return [];
  const changed: string[] = [];
  for (const name of ENV_FILE_NAMES) {
    const file = path.join(config.dir, name);
    // Only a regular file is read (a FIFO here would hang the read) or replaced.
    const found = await readRegularFile(file, file, 'read');
    if (found === undefined) continue;
    const after = envFileContent(name, values);
    const mode = found.stat.mode & 0o777;
    if (found.bytes.toString('utf8') === after && mode === SECRET_FILE_MODE) continue;
    await writeFileAtomic(file, after, { mode: SECRET_FILE_MODE, forceMode: true });
    changed.push(file);
  }
  if (ctx.platform === 'win32' && record.userEnvironment) {
    // Not the first time: the values kept for undo are those from before setup, not these.
    const windows = deps.windows ?? spawnedWindows(deps.spawn ?? nodeSpawner, ctx.env);
    await setUserEnvironment(windows, normalizeValues(values), { dir: config.dir, firstTime: false });
    changed.push(USER_ENVIRONMENT);
  }
  return changed;
}
