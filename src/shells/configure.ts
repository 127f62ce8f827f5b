/**
 * Makes new terminals carry ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, or
 * takes that back (--undo), and proves it by running the real shells:
 *   1. layout: the files each shell really reads (zsh is asked where);
 *   2. plan: read every file involved (bytes, regular files only) and
 *      compute its new bytes and the record undo will need;
 *   3. check: every target can be written, judged by mode bits and owner;
 *   4. apply: env files (0600) first, then the profiles, as one
 *      transaction: a failure part-way puts back what was written;
 *   5. verify: start every installed shell as new terminals do (in
 *      parallel, with a time limit) and read both variables back; a shell
 *      that does not see the exact values has its edits rolled back;
 *   6. record what was created and edited, in thirdloop's own state.
 * With dryRun the plan is returned with a unified diff per file instead,
 * also for files that cannot be written (the lines to add elsewhere).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ConfigStore, Context } from '../context.js';
import { UserError, usageError } from '../core/errors.js';
import { removeFile } from '../files/atomic-write.js';
import { fromBytes, type ByteText } from '../files/byte-text.js';
import { dropEdit, mergeEdit, readEdits, writeEdits, type EditRecord } from '../files/edit-log.js';
import { hasBlock } from '../files/marked-block.js';
import { currentIdentity, giveTo, ownerForNewFiles, ownerOf, type Owner } from '../files/ownership.js';
import { inspect, readRegularFile } from '../files/regular-file.js';
import { FileTransaction } from '../files/transaction.js';
import { unifiedDiff } from '../files/unified-diff.js';
import { nodeSpawner, restoreUserEnvironment, setUserEnvironment, type Spawner } from './cmd.js';
import { normalizeValues, readShellRecord, redactEnvText, writeShellRecord, type ShellRecord } from './env-files.js';
import { SHELLS, defaultShells, shellsFor } from './index.js';
import {
  ownFileNameFor,
  planOwnFiles,
  planShellSetup,
  planUnusedOwnFiles,
  planUndo,
  planUserEnvironment,
  undoCandidates,
  type OwnFileName,
  type PlanContext,
  type Planned,
  type ShellChange,
} from './plan.js';
import { makeStandIn, thirdloopInvocation } from './run-files.js';
import { findProgram, terminalEnvironment } from './terminal.js';
import { machineProbe, type MachineProbe } from './probe.js';
import { fifosIn, modesWithoutBlock, scanStartup, type Finding } from './startup-scan.js';
import { checkShell, type ShellCheck } from './verify.js';
import type { ProfileShell, RunValues, ShellEnv, ShellLayout, ShellMode, ShellName, WrappedCommand } from './types.js';
import { PROGRAM_LABEL } from './types.js';
import { windowsPowerShellChecks } from './powershell.js';
import { blockedProfiles, describeBlocked, windowsFacts } from './windows/facts.js';
import { spawnedWindows, type WindowsSystem } from './windows/system.js';

export type { ShellChange } from './plan.js';
export type { ShellCheck, ModeCheck } from './verify.js';

/** Where setup keeps its record of the files it edited (files/edit-log). */
export const EDITS_SCOPE = 'shells';

export interface ConfigureShellsOptions {
  /** Which shells; default: the current shell plus every shell whose profile exists. */
  shells?: ShellName[];
  /** Required unless undo. */
  apiUrl?: string;
  credential?: string;
  dryRun?: boolean;
  undo?: boolean;
  /** Runs powershell.exe for the Windows user environment; injected in tests. */
  spawn?: Spawner;
  /** Windows itself (registry, user environment, PowerShells); default through `spawn`. Injected in tests. */
  windows?: WindowsSystem;
  /**
   * Windows: asked (with the reasons) when an execution policy keeps a PowerShell from running its
   * profile and cmd is not selected; true adds the user environment, which every PowerShell inherits.
   */
  askUserEnvironment?: (reasons: string[]) => Promise<boolean>;
  /** Time limit for each shell start (default terminal.ts DEFAULT_SHELL_TIMEOUT_MS). */
  timeoutMs?: number;
  /** `run`: the shells get functions that start `thirdloop run -- claude` instead of the key (--via-run). */
  mode?: ShellMode;
  /** --via-run: the commands to wrap (default: claude). */
  commands?: WrappedCommand[];
  /** Test seams for --via-run: the node and thirdloop script the functions start. */
  nodePath?: string;
  cliPath?: string;
}

