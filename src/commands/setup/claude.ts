/**
 * `thirdloop setup claude`: make every new terminal route Claude Code through
 * the instance (ANTHROPIC_BASE_URL + ANTHROPIC_API_KEY), or with --key-helper
 * let Claude Code ask `thirdloop token` for the key. --undo takes it back.
 */
import type { Context } from '../../context.js';
import { Cancelled, UserError, usageError } from '../../core/errors.js';
import { createOutput, type Output } from '../../core/output.js';
import { confirm } from '../../core/prompt.js';
import { cliScriptPath, isNpxCache } from '../../core/cli-path.js';
import { requireSession } from '../../core/session.js';
import { backupPathFor, removeFile, writeFileAtomic } from '../../files/atomic-write.js';
import { unifiedDiff } from '../../files/unified-diff.js';
import {
  claudeSettingsPath,
  keyHelperCommand,
  mergeClaudeSettings,
  unmergeClaudeSettings,
  type ClaudeSettingsRecord,
} from '../../clients/claude.js';
import { readTextFile, encodeText } from '../../files/text-file.js';
import { FileTransaction } from '../../files/transaction.js';
import type { Spawner } from '../../shells/cmd.js';
import type { WindowsSystem } from '../../shells/windows/system.js';
import { runShellSetup, type ShellChange, type ShellSetupResult } from '../../shells/configure.js';
import { label, list, printChecks, printFiles, shellReport, viaRunConfigured, type Report } from '../../shells/report.js';
import { anthropicBaseUrl } from '../../shells/env-files.js';
import { SHELLS, parseShellList } from '../../shells/index.js';
import type { ShellName } from '../../shells/types.js';

export interface SetupClaudeOptions {
  shell?: string;
  dryRun?: boolean;
  undo?: boolean;
  keyHelper?: boolean;
  /** Shell functions so that `claude` runs as `thirdloop run -- claude`: no key in any file or environment. */
  viaRun?: boolean;
  yes?: boolean;
  /** Test seams: the Windows user-environment runner, and the CLI's own paths for apiKeyHelper. */
  spawn?: Spawner;
  /** Test seam: Windows itself (registry, PowerShells); default through `spawn`. */
  windows?: WindowsSystem;
  /** Test seam: how long each shell may take to start. */
  timeoutMs?: number;
  nodePath?: string;
  cliPath?: string;
}

const KEY_HELPER_RECORD = 'setup.claude.keyHelper';

export async function run(ctx: Context, options: SetupClaudeOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const shells = options.shell ? parseShellList(options.shell, ctx.platform) : undefined;
  if (options.keyHelper && options.shell) {
    throw usageError('--key-helper configures Claude Code itself, not the shells; drop --shell.');
  }
  if (options.keyHelper && options.viaRun) {
    throw usageError('--key-helper and --via-run are two ways to keep the key out of the shells; choose one.', '--via-run keeps it from Claude Code too: thirdloop setup claude --via-run');
  }
  if (options.undo && options.viaRun) {
    throw usageError('--undo takes back every mode; drop --via-run.', 'thirdloop setup claude --undo');
  }
  const report = options.undo ? await undo(ctx, out, options, shells) : await setup(ctx, out, options, shells);
  print(ctx, out, report);
}

