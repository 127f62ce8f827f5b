/**
 * Several file edits that succeed or fail together.
 *
 *   const tx = new FileTransaction({ owner });
 *   tx.write(file, bytes, { tags: ['bash'] });  tx.remove(other);
 *   await tx.check();    // every target, before the first write
 *   await tx.commit();   // a failure part-way restores what was written
 *   await tx.rollback((tags) => tags.includes('bash'));  // later, e.g. a shell failed its check
 *
 * check() judges every target the way the kernel would for this user (mode
 * bits and ownership, not access(), which says yes to root): a regular file
 * or nothing, writable, in a folder we can write, with an owner we can keep.
 * commit() keeps each original's bytes, mode and owner, so a failure (disk
 * full, read-only file system, immutable file) puts every file back and
 * "Nothing was changed." stays true.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { removeFile, writeFileAtomic } from './atomic-write.js';
import { canKeepOwner, currentIdentity, isRoot, mayWrite, ownerOf, type Identity, type Owner } from './ownership.js';
import { describeFsError, describeKind, inspect, notRegularFile, readRegularFile, type FileState } from './regular-file.js';

export interface StepOptions {
  /** Shown in messages (e.g. ~/.bashrc). */
  label?: string;
  /** Groups steps for a partial rollback (e.g. the shells a file serves). */
  tags?: string[];
  /** What to do about a target that cannot be written, after the sentence. */
  hint?: string;
  /**
   * What the file must still hold when the step runs (null: nothing there),
   * so an edit made meanwhile by someone else is never overwritten.
   */
  expect?: Buffer | null;
}

export interface WriteOptions extends StepOptions {
  mode?: number;
  forceMode?: boolean;
  backup?: boolean;
  dirMode?: number;
}

interface WriteStep extends WriteOptions {
  op: 'write';
  path: string;
  bytes: Buffer;
}

interface RemoveStep extends StepOptions {
  op: 'remove';
  path: string;
}

type Step = WriteStep | RemoveStep;

interface Original {
  bytes: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

export interface Applied {
  path: string;
  /** The file written or removed (a symlink's target). */
  realPath: string;
  op: 'write' | 'remove';
  /** The file did not exist before this step. */
  created: boolean;
  /** Set when this step made the one-time backup. */
  backupPath?: string;
  /** Folders this step created (outermost first). */
  createdDirs: string[];
  tags: string[];
}

interface JournalEntry extends Omit<Applied, 'createdDirs'> {
  /** The step's write or removal happened (a step that failed changed nothing but maybe folders). */
  done: boolean;
  before?: Original;
  /** Folders that did not exist before this step (outermost first). */
  missingDirs: string[];
  rolledBack?: boolean;
}

export class FileTransaction {
  private readonly steps: Step[] = [];
  private readonly journal: JournalEntry[] = [];
  private readonly who: Identity | undefined;

  /**
   * `owner`: of new files and folders (root in someone else's home); without
   * it, root gives what it creates to the owner of the folder it is made in.
   */
  constructor(private readonly options: { owner?: Owner; identity?: Identity; label?: (file: string) => string } = {}) {
    this.who = options.identity ?? currentIdentity();
  }

  /** A path for a message (e.g. ~/…). */
  private show(file: string): string {
    return this.options.label?.(file) ?? file;
  }

  write(file: string, bytes: Buffer, options: WriteOptions = {}): this {
    this.steps.push({ op: 'write', path: file, bytes, ...options });
    return this;
  }

  remove(file: string, options: StepOptions = {}): this {
    this.steps.push({ op: 'remove', path: file, ...options });
    return this;
  }

  get size(): number {
    return this.steps.length;
  }

  /** Every target, before anything is written; the first problem is one sentence ending "Nothing was changed." */
  async check(): Promise<void> {
    for (const step of this.steps) await this.checkStep(step);
  }

  /** Every target's problem, without stopping at the first (for --dry-run, which shows the lines anyway). */
  async problems(): Promise<Array<{ path: string; error: UserError }>> {
    const found: Array<{ path: string; error: UserError }> = [];
    for (const step of this.steps) {
      try {
        await this.checkStep(step);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        found.push({ path: step.path, error });
      }
    }
    return found;
  }