export interface ShellSetupResult {
  changes: ShellChange[];
  /** One per configured profile shell that is installed here. */
  checks: ShellCheck[];
  /** Shells whose check failed: their edits were rolled back. */
  failed: ShellName[];
  /** Configured, but not installed here: written, not verified. */
  unverified: ShellName[];
  /** How long the shells took to answer, all together. */
  verifyMs: number;
  /** Static findings worth a word even when the shells agree (a `return` only some machines take). */
  warnings: string[];
  notes: string[];
  /** The mode this run set up (undo: undefined). */
  mode?: ShellMode;
  /** --via-run: the commands the run files wrap once this run stands (claude first). */
  commands?: WrappedCommand[];
}

const shellEnv = (ctx: Context): ShellEnv => ({ platform: ctx.platform, homedir: ctx.homedir, env: ctx.env });

/** What is at a path (following links), for the shells' start-up files; undefined when it cannot be told. */
export const fileKind = async (file: string) => (await inspect(file).catch(() => undefined))?.kind;

/** ~/… for messages. */
export function tildify(file: string, homedir: string): string {
  const p = homedir.includes('\\') ? path.win32 : path.posix;
  const rel = p.relative(homedir, file);
  return rel && !rel.startsWith('..') && !p.isAbsolute(rel) ? `~${p.sep}${rel}` : file;
}

const isProfileShell = (name: ShellName): boolean => SHELLS[name].kind === 'profile';
const profileShell = (name: ShellName) => SHELLS[name] as ProfileShell;

/** Who writes, and as whom the shells run: root in someone else's home acts for the home's owner. */
async function actingFor(ctx: Context): Promise<Owner | undefined> {
  if (ctx.platform === 'win32') return undefined;
  return ownerForNewFiles(await ownerOf(ctx.homedir), currentIdentity());
}

/** The layouts of these shells, found at once (zsh is asked). */
async function layoutsOf(names: ShellName[], e: ShellEnv, probe: MachineProbe): Promise<Map<ShellName, ShellLayout>> {
  const profile = names.filter(isProfileShell);
  const found = await Promise.all(profile.map(async (name) => [name, await profileShell(name).layout(e, probe)] as const));
  return new Map(found);
}

/**
 * Sets the shells up (or undoes it) and returns what changed. A shell that
 * fails its check is rolled back and reported in an error that names it
 * and says why (for callers that only want files; `setup claude` reports
 * through runShellSetup instead).
 */
export async function configureShells(ctx: Context, options: ConfigureShellsOptions): Promise<ShellChange[]> {
  const result = await runShellSetup(ctx, options);
  if (result.failed.length > 0) {
    const why = result.checks
      .filter((c) => !c.ok && c.installed)
      .flatMap((c) => c.modes.filter((m) => m.status === 'failed').map((m) => `${m.command} sees ${m.saw} (${m.reason})`));
    throw new UserError(`New ${result.failed.join(' and ')} terminals would not get the Third Loop settings: ${why.join('; ')}. Those changes were taken back.`, {
      hint: 'Fix that, then run `thirdloop setup claude` again.',
    });
  }
  return result.changes;
}

export async function runShellSetup(ctx: Context, options: ConfigureShellsOptions): Promise<ShellSetupResult> {
  const e = shellEnv(ctx);
  const available = shellsFor(ctx.platform);
  const windows = ctx.platform === 'win32' ? (options.windows ?? spawnedWindows(options.spawn ?? nodeSpawner, ctx.env)) : undefined;
  // Windows: where the PowerShell profiles are (Documents per the registry) and whether they run, before the
  // default selection looks for them; undo needs the places only.
  const wantsPowerShell = !options.shells || options.shells.includes('powershell');
  if (windows && (options.undo || wantsPowerShell)) e.windows = await windowsFacts(windows, ctx.homedir, ctx.env, { policies: !options.undo });
  const shells = [...(options.shells ?? (options.undo ? available : await defaultShells(e)))];
  if (!options.undo && !options.dryRun && options.askUserEnvironment && shells.includes('powershell') && !shells.includes('cmd')) {
    const blocked = policyWarnings(e, false);
    if (blocked.length > 0 && (await options.askUserEnvironment(blocked))) shells.push('cmd');
  }
  for (const name of shells) {
    if (!available.includes(name)) throw usageError(`${name} is not supported on this platform.`);
  }
  if (shells.length === 0) {
    throw usageError('No supported shell found to configure.', `Name one with --shell ${available.join(',')}.`);
  }
  const owner = await actingFor(ctx);
  const probe = machineProbe(e, { owner, timeoutMs: options.timeoutMs });
  const config = await ctx.config();
  const pc: PlanContext = { e, dir: config.dir, label: (file) => tildify(file, ctx.homedir), edits: readEdits(config, EDITS_SCOPE) };
  const opts = { ...options, windows };
  const result = options.undo ? await undo(ctx, opts, shells, pc, probe, config, owner) : await setup(ctx, opts, shells, pc, probe, config, owner);
  if (!options.dryRun) await handOver(ctx, config, owner);
  return result;
}

