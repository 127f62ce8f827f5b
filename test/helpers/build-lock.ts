/**
 * Test workers build dist/ on demand; these make sure one builds at a time and
 * only when the sources are newer than the build.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The build output exists and is at least as new as every source file. */
export const isBuildFresh = (output: string, sourceDir: string) =>
  existsSync(output) && statSync(output).mtimeMs >= newestMtime(sourceDir);

export const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Runs `build` holding a lock directory; a lock older than 2 minutes is a crashed builder's. */
export function withBuildLock(lock: string, what: string, build: () => void): void {
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmdirSync(lock);
      } catch {
        /* gone already */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another ${what} build`);
      sleepSync(200);
    }
  }
  try {
    build();
  } finally {
    rmdirSync(lock);
  }
}
