/**
 * The real-world config corpus (shared/corpus next to the repository, or
 * THIRDLOOP_CORPUS_DIR). Tests copy files out of it and never edit it.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { inCI } from './components.js';

export function corpusDir(): string | undefined {
  const candidates = [
    process.env.THIRDLOOP_CORPUS_DIR,
    path.resolve(import.meta.dirname, '../../../shared/corpus'),
    path.resolve(import.meta.dirname, '../fixtures/corpus'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(path.join(c, 'MANIFEST.tsv')));
  // CI always has shared/ beside the clone, so there a missing corpus is a failure;
  // elsewhere the corpus suites skip with the reason printed.
  if (!found && inCI()) throw new Error('the real-world corpus (../shared/corpus) is missing; CI requires it');
  if (!found) console.warn('skipping: the real-world corpus is missing (set THIRDLOOP_CORPUS_DIR)');
  return found;
}

/** The corpus files of one kind (`opencode`, `claude`, `shells/bash` …); [] when the corpus is missing. */
export function corpusFiles(kind: string, pattern: RegExp = /./): string[] {
  const dir = corpusDir();
  if (!dir) return [];
  return readdirSync(path.join(dir, kind)).filter((f) => pattern.test(f)).map((f) => path.join(dir, kind, f));
}
