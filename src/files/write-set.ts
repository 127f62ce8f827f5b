/**
 * The files one run changes, written as a set (setup opencode's interface to
 * files/transaction, which holds the rules): every target is checked before
 * the first write (a regular file after links, writable by its mode bits and
 * owner — never by access() alone, which says yes to root —, in a folder we
 * may write), each file is replaced atomically with its mode and owner kept,
 * a file someone changed since the run read it is not overwritten, and a
 * failure part-way puts back every file already written, so "Nothing was
 * changed" is said only when it is true. As root in someone else's project,
 * what we create belongs to the folder's owner.
 */
import type { Identity } from './ownership.js';
import type { ExistingFile } from './regular-file.js';
import { FileTransaction } from './transaction.js';

export interface FileWrite {
  /** The path asked for; a symlink is followed and its target replaced. */
  path: string;
  /** How the file is named in messages. */
  label: string;
  /** What the file held when the run read it (undefined: it did not exist). */
  before: ExistingFile | undefined;
  /** The new bytes, or undefined to remove the file. */
  after: Buffer | undefined;
  /** Mode of a new file. */
  mode?: number;
  /** Mode of folders we create (0755 unless said). */
  dirMode?: number;
  /** Keep an exact copy of `before` at `<file>.thirdloop-backup` unless one is there already. */
  backup?: boolean;
}

export interface WriteOutcome {
  path: string;
  /** The real path written. */
  realPath: string;
  /** Set when this run made the backup. */
  backupPath?: string;
}

function transaction(writes: FileWrite[], identity?: Identity): FileTransaction {
  const tx = new FileTransaction(identity ? { identity } : {});
  for (const w of writes) {
    const expect = w.before ? w.before.bytes : null;
    if (w.after === undefined) tx.remove(w.path, { label: w.label, expect });
    else tx.write(w.path, w.after, { label: w.label, expect, mode: w.mode ?? 0o644, dirMode: w.dirMode ?? 0o755, backup: w.backup });
  }
  return tx;
}

/**
 * Writes every file of the set, or none: all are checked first, and a
 * failure puts back those already written before the error is thrown.
 */
export async function writeFileSet(writes: FileWrite[], identity?: Identity): Promise<WriteOutcome[]> {
  const tx = transaction(writes, identity);
  await tx.check();
  const applied = await tx.commit();
  return applied.map((a) => ({ path: a.path, realPath: a.realPath, ...(a.backupPath ? { backupPath: a.backupPath } : {}) }));
}

/** Only the checks of writeFileSet, for a run that must refuse before doing anything else (e.g. asking). */
export async function checkFileSet(writes: FileWrite[], identity?: Identity): Promise<void> {
  await transaction(writes, identity).check();
}