async function setup(
  ctx: Context,
  options: ConfigureShellsOptions,
  shells: ShellName[],
  pc: PlanContext,
  probe: MachineProbe,
  config: ConfigStore,
  owner: Owner | undefined,
): Promise<ShellSetupResult> {
  if (!options.apiUrl || !options.credential) throw new Error('configureShells needs apiUrl and credential');
  const values = normalizeValues({ apiUrl: options.apiUrl, credential: options.credential });
  const mode: ShellMode = options.mode ?? 'env';
  const record = readShellRecord(config);
  const notes: string[] = [];
  if (mode === 'run' && shells.includes('cmd')) {
    // cmd reads no start-up file of the user's: nothing can define a `claude` there.
    shells.splice(shells.indexOf('cmd'), 1);
    notes.push('cmd has no start-up file for a `claude` function: type `thirdloop run -- claude` there.');
    if (shells.length === 0) throw usageError('--via-run works through shell functions, and cmd has none.', 'Use --shell powershell, or type `thirdloop run -- claude` in cmd.');
  }
  const run =
    mode === 'run'
      ? {
          thirdloop: thirdloopInvocation({ platform: ctx.platform, env: terminalEnvironment(pc.e, owner), nodePath: options.nodePath, cliPath: options.cliPath }),
          profile: ctx.globals.profile,
          commands: [...new Set<WrappedCommand>(['claude', ...(options.commands ?? []), ...(record.runCommands ?? [])])],
        }
      : undefined;
  const layouts = await layoutsOf(shells, pc.e, probe);

  const plan: Planned[] = await planOwnFiles(pc, shells, mode, { env: values, run });
  for (const item of plan) {
    if (!item.change.holdsSecret) continue;
    if (record.profile && record.profile !== ctx.globals.profile && item.change.action !== 'create') {
      item.change.notes.push(`${pc.label(item.change.path)} held the key of profile "${record.profile}"; it now holds profile "${ctx.globals.profile}"'s.`);
    }
    const repo = await gitWorkTree(item.change.realPath ?? item.change.path);
    if (repo) item.change.warnings.push(`${pc.label(item.change.path)} holds your key and is inside the git work tree ${pc.label(repo)}: make sure that repository ignores it.`);
  }
  const profilePlans = new Map<ShellName, Planned[]>();
  for (const [name, layout] of layouts) {
    const items = await planShellSetup(pc, profileShell(name), layout, mode);
    for (const item of items) {
      const repo = await gitWorkTree(item.change.realPath ?? item.change.path);
      if (repo) {
        const envFile = path.join(pc.dir, ownFileNameFor(profileShell(name), mode));
        item.change.notes.push(
          mode === 'run'
            ? `${pc.label(item.change.path)} is in the git work tree ${pc.label(repo)}; only the line that sources ${pc.label(envFile)} goes there.`
            : `${pc.label(item.change.path)} is in the git work tree ${pc.label(repo)}; only the line that sources ${pc.label(envFile)} goes there, never the key.`,
        );
      }
    }
    profilePlans.set(name, items);
    plan.push(...items);
  }
  // The other mode's files nobody will source any more: an env file left behind would keep the key on disk.
  const runShells = nextRunShells(record, shells, mode, []);
  const keep = new Set<OwnFileName>();
  for (const name of new Set([...record.shells, ...shells])) {
    if (!isProfileShell(name)) continue;
    keep.add(ownFileNameFor(profileShell(name), runShells.includes(name) ? 'run' : 'env'));
  }
  const unused = await planUnusedOwnFiles(pc, keep);
  // A file taken away is needed back when a shell that read it fails its check (its old block returns).
  for (const item of unused) item.change.shells = item.change.shells.filter((s) => shells.includes(s));
  plan.push(...unused);
  if (shells.includes('cmd')) plan.push(planUserEnvironment(record.userEnvironment ? 'update' : 'create'));
  if (mode === 'run' && record.userEnvironment) plan.push(planUserEnvironment('remove'));
  mergeSameFile(plan);

  // What runs around the block, in each shell's start-up order, once the edits are made.
  const findings = new Map<ShellName, Finding[]>();
  const bare = new Map<ShellName, ReturnType<typeof modesWithoutBlock>>();
  for (const [name, layout] of layouts) {
    const texts = await startupTexts(layout, plan, probe);
    findings.set(name, scanStartup(profileShell(name), layout, texts));
    bare.set(name, modesWithoutBlock(profileShell(name), layout, texts));
  }
  notes.push(...[...layouts.values()].flatMap((l) => l.notes));

  const tx = new FileTransaction({ owner, label: pc.label });
  for (const item of plan) {
    if (item.change.kind === 'user-environment') continue;
    if (item.change.action === 'remove') {
      tx.remove(item.change.realPath ?? item.change.path, { label: pc.label(item.change.path), tags: item.change.shells.map((s) => `${NEEDED_BY}${s}`) });
      continue;
    }
    if (!item.bytes) continue;
    tx.write(item.change.path, item.bytes, {
      label: pc.label(item.change.path),
      tags: item.change.shells,
      mode: item.mode,
      forceMode: item.forceMode,
      backup: item.backup,
      hint: item.change.kind === 'profile' ? `Run \`thirdloop setup claude --dry-run\` for the lines to add where that file is generated, or leave ${item.change.shells.join(', ')} out with --shell.` : undefined,
    });
  }

  const policy = shells.includes('powershell') ? policyWarnings(pc.e, shells.includes('cmd')) : [];

  if (options.dryRun) {
    const problems = await tx.problems();
    for (const item of plan) {
      const problem = problems.find((p) => p.path === item.change.path);
      if (problem) item.change.blocked = problem.error.message.replace(/\.?\s*Nothing was changed\.$/, '');
    }
    diffs(plan, pc);
    const warnings = [...policy, ...staticWarnings(findings, new Set(), pc)];
    return { changes: plan.map((p) => p.change), checks: [], failed: [], unverified: [], verifyMs: 0, warnings, notes, mode };
  }

  await tx.check();
  const applied = await tx.commit();
  for (const done of applied) {
    const item = plan.find((p) => p.change.path === done.path);
    if (item && done.backupPath) item.change.backupPath = done.backupPath;
    if (item?.record && done.created && done.createdDirs.length > 0) item.record.createdDirs = done.createdDirs;
  }
  const userEnvironment = plan.find((p) => p.change.kind === 'user-environment');
  if (userEnvironment) {
    try {
      if (userEnvironment.change.action === 'remove') {
        const { broadcast, restored } = await restoreUserEnvironment(options.windows!, config.dir);
        userEnvironment.change.notes.push('--via-run keeps the key out of the Windows user environment, so thirdloop took it out.');
        if (restored.length > 0) userEnvironment.change.notes.push(`Put back the value${restored.length === 1 ? '' : 's'} ${restored.join(' and ')} had before thirdloop set ${restored.length === 1 ? 'it' : 'them'}.`);
        if (!broadcast) userEnvironment.change.notes.push(NO_BROADCAST);
      } else {
        const { broadcast } = await setUserEnvironment(options.windows!, values, { dir: config.dir, firstTime: !record.userEnvironment });
        if (!broadcast) userEnvironment.change.notes.push(NO_BROADCAST);
      }
    } catch (error) {
      await tx.rollback();
      throw error;
    }
  }
  const terminalEnv = terminalEnvironment(pc.e, owner);
  for (const command of run?.commands ?? []) {
    if (findProgram(command, terminalEnv, ctx.platform)) continue;
    notes.push(
      `${PROGRAM_LABEL[command]} is not on the PATH new terminals start with, so \`${command}\` will say "Command not found" until it is installed (npm install -g ${NPM_PACKAGE[command]}).`,
    );
  }

  // The judge: every installed shell, every start mode, at once.
  const started = performance.now();
  const standIn = run ? await makeStandIn(ctx.platform, process.execPath, owner) : undefined;
  const checks = await Promise.all(
    [...layouts].map(async ([name, layout]) => {
      const fifos = await fifosIn(layout, fileKind);
      const one = (shell: ProfileShell) =>
        checkShell({
          shell,
          probe,
          expected: { baseUrl: values.apiUrl, credential: values.credential },
          findings: findings.get(name) ?? [],
          label: pc.label,
          timeoutMs: probe.timeoutMs,
          fifos,
          withoutBlock: bare.get(name),
          viaRun: standIn && run && { standInDir: standIn.dir, commands: run.commands },
        });
      // Windows has two PowerShells reading their own profiles: each installed one is started.
      if (name === 'powershell' && ctx.platform === 'win32') return mergeChecks(name, await Promise.all(windowsPowerShellChecks(pc.e).map(one)));
      return one(profileShell(name));
    }),
  ).finally(() => standIn?.remove());
  const verifyMs = Math.round(performance.now() - started);
  const failed = checks.filter((c) => c.installed && !c.ok).map((c) => c.shell);
  const unverified = checks.filter((c) => !c.installed).map((c) => c.shell);
  if (failed.length > 0) {
    const gone = new Set<ShellName>(failed);
    // A write goes back when every shell it serves failed; a removal when any shell that needs the file back did.
    const rollBack = (tags: string[]) =>
      tags.length > 0 && (tags.every((t) => gone.has(t as ShellName)) || tags.some((t) => t.startsWith(NEEDED_BY) && gone.has(t.slice(NEEDED_BY.length) as ShellName)));
    const stuck = await tx.rollback(rollBack);
    for (const item of plan) {
      const tags = item.change.action === 'remove' ? item.change.shells.map((s) => `${NEEDED_BY}${s}`) : item.change.shells;
      if ((item.bytes || item.change.action === 'remove') && item.change.kind !== 'user-environment' && rollBack(tags) && !stuck.includes(item.change.path)) item.change.rolledBack = true;
    }
    if (stuck.length > 0) notes.push(`Could not take back the changes to ${stuck.map(pc.label).join(', ')}: check ${stuck.length === 1 ? 'it' : 'them'} by hand.`);
  }

  // The record: which files hold our block and whether we created them, for undo.
  let edits = pc.edits;
  for (const item of plan) {
    if (!item.record || item.change.rolledBack || item.change.shells.every((s) => failed.includes(s))) continue;
    edits = mergeEdit(edits, item.record);
  }
  writeEdits(config, EDITS_SCOPE, edits);
  const configured = new Set(record.shells);
  for (const name of shells) if (!failed.includes(name)) configured.add(name);
  // --via-run took the key out of the user environment: cmd is configured no more.
  if (mode === 'run') configured.delete('cmd');
  writeShellRecord(config, {
    shells: shellsFor(ctx.platform).filter((s) => configured.has(s)),
    profile: ctx.globals.profile,
    userEnvironment: userEnvironment ? userEnvironment.change.action !== 'remove' : record.userEnvironment,
    runShells: nextRunShells(record, shells, mode, failed),
    runCommands: run ? run.commands : record.runCommands,
    runInvocation: run ? run.thirdloop : record.runInvocation,
  });

  const warnings = [...policy, ...staticWarnings(findings, new Set(checks.filter((c) => c.installed).map((c) => c.shell)), pc)];
  return { changes: plan.map((p) => p.change), checks, failed, unverified, verifyMs, warnings, notes, mode, commands: run?.commands };
}

