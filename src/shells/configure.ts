/**
 * Makes new terminals carry ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, or
 * takes that back (--undo). Three phases, so that a problem anywhere means
 * nothing changed anywhere:
 *   1. plan: read every file involved and compute its new bytes;
 *   2. check: every target can be written (read-only, permissions);
 *   3. apply: env files (0600) first, then the profiles (atomic, backed up).
 * With dryRun the plan is returned with a unified diff per file instead.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { UserError, usageError } from '../core/errors.js';
import { backupPathFor, describeFsError, removeFile, writeFileAtomic } from '../files/atomic-write.js';
import { MarkedBlockError, findBlocks, hasBlock, linesOutsideBlocks, removeBlock, upsertBlock } from '../files/marked-block.js';
import { unifiedDiff } from '../files/unified-diff.js';
import { USER_ENVIRONMENT, nodeSpawner, setUserEnvironment, type Spawner } from './cmd.js';
import { pathFor } from './common.js';
import {
  ENV_FILE_NAMES,
  SECRET_FILE_MODE,
  envFileContent,
  normalizeValues,
  readShellRecord,
  redactEnvText,
  writeShellRecord,
} from './env-files.js';
import { SHELLS, defaultShells, shellsFor } from './index.js';
import { encodeText, readTextFile, type TextFile } from './text-file.js';
import type { EnvFileName, ProfileShell, ShellEnv, ShellName } from './types.js';

export interface ShellChange {
  kind: 'profile' | 'env-file' | 'user-environment';
  /** The shells this change serves (env.sh serves bash and zsh). */
  shells: ShellName[];
  /** The file as the user knows it (or HKCU\Environment). */
  path: string;
  /** The file actually written, when `path` is a symlink. */
  realPath?: string;
  action: 'create' | 'update' | 'remove' | 'unchanged';
  holdsSecret: boolean;
  /** Set when this run made the one-time backup of the original. */
  backupPath?: string;
  /** Set by --undo when the backup matched the restored file and was removed. */
  removedBackup?: string;
  /** --dry-run only: the change as a unified diff; the key is redacted. */
  diff?: string;
  /** Things the user should act on (a competing export, …). */
  warnings: string[];
  /** Things worth knowing (symlink followed, inside a git work tree, …). */
  notes: string[];
}

export interface ConfigureShellsOptions {
  /** Which shells; default: the current shell plus every shell whose profile exists. */
  shells?: ShellName[];
  /** Required unless undo. */
  apiUrl?: string;
  credential?: string;
  dryRun?: boolean;
  undo?: boolean;
  /** Runs powershell.exe for the Windows user environment; injected in tests. */
  spawn?: Spawner;
}

interface Planned {
  change: ShellChange;
  /** New bytes; undefined with action "remove". */
  bytes?: Buffer;
  mode?: number;
  forceMode?: boolean;
  backup?: boolean;
  /** For the diff. */
  beforeText?: string;
  afterText?: string;
  /** undo: a backup to delete once the profile is restored. */
  staleBackup?: string;
}

const shellEnv = (ctx: Context): ShellEnv => ({ platform: ctx.platform, homedir: ctx.homedir, env: ctx.env });

/** ~/… for messages. */
export function tildify(file: string, homedir: string): string {
  const p = homedir.includes('\\') ? path.win32 : path.posix;
  const rel = p.relative(homedir, file);
  return rel && !rel.startsWith('..') && !p.isAbsolute(rel) ? `~${p.sep}${rel}` : file;
}

const isProfileShell = (name: ShellName): boolean => SHELLS[name].kind === 'profile';
const profileShell = (name: ShellName) => SHELLS[name] as ProfileShell;

