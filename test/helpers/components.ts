/**
 * Tests that need a system component (a shell, Chromium, a Secret Service)
 * call `needs(...)`. On a developer laptop a missing component skips the
 * suite with the reason printed; under CI (CI=true) it is a failure, so a
 * missing install step in .ci/run can never pass as green.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const inCI = () => process.env.CI === 'true' || process.env.CI === '1';

export function which(command: string): string | undefined {
  try {
    const out = execFileSync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' }).trim();
    return out && existsSync(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns undefined when every component is present, else the reason.
 * Throws under CI, so callers use: `describe.skipIf(needs('zsh'))(...)`.
 */
export function needs(...commands: string[]): string | undefined {
  const missing = commands.filter((c) => !which(c));
  if (missing.length === 0) return undefined;
  const reason = `missing system component(s): ${missing.join(', ')}`;
  if (inCI()) throw new Error(`${reason} (CI requires every component; see .ci/run)`);
  console.warn(`skipping: ${reason}`);
  return reason;
}
