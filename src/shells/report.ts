/**
 * What a run of the shells' set-up did, as `setup claude` and `setup opencode --via-run` both
 * report it: the --json shape, the files line by line, and what each shell showed when started as a
 * new terminal. Knows no command.
 */
import type { Context } from '../context.js';
import type { Output } from '../core/output.js';
import { tildify, type ShellChange, type ShellCheck, type ShellSetupResult } from './configure.js';
import { SHELLS } from './index.js';
import type { ShellName, WrappedCommand } from './types.js';
import { commandList } from './verify.js';

export interface FileReport {
  path: string;
  kind: ShellChange['kind'] | 'claude-settings';
  action: ShellChange['action'];
  holdsSecret: boolean;
  backupPath?: string;
  /** The shell failed its check and this change was taken back. */
  rolledBack?: boolean;
  /** --dry-run: why the file cannot be written as it is. */
  blocked?: string;
  diff?: string;
}

/** What each shell showed when started as a new terminal; never a secret. */
export interface CheckReport {
  shell: ShellName;
  status: 'ok' | 'failed' | 'unverified';
  modes: Array<{ command: string; status: string; saw: string; reason?: string; ms: number }>;
}

export interface Report {
  action: 'setup' | 'undo';
  dryRun: boolean;
  /** shells: the key exported in new terminals; via-run: `claude` is a function that starts `thirdloop run`; key-helper: Claude Code asks `thirdloop token`. */
  mode: 'shells' | 'via-run' | 'key-helper';
  /** The shells configured (those that failed their check are not). */
  shells: ShellName[];
  files: FileReport[];
  checks: CheckReport[];
  /** Shells whose check failed; their changes were taken back. */
  failed: ShellName[];
  /** How long the shells took to answer, all at once. */
  verifyMs?: number;
  warnings: string[];
  notes: string[];
  /** via-run: the commands new terminals start through `thirdloop run` (claude, and opencode after `setup opencode --via-run`). */
  commands?: WrappedCommand[];
}

function checkReport(check: ShellCheck): CheckReport {
  return {
    shell: check.shell,
    status: !check.installed ? 'unverified' : check.ok ? 'ok' : 'failed',
    modes: check.modes.map(({ command, status, saw, reason, ms }) => ({ command, status, saw, ...(reason ? { reason } : {}), ms })),
  };
}

/** What runShellSetup did, as the report both `setup claude` and `setup opencode --via-run` print. */
export function shellReport(action: 'setup' | 'undo', options: { dryRun?: boolean }, result: ShellSetupResult, ctx: Context): Report {
  const shells = new Set<ShellName>();
  for (const change of result.changes) if (change.kind !== 'env-file' && change.kind !== 'run-file') change.shells.forEach((s) => shells.add(s));
  for (const name of result.failed) shells.delete(name);
  const changes = result.changes;
  return {
    action,
    dryRun: Boolean(options.dryRun),
    mode: result.mode === 'run' ? 'via-run' : 'shells',
    shells: [...shells],
    ...(result.commands ? { commands: result.commands } : {}),
    files: changes.map((c) => ({
      path: c.path,
      kind: c.kind,
      action: c.action,
      holdsSecret: c.holdsSecret,
      backupPath: c.rolledBack ? undefined : c.backupPath,
      ...(c.rolledBack ? { rolledBack: true } : {}),
      ...(c.blocked ? { blocked: c.blocked } : {}),
      diff: c.diff,
    })),
    checks: result.checks.map(checkReport),
    failed: result.failed,
    ...(action === 'setup' && !options.dryRun ? { verifyMs: result.verifyMs } : {}),
    warnings: [...changes.flatMap((c) => c.warnings), ...result.warnings],
    notes: [
      ...result.notes,
      ...changes.flatMap((c) => [...c.notes, ...(c.removedBackup ? [`Removed the backup ${label(ctx, c.removedBackup)} (the file is back to it).`] : [])]),
    ],
  };
}

export const label = (ctx: Context, file: string) => (file.includes('\\Environment') ? 'user environment (HKCU\\Environment)' : tildify(file, ctx.homedir));

/** The one line that says which shells now start which commands through `thirdloop run`. */
export function viaRunConfigured(report: Report): string {
  const commands = report.commands ?? ['claude'];
  const names = report.shells.map((s) => SHELLS[s].label);
  return `Configured ${list(names)} so that ${commandList(commands)} ${commands.length === 1 ? 'runs' : 'run'} through \`thirdloop run\`: no key in new terminals.`;
}

/** One line per shell: what new terminals of each kind see, checked by starting them. */
export function printChecks(out: Output, report: Report) {
  if (report.checks.length === 0) return;
  const m = out.c;
  const took = report.verifyMs !== undefined ? ` (${(report.verifyMs / 1000).toFixed(1)} s)` : '';
  out.info(`Checked by starting each shell as a new terminal does${took}:`);
  const width = Math.max(...report.checks.map((c) => SHELLS[c.shell].label.length));
  for (const check of report.checks) {
    const name = SHELLS[check.shell].label.padEnd(width);
    if (check.status === 'unverified') {
      out.info(`  ${m.dim('-')} ${name}  not installed here: its files are written, not checked`);
      continue;
    }
    const good = check.modes.filter((mode) => mode.status === 'ok').map((mode) => mode.command);
    if (check.status === 'ok') {
      const commands = report.commands ?? ['claude'];
      const viaRun = `${commandList(commands)} ${commands.length === 1 ? 'goes' : 'go'} through \`thirdloop run\`, no key in the environment`;
      out.info(`  ${m.green('✓')} ${name}  ${good.join(', ')}: ${report.mode === 'via-run' ? viaRun : 'both variables, exact'}`);
    }
    for (const mode of check.modes.filter((x) => x.status === 'handed-over')) {
      out.info(`  ${m.yellow('!')} ${name}  ${mode.command} shows ${mode.saw}; ${mode.reason}`);
    }
    for (const mode of check.modes.filter((x) => x.status === 'failed')) {
      out.info(`  ${m.red('✗')} ${name}  ${mode.command} sees ${mode.saw}: ${mode.reason}`);
    }
  }
}

const DONE: Record<ShellChange['action'], string> = { create: 'created', update: 'updated', remove: 'removed', unchanged: 'unchanged' };

export function printFiles(ctx: Context, out: Output, report: Report) {
  if (report.files.length === 0) return;
  const rows = report.files.map((file) => {
    const extras: string[] = [];
    if (file.holdsSecret && file.kind !== 'user-environment' && file.action !== 'remove') extras.push('mode 0600, holds the key');
    if (file.holdsSecret && file.kind === 'env-file' && file.action === 'remove' && !file.rolledBack) extras.push('held the key');
    if (file.kind === 'run-file' && file.action !== 'remove') extras.push('no key');
    if (file.backupPath) extras.push(`original saved as ${label(ctx, file.backupPath)}`);
    if (file.rolledBack) extras.push('taken back');
    return [file.rolledBack ? 'restored' : DONE[file.action], label(ctx, file.path), extras.length ? `(${extras.join('; ')})` : ''] as const;
  });
  const actionWidth = Math.max(...rows.map((r) => r[0].length));
  const pathWidth = Math.max(...rows.map((r) => r[1].length));
  out.info('Files:');
  for (const [action, file, extra] of rows) {
    out.info(`  ${action.padEnd(actionWidth)}  ${extra ? `${file.padEnd(pathWidth)}  ${extra}` : file}`);
  }
}

export const list = (items: string[]) =>
  items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;