/** Where each wrapped program comes from, for "install it". */
const NPM_PACKAGE: Record<WrappedCommand, string> = { claude: '@anthropic-ai/claude-code', opencode: 'opencode-ai' };

/** The tag of a removal: the shell that needs the file back if its check fails. */
const NEEDED_BY = 'needed-by:';

/** The shells in --via-run mode once this run stands: the selected ones join or leave it; failed ones stay as they were. */
function nextRunShells(record: ShellRecord, shells: ShellName[], mode: ShellMode, failed: ShellName[]): ShellName[] {
  const out = new Set(record.runShells ?? []);
  for (const name of shells) {
    if (failed.includes(name)) continue;
    if (mode === 'run') out.add(name);
    else out.delete(name);
  }
  return [...out];
}

/** One shell's verdict from several programs (Windows PowerShell 5.1 and 7): ok when every installed one is. */
function mergeChecks(shell: ShellName, checks: ShellCheck[]): ShellCheck {
  const installed = checks.filter((c) => c.installed);
  return { shell, installed: installed.length > 0, ok: installed.length > 0 && installed.every((c) => c.ok), modes: installed.flatMap((c) => c.modes) };
}

const NO_BROADCAST =
  'Windows was not told of the change (the WM_SETTINGCHANGE broadcast failed): programs started from Explorer see it after you sign out and in again.';