async function setup(ctx: Context, out: Output, options: SetupClaudeOptions, shells: ShellName[] | undefined): Promise<Report> {
  const session = await requireSession(ctx);
  const apiUrl = anthropicBaseUrl(session.baseUrl);
  const credential = session.secret.credential;

  if (options.keyHelper) return keyHelper(ctx, out, options, apiUrl, session.profileName);

  // Windows: a PowerShell whose execution policy skips profiles can still get the variables from the user environment, if the user agrees.
  const askUserEnvironment =
    ctx.platform === 'win32' && ctx.io.stdinIsTTY && !ctx.globals.json
      ? async (reasons: string[]) => {
          for (const reason of reasons) out.warn(reason);
          return confirm(ctx, 'Set the variables in the Windows user environment too, which every PowerShell inherits?', '--shell powershell,cmd', true);
        }
      : undefined;
  const run = (dryRun: boolean) =>
    runShellSetup(ctx, {
      shells: shells && [...shells],
      apiUrl,
      credential,
      dryRun,
      spawn: options.spawn,
      windows: options.windows,
      timeoutMs: options.timeoutMs,
      // --via-run: the key stays out of every environment, so the user environment is never offered.
      askUserEnvironment: options.viaRun ? undefined : askUserEnvironment,
      mode: options.viaRun ? 'run' : 'env',
      nodePath: options.nodePath,
      cliPath: options.cliPath,
    });
  if (!options.dryRun && !options.yes && ctx.io.stdinIsTTY && !ctx.globals.json) {
    const plan = (await run(true)).changes;
    const pending = plan.filter((c) => c.action !== 'unchanged');
    if (pending.length > 0) {
      out.info(`thirdloop will change:`);
      for (const change of pending) out.info(`  ${change.action.padEnd(7)} ${label(ctx, change.path)}`);
      if (!(await confirm(ctx, 'Continue?', '--yes', true))) throw new Cancelled();
    }
  }
  // Writing is quick; starting every shell to check it takes a moment: show that something happens.
  const spinner = !options.dryRun && ctx.io.stderrIsTTY && !ctx.globals.json ? out.spinner('Writing the files, then starting each shell to check them…') : undefined;
  try {
    return shellReport('setup', options, await run(Boolean(options.dryRun)), ctx);
  } finally {
    spinner?.stop();
  }
}

async function undo(ctx: Context, out: Output, options: SetupClaudeOptions, shells: ShellName[] | undefined): Promise<Report> {
  const config = await ctx.config();
  const record = config.get<ClaudeSettingsRecord>(KEY_HELPER_RECORD);
  const doShells = !options.keyHelper;
  const doSettings = Boolean(options.keyHelper || (record && !options.shell));

  let result: ShellSetupResult | undefined;
  if (doShells) result = await runShellSetup(ctx, { shells, undo: true, dryRun: true, spawn: options.spawn });
  let changes = result?.changes ?? [];
  const settings = doSettings ? await planSettingsUndo(ctx, record) : undefined;
  const pending = changes.filter((c) => c.action !== 'unchanged').length + (settings ? 1 : 0);

  if (!options.dryRun && pending > 0 && !options.yes) {
    if (!ctx.io.stdinIsTTY) {
      throw usageError('--undo removes the thirdloop lines and files; confirm with --yes when not on a terminal.', 'Run `thirdloop setup claude --undo --yes`.');
    }
    out.info('thirdloop will undo:');
    for (const change of changes) out.info(`  ${change.action.padEnd(7)} ${label(ctx, change.path)}`);
    if (settings) out.info(`  ${settings.action.padEnd(7)} ${label(ctx, settings.path)}`);
    if (!(await confirm(ctx, 'Continue?', '--yes'))) throw new Cancelled();
  }

  if (!options.dryRun) {
    // Settings first checked, so a read-only settings.json stops us before the shells change.
    if (settings) await new FileTransaction({ label: (f) => label(ctx, f) }).write(settings.path, Buffer.alloc(0), { label: label(ctx, settings.path) }).check();
    if (doShells) {
      result = await runShellSetup(ctx, { shells, undo: true, spawn: options.spawn });
      changes = result.changes;
    }
    if (settings) {
      if (settings.text === undefined) await removeFile(settings.realPath);
      else await writeFileAtomic(settings.path, encodeText(settings.text, settings.encoding));
      // The copy from before our first edit is redundant once the file is back to it.
      const backup = backupPathFor(settings.realPath);
      const saved = await readTextFile(backup).catch(() => undefined);
      if (saved && settings.text !== undefined && saved.text === settings.text) await removeFile(backup);
    }
    if (doSettings && record) config.set(KEY_HELPER_RECORD, undefined);
  }
  const report = shellReport('undo', options, result ?? emptyResult(), ctx);
  if (settings) {
    report.mode = doShells ? 'shells' : 'key-helper';
    report.files.push({
      path: settings.path,
      kind: 'claude-settings',
      action: settings.action,
      holdsSecret: false,
      diff: options.dryRun ? settings.diff : undefined,
    });
  }
  return report;
}

