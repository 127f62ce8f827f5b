/**
 * What a command created and edited, kept in its own state (the non-secret
 * config file), so that undo knows rather than guesses: a file it created
 * is deleted once its lines are out and nothing else is left; a file it
 * edited only loses its lines, whatever backups exist or not, and wherever
 * undo is run from (another ZDOTDIR, another working directory).
 */
import type { ConfigStore } from '../context.js';

export interface EditRecord {
  /** The path as the user knows it (~/.bashrc, perhaps a symlink). */
  path: string;
  /** The file really written, when `path` is a symlink. */
  realPath?: string;
  /** Nothing was there before the first edit. */
  created: boolean;
  /** What was inserted before our lines because the file did not end with a newline; undo takes it out too. */
  separator?: '\n' | '\r\n';
  /** Who the edit serves (e.g. the shells that read the file). */
  tags: string[];
  /** Folders the first edit created for the file (outermost first): undo removes them when empty. */
  createdDirs?: string[];
}

type Store = Pick<ConfigStore, 'get' | 'set'>;

const keyFor = (scope: string) => `edits.${scope}`;

const isRecord = (value: unknown): value is EditRecord => {
  const r = value as EditRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.path === 'string' &&
    typeof r.created === 'boolean' &&
    Array.isArray(r.tags) &&
    r.tags.every((t) => typeof t === 'string') &&
    (r.realPath === undefined || typeof r.realPath === 'string') &&
    (r.separator === undefined || r.separator === '\n' || r.separator === '\r\n') &&
    (r.createdDirs === undefined || (Array.isArray(r.createdDirs) && r.createdDirs.every((d) => typeof d === 'string')))
  );
};

/** The records of one scope (e.g. "shells"); entries that are not well-formed are ignored. */
export function readEdits(config: Store, scope: string): EditRecord[] {
  const value = config.get<unknown>(keyFor(scope));
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

export function writeEdits(config: Store, scope: string, records: EditRecord[]): void {
  config.set(keyFor(scope), records.length > 0 ? records : undefined);
}

const samePath = (a: EditRecord, b: { path: string; realPath?: string }) =>
  a.path === b.path || (a.realPath ?? a.path) === (b.realPath ?? b.path);

export const findEdit = (records: EditRecord[], file: { path: string; realPath?: string }) => records.find((r) => samePath(r, file));

/**
 * Adds or updates the record of one file: what an earlier run found stays
 * (a file it created stays "created", its separator stays), tags are merged.
 */
export function mergeEdit(records: EditRecord[], next: EditRecord): EditRecord[] {
  const earlier = findEdit(records, next);
  const merged: EditRecord = earlier
    ? {
        path: next.path,
        realPath: next.realPath,
        created: earlier.created,
        separator: earlier.separator ?? next.separator,
        tags: [...new Set([...earlier.tags, ...next.tags])],
        createdDirs: earlier.createdDirs ?? next.createdDirs,
      }
    : next;
  if (merged.realPath === undefined || merged.realPath === merged.path) delete merged.realPath;
  if (merged.separator === undefined) delete merged.separator;
  if (!merged.createdDirs?.length) delete merged.createdDirs;
  return [...records.filter((r) => r !== earlier), merged];
}

export const dropEdit = (records: EditRecord[], file: { path: string; realPath?: string }) => records.filter((r) => !samePath(r, file));