/** PowerShells whose execution policy keeps them from running profiles: said, with the fix. */
export function policyWarnings(e: ShellEnv, userEnvironment: boolean): string[] {
  return blockedProfiles(e.windows).map((verdict) => {
    const { message, fix } = describeBlocked(verdict, userEnvironment);
    return `${message} ${fix}`;
  });
}

/** A file two shells read (a .zshrc linked to the .bashrc) is written once, for both. */
function mergeSameFile(plan: Planned[]) {
  for (let i = plan.length - 1; i > 0; i--) {
    const item = plan[i]!;
    const key = item.record?.realPath ?? item.change.realPath ?? item.change.path;
    const first = plan.find((p, j) => j < i && (p.record?.realPath ?? p.change.realPath ?? p.change.path) === key);
    if (!first || first.change.kind !== item.change.kind) continue;
    first.change.shells = [...new Set([...first.change.shells, ...item.change.shells])];
    if (first.record && item.record) first.record.tags = [...new Set([...first.record.tags, ...item.record.tags])];
    plan.splice(i, 1);
  }
}

/** Each start-up file's bytes as they will be: planned edits, else what is on disk. */
async function startupTexts(layout: ShellLayout, plan: Planned[], probe: MachineProbe): Promise<Map<string, ByteText | undefined>> {
  const texts = new Map<string, ByteText | undefined>();
  for (const file of layout.files) {
    const planned = plan.find((p) => p.change.path === file.path && p.after);
    if (planned) texts.set(file.path, planned.after);
    else {
      const bytes = await probe.read(file.path);
      texts.set(file.path, bytes ? fromBytes(bytes) : undefined);
    }
  }
  return texts;
}