export async function configureShells(ctx: Context, options: ConfigureShellsOptions): Promise<ShellChange[]> {
  const e = shellEnv(ctx);
  const available = shellsFor(ctx.platform);
  const shells = options.shells ?? (options.undo ? available : await defaultShells(e));
  for (const name of shells) {
    if (!available.includes(name)) throw usageError(`${name} is not supported on this platform.`);
  }
  if (shells.length === 0) {
    throw usageError('No supported shell found to configure.', `Name one with --shell ${available.join(',')}.`);
  }
  const config = await ctx.config();
  const record = readShellRecord(config);

  const plan = options.undo ? await planUndo(ctx, shells, config.dir, record) : await planSetup(ctx, shells, config.dir, record, options);

  // Phase 2: every target must be writable before anything is written.
  for (const item of plan) {
    if (item.change.kind !== 'user-environment' && item.change.action !== 'unchanged') {
      await checkWritable(item.change.realPath ?? item.change.path, item.change.path, ctx.homedir);
    }
  }

  if (options.dryRun) {
    for (const item of plan) {
      if (item.change.kind === 'user-environment' || item.change.action === 'unchanged') continue;
      const show = (text: string | undefined) => (text !== undefined && item.change.holdsSecret ? redactEnvText(text) : text);
      const label = tildify(item.change.path, ctx.homedir);
      item.change.diff = unifiedDiff(show(item.beforeText), show(item.afterText), { oldLabel: label, newLabel: label });
    }
    return plan.map((item) => item.change);
  }

  // Phase 3. Setup: env files before the profiles that source them; undo: the reverse.
  const order = options.undo ? ['profile', 'env-file', 'user-environment'] : ['env-file', 'profile', 'user-environment'];
  for (const kind of order) {
    for (const item of plan.filter((p) => p.change.kind === kind && p.change.action !== 'unchanged')) {
      await apply(item, options, ctx);
    }
  }

  const touched = new Set(record.shells);
  for (const name of shells) (options.undo ? touched.delete(name) : touched.add(name));
  const userEnvironment = plan.some((p) => p.change.kind === 'user-environment')
    ? !options.undo
    : record.userEnvironment;
  writeShellRecord(config, {
    shells: available.filter((s) => touched.has(s)),
    profile: options.undo ? record.profile : ctx.globals.profile,
    userEnvironment,
  });
  return plan.map((item) => item.change);
}

async function apply(item: Planned, options: ConfigureShellsOptions, ctx: Context) {
  const change = item.change;
  if (change.kind === 'user-environment') {
    const values = options.undo ? undefined : normalizeValues({ apiUrl: options.apiUrl!, credential: options.credential! });
    await setUserEnvironment(options.spawn ?? nodeSpawner, values, ctx.env);
    return;
  }
  if (change.action === 'remove') {
    await removeFile(change.realPath ?? change.path);
  } else {
    const result = await writeFileAtomic(change.path, item.bytes!, {
      mode: item.mode,
      forceMode: item.forceMode,
      backup: item.backup,
    });
    if (result.backupPath) change.backupPath = result.backupPath;
  }
  if (item.staleBackup) {
    await removeFile(item.staleBackup);
    change.removedBackup = item.staleBackup;
  }
}

function credentialFrom(options: ConfigureShellsOptions) {
  if (!options.apiUrl || !options.credential) throw new Error('configureShells needs apiUrl and credential');
  return normalizeValues({ apiUrl: options.apiUrl, credential: options.credential });
}

