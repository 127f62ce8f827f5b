/**
 * What `setup claude` (or its --undo) would do to each file, computed
 * before anything is written: every file read once, as bytes, through the
 * regular-file check; the new bytes; the record undo will need. Nothing is
 * written here.
 */
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { backupPathFor } from '../files/atomic-write.js';
import { fromBytes, ours, toBytes, type ByteText } from '../files/byte-text.js';
import { findEdit, type EditRecord } from '../files/edit-log.js';
import { MarkedBlockError, detectEol, findBlocks, placeBlock, takeBlock } from '../files/marked-block.js';
import { readRegularFile, resolveTarget } from '../files/regular-file.js';
import { USER_ENVIRONMENT } from './cmd.js';
import { ENV_FILE_NAMES, SECRET_FILE_MODE, envFileContent } from './env-files.js';
import { SHELLS } from './index.js';
import { RUN_FILE_MODE, RUN_FILE_NAMES, blockMode, ownFileName, runFileContent } from './run-files.js';
import { BLOCK_COMMENT, RUN_BLOCK_COMMENT } from './types.js';
import type { EnvFileName, EnvValues, ProfileShell, RunFileName, RunValues, ShellEnv, ShellLayout, ShellMode, ShellName, StartupFile } from './types.js';

/** A file of thirdloop's own that a block sources: an env file (holds the key) or a run file (holds none). */
export type OwnFileName = EnvFileName | RunFileName;
export const OWN_FILE_NAMES: OwnFileName[] = [...ENV_FILE_NAMES, ...RUN_FILE_NAMES];
export { ownFileName as ownFileNameFor } from './run-files.js';
const isEnvFile = (name: OwnFileName): name is EnvFileName => (ENV_FILE_NAMES as string[]).includes(name);

export interface ShellChange {
  kind: 'profile' | 'env-file' | 'run-file' | 'user-environment';
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
  /** The shell failed its check after the write, and this change was taken back. */
  rolledBack?: boolean;
  /** --dry-run: why this file cannot be written as it is (the lines are shown anyway). */
  blocked?: string;
  /** Things the user should act on (a competing export, …). */
  warnings: string[];
  /** Things worth knowing (symlink followed, inside a git work tree, …). */
  notes: string[];
}

export interface Planned {
  change: ShellChange;
  /** New bytes; undefined with action "remove" or "unchanged". */
  bytes?: Buffer;
  mode?: number;
  forceMode?: boolean;
  backup?: boolean;
  /** For the diff: the bytes before and after, as text for people. */
  beforeText?: string;
  afterText?: string;
  /** What the record should say once this change stands (setup), or that it goes (undo). */
  record?: EditRecord;
  forget?: boolean;
  /** undo: a backup to delete once the profile is restored. */
  staleBackup?: string;
  /** The bytes after this change, as the start-up scan sees them. */
  after?: ByteText;
}

export interface PlanContext {
  e: ShellEnv;
  /** The config folder, where the env files are. */
  dir: string;
  label: (file: string) => string;
  edits: EditRecord[];
}

const profileShell = (name: ShellName) => SHELLS[name] as ProfileShell;

/** A shell's block error as one sentence with what to do. */
export function blockError(label: string, error: unknown): never {
  if (!(error instanceof MarkedBlockError)) throw error;
  throw new UserError(`Cannot edit ${label}: ${error.message} Nothing was changed.`, {
    hint: `Fix or remove the thirdloop lines near line ${error.line} by hand, then run the command again.`,
  });
}

/** A profile's bytes (undefined when missing): a regular file, not binary. */
export async function readProfile(file: string, label: string): Promise<{ view: ByteText; realPath: string; bytes: Buffer } | undefined> {
  const found = await readRegularFile(file, label);
  if (!found) return undefined;
  const view = fromBytes(found.bytes);
  // A NUL is never in a shell profile: it is binary, not ours to append to.
  if (view.encoding === 'bytes' && view.text.includes('\u0000')) {
    throw new UserError(`Cannot edit ${label}: it contains NUL bytes, so it is not a text file. Nothing was changed.`);
  }
  return { view, realPath: found.realPath, bytes: found.bytes };
}

/** Text for a diff: the bytes read as UTF-8 where they are (a diff is for people). */
const forPeople = (view: ByteText) => (view.encoding === 'utf16le' ? view.text : Buffer.from(view.text, 'latin1').toString('utf8'));

