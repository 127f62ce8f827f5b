/**
 * The real-world config corpus (shared/corpus next to the repository, or
 * THIRDLOOP_CORPUS_DIR). Tests copy files out of it and never edit it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { inCI } from './components.js';

export function corpusDir(): string | undefined {
  const candidates = [
    process.env.THIRDLOOP_CORPUS_DIR,
    path.resolve(import.meta.dirname, '../../../shared/corpus'),
    path.resolve(import.meta.dirname, '../fixtures/corpus'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(path.join(c, 'MANIFEST.tsv')));
  // Not a system component: a clone without the shared folder skips these
  // suites (loudly) rather than failing, as the opencode corpus tests do.
  if (!found) console.warn(`skipping: the real-world corpus is missing (set THIRDLOOP_CORPUS_DIR)${inCI() ? ' — in CI' : ''}`);
  return found;
}