/**
 * Findings worth saying whatever the shells showed: a variable set before
 * the block (it loses, but confuses), ANTHROPIC_AUTH_TOKEN, a `return` or
 * `exit` the check did not take (it happens only on some machines); and,
 * for a shell that could not be checked, the overrides too.
 */
export function staticWarnings(findings: Map<ShellName, Finding[]>, checked: Set<ShellName>, pc: Pick<PlanContext, 'label'>): string[] {
  const out: string[] = [];
  for (const [name, list] of findings) {
    for (const f of list) {
      const where = `${pc.label(f.file)} line ${f.line}`;
      if (f.kind === 'auth-token') {
        out.push(`${where} sets ANTHROPIC_AUTH_TOKEN, which Claude Code may send instead of your Third Loop key: remove it to use Third Loop.`);
      } else if (f.kind === 'earlier') {
        out.push(`${where} also sets ${f.variable}; the thirdloop block further down wins, but remove the line to avoid confusion.`);
      } else if (f.kind === 'override' && !checked.has(name)) {
        out.push(`${where} ${f.unsets ? 'unsets' : 'sets'} ${f.variable} after the thirdloop block, so it overrides the Third Loop value: remove that line.`);
      } else if (f.kind === 'stops' && !f.afterBlock) {
        const modes = f.modes.join(', ');
        out.push(
          `${where} (\`${f.code}\`) stops ${SHELLS[name].label} (${modes}) before the thirdloop block wherever it takes effect: new terminals there get no Third Loop settings.`,
        );
      }
    }
  }
  return [...new Set(out)];
}

function diffs(plan: Planned[], pc: PlanContext) {
  for (const item of plan) {
    if (item.change.kind === 'user-environment' || item.change.action === 'unchanged') continue;
    const show = (text: string | undefined) => (text !== undefined && item.change.holdsSecret ? redactEnvText(text) : text);
    const label = pc.label(item.change.path);
    item.change.diff = unifiedDiff(show(item.beforeText), show(item.afterText), { oldLabel: label, newLabel: label });
  }
}

