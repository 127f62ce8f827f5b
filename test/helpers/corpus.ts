/**
 * The real-world config corpus (shared/corpus next to the repository, or
 * THIRDLOOP_CORPUS_DIR). Tests copy files out of it and never edit it.
 *
 * A missing corpus, or a kind of file with none of the files MANIFEST.tsv
 * lists, goes through the one `needs` rule: the suite skips with the reason
 * printed on a laptop and fails under CI, so an empty folder can never pass
 * as green with zero cases.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { needsThat } from './components.js';

let found: string | undefined | null = null;

export function corpusDir(): string | undefined {
  if (found !== null) return found;
  const candidates = [
    process.env.THIRDLOOP_CORPUS_DIR,
    path.resolve(import.meta.dirname, '../../../shared/corpus'),
    path.resolve(import.meta.dirname, '../fixtures/corpus'),
  ].filter((c): c is string => Boolean(c));
  const dir = candidates.find((c) => existsSync(path.join(c, 'MANIFEST.tsv')));
  found = needsThat(dir !== undefined, 'the real-world corpus (../shared/corpus, or set THIRDLOOP_CORPUS_DIR)') ? undefined : dir;
  return found;
}

/**
 * The corpus files of one kind (`opencode`, `claude`, `shells/bash` …) whose names match `pattern`,
 * as absolute paths. [] only when the rule allows a skip; under CI an empty or incomplete folder
 * (fewer files than MANIFEST.tsv lists) fails.
 */
export function corpusFiles(kind: string, pattern: RegExp = /./): string[] {
  const dir = corpusDir();
  if (!dir) return [];
  const folder = path.join(dir, kind);
  const files = existsSync(folder) ? readdirSync(folder).filter((f) => pattern.test(f) && statSync(path.join(folder, f)).isFile()) : [];
  const listed = readFileSync(path.join(dir, 'MANIFEST.tsv'), 'utf8')
    .split('\n')
    .map((line) => line.split('\t')[0] ?? '')
    .filter((file) => file.startsWith(`${kind}/`) && !file.slice(kind.length + 1).includes('/') && pattern.test(path.basename(file)));
  const absent = listed.filter((file) => !files.includes(path.basename(file)));
  const complete = files.length > 0 && absent.length === 0;
  if (needsThat(complete, `the corpus's ${kind}/ files (${files.length} found; MANIFEST.tsv lists ${listed.length}${absent.length ? `, missing ${absent.slice(0, 3).join(', ')}${absent.length > 3 ? ', …' : ''}` : ''})`)) return [];
  return files.sort().map((f) => path.join(folder, f));
}
