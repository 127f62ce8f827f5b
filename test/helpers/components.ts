/**
 * Tests that need a system component (a shell, Chromium, a Secret Service)
 * call `needs(...)`. On a developer laptop a missing component skips the
 * suite with the reason printed; under CI (CI=true) it is a failure, so a
 * missing install step in .ci/run can never pass as green.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const inCI = () => process.env.CI === 'true' || process.env.CI === '1';

/** The command's path on PATH, or in the sbin folders daemons live in (nginx), which a user's PATH may lack. */
export function which(command: string): string | undefined {
  try {
    const out = execFileSync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' }).trim();
    if (out && existsSync(out)) return out;
  } catch {
    /* not on PATH */
  }
  return ['/usr/sbin', '/sbin', '/usr/local/sbin'].map((dir) => `${dir}/${command}`).find((path) => existsSync(path));
}

/**
 * Returns undefined when every component is present, else the reason.
 * Throws under CI, so callers use: `describe.skipIf(needs('zsh'))(...)`.
 */
export function needs(...commands: string[]): string | undefined {
  const missing = commands.filter((c) => !which(c));
  if (missing.length === 0) return undefined;
  return unavailable(`missing system component(s): ${missing.join(', ')}`);
}

/**
 * The same rule for what is not a command: the corpus, a capability of the
 * machine (root, a file system with immutable files). `present` false skips
 * with the reason printed, or throws under CI. Returns undefined when present.
 */
export function needsThat(present: boolean, what: string): string | undefined {
  return present ? undefined : unavailable(what);
}

function unavailable(reason: string): string {
  if (inCI()) throw new Error(`${reason} (CI requires every component; see .ci/run)`);
  console.warn(`skipping: ${reason}`);
  return reason;
}