  private async checkStep(step: Step): Promise<void> {
    const label = step.label ?? step.path;
    const state = await inspect(step.path, label);
    const viaLink = state.realPath !== path.resolve(step.path);
    if (state.kind === 'directory') throw new UserError(`Cannot edit ${label}: it is a directory. Nothing was changed.`, { hint: step.hint });
    if (state.kind !== 'missing' && state.kind !== 'file') {
      const error = notRegularFile(state, label);
      throw new UserError(error.message, { hint: step.hint ?? error.hint });
    }
    if (step.op === 'remove' && state.kind === 'missing') return;
    if (state.stat) {
      const byMode = !mayWrite(state.stat, this.who);
      if (byMode || !(await accessible(state.realPath, constants.W_OK))) {
        // The mode is named when it is the reason; an immutable file or a read-only mount has a writable mode.
        const readOnly = byMode ? `read-only (mode 0${(state.stat.mode & 0o777).toString(8)})` : 'read-only';
        const what = viaLink ? `it links to ${this.show(state.realPath)}, which is ${readOnly}` : `it is ${readOnly}`;
        throw new UserError(`Cannot edit ${label}: ${what}. Nothing was changed.`, {
          hint: step.hint ?? (viaLink ? 'Change the file the link points to, or where it is generated.' : `Make it writable (chmod u+w ${label}) and run again.`),
        });
      }
      if (step.op === 'write' && !canKeepOwner(state.stat, this.who)) {
        throw new UserError(
          `Cannot edit ${label}: it belongs to user ${state.stat.uid} (group ${state.stat.gid}), and a copy written by this user would change its owner. Nothing was changed.`,
          { hint: step.hint ?? 'Run the command as the owner of the file.' },
        );
      }
      await this.checkFolder(path.dirname(state.realPath), label, step, true);
      return;
    }
    await this.checkFolder(path.dirname(state.realPath), label, step, false);
  }

  /** The nearest existing folder must be a folder this user may create entries in. */
  private async checkFolder(dir: string, label: string, step: Step, exists: boolean): Promise<void> {
    let current = dir;
    for (;;) {
      let found: FileState;
      try {
        found = await inspect(current);
      } catch (error) {
        throw withHint(describeFsError(error, label), step.hint);
      }
      if (found.kind === 'directory') {
        if (!mayWrite(found.stat!, this.who, true) || !(await accessible(current, constants.W_OK | constants.X_OK))) {
          const shown = current === dir ? `its folder ${this.show(current)}` : `${this.show(current)}, where its folder would be created,`;
          throw new UserError(`Cannot ${exists ? 'edit' : 'create'} ${label}: ${shown} is not writable. Nothing was changed.`, {
            hint: step.hint ?? 'Fix the folder’s permissions and run again.',
          });
        }
        return;
      }
      if (found.kind !== 'missing') {
        throw new UserError(`Cannot create ${label}: ${this.show(current)} is ${describeKind(found.kind)}, not a folder. Nothing was changed.`, { hint: step.hint });
      }
      const parent = path.dirname(current);
      if (parent === current) return;
      current = parent;
    }
  }

  /** Applies every step in order; on a failure, restores what was done and rethrows. */
  async commit(): Promise<Applied[]> {
    try {
      for (const step of this.steps) await this.apply(step);
    } catch (error) {
      const failed = await this.restore(this.journal);
      if (failed.length > 0) {
        const first = (error instanceof Error ? error.message : String(error)).replace(/\s*Nothing was changed\.$/, '').replace(/\.$/, '');
        throw new UserError(`${first}. Could not put back ${failed.join(', ')}: check ${failed.length === 1 ? 'it' : 'them'} by hand.`, { cause: error });
      }
      const first = error instanceof UserError ? error : describeFsError(error, this.steps[this.journal.length - 1]?.label ?? 'a file');
      // Everything was put back, so the sentence may say so (and only then).
      if (/Nothing was changed\.$/.test(first.message)) throw first;
      throw new UserError(`${first.message.replace(/\.?$/, '.')} Nothing was changed.`, { hint: first.hint, cause: error });
    }
    return this.journal.map(({ path: p, realPath, op, created, backupPath, tags, missingDirs }) => ({
      path: p,
      realPath,
      op,
      created,
      backupPath,
      createdDirs: op === 'write' ? missingDirs : [],
      tags,
    }));
  }