async function planSettingsUndo(ctx: Context, record: ClaudeSettingsRecord | undefined) {
  if (!record) return undefined;
  const before = await readTextFile(record.path);
  if (!before) return undefined;
  const text = unmergeClaudeSettings(before.text, record, label(ctx, record.path));
  if (text === before.text) return undefined;
  const shown = label(ctx, record.path);
  return {
    path: record.path,
    realPath: before.realPath,
    encoding: before.encoding,
    text,
    action: (text === undefined ? 'remove' : 'update') as ShellChange['action'],
    diff: unifiedDiff(before.text, text, { oldLabel: shown, newLabel: shown }),
  };
}

async function keyHelper(ctx: Context, out: Output, options: SetupClaudeOptions, apiUrl: string, profile: string): Promise<Report> {
  const file = claudeSettingsPath({ platform: ctx.platform, homedir: ctx.homedir, env: ctx.env });
  const shown = label(ctx, file);
  const scriptPath = options.cliPath ?? cliScriptPath();
  const command = keyHelperCommand({ nodePath: options.nodePath ?? process.execPath, scriptPath, profile, platform: ctx.platform });
  const before = await readTextFile(file);
  const merged = mergeClaudeSettings(before?.text, { apiKeyHelper: command, baseUrl: apiUrl }, shown);
  const warnings = [...merged.warnings];
  if (isNpxCache(scriptPath)) {
    warnings.push(
      'thirdloop is running from npx’s temporary cache, which can be cleaned at any time: install it (npm install -g thirdloop) and run this again so apiKeyHelper keeps working.',
    );
  }
  const store = await ctx.config();
  const action: ShellChange['action'] = before === undefined ? 'create' : merged.text === before.text ? 'unchanged' : 'update';
  const report: Report = {
    action: 'setup',
    dryRun: Boolean(options.dryRun),
    mode: 'key-helper',
    shells: [],
    files: [{ path: file, kind: 'claude-settings', action, holdsSecret: false }],
    checks: [],
    failed: [],
    warnings,
    notes: ['The key stays in the keychain: Claude Code runs `thirdloop token` when it needs it.'],
  };
  if (options.dryRun) {
    report.files[0]!.diff = unifiedDiff(before?.text, merged.text, { oldLabel: shown, newLabel: shown });
    return report;
  }
  if (action === 'unchanged') return report;
  const foreign = merged.previousApiKeyHelper;
  if (!options.yes && typeof foreign === 'string' && !isOurHelper(foreign)) {
    // Someone else's helper: replacing it is the user's call (--undo puts it back).
    if (!ctx.io.stdinIsTTY || ctx.globals.json) {
      throw usageError(`${shown} already has an apiKeyHelper (${foreign}).`, 'Pass --yes to replace it; `thirdloop setup claude --undo` puts it back.');
    }
    out.info(`${shown} already has apiKeyHelper: ${foreign}`);
    if (!(await confirm(ctx, 'Replace it with thirdloop’s?', '--yes'))) throw new Cancelled();
  }
  await new FileTransaction({ label: (f) => label(ctx, f) }).write(file, Buffer.alloc(0), { label: shown }).check();
  const result = await writeFileAtomic(file, encodeText(merged.text, before?.encoding ?? 'utf8'), { mode: 0o600, backup: true, label: shown });
  if (result.backupPath) report.files[0]!.backupPath = result.backupPath;
  // Keep what was there first across re-runs, so --undo restores the user's own values.
  const earlier = store.get<ClaudeSettingsRecord>(KEY_HELPER_RECORD);
  const record: ClaudeSettingsRecord =
    earlier && earlier.path === file
      ? { ...earlier, apiKeyHelper: command, baseUrl: apiUrl }
      : {
          path: file,
          apiKeyHelper: command,
          baseUrl: apiUrl,
          previousApiKeyHelper: merged.previousApiKeyHelper,
          previousBaseUrl: merged.previousBaseUrl,
          createdEnv: merged.createdEnv,
          createdFile: before === undefined,
        };
  store.set(KEY_HELPER_RECORD, record);
  return report;
}