async function planSetup(
  ctx: Context,
  shells: ShellName[],
  dir: string,
  record: { userEnvironment?: boolean; profile?: string },
  options: ConfigureShellsOptions,
): Promise<Planned[]> {
  const e = shellEnv(ctx);
  const values = credentialFrom(options);
  const plan: Planned[] = [];

  const envFiles = new Map<EnvFileName, ShellName[]>();
  for (const name of shells.filter(isProfileShell)) {
    const envName = profileShell(name).envFileName;
    envFiles.set(envName, [...(envFiles.get(envName) ?? []), name]);
  }

  for (const [envName, served] of envFiles) {
    const file = path.join(dir, envName);
    const before = await readTextFile(file);
    let text: string;
    try {
      text = envFileContent(envName, values);
    } catch (error) {
      throw new UserError(`Cannot write the shell settings: ${(error as Error).message}.`, { cause: error });
    }
    const sameMode = before?.mode !== undefined && (before.mode & 0o777) === SECRET_FILE_MODE;
    const change: ShellChange = {
      kind: 'env-file',
      shells: served,
      path: file,
      realPath: before?.realPath !== file ? before?.realPath : undefined,
      action: before === undefined ? 'create' : before.text === text && sameMode ? 'unchanged' : 'update',
      holdsSecret: true,
      warnings: [],
      notes: [],
    };
    if (before && record.profile && record.profile !== ctx.globals.profile) {
      change.notes.push(`${tildify(file, ctx.homedir)} held the key of profile "${record.profile}"; it now holds profile "${ctx.globals.profile}"'s.`);
    }
    const repo = await gitWorkTree(change.realPath ?? file);
    if (repo) {
      change.warnings.push(
        `${tildify(file, ctx.homedir)} holds your key and is inside the git work tree ${tildify(repo, ctx.homedir)}: make sure that repository ignores it.`,
      );
    }
    plan.push({ change, bytes: encodeText(text, 'utf8'), mode: SECRET_FILE_MODE, forceMode: true, beforeText: before?.text, afterText: text });
  }

  for (const name of shells) {
    const shell = SHELLS[name];
    if (shell.kind === 'user-environment') {
      plan.push({
        change: {
          kind: 'user-environment',
          shells: [name],
          path: USER_ENVIRONMENT,
          action: record.userEnvironment ? 'update' : 'create',
          holdsSecret: true,
          warnings: [],
          notes: ['Windows keeps these in the user environment, which every new program (cmd, PowerShell, Claude Code) inherits.'],
        },
      });
      continue;
    }
    const envFile = path.join(dir, shell.envFileName);
    const profile = shell.profilePath(e);
    const before = await readTextFile(profile);
    const oldText = before?.text ?? '';
    const newText = withBlockError(profile, ctx, () =>
      upsertBlock(oldText, shell.sourceBlock(envFile, e), { defaultEol: ctx.platform === 'win32' ? '\r\n' : '\n' }),
    );
    const change: ShellChange = {
      kind: 'profile',
      shells: [name],
      path: profile,
      realPath: before && before.realPath !== pathFor(ctx.platform).resolve(profile) ? before.realPath : undefined,
      action: before === undefined ? 'create' : newText === oldText ? 'unchanged' : 'update',
      holdsSecret: false,
      warnings: [],
      notes: [],
    };
    if (change.realPath) change.notes.push(`${tildify(profile, ctx.homedir)} is a symlink: edited its target ${tildify(change.realPath, ctx.homedir)}.`);
    const repo = await gitWorkTree(change.realPath ?? profile);
    if (repo) {
      change.notes.push(
        `${tildify(profile, ctx.homedir)} is in the git work tree ${tildify(repo, ctx.homedir)}; only the line that sources ${tildify(envFile, ctx.homedir)} goes there, never the key.`,
      );
    }
    change.warnings.push(...competingExports(shell, profile, newText, ctx.homedir));
    if (name === 'bash' && ctx.platform === 'linux') change.notes.push(...(await loginShellNote(ctx)));
    plan.push({
      change,
      bytes: encodeText(newText, before?.encoding ?? 'utf8'),
      mode: 0o644,
      backup: true,
      beforeText: before?.text,
      afterText: newText,
    });
  }
  return plan;
}