  private async apply(step: Step): Promise<void> {
    const label = step.label ?? step.path;
    const state = await inspect(step.path, label);
    const original = state.kind === 'file' ? await readRegularFile(step.path, label) : undefined;
    if (step.expect !== undefined) {
      const same = original === undefined ? step.expect === null : step.expect !== null && original.bytes.equals(step.expect);
      if (!same) throw new UserError(`${label} changed while thirdloop was running; run again.`);
    }
    const entry: JournalEntry = {
      path: step.path,
      realPath: state.realPath,
      op: step.op,
      created: original === undefined,
      tags: step.tags ?? [],
      before: original && { bytes: original.bytes, mode: original.stat.mode & 0o7777, uid: original.stat.uid, gid: original.stat.gid },
      missingDirs: await missingFolders(path.dirname(state.realPath)),
      done: false,
    };
    this.journal.push(entry);
    if (step.op === 'remove') {
      if (original) await removeFile(state.realPath);
      entry.done = true;
      return;
    }
    const result = await writeFileAtomic(step.path, step.bytes, {
      mode: step.mode,
      forceMode: step.forceMode,
      backup: step.backup,
      dirMode: step.dirMode,
      owner: this.options.owner ?? (isRoot(this.who) ? await ownerOfNearestFolder(path.dirname(state.realPath)) : undefined),
      label,
    });
    entry.done = true;
    entry.backupPath = result.backupPath;
  }

  /** Puts back the steps whose tags match (all when no filter), newest first. Returns the paths it could not restore. */
  async rollback(filter: (tags: string[]) => boolean = () => true): Promise<string[]> {
    return this.restore(this.journal.filter((entry) => !entry.rolledBack && filter(entry.tags)));
  }

  private async restore(entries: JournalEntry[]): Promise<string[]> {
    const failed: string[] = [];
    for (const entry of [...entries].reverse()) {
      if (entry.rolledBack) continue;
      try {
        if (!entry.done) {
          // It failed before changing the file; only folders it made on the way may be left.
        } else if (entry.before) {
          await writeFileAtomic(entry.realPath, entry.before.bytes, {
            mode: entry.before.mode,
            forceMode: true,
            owner: { uid: entry.before.uid, gid: entry.before.gid },
          });
        } else if (entry.op === 'write') {
          await removeFile(entry.realPath);
        }
        if (entry.backupPath) await removeFile(entry.backupPath);
        for (const dir of [...entry.missingDirs].reverse()) await fs.rmdir(dir).catch(() => {});
        entry.rolledBack = true;
      } catch {
        failed.push(entry.path);
      }
    }
    return failed;
  }
}

/**
 * access() as a second opinion, never the only one: it says yes to root
 * for a 0444 file (the mode bits decide that), but no to anyone for an
 * immutable file or a read-only file system, which the mode bits cannot show.
 */
const accessible = (file: string, mode: number) =>
  fs.access(file, mode).then(
    () => true,
    () => false,
  );

/** As root with no owner given, what we create belongs to whoever owns the folder it is made in. */
async function ownerOfNearestFolder(dir: string): Promise<Owner | undefined> {
  const missing = await missingFolders(dir);
  return ownerOf(missing.length > 0 ? path.dirname(missing[0]!) : dir);
}

/** The folders on the way to `dir` that do not exist yet, outermost first. */
async function missingFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    const exists = await fs.lstat(current).then(
      () => true,
      () => false,
    );
    if (exists) return out;
    out.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) return out;
    current = parent;
  }
}

const withHint = (error: UserError, hint: string | undefined) => (hint ? new UserError(error.message, { hint, cause: error }) : error);