async function undo(
  ctx: Context,
  options: ConfigureShellsOptions,
  shells: ShellName[],
  pc: PlanContext,
  probe: MachineProbe,
  config: ConfigStore,
  owner: Owner | undefined,
): Promise<ShellSetupResult> {
  const record = readShellRecord(config);
  // Every profile shell's files, so that one left configured keeps its env file.
  const layouts = await layoutsOf(shellsFor(ctx.platform), pc.e, probe);
  const { plan, skipped } = await planUndo(pc, shells, undoCandidates(layouts, pc.edits));
  if (shells.includes('cmd') && record.userEnvironment) plan.push(planUserEnvironment('remove'));

  const tx = new FileTransaction({ owner, label: pc.label });
  for (const item of plan) {
    if (item.change.kind === 'user-environment' || item.change.action === 'unchanged') continue;
    const step = { label: pc.label(item.change.path), tags: item.change.shells };
    if (item.change.action === 'remove') tx.remove(item.change.realPath ?? item.change.path, step);
    else tx.write(item.change.path, item.bytes!, step);
  }
  const notes = skipped;
  if (options.dryRun) {
    diffs(plan, pc);
    return { changes: plan.map((p) => p.change), checks: [], failed: [], unverified: [], verifyMs: 0, warnings: [], notes };
  }
  await tx.check();
  await tx.commit();
  for (const item of plan) {
    if (!item.staleBackup) continue;
    await removeFile(item.staleBackup);
    item.change.removedBackup = item.staleBackup;
  }
  const userEnvironment = plan.find((p) => p.change.kind === 'user-environment');
  if (userEnvironment) {
    const { broadcast, restored } = await restoreUserEnvironment(options.windows!, config.dir);
    if (restored.length > 0) userEnvironment.change.notes.push(`Put back the value${restored.length === 1 ? '' : 's'} ${restored.join(' and ')} had before thirdloop set ${restored.length === 1 ? 'it' : 'them'}.`);
    if (!broadcast) userEnvironment.change.notes.push(NO_BROADCAST);
  }

  let edits: EditRecord[] = pc.edits;
  for (const item of plan) if (item.forget) edits = dropEdit(edits, item.record ?? { path: item.change.path });
  // Folders setup made for a file it created go with the file, when nothing else is in them.
  for (const item of plan) {
    if (item.change.action !== 'remove') continue;
    for (const dir of [...(item.record?.createdDirs ?? [])].reverse()) await fs.rmdir(dir).catch(() => {});
  }
  writeEdits(config, EDITS_SCOPE, edits);
  const touched = new Set(record.shells);
  for (const name of shells) touched.delete(name);
  writeShellRecord(config, {
    shells: shellsFor(ctx.platform).filter((s) => touched.has(s)),
    profile: record.profile,
    userEnvironment: plan.some((p) => p.change.kind === 'user-environment') ? false : record.userEnvironment,
    runShells: record.runShells,
    runCommands: record.runCommands,
    runInvocation: record.runInvocation,
  });
  return { changes: plan.map((p) => p.change), checks: [], failed: [], unverified: [], verifyMs: 0, warnings: [], notes };
}

export interface UnwrapResult {
  /** The run files rewritten without the command (or, with dryRun, that would be). */
  changes: ShellChange[];
  /** The commands the run files wrap afterwards. */
  commands: WrappedCommand[];
  warnings: string[];
}

/**
 * Takes one command (`opencode`) out of the run files, which keep the others (`claude` always), for
 * `setup opencode --undo`: each run file a --via-run shell sources is rewritten as setup would write
 * it without that command, with the thirdloop it starts as recorded. The shells stay in run mode.
 */