async function planUndo(
  ctx: Context,
  shells: ShellName[],
  dir: string,
  record: { userEnvironment?: boolean },
): Promise<Planned[]> {
  const e = shellEnv(ctx);
  const plan: Planned[] = [];
  /** Env files some profile will still source after this undo. */
  const stillUsed = new Map<EnvFileName, ShellName[]>();

  for (const name of shellsFor(ctx.platform)) {
    const shell = SHELLS[name];
    if (shell.kind !== 'profile') continue;
    const profile = shell.profilePath(e);
    const selected = shells.includes(name);
    let before: TextFile | undefined;
    try {
      before = await readTextFile(profile);
    } catch (error) {
      if (selected) throw error;
      // Unreadable and not ours to touch now: assume it still uses its env file.
      stillUsed.set(shell.envFileName, [...(stillUsed.get(shell.envFileName) ?? []), name]);
      continue;
    }
    if (!before) continue;
    let blocks;
    try {
      blocks = withBlockError(profile, ctx, () => findBlocks(before.text));
    } catch (error) {
      if (selected) throw error;
      stillUsed.set(shell.envFileName, [...(stillUsed.get(shell.envFileName) ?? []), name]);
      continue;
    }
    if (blocks.length === 0) continue;
    if (!selected) {
      stillUsed.set(shell.envFileName, [...(stillUsed.get(shell.envFileName) ?? []), name]);
      continue;
    }
    const newText = removeBlock(before.text);
    const bare = newText.charCodeAt(0) === 0xfeff ? newText.slice(1) : newText;
    const bytes = encodeText(newText, before.encoding);
    const backup = backupPathFor(before.realPath);
    const backupBytes = await fs.readFile(backup).catch(() => undefined);
    // Our own conf.d file goes when empty; a profile we created (empty once
    // the block is out, and no backup because nothing was there) goes too.
    const deleteFile = (shell.ownsProfile && bare.trim() === '') || (newText === '' && backupBytes === undefined);
    const staleBackup = backupBytes && (deleteFile ? backupBytes.length === 0 : backupBytes.equals(bytes)) ? backup : undefined;
    const change: ShellChange = {
      kind: 'profile',
      shells: [name],
      path: profile,
      realPath: before.realPath !== pathFor(ctx.platform).resolve(profile) ? before.realPath : undefined,
      action: deleteFile ? 'remove' : 'update',
      holdsSecret: false,
      warnings: [],
      notes: [],
    };
    if (backupBytes && !staleBackup) {
      change.notes.push(
        `Kept ${tildify(backup, ctx.homedir)}, the copy from before thirdloop's first change: the file has changed since.`,
      );
    }
    plan.push({ change, bytes, beforeText: before.text, afterText: deleteFile ? undefined : newText, staleBackup });
  }

  for (const envName of ENV_FILE_NAMES) {
    const file = path.join(dir, envName);
    const before = await readTextFile(file);
    if (!before) continue;
    const users = stillUsed.get(envName);
    if (users) {
      // e.g. --undo --shell zsh while bash keeps its block: env.sh stays.
      continue;
    }
    const served = shellsFor(ctx.platform).filter((s) => isProfileShell(s) && profileShell(s).envFileName === envName);
    plan.push({
      change: { kind: 'env-file', shells: served, path: file, action: 'remove', holdsSecret: true, warnings: [], notes: [] },
      beforeText: before.text,
    });
  }

  if (shells.includes('cmd') && record.userEnvironment) {
    plan.push({
      change: {
        kind: 'user-environment',
        shells: ['cmd'],
        path: USER_ENVIRONMENT,
        action: 'remove',
        holdsSecret: true,
        warnings: [],
        notes: [],
      },
    });
  }
  return plan;
}

function withBlockError<T>(file: string, ctx: Context, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof MarkedBlockError)) throw error;
    throw new UserError(`Cannot edit ${tildify(file, ctx.homedir)}: ${error.message} Nothing was changed.`, {
      hint: `Fix or remove the thirdloop lines near line ${error.line} by hand, then run the command again.`,
    });
  }
}

/**
 * Lines outside our block that set the variables we set. After the block
 * they win over ours; before it they lose, but still confuse whoever reads
 * the file later.
 */