/** The file each selected shell's block will source (env.sh serves bash and zsh), with its new bytes. */
export async function planOwnFiles(pc: PlanContext, shells: ShellName[], mode: ShellMode, values: { env?: EnvValues; run?: RunValues }): Promise<Planned[]> {
  const files = new Map<OwnFileName, ShellName[]>();
  for (const name of shells.filter((s) => SHELLS[s].kind === 'profile')) {
    const own = ownFileName(profileShell(name), mode);
    files.set(own, [...(files.get(own) ?? []), name]);
  }
  const plan: Planned[] = [];
  for (const [own, served] of files) {
    const file = path.join(pc.dir, own);
    const before = await readRegularFile(file, pc.label(file));
    let text: string;
    try {
      text = isEnvFile(own) ? envFileContent(own, values.env!) : runFileContent(own, values.run!);
    } catch (error) {
      throw new UserError(`Cannot write the shell settings: ${(error as Error).message}.`, { cause: error });
    }
    const bytes = Buffer.from(text, 'utf8');
    const fileMode = isEnvFile(own) ? SECRET_FILE_MODE : RUN_FILE_MODE;
    const sameMode = before !== undefined && (before.stat.mode & 0o777) === fileMode;
    const change: ShellChange = {
      kind: isEnvFile(own) ? 'env-file' : 'run-file',
      shells: served,
      path: file,
      realPath: before && before.realPath !== path.resolve(file) ? before.realPath : undefined,
      action: before === undefined ? 'create' : before.bytes.equals(bytes) && sameMode ? 'unchanged' : 'update',
      holdsSecret: isEnvFile(own),
      warnings: [],
      notes: [],
    };
    plan.push({
      change,
      bytes: change.action === 'unchanged' ? undefined : bytes,
      mode: fileMode,
      forceMode: true,
      beforeText: before?.bytes.toString('utf8'),
      afterText: text,
    });
  }
  return plan;
}

/**
 * Own files that exist and that no shell will source any more once this run stands (`keep`): an
 * env file after every shell that read it went to --via-run (it holds the key), a run file after
 * every shell that read it went back to exports.
 */
export async function planUnusedOwnFiles(pc: PlanContext, keep: Set<OwnFileName>): Promise<Planned[]> {
  const plan: Planned[] = [];
  for (const own of OWN_FILE_NAMES) {
    if (keep.has(own)) continue;
    const file = path.join(pc.dir, own);
    let refused: string | undefined;
    const before = await readRegularFile(file, pc.label(file)).catch((error: unknown) => {
      if (!(error instanceof UserError)) throw error;
      refused = error.message.replace(/\s*Nothing was changed\.$/, ''); // not a regular file, or unreadable: not ours to remove
      return undefined;
    });
    const served = (Object.keys(SHELLS) as ShellName[]).filter((s) => SHELLS[s].kind === 'profile' && [profileShell(s).envFileName, profileShell(s).runFileName].includes(own as never));
    if (refused && isEnvFile(own)) {
      // It may still hold a key: say so rather than leave it without a word.
      const warning = `${refused} It was left in place and may hold a key: remove ${pc.label(file)} by hand.`;
      plan.push({ change: { kind: 'env-file', shells: served, path: file, action: 'unchanged', holdsSecret: true, warnings: [warning], notes: [] } });
      continue;
    }
    if (!before) continue;
    plan.push({
      change: { kind: isEnvFile(own) ? 'env-file' : 'run-file', shells: served, path: file, action: 'remove', holdsSecret: isEnvFile(own), warnings: [], notes: [] },
      beforeText: before.bytes.toString('utf8'),
    });
  }
  return plan;
}

const hadBlock = (text: string) => {
  try {
    return findBlocks(text).length > 0;
  } catch {
    return false;
  }
};