export async function unwrapCommand(ctx: Context, command: Exclude<WrappedCommand, 'claude'>, options: { dryRun?: boolean } = {}): Promise<UnwrapResult> {
  const config = await ctx.config();
  const record = readShellRecord(config);
  const runShells = (record.runShells ?? []).filter(isProfileShell);
  if (runShells.length === 0 || !record.runCommands?.includes(command)) return { changes: [], commands: record.runCommands ?? [], warnings: [] };
  const commands = [...new Set<WrappedCommand>(['claude', ...record.runCommands.filter((c) => c !== command)])];
  const e = shellEnv(ctx);
  const owner = await actingFor(ctx);
  const pc: PlanContext = { e, dir: config.dir, label: (file) => tildify(file, ctx.homedir), edits: readEdits(config, EDITS_SCOPE) };
  let thirdloop = record.runInvocation;
  if (!thirdloop) {
    try {
      thirdloop = thirdloopInvocation({ platform: ctx.platform, env: terminalEnvironment(e, owner) });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      const rerun = `run \`thirdloop setup claude --via-run\` from an installed thirdloop, then this again`;
      return { changes: [], commands: record.runCommands, warnings: [`\`${command}\` is still wrapped in new terminals: ${error.message.replace(/\s*Nothing was changed\.$/, '')} (${rerun}).`] };
    }
  }
  const run: RunValues = { thirdloop, profile: record.profile ?? ctx.globals.profile, commands };
  // Only run files that are there: a missing one is `setup claude --via-run`'s (or doctor's) business, not undo's.
  const plan = (await planOwnFiles(pc, runShells, 'run', { run })).filter((p) => p.change.action !== 'create');
  if (options.dryRun) {
    diffs(plan, pc);
    return { changes: plan.map((p) => p.change), commands, warnings: [] };
  }
  const tx = new FileTransaction({ owner, label: pc.label });
  for (const item of plan) {
    if (!item.bytes) continue;
    tx.write(item.change.path, item.bytes, { label: pc.label(item.change.path), mode: item.mode, forceMode: item.forceMode });
  }
  await tx.check();
  await tx.commit();
  writeShellRecord(config, { ...record, runCommands: commands });
  return { changes: plan.map((p) => p.change), commands, warnings: [] };
}

/**
 * Run as root in someone else's home, thirdloop's own config folder and
 * file (written by the config store) go to the home's owner too, so the
 * owner's own `thirdloop` can read them.
 */
async function handOver(ctx: Context, config: ConfigStore, owner: Owner | undefined) {
  if (!owner) return;
  const rel = path.relative(ctx.homedir, config.dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return;
  let dir = config.dir;
  const dirs: string[] = [];
  while (dir !== ctx.homedir && dir.startsWith(ctx.homedir)) {
    dirs.push(dir);
    dir = path.dirname(dir);
  }
  for (const folder of dirs) {
    const stat = await fs.stat(folder).catch(() => undefined);
    // Only what root made: a folder that belongs to someone else stays theirs.
    if (stat?.isDirectory() && stat.uid === 0) await giveTo(folder, owner);
  }
  const file = config.path;
  const stat = await fs.stat(file).catch(() => undefined);
  if (stat?.isFile() && stat.uid === 0) await giveTo(file, owner);
}

/** The work tree a file is in (a parent holding .git), if any. */
async function gitWorkTree(file: string): Promise<string | undefined> {
  let dir = path.dirname(path.resolve(file));
  for (;;) {
    const found = await fs.stat(path.join(dir, '.git')).then(
      () => true,
      () => false,
    );
    if (found) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Whether setup has configured at least one shell (for `setup opencode --with-env`). */
export async function shellsConfigured(ctx: Context): Promise<boolean> {
  const config = await ctx.config();
  const record = readShellRecord(config);
  if (ctx.platform === 'win32' && record.userEnvironment) return true;
  // Set up before the edit record existed: the shell record and an env file say so.
  for (const name of record.shells.filter(isProfileShell)) {
    if (await fs.stat(path.join(config.dir, profileShell(name).envFileName)).then(() => true, () => false)) return true;
  }
  for (const edit of readEdits(config, EDITS_SCOPE)) {
    const shells = edit.tags.filter((t): t is ShellName => t in SHELLS && isProfileShell(t as ShellName));
    const envExists = await Promise.all(
      shells.map((s) => fs.stat(path.join(config.dir, profileShell(s).envFileName)).then(() => true, () => false)),
    );
    if (!envExists.some(Boolean)) continue;
    const file = await readRegularFile(edit.path).catch(() => undefined);
    try {
      if (file && hasBlock(fromBytes(file.bytes).text)) return true;
    } catch {
      // A damaged block does not count.
    }
  }
  return false;
}
