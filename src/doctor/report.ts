/** How doctor's results read: ✓ ! ✗ - per line with the fix under it, a summary, and the exit code. */
import { ExitCode } from '../core/errors.js';
import type { Colors } from '../core/output.js';
import type { CheckResult, CheckStatus } from './types.js';

export function renderResults(results: CheckResult[], c: Colors): string {
  const mark: Record<CheckStatus, string> = { ok: c.green('✓'), warn: c.yellow('!'), fail: c.red('✗'), skip: c.dim('-') };
  const width = Math.max(...results.map((r) => r.check.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${mark[r.status]} ${c.bold(r.check.padEnd(width))}  ${r.status === 'skip' ? c.dim(r.message) : r.message}`);
    if (r.fix && r.status !== 'ok') lines.push(`  ${' '.repeat(width)}  ${c.dim('fix:')} ${r.fix}`);
  }
  return lines.join('\n');
}

export function summary(results: CheckResult[]): string {
  const fails = results.filter((r) => r.status === 'fail').length;
  const warns = results.filter((r) => r.status === 'warn').length;
  if (fails === 0 && warns === 0) return 'Everything looks good.';
  const parts = [];
  if (fails) parts.push(`${fails} problem${fails === 1 ? '' : 's'}`);
  if (warns) parts.push(`${warns} warning${warns === 1 ? '' : 's'}`);
  return `${parts.join(', ')}.`;
}

/** 4 when not signed in (the "signed-in" check failed), 1 when anything else failed, else 0. */
export function exitCodeFor(results: CheckResult[]): number {
  if (results.some((r) => r.check === 'signed-in' && r.status === 'fail')) return ExitCode.notAuthenticated;
  return results.some((r) => r.status === 'fail') ? ExitCode.failure : ExitCode.ok;
}