/** The block in each target file of one shell. */
export async function planShellSetup(pc: PlanContext, shell: ProfileShell, layout: ShellLayout, mode: ShellMode = 'env'): Promise<Planned[]> {
  const plan: Planned[] = [];
  const envFile = path.join(pc.dir, ownFileName(shell, mode));
  const comment = mode === 'run' ? RUN_BLOCK_COMMENT : BLOCK_COMMENT;
  for (const target of layout.files.filter((f) => f.target)) {
    const label = pc.label(target.path);
    const before = await readProfile(target.path, label);
    if (!before && !target.create) continue;
    // A file this run creates starts with the layout's prelude (Git Bash's ~/.bash_profile).
    const view = before?.view ?? { text: target.prelude ?? '', encoding: 'bytes' as const };
    const body = shell.sourceBlock(envFile, pc.e, comment).map((line) => ours(line, view.encoding));
    const eol = shell.blockEol(detectEol(view.text, pc.e.platform === 'win32' ? '\r\n' : '\n'));
    let placed;
    try {
      placed = placeBlock(view.text, body, { eol });
    } catch (error) {
      blockError(label, error);
    }
    const after: ByteText = { text: placed.text, encoding: view.encoding };
    const bytes = toBytes(after);
    const realPath = before && before.realPath !== path.resolve(target.path) ? before.realPath : undefined;
    const change: ShellChange = {
      kind: 'profile',
      shells: [shell.name],
      path: target.path,
      realPath,
      action: before === undefined ? 'create' : before.bytes.equals(bytes) ? 'unchanged' : 'update',
      holdsSecret: false,
      warnings: [],
      notes: [],
    };
    if (realPath) change.notes.push(`${label} is a symlink: edited its target ${pc.label(realPath)}.`);
    const earlier = findEdit(pc.edits, { path: target.path, realPath: before?.realPath });
    plan.push({
      change,
      bytes: change.action === 'unchanged' ? undefined : bytes,
      mode: 0o644,
      // The copy of the original, once: a file that already holds a block (a mode switch) was saved, or made by us, the first time.
      backup: before !== undefined && !hadBlock(before.view.text),
      beforeText: before && forPeople(before.view),
      afterText: forPeople(after),
      after,
      record: {
        path: target.path,
        realPath: before?.realPath ?? path.resolve(target.path),
        created: earlier ? earlier.created : before === undefined,
        separator: placed.separator ?? earlier?.separator,
        tags: [shell.name],
      },
    });
  }
  return plan;
}

/** The user-environment change for cmd on Windows. */
export function planUserEnvironment(action: 'create' | 'update' | 'remove'): Planned {
  return {
    change: {
      kind: 'user-environment',
      shells: ['cmd'],
      path: USER_ENVIRONMENT,
      action,
      holdsSecret: true,
      warnings: [],
      notes: action === 'remove' ? [] : ['Windows keeps these in the user environment, which every new program (cmd, PowerShell, Claude Code) inherits.'],
    },
  };
}

export interface UndoCandidate {
  /** The file as a path the user knows. */
  path: string;
  /** The shells whose file it is. */
  shells: ShellName[];
  /** Ours alone (fish conf.d/thirdloop.fish). */
  ours: boolean;
  /** What setup put before the block in a file it created (StartupFile.prelude). */
  prelude?: string;
}

/**
 * Every file that may hold our block: what the record says setup edited,
 * and every start-up file of the shells as they are found now (blocks an
 * older version left, or written before the record existed).
 */
export function undoCandidates(layouts: Map<ShellName, ShellLayout>, edits: EditRecord[]): UndoCandidate[] {
  const out: UndoCandidate[] = [];
  const add = (file: string, shells: ShellName[], isOurs: boolean) => {
    const found = out.find((c) => c.path === file);
    if (found) {
      found.shells = [...new Set([...found.shells, ...shells])];
      found.ours ||= isOurs;
    } else out.push({ path: file, shells, ours: isOurs });
  };
  for (const record of edits) add(record.path, record.tags.filter((t): t is ShellName => t in SHELLS), false);
  for (const [name, layout] of layouts) {
    for (const file of layout.files as StartupFile[]) {
      add(file.path, [name], Boolean(file.ours));
      if (file.prelude) out.find((c) => c.path === file.path)!.prelude = file.prelude;
    }
  }
  return out;
}

export interface UndoPlan {
  plan: Planned[];
  /** Own files (env or run) a shell left configured still sources. */
  stillUsed: Set<OwnFileName>;
  /** Files skipped because they are not regular files (one sentence each). */
  skipped: string[];
}