export function competingExports(shell: ProfileShell, file: string, text: string, homedir: string): string[] {
  const warnings: string[] = [];
  const blockLine = findBlocks(text)[0]?.startLine ?? Number.POSITIVE_INFINITY;
  const shown = tildify(file, homedir);
  for (const { line, text: content } of linesOutsideBlocks(text)) {
    if (/^\s*#/.test(content)) continue;
    const name = shell.setsVariable(content);
    if (!name) continue;
    if (name === 'ANTHROPIC_AUTH_TOKEN') {
      warnings.push(`${shown} line ${line} sets ANTHROPIC_AUTH_TOKEN, which Claude Code may send instead of your Third Loop key: remove it to use Third Loop.`);
    } else if (line > blockLine) {
      warnings.push(`${shown} line ${line} sets ${name} after the thirdloop block, so it overrides the Third Loop value: remove that line.`);
    } else {
      warnings.push(`${shown} line ${line} also sets ${name}; the thirdloop block further down wins, but remove the line to avoid confusion.`);
    }
  }
  return warnings;
}

/**
 * Login shells (ssh, some terminals) read ~/.bash_profile instead of
 * ~/.bashrc; most such files source ~/.bashrc, but not all.
 */
async function loginShellNote(ctx: Context): Promise<string[]> {
  const file = path.join(ctx.homedir, '.bash_profile');
  const text = await readTextFile(file).catch(() => undefined);
  if (!text || /\.bashrc|bashrc\b/.test(text.text)) return [];
  return [
    `${tildify(file, ctx.homedir)} does not source ~/.bashrc, so bash login shells (ssh) will not see the variables; add \`. ~/.bashrc\` to it if you use them.`,
  ];
}

/** The work tree a file is in (a parent holding .git), if any. */
async function gitWorkTree(file: string): Promise<string | undefined> {
  let dir = path.dirname(path.resolve(file));
  for (;;) {
    const found = await fs.stat(path.join(dir, '.git')).then(
      () => true,
      () => false,
    );
    if (found) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Whether we may replace `file`: it exists and is writable and not marked
 * read-only (even for root, a read-only mode is the user saying "don't"),
 * or it does not exist and its nearest existing folder is writable.
 */
export async function checkWritable(file: string, shown: string, homedir: string): Promise<void> {
  const label = tildify(shown, homedir);
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw new UserError(`Cannot edit ${label}: it is a directory. Nothing was changed.`);
    if ((stat.mode & 0o222) === 0) {
      // A symlink into a read-only store (Nix home-manager, …) is managed elsewhere.
      const what = path.resolve(shown) === file ? 'it is read-only' : `it links to ${tildify(file, homedir)}, which is read-only`;
      throw new UserError(`Cannot edit ${label}: ${what}. Nothing was changed.`, {
        hint:
          path.resolve(shown) === file
            ? `Make it writable (chmod u+w ${label}) and run again, or leave that shell out with --shell.`
            : 'Add the lines shown by --dry-run where that file is generated, or leave that shell out with --shell.',
      });
    }
    await fs.access(file, constants.W_OK);
    await fs.access(path.dirname(file), constants.W_OK);
    return;
  } catch (error) {
    if (error instanceof UserError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw withHint(describeFsError(error, label));
  }
  let dir = path.dirname(file);
  for (;;) {
    try {
      const stat = await fs.stat(dir);
      if (!stat.isDirectory()) throw new UserError(`Cannot create ${label}: ${dir} is not a folder. Nothing was changed.`);
      await fs.access(dir, constants.W_OK | constants.X_OK);
      return;
    } catch (error) {
      if (error instanceof UserError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw withHint(describeFsError(error, label));
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

const withHint = (error: UserError) =>
  new UserError(error.message, { hint: 'Fix its permissions and run again, or leave that shell out with --shell.', cause: error });

/** Whether setup has configured at least one shell (for `setup opencode --with-env`). */
export async function shellsConfigured(ctx: Context): Promise<boolean> {
  const config = await ctx.config();
  if (ctx.platform === 'win32' && readShellRecord(config).userEnvironment) return true;
  const e = shellEnv(ctx);
  for (const name of shellsFor(ctx.platform)) {
    const shell = SHELLS[name];
    if (shell.kind !== 'profile') continue;
    const envExists = await fs.stat(path.join(config.dir, shell.envFileName)).then(
      () => true,
      () => false,
    );
    if (!envExists) continue;
    const profile = await readTextFile(shell.profilePath(e)).catch(() => undefined);
    try {
      if (profile && hasBlock(profile.text)) return true;
    } catch {
      // A damaged block does not count.
    }
  }
  return false;
}
