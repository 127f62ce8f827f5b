/**
 * The real Claude Code, for the tests where it is the judge (`claude` typed in a new terminal after
 * `setup claude --via-run`). Not a dependency of the package: .ci/run installs it into
 * .tmp/claude-code (`npm install --prefix .tmp/claude-code @anthropic-ai/claude-code@<version>`);
 * a `claude` on PATH is not used (it may be the developer's own, with their settings). A missing one
 * skips, and fails under CI.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inCI } from './components.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The folder holding the real `claude`, to put on a test terminal's PATH. */
export function claudeCodeBinDir(): string | undefined {
  const dir = path.join(root, '.tmp/claude-code/node_modules/.bin');
  return existsSync(path.join(dir, 'claude')) ? dir : undefined;
}

/** Undefined when the real Claude Code is here, else the reason (and a failure under CI). */
export function needsClaudeCode(): string | undefined {
  if (claudeCodeBinDir()) return undefined;
  const reason = 'the real Claude Code is not installed (npm install --prefix .tmp/claude-code @anthropic-ai/claude-code, as .ci/run does)';
  if (inCI()) throw new Error(`${reason}; CI requires it`);
  console.warn(`skipping: ${reason}`);
  return reason;
}