/** Taking the block out of each candidate of the selected shells; the env files nobody sources any more go. */
export async function planUndo(pc: PlanContext, selected: ShellName[], candidates: UndoCandidate[]): Promise<UndoPlan> {
  const plan: Planned[] = [];
  const stillUsed = new Set<OwnFileName>();
  // Both of a shell's files, when what its block sources cannot be told.
  const bothOf = (name: ShellName) => [profileShell(name).envFileName, profileShell(name).runFileName];
  const usedBy = (name: ShellName, text: string | undefined): OwnFileName[] => {
    const mode = text === undefined ? undefined : blockMode(text);
    return mode ? [ownFileName(profileShell(name), mode)] : bothOf(name);
  };
  const skipped: string[] = [];
  const seen = new Set<string>();
  // Two paths to one file (~/.zshrc linked to ~/.bashrc) are one candidate that serves both shells.
  const byTarget = new Map<string, UndoCandidate>();
  for (const candidate of candidates) {
    const target = await resolveTarget(candidate.path).catch(() => candidate.path);
    const found = byTarget.get(target);
    if (found) {
      found.shells = [...new Set([...found.shells, ...candidate.shells])];
      found.ours ||= candidate.ours;
      found.prelude ??= candidate.prelude;
    } else byTarget.set(target, { ...candidate });
  }
  for (const candidate of byTarget.values()) {
    const label = pc.label(candidate.path);
    const mine = candidate.shells.filter((s) => selected.includes(s));
    const others = candidate.shells.filter((s) => !selected.includes(s));
    let before;
    try {
      before = await readProfile(candidate.path, label);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      // Not a regular file (or unreadable): skipped, and assumed to keep its use of the env file.
      if (mine.length > 0) skipped.push(error.message.replace(/^Cannot (?:edit|read) /, 'Skipped ').replace(/\s*Nothing was changed\.$/, ''));
      for (const s of candidate.shells) bothOf(s).forEach((f) => stillUsed.add(f));
      continue;
    }
    if (!before || seen.has(before.realPath)) {
      if (!before && findEdit(pc.edits, { path: candidate.path }) && mine.length > 0) {
        plan.push({ change: unchangedProfile(candidate, mine), forget: true, record: findEdit(pc.edits, { path: candidate.path }) });
      }
      continue;
    }
    seen.add(before.realPath);
    let blocks;
    try {
      blocks = findBlocks(before.view.text);
    } catch (error) {
      if (mine.length === 0) {
        for (const s of candidate.shells) bothOf(s).forEach((f) => stillUsed.add(f));
        continue;
      }
      blockError(label, error);
    }
    const record = findEdit(pc.edits, { path: candidate.path, realPath: before.realPath });
    if (blocks.length === 0) {
      if (record && mine.length > 0) plan.push({ change: unchangedProfile(candidate, mine), forget: true, record });
      continue;
    }
    if (others.length > 0) {
      // Another shell that stays configured reads this file too (a shared rc file): the block stays for it.
      const blockTexts = blocks.map((b) => before.view.text.slice(b.start, b.end)).join('\n');
      for (const s of others) usedBy(s, blockTexts).forEach((f) => stillUsed.add(f));
      continue;
    }
    const text = takeBlock(before.view.text, { separator: record?.separator });
    const after: ByteText = { text, encoding: before.view.encoding };
    const bytes = toBytes(after);
    const bare = text.replace(/^(\ufeff|\u00ef\u00bb\u00bf)/, '');
    // A file setup created goes once the block is out and nothing else is left; so does our own conf.d file.
    const deleteFile =
      (record?.created === true && (bare === '' || (candidate.prelude !== undefined && bare === candidate.prelude))) || (candidate.ours && bare.trim() === '');
    const backup = backupPathFor(before.realPath);
    const saved = await readRegularFile(backup, pc.label(backup)).catch(() => undefined);
    const staleBackup = saved && (deleteFile ? saved.bytes.length === 0 : saved.bytes.equals(bytes)) ? backup : undefined;
    const change: ShellChange = {
      kind: 'profile',
      shells: mine,
      path: candidate.path,
      realPath: before.realPath !== path.resolve(candidate.path) ? before.realPath : undefined,
      action: deleteFile ? 'remove' : 'update',
      holdsSecret: false,
      warnings: [],
      notes: [],
    };
    if (saved && !staleBackup) {
      change.notes.push(`Kept ${pc.label(backup)}, the copy from before thirdloop's first change: the file has changed since.`);
    }
    plan.push({
      change,
      bytes: deleteFile ? undefined : bytes,
      beforeText: forPeople(before.view),
      afterText: deleteFile ? undefined : forPeople(after),
      staleBackup,
      forget: true,
      record,
    });
  }

  plan.push(...(await planUnusedOwnFiles(pc, stillUsed)));
  return { plan, stillUsed, skipped };
}

const unchangedProfile = (candidate: UndoCandidate, shells: ShellName[]): ShellChange => ({
  kind: 'profile',
  shells,
  path: candidate.path,
  action: 'unchanged',
  holdsSecret: false,
  warnings: [],
  notes: [],
});