/** A helper an earlier `setup claude --key-helper` wrote (perhaps from another install path). */
const isOurHelper = (command: string) => /thirdloop(\.[cm]?js)?['"]? token\b/.test(command);

const emptyResult = (): ShellSetupResult => ({ changes: [], checks: [], failed: [], unverified: [], verifyMs: 0, warnings: [], notes: [] });

function print(ctx: Context, out: Output, report: Report) {
  if (ctx.globals.json) {
    out.json(report);
    if (report.failed.length > 0) throw new UserError('', { exitCode: 1 });
    return;
  }
  const m = out.c;
  if (report.dryRun) {
    for (const file of report.files) {
      if (file.diff) out.out(file.diff.trimEnd());
      else if (file.kind === 'user-environment' && file.action !== 'unchanged') {
        out.out(`# would ${file.action === 'remove' ? 'remove' : 'set'} ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY in the Windows user environment`);
      }
    }
    const pending = report.files.filter((f) => f.action !== 'unchanged').length;
    out.info(pending ? `Dry run: ${pending} file${pending === 1 ? '' : 's'} would change; nothing was written.` : 'Dry run: nothing to change.');
    // Read-only files (a Nix/home-manager link): the lines above are what to add where the file is generated.
    for (const file of report.files.filter((f) => f.blocked)) {
      out.warn(`${file.blocked}: add the lines shown for ${label(ctx, file.path)} where that file is generated.`);
    }
    for (const warning of report.warnings) out.warn(warning);
    return;
  }

  const names = report.shells.map((s) => SHELLS[s].label);
  if (report.action === 'undo') {
    const changed = report.files.filter((f) => f.action !== 'unchanged');
    if (changed.length === 0) out.info('Nothing to undo: thirdloop had not configured anything here.');
    else out.success(`Removed the thirdloop set-up${names.length ? ` for ${list(names)}` : ''}.`);
  } else if (report.mode === 'key-helper') {
    out.success('Claude Code will ask thirdloop for the key (apiKeyHelper).');
  } else if (names.length > 0 && report.mode === 'via-run') {
    out.success(viaRunConfigured(report));
  } else if (names.length > 0) {
    out.success(`Configured ${list(names)} to route Claude Code through Third Loop.`);
  }
  printFiles(ctx, out, report);
  printChecks(out, report);
  for (const warning of report.warnings) out.warn(warning);
  for (const note of report.notes) out.info(`${m.dim('Note:')} ${note}`);
  if (report.action === 'undo') {
    if (report.files.some((f) => f.action !== 'unchanged')) out.info('Terminals that are already open keep the old set-up until they are closed.');
    return;
  }
  if (report.failed.length > 0) {
    const failed = list(report.failed.map((s) => SHELLS[s].label));
    out.info('');
    // Taken back are this run's changes; a block an earlier run wrote stays where it was.
    const tookBack = report.files.some((f) => f.rolledBack);
    const what = report.mode === 'via-run' ? '`claude` through `thirdloop run`' : 'the Third Loop settings';
    out.info(
      tookBack
        ? `${m.red('✗')} New ${failed} terminals would not get ${what}, so thirdloop took its changes for ${report.failed.length === 1 ? 'that shell' : 'those shells'} back.`
        : `${m.red('✗')} New ${failed} terminals do not get ${what}.`,
    );
    out.next(`fix what is named above, then run \`thirdloop setup claude${report.mode === 'via-run' ? ' --via-run' : ''}\` again (or leave ${failed} out with --shell).`);
    // The report says what failed; exit 1 without a second message.
    throw new UserError('', { exitCode: 1 });
  }
  out.info('');
  if (report.mode === 'via-run') {
    out.info('Terminals that are already open keep their old set-up: open a new one, then:');
    out.info('  claude                 # starts through `thirdloop run`; the key stays where `thirdloop auth` stored it');
    if (report.commands?.includes('opencode')) out.info('  opencode               # the same, where `setup opencode` configured it');
    out.next('`thirdloop doctor` shows the mode of each shell; `thirdloop status` shows "Last used" move.');
    return;
  }
  out.info('Terminals that are already open keep their old environment: open a new one, then check:');
  if (report.mode === 'shells') {
    // A shell that was checked, else any: the hint is for a terminal the user really has.
    const first = report.checks.find((c) => c.status === 'ok')?.shell ?? report.shells.find((s) => s !== 'cmd') ?? report.shells[0];
    out.info(`  ${first ? SHELLS[first].verifyCommand : 'echo $ANTHROPIC_BASE_URL'}`);
  }
  out.info('  claude                 # answers through your Third Loop instance');
  out.next('`thirdloop status` — "Last used" moves once Claude Code has made a request.');
}

export type { Report as SetupClaudeReport };
