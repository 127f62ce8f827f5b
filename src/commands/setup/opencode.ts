/**
 * `thirdloop setup opencode`: point opencode at the instance — a `thirdloop`
 * provider in opencode.json(c), the session plugin, optionally an AGENTS.md
 * section and the shell exports, or with --via-run shell functions that start
 * `opencode` (and `claude`) through `thirdloop run` — and `--undo` it.
 *
 * Everything is planned (read as bytes, parsed, computed, judged the way
 * opencode would load it) before anything is written, and the files are
 * written as one set that is rolled back on a failure part-way, so an
 * unparseable file, a blocked path or a failed request changes nothing.
 */
import { existsSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { Cancelled, UserError, notAuthenticated, usageError } from '../../core/errors.js';
import { createOutput, type Output } from '../../core/output.js';
import { confirm } from '../../core/prompt.js';
import { ApiError } from '../../core/http.js';
import { requireSession, type Session } from '../../core/session.js';
import { backupPathFor, resolveTarget } from '../../files/atomic-write.js';
import { decodeExact, encodeExact, type TextEncoding } from '../../files/exact-text.js';
import { NotRegularFileError, readRegularFile, type ExistingFile } from '../../files/regular-file.js';
import { writeFileSet, type FileWrite } from '../../files/write-set.js';
import { unifiedDiff } from '../../files/unified-diff.js';
import {
  FALLBACK_MODELS,
  PROVIDER_ID,
  applyOpencodeConfig,
  chooseConfigFile,
  hasAgentsBlock,
  locations,
  normalizeBaseURL,
  pickDefaultModel,
  pickSmallModel,
  pluginTemplatePath,
  providerBlock,
  removeAgentsBlock,
  removeOpencodeConfig,
  sha256,
  toOpencodeModels,
  upsertAgentsBlock,
  type ConfigRecord,
  type InstanceModel,
  type Locations,
  type Scope,
} from '../../clients/opencode.js';
import { configLayers, effectiveConfig, otherEnabledProviders, providerLoaded, type LoadVerdict } from '../../clients/opencode-effective.js';
import { parseJsoncObject } from '../../files/jsonc-edit.js';
import type { ShellName } from '../../shells/types.js';

export interface SetupOpencodeOptions {
  global?: boolean;
  model?: string;
  agentsMd?: boolean;
  withEnv?: boolean;
  dryRun?: boolean;
  undo?: boolean;
  yes?: boolean;
  /** Add ours without switching the project's other providers off. */
  keepProviders?: boolean;
  /** Replace a session plugin that is not the one we wrote (kept as a backup). */
  force?: boolean;
  /** The shells get functions so that `opencode` (and `claude`) run through `thirdloop run`: no key in any shell. */
  viaRun?: boolean;
}

/** Kept in the CLI's config (no secrets): what each run added, for --undo. */
const STATE_KEY = 'setupOpencode';
interface PluginRecord {
  /** SHA-256 of the bytes we wrote: the file is ours only while it still has them. */
  sha256: string;
  /** Where the user's own version went when --force replaced it (undo puts it back). */
  userBackup?: string;
}
interface State {
  /** By config file path. */
  configs: Record<string, ConfigRecord>;
  /** AGENTS.md files we created (undo deletes them when only our block is left). */
  createdAgents: string[];
  /** By plugin file path. */
  plugins: Record<string, PluginRecord>;
}

type Action = 'create' | 'update' | 'remove' | 'unchanged' | 'restore' | 'kept';
interface FileChange {
  kind: 'config' | 'plugin' | 'agents' | 'backup';
  path: string;
  action: Action;
  before?: ExistingFile;
  after?: Buffer;
  encoding: TextEncoding;
  diff?: string;
  backupPath?: string;
  /** Keep an exact copy of the original beside it the first time (config and AGENTS.md). */
  backup?: boolean;
}

const readState = async (ctx: Context): Promise<State> => {
  const stored = (await ctx.config()).get<Partial<State>>(STATE_KEY) ?? {};
  return { configs: stored.configs ?? {}, createdAgents: stored.createdAgents ?? [], plugins: stored.plugins ?? {} };
};
const writeState = async (ctx: Context, state: State) => (await ctx.config()).set(STATE_KEY, state);

const display = (ctx: Context, file: string) => {
  const rel = path.relative(ctx.cwd, file);
  if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
  const home = path.relative(ctx.homedir, file);
  return home && !home.startsWith('..') && !path.isAbsolute(home) ? `~${path.sep}${home}` : file;
};

const same = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));
const actionFor = (before: Buffer | undefined, after: Buffer | undefined): Action =>
  same(before, after) ? 'unchanged' : before === undefined ? 'create' : after === undefined ? 'remove' : 'update';

const textOf = (file: ExistingFile | undefined) => (file ? decodeExact(file.bytes) : undefined);
const shownText = (bytes: Buffer | undefined) => (bytes ? decodeExact(bytes).text : undefined);

export async function run(ctx: Context, options: SetupOpencodeOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const scope: Scope = options.global ? 'global' : 'project';
  const loc = locations(scope, ctx);
  if (options.viaRun && options.withEnv) {
    throw usageError('--with-env exports the key in the shells and --via-run keeps it out of them; choose one.', 'thirdloop setup opencode --via-run');
  }
  if (options.viaRun && options.undo) throw usageError('--undo takes back every mode; drop --via-run.', 'thirdloop setup opencode --undo');
  if (options.undo) return undo(ctx, out, loc, scope, options);

  const session = await requireSession(ctx);
  const baseURL = normalizeBaseURL(session.baseUrl);
  const warnings: string[] = [];
  const notes: string[] = [];

  // Plan every file first: any refusal (unparseable JSON, a FIFO, an unknown model) changes nothing.
  const { list, source } = await instanceModels(out, session, options.model, warnings, ctx.globals.json);
  const defaultModel = pickDefaultModel(list, options.model);
  const smallModel = pickSmallModel(list, defaultModel);
  const block = providerBlock(baseURL, toOpencodeModels(list));

  const state = await readState(ctx);
  const configFile = chooseConfigFile(loc, existsSync);
  const [jsonFile, jsoncFile] = loc.candidates;
  if (existsSync(jsonFile) && existsSync(jsoncFile)) {
    warnings.push(`Both ${display(ctx, jsonFile)} and ${display(ctx, jsoncFile)} exist; opencode reads both and the .jsonc wins, so the provider went into the .jsonc.`);
  }
  if (loc.ignoredDotFile && existsSync(loc.ignoredDotFile)) {
    warnings.push(`opencode ignores ${display(ctx, loc.ignoredDotFile)} (a name from old opencode versions); it reads ${display(ctx, configFile)}. Move any settings you still need there.`);
  }
  const label = display(ctx, configFile);
  const before = await readRegularFile(configFile, label);
  const decoded = textOf(before);
  const encoding: TextEncoding = decoded?.encoding ?? 'utf8';
  const hadOurs = decoded !== undefined && isOurs(decoded.text, label);
  const previous = hadOurs ? state.configs[configFile] : undefined;

  // What the other files opencode reads here already impose (lists are replaced, not merged).
  const where = { cwd: ctx.cwd, homedir: ctx.homedir, env: ctx.env, platform: ctx.platform };
  const layerOptions = { globalOnly: scope === 'global', planned: new Set([configFile]) };
  const others = await effectiveConfig(configLayers(where, layerOptions).filter((l) => l.source !== configFile));
  const inheritedEnabled = Array.isArray(others.config.enabled_providers) ? others.config.enabled_providers.filter((p): p is string => typeof p === 'string') : undefined;

  const applied = applyOpencodeConfig(decoded?.text, block, defaultModel, label, previous, smallModel, {
    keepProviders: options.keepProviders,
    encoding,
    inheritedEnabled,
  });
  if (applied.record.changedSmallModel && !previous?.changedSmallModel) {
    warnings.push(`small_model was ${JSON.stringify(applied.record.previousSmallModel)}, a provider opencode will no longer load; it is now ${PROVIDER_ID}/${smallModel} (--undo puts it back).`);
  }
  const removedNow = (applied.record.removedFromDisabled ?? 0) - (previous?.removedFromDisabled ?? 0);
  if (removedNow > 0) {
    notes.push(`Took "${PROVIDER_ID}" out of disabled_providers in ${label}: opencode does not load a provider listed there, even one it is told to use (--undo puts it back).`);
  }

  // Judge the result as opencode will load it in this folder, before writing anything.
  const planned = await effectiveConfig(configLayers(where, layerOptions), new Map([[configFile, applied.text]]));
  const verdict = providerLoaded(planned);
  if (!verdict.loaded) throw notLoadedError(ctx, verdict, configFile);
  const effectiveModel = planned.config.model;
  if (effectiveModel !== `${PROVIDER_ID}/${defaultModel}` && planned.setBy.model && planned.setBy.model !== configFile) {
    warnings.push(`${display(ctx, planned.setBy.model)} sets the default model to ${JSON.stringify(effectiveModel)} and opencode reads it after ${label}, so that stays the default here; pick a ${PROVIDER_ID}/ model in opencode (/models) or change it there.`);
  }
  const othersOn = otherEnabledProviders(planned.config);

  const changes: FileChange[] = [];
  const configAfter = encodeExact({ text: applied.text, encoding });
  changes.push({ kind: 'config', path: configFile, action: actionFor(before?.bytes, configAfter), before, after: configAfter, encoding, backup: true });

  const template = await fs.readFile(pluginTemplatePath()).catch((error) => {
    throw new UserError(`The opencode plugin template is missing from this installation (${(error as Error).message}).`, {
      hint: 'Reinstall thirdloop.',
    });
  });
  const pluginLabel = display(ctx, loc.pluginFile);
  const pluginBefore = await readRegularFile(loc.pluginFile, pluginLabel);
  const pluginRecord = state.plugins[loc.pluginFile];
  const pluginIsOurs = pluginBefore === undefined || pluginBefore.bytes.equals(template) || (pluginRecord !== undefined && sha256(pluginBefore.bytes) === pluginRecord.sha256);
  let pluginUserBackup: string | undefined;
  if (pluginIsOurs) {
    changes.push({ kind: 'plugin', path: loc.pluginFile, action: actionFor(pluginBefore?.bytes, template), before: pluginBefore, after: template, encoding: 'utf8' });
  } else if (options.force) {
    // Their version is kept, byte for byte, under a name opencode does not load as a plugin.
    pluginUserBackup = await freeBackupPath(await resolveTarget(loc.pluginFile));
    changes.push({ kind: 'backup', path: pluginUserBackup, action: 'create', before: undefined, after: pluginBefore!.bytes, encoding: 'utf8' });
    changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'update', before: pluginBefore, after: template, encoding: 'utf8', backupPath: pluginUserBackup });
  } else {
    changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'kept', before: pluginBefore, after: pluginBefore!.bytes, encoding: 'utf8' });
    warnings.push(`${pluginLabel} is not the session plugin thirdloop writes (edited, or someone else's), so it was left as it is. Run again with --force to replace it; your version is then kept beside it as a backup.`);
  }

  if (options.agentsMd) {
    const agentsLabel = display(ctx, loc.agentsFile);
    const agentsBefore = await readRegularFile(loc.agentsFile, agentsLabel);
    const agentsText = textOf(agentsBefore);
    const agentsEncoding = agentsText?.encoding ?? 'utf8';
    const agentsAfter = encodeExact({ text: upsertAgentsBlock(agentsText?.text, agentsEncoding), encoding: agentsEncoding });
    changes.push({ kind: 'agents', path: loc.agentsFile, action: actionFor(agentsBefore?.bytes, agentsAfter), before: agentsBefore, after: agentsAfter, encoding: agentsEncoding, backup: true });
  }

  const providersNote = providersSentence(ctx, applied.record.enabledProviders, othersOn, configFile, planned.setBy.enabled_providers, options.keepProviders);

  if (options.dryRun) {
    for (const change of changes) {
      if (change.action === 'kept') continue;
      const name = display(ctx, change.path);
      change.diff = unifiedDiff(shownText(change.before?.bytes), shownText(change.after), { oldLabel: change.before === undefined ? '/dev/null' : name, newLabel: name });
    }
    const shells = options.viaRun ? await viaRunStep(ctx, session, true) : undefined;
    const env = shells ? undefined : await envStep(ctx, out, session, options, true);
    if (ctx.globals.json) {
      out.json({ dryRun: true, ...summary(ctx, scope, baseURL, defaultModel, list, source, changes, warnings, notes, othersOn), ...(env ? { env } : {}), ...(shells ? { shells } : {}) });
      return;
    }
    for (const w of warnings) out.warn(w);
    for (const n of [...notes, providersNote]) out.info(n);
    for (const change of changes) if (change.diff) out.out(change.diff.trimEnd());
    if (env?.diffs) for (const d of env.diffs) out.out(d.trimEnd());
    for (const file of shells?.files ?? []) if (file.diff) out.out(file.diff.trimEnd());
    for (const w of shells?.warnings ?? []) out.warn(w);
    out.info('Dry run: nothing was written.');
    return;
  }

  // --via-run: the shells' plan before anything is written (it can refuse: thirdloop run from npx's cache);
  // on a terminal, the shell files are shown and agreed to.
  const shellPlan = options.viaRun ? await viaRunStep(ctx, session, true) : undefined;
  if (shellPlan && !options.yes && ctx.io.stdinIsTTY && !ctx.globals.json) {
    const pending = shellPlan.files.filter((f) => f.action !== 'unchanged');
    if (pending.length > 0) {
      out.info('For `opencode` (and `claude`) to start through `thirdloop run` in new terminals, thirdloop will change:');
      for (const file of pending) out.info(`  ${file.action.padEnd(7)} ${display(ctx, file.path)}`);
      if (!(await confirm(ctx, 'Continue?', '--yes', true))) throw new Cancelled();
    }
  }

  // One set: every target checked before the first write, everything put back on a failure part-way.
  const writes: FileWrite[] = changes
    .filter((c) => c.action !== 'unchanged' && c.action !== 'kept')
    .map((c) => ({
      path: c.path,
      label: display(ctx, c.path),
      before: c.before,
      after: c.after,
      mode: c.kind === 'backup' ? (c.before?.mode ?? pluginBefore?.mode ?? 0o644) : 0o644,
      dirMode: 0o755,
      backup: c.backup,
    }));
  const outcomes = await writeFileSet(writes);
  for (const outcome of outcomes) {
    const change = changes.find((c) => c.path === outcome.path);
    if (change && outcome.backupPath) change.backupPath = outcome.backupPath;
  }

  state.configs[configFile] = {
    file: configFile,
    ...applied.record,
    originalSha256: previous?.originalSha256 ?? (before === undefined ? undefined : sha256(before.bytes)),
    writtenSha256: sha256(configAfter),
  };
  if (pluginIsOurs || options.force) {
    state.plugins[loc.pluginFile] = {
      sha256: sha256(template),
      ...(pluginUserBackup ? { userBackup: pluginUserBackup } : pluginRecord?.userBackup ? { userBackup: pluginRecord.userBackup } : {}),
    };
  }
  const agents = changes.find((c) => c.kind === 'agents');
  if (agents?.action === 'create' && !state.createdAgents.includes(agents.path)) state.createdAgents.push(agents.path);
  await writeState(ctx, state);

  if (ctx.globals.json) {
    if (options.viaRun) {
      const shells = await viaRunStep(ctx, session, false);
      out.json({ ...summary(ctx, scope, baseURL, defaultModel, list, source, changes, warnings, notes, othersOn), shells });
      if (shells.failed.length > 0) throw new UserError('', { exitCode: 1 });
      return;
    }
    const env = await envStep(ctx, out, session, options, false);
    out.json(summary(ctx, scope, baseURL, defaultModel, list, source, changes, warnings, notes, othersOn, env));
    return;
  }
  for (const w of warnings) out.warn(w);
  const c = changes[0]!;
  out.success(
    `${c.action === 'unchanged' ? 'Already up to date' : c.action === 'create' ? 'Created' : 'Updated'} ${label}: provider "${PROVIDER_ID}" → ${baseURL}, default model ${PROVIDER_ID}/${defaultModel} (${list.length} model${list.length === 1 ? '' : 's'}).`,
  );
  for (const n of notes) out.info(`  ${n}`);
  out.info(`  ${providersNote}`);
  const plugin = changes.find((ch) => ch.kind === 'plugin')!;
  if (plugin.action !== 'kept') {
    out.success(`${plugin.action === 'unchanged' ? 'Session plugin already in place' : 'Wrote the session plugin'}: ${pluginLabel}`);
  }
  if (agents) out.success(`${agents.action === 'unchanged' ? 'AGENTS.md already has' : 'Added'} the Third Loop section${agents.action === 'unchanged' ? '' : ` to ${display(ctx, agents.path)}`}.`);
  for (const change of changes) if (change.backupPath) out.info(`  Backup of the original: ${display(ctx, change.backupPath)}`);
  if (options.viaRun) {
    out.info(`  The file holds no key: opencode reads ANTHROPIC_API_KEY ({env:ANTHROPIC_API_KEY}), which \`thirdloop run\` sets to a token for that run only${scope === 'project' ? ', so it is safe to commit' : ''}.`);
    return printViaRun(ctx, out, await viaRunStep(ctx, session, false, out), scope);
  }
  out.info(`  The file holds no key: opencode reads it from ANTHROPIC_API_KEY ({env:ANTHROPIC_API_KEY}), so ${scope === 'project' ? 'it is safe to commit' : 'it holds no secret'}.`);
  const env = await envStep(ctx, out, session, options, false);
  const opencode = `run \`opencode\`${scope === 'project' ? ' in this directory' : ''} in a new terminal; \`thirdloop status\` shows "Last used" move.`;
  out.next(env.configured ? opencode : env.action === 'via-run' ? `\`${env.command}\`, then ${opencode}` : `\`${env.command}\` (or re-run with --with-env), then ${opencode}`);
}

/** Whether the project's other providers stay on, said plainly. */
function providersSentence(
  ctx: Context,
  mode: ConfigRecord['enabledProviders'],
  othersOn: string[] | undefined,
  configFile: string,
  listFrom: string | undefined,
  keep: boolean | undefined,
): string {
  const file = display(ctx, listFrom ?? configFile);
  if (othersOn === undefined) return 'There is no enabled_providers list, so opencode keeps every other provider it finds on as well.';
  if (othersOn.length === 0) {
    return `enabled_providers is ["${PROVIDER_ID}"] (${file}): opencode here uses only Third Loop, and every other provider (in its config, from your environment or \`opencode auth login\`) is switched off.${keep ? '' : ' To keep them on, run again with --keep-providers.'}`;
  }
  const verb = mode === 'appended' ? 'added to' : 'in';
  return `"${PROVIDER_ID}" is ${verb} enabled_providers (${file}) next to ${othersOn.map((p) => JSON.stringify(p)).join(', ')}; providers not on that list stay off.`;
}

function notLoadedError(ctx: Context, verdict: Exclude<LoadVerdict, { loaded: true }>, configFile: string): UserError {
  const where = verdict.source ? display(ctx, verdict.source) : display(ctx, configFile);
  const reason =
    verdict.reason === 'disabled'
      ? `${where} lists "${PROVIDER_ID}" in disabled_providers, and that is the list opencode applies here`
      : verdict.reason === 'not-enabled'
        ? `${where} has an enabled_providers list without "${PROVIDER_ID}", and that is the list opencode applies here`
        : verdict.reason === 'no-models'
          ? `no model of the provider is usable (a whitelist, blacklist or model status in ${where} removes them all)`
          : 'the provider would not be in the configuration it reads';
  return new UserError(`opencode would still not load Third Loop here: ${reason}. Nothing was changed.`, {
    hint: `Edit ${where}, then run again.`,
  });
}

/** `<file>.thirdloop-backup`, or `-2`, `-3`… when a backup is already there (never overwritten). */
async function freeBackupPath(realPath: string): Promise<string> {
  const base = backupPathFor(realPath);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    try {
      await fs.lstat(candidate);
    } catch {
      return candidate;
    }
  }
}

/** Whether the file already holds our provider (so a stored record applies to it). */
function isOurs(text: string, file: string): boolean {
  const value = parseJsoncObject(text, file).value;
  const provider = value.provider as Record<string, unknown> | undefined;
  return Boolean(provider && typeof provider === 'object' && PROVIDER_ID in provider);
}

async function instanceModels(
  out: Output,
  session: Session,
  requested: string | undefined,
  warnings: string[],
  quiet: boolean,
): Promise<{ list: InstanceModel[]; source: 'instance' | 'fallback' }> {
  const spinner = quiet ? undefined : out.spinner('Reading the instance’s models…');
  try {
    const response = await session.api.listModels();
    const list = (response?.data ?? []).filter((m): m is InstanceModel => typeof m?.id === 'string' && m.id.trim() !== '');
    if (list.length === 0) throw new Error('the list is empty');
    spinner?.succeed(`The instance offers ${list.length} model${list.length === 1 ? '' : 's'}.`);
    return { list, source: 'instance' };
  } catch (error) {
    spinner?.stop();
    if (error instanceof ApiError && error.status === 401) {
      throw notAuthenticated('The instance refused the stored key (it may be disabled, expired or deleted).', 'Run `thirdloop auth` to sign in again.');
    }
    const reason = error instanceof Error ? error.message : String(error);
    warnings.push(`Could not read the instance's model list (${reason.replace(/\.$/, '')}); using Claude Sonnet 4.5 and Claude Opus 4.5. Re-run later to pick up the instance's list.`);
    const list = [...FALLBACK_MODELS];
    const wanted = requested?.replace(new RegExp(`^${PROVIDER_ID}/`), '').trim();
    if (wanted && !list.some((m) => m.id === wanted)) list.push({ id: wanted });
    return { list, source: 'fallback' };
  }
}

type ShellsReport = import('../../shells/report.js').Report & {
  /** Shells that exported the key (`setup claude`) before this run and now start the commands through `thirdloop run`. */
  switched: ShellName[];
  /** Shells left exporting the key: not in run mode while others were, so not selected. */
  stillExporting: ShellName[];
};

/**
 * --via-run: the shells get `opencode` (and `claude`, always there in this mode) as functions that
 * start `thirdloop run`. The shells already in that mode, else the default selection; a shell that
 * exported the key until now switches, and its env file (the key) goes.
 */
async function viaRunStep(ctx: Context, session: Session, dryRun: boolean, out?: Output): Promise<ShellsReport> {
  const [{ runShellSetup }, { readShellRecord }, { shellReport }, { SHELLS }] = await Promise.all([
    import('../../shells/configure.js'),
    import('../../shells/env-files.js'),
    import('../../shells/report.js'),
    import('../../shells/index.js'),
  ]);
  const record = readShellRecord(await ctx.config());
  const inRun = record.runShells?.length ? [...record.runShells] : undefined;
  const spinner = !dryRun && out && ctx.io.stderrIsTTY ? out.spinner('Writing the shell files, then starting each shell to check them…') : undefined;
  try {
    const result = await runShellSetup(ctx, {
      shells: inRun,
      apiUrl: session.baseUrl,
      credential: session.secret.credential,
      dryRun,
      mode: 'run',
      commands: ['opencode'],
    });
    const report = shellReport('setup', { dryRun }, result, ctx);
    const exported = record.shells.filter((s) => SHELLS[s].kind === 'profile' && !(record.runShells ?? []).includes(s));
    return { ...report, switched: report.shells.filter((s) => exported.includes(s)), stillExporting: exported.filter((s) => !report.shells.includes(s)) };
  } finally {
    spinner?.stop();
  }
}

async function printViaRun(ctx: Context, out: Output, report: ShellsReport, scope: Scope): Promise<void> {
  const { SHELLS } = await import('../../shells/index.js');
  const { printChecks, printFiles, viaRunConfigured } = await import('../../shells/report.js');
  const names = (shells: ShellName[]) => listWords(shells.map((s) => SHELLS[s].label));
  if (report.shells.length > 0) {
    out.success(viaRunConfigured(report));
    out.info('  `claude` is wrapped too: in this mode it always is.');
  }
  printFiles(ctx, out, report);
  printChecks(out, report);
  for (const warning of report.warnings) out.warn(warning);
  for (const note of report.notes) out.info(`${out.c.dim('Note:')} ${note}`);
  if (report.switched.length > 0) {
    const envFiles = report.files.filter((f) => f.kind === 'env-file' && f.action === 'remove' && !f.rolledBack).map((f) => display(ctx, f.path));
    out.info(
      `${out.c.dim('Note:')} ${names(report.switched)} exported the key until now (\`thirdloop setup claude\`); --via-run switches ${report.switched.length === 1 ? 'it' : 'them'}: \`claude\` starts through \`thirdloop run\` there too${envFiles.length ? `, and the key left ${listWords(envFiles)}` : ''}.`,
    );
  }
  if (report.stillExporting.length > 0 && report.failed.length === 0) {
    const left = report.stillExporting;
    out.warn(
      `${names(left)} still ${left.length === 1 ? 'exports' : 'export'} the key (\`thirdloop setup claude\`), so \`opencode\` there is not wrapped: \`thirdloop setup claude --via-run --shell ${left.join(',')}\` switches ${left.length === 1 ? 'it' : 'them'}, with \`opencode\` too.`,
    );
  }
  if (report.failed.length > 0) {
    const failed = names(report.failed);
    const tookBack = report.files.some((f) => f.rolledBack);
    out.info('');
    out.info(
      `${out.c.red('✗')} New ${failed} terminals would not get \`opencode\` through \`thirdloop run\`${tookBack ? `, so thirdloop took its shell changes for ${report.failed.length === 1 ? 'that shell' : 'those shells'} back` : ''}. The opencode files above are written.`,
    );
    out.next(`fix what is named above, then run \`thirdloop setup opencode --via-run\` again.`);
    throw new UserError('', { exitCode: 1 });
  }
  out.info('');
  out.info('Terminals that are already open keep their old set-up.');
  out.next(`open a new terminal and run \`opencode\`${scope === 'project' ? ' in this directory' : ''}: it starts through \`thirdloop run\` and the key stays where \`thirdloop auth\` stored it; \`thirdloop status\` shows "Last used" move.`);
}

const listWords = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

interface EnvResult {
  configured: boolean;
  /** via-run: the shells export no key (`setup claude --via-run`); `opencode` is wrapped there, or `command` wraps it. */
  action: 'already' | 'configured' | 'skipped' | 'dry-run' | 'via-run';
  command?: string;
  files?: string[];
  diffs?: string[];
}

/**
 * opencode reads ANTHROPIC_API_KEY from the environment, as Claude Code does:
 * when `setup claude` has not configured the shells, offer to (or do it with
 * --with-env); without a terminal to ask on, say which command to run.
 */
async function envStep(ctx: Context, out: Output, session: Session, options: SetupOpencodeOptions, dryRun: boolean): Promise<EnvResult> {
  const { configureShells, shellsConfigured } = await import('../../shells/configure.js');
  if (await shellsConfigured(ctx)) return { configured: true, action: 'already' };
  // Shells set up with --via-run export no key on purpose: offering the exports would undo that.
  const { readShellRecord } = await import('../../shells/env-files.js');
  const record = readShellRecord(await ctx.config());
  if (record.runShells?.length && !options.withEnv) {
    if (record.runCommands?.includes('opencode')) return { configured: true, action: 'via-run' };
    if (!ctx.globals.json && !dryRun) {
      out.warn('Your shells are set up with --via-run: they export no key, so `opencode` started there has none. `thirdloop setup opencode --via-run` makes `opencode` start through `thirdloop run`, as `claude` does.');
    }
    return { configured: false, action: 'via-run', command: 'thirdloop setup opencode --via-run' };
  }
  const command = 'thirdloop setup claude';
  let go = Boolean(options.withEnv);
  if (!go && !dryRun && !ctx.globals.json) {
    if (ctx.io.stdinIsTTY && ctx.io.stderrIsTTY) {
      if (options.yes) go = true;
      else {
        go = await confirm(ctx, 'opencode needs ANTHROPIC_API_KEY in your terminals. Set it (and ANTHROPIC_BASE_URL) in your shell profiles now?', '--with-env', true);
      }
    }
  }
  if (!go) {
    if (!ctx.globals.json && !dryRun) out.warn('ANTHROPIC_API_KEY is not set up in your shells yet, and opencode reads the key from it.');
    return { configured: false, action: 'skipped', command };
  }
  const shellChanges = await configureShells(ctx, {
    apiUrl: session.baseUrl,
    credential: session.secret.credential,
    dryRun,
  });
  if (dryRun) return { configured: false, action: 'dry-run', diffs: shellChanges.map((c) => c.diff ?? '').filter(Boolean) };
  const files = shellChanges.filter((c) => c.action !== 'unchanged').map((c) => c.path);
  if (!ctx.globals.json) out.success(`Configured the shells (${files.map((f) => display(ctx, f)).join(', ') || 'no change needed'}); open a new terminal to pick it up.`);
  return { configured: true, action: 'configured', files };
}

function summary(
  ctx: Context,
  scope: Scope,
  baseURL: string,
  model: string,
  list: InstanceModel[],
  source: 'instance' | 'fallback',
  changes: FileChange[],
  warnings: string[],
  notes: string[],
  othersOn: string[] | undefined,
  env?: EnvResult,
) {
  return {
    scope,
    provider: PROVIDER_ID,
    baseURL,
    model: `${PROVIDER_ID}/${model}`,
    models: list.map((m) => m.id),
    modelsSource: source,
    /** "only": enabled_providers is ours alone; "listed": ours among others; "all": no allowlist. */
    providers: othersOn === undefined ? 'all' : othersOn.length === 0 ? 'only' : 'listed',
    ...(othersOn && othersOn.length ? { otherProviders: othersOn } : {}),
    files: changes
      .filter((c) => c.kind !== 'backup')
      .map((c) => ({
        kind: c.kind,
        path: c.path,
        action: c.action,
        ...(c.backupPath ? { backup: c.backupPath } : {}),
        ...(c.diff !== undefined ? { diff: c.diff } : {}),
      })),
    warnings,
    notes,
    ...(env ? { env } : {}),
    cwd: ctx.cwd,
  };
}

/** Reads a file for --undo; a file that is not a regular one is skipped with a warning. */
async function readForUndo(file: string, label: string, warnings: string[]): Promise<ExistingFile | undefined> {
  try {
    return await readRegularFile(file, label);
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      warnings.push(`${label} is not a regular file; left alone.`);
      return undefined;
    }
    throw error;
  }
}

/** Removes our provider, plugin and AGENTS.md block, and nothing else. No sign-in needed. */
async function undo(ctx: Context, out: Output, loc: Locations, scope: Scope, options: SetupOpencodeOptions): Promise<void> {
  const state = await readState(ctx);
  const changes: FileChange[] = [];
  const warnings: string[] = [];
  /** Backups to delete once the file is back to exactly their bytes. */
  const backups = new Map<string, ExistingFile>();

  for (const file of loc.candidates) {
    const label = display(ctx, file);
    const current = await readForUndo(file, label, warnings);
    if (!current) continue;
    const decoded = decodeExact(current.bytes);
    if (!isOurs(decoded.text, label)) continue;
    const record = state.configs[file];
    const backup = await readForUndo(backupPathFor(current.realPath), display(ctx, backupPathFor(current.realPath)), warnings);
    // Unchanged since we wrote it and the backup is the original: put the original back byte for byte.
    if (record && record.writtenSha256 === sha256(current.bytes) && backup && record.originalSha256 === sha256(backup.bytes)) {
      changes.push({ kind: 'config', path: file, action: 'restore', before: current, after: backup.bytes, encoding: decoded.encoding });
      backups.set(file, backup);
      continue;
    }
    const removed = removeOpencodeConfig(decoded.text, label, record);
    const after = removed.empty ? undefined : encodeExact({ text: removed.text, encoding: decoded.encoding });
    changes.push({ kind: 'config', path: file, action: removed.empty ? 'remove' : 'update', before: current, after, encoding: decoded.encoding });
    // The backup goes only once the file holds exactly its bytes again (or is gone because we created it).
    if (backup && (after === undefined ? record?.createdFile : backup.bytes.equals(after))) backups.set(file, backup);
  }

  const pluginLabel = display(ctx, loc.pluginFile);
  const plugin = await readForUndo(loc.pluginFile, pluginLabel, warnings);
  const template = await fs.readFile(pluginTemplatePath()).catch(() => undefined);
  const pluginRecord = state.plugins[loc.pluginFile];
  if (plugin) {
    const ours = (pluginRecord && sha256(plugin.bytes) === pluginRecord.sha256) || (template !== undefined && plugin.bytes.equals(template));
    if (!ours) {
      warnings.push(`${pluginLabel} is not the plugin thirdloop wrote (edited, or not ours); left alone.`);
    } else if (pluginRecord?.userBackup) {
      // --force replaced the user's own version: it comes back, byte for byte.
      const userVersion = await readForUndo(pluginRecord.userBackup, display(ctx, pluginRecord.userBackup), warnings);
      if (userVersion) {
        changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'restore', before: plugin, after: userVersion.bytes, encoding: 'utf8' });
        backups.set(loc.pluginFile, userVersion);
      } else {
        changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'remove', before: plugin, after: undefined, encoding: 'utf8' });
      }
    } else {
      changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'remove', before: plugin, after: undefined, encoding: 'utf8' });
    }
  }

  const agentsLabel = display(ctx, loc.agentsFile);
  const agents = await readForUndo(loc.agentsFile, agentsLabel, warnings);
  if (agents) {
    const decoded = decodeExact(agents.bytes);
    if (hasAgentsBlock(decoded.text)) {
      const rest = removeAgentsBlock(decoded.text);
      const deleteFile = rest === undefined && state.createdAgents.includes(loc.agentsFile);
      const after = deleteFile ? undefined : encodeExact({ text: rest ?? '', encoding: decoded.encoding });
      changes.push({ kind: 'agents', path: loc.agentsFile, action: deleteFile ? 'remove' : 'update', before: agents, after, encoding: decoded.encoding });
      const backup = await readForUndo(backupPathFor(agents.realPath), display(ctx, backupPathFor(agents.realPath)), warnings);
      if (backup && after !== undefined && backup.bytes.equals(after)) backups.set(loc.agentsFile, backup);
    }
  }

  // --via-run made `opencode` a function in every new terminal: it goes, `claude`'s stays.
  const { unwrapCommand } = await import('../../shells/configure.js');
  if (options.dryRun) {
    const unwrap = await unwrapCommand(ctx, 'opencode', { dryRun: true });
    for (const change of changes) {
      const name = display(ctx, change.path);
      change.diff = unifiedDiff(shownText(change.before?.bytes), shownText(change.after), { oldLabel: name, newLabel: change.after === undefined ? '/dev/null' : name });
    }
    const runFiles = unwrap.changes.filter((c) => c.action !== 'unchanged');
    warnings.push(...unwrap.warnings);
    if (ctx.globals.json) {
      out.json({
        dryRun: true,
        undo: true,
        scope,
        files: [...changes.map(({ kind, path: p, action, diff }) => ({ kind, path: p, action, diff })), ...runFiles.map(({ path: p, action, diff }) => ({ kind: 'run-file', path: p, action, diff }))],
        warnings,
      });
      return;
    }
    for (const w of warnings) out.warn(w);
    for (const change of changes) if (change.diff) out.out(change.diff.trimEnd());
    for (const change of runFiles) if (change.diff) out.out(change.diff.trimEnd());
    if (changes.length === 0 && runFiles.length === 0) out.info('Nothing to undo.');
    out.info('Dry run: nothing was changed.');
    return;
  }

  await writeFileSet(
    changes.map((c) => ({ path: c.path, label: display(ctx, c.path), before: c.before, after: c.after, dirMode: 0o755 })),
  );
  // A backup is the only exact copy of the original: it goes only after the file is read back equal to it.
  const removable: FileWrite[] = [];
  for (const [file, backup] of backups) {
    const now = await readRegularFile(file, display(ctx, file)).catch(() => undefined);
    const change = changes.find((c) => c.path === file);
    const back = now ? now.bytes.equals(backup.bytes) : change?.after === undefined;
    if (back) removable.push({ path: backup.path, label: display(ctx, backup.path), before: backup, after: undefined });
    else warnings.push(`Kept ${display(ctx, backup.path)}: ${display(ctx, file)} does not match it byte for byte.`);
  }
  if (removable.length) await writeFileSet(removable);
  for (const change of changes) {
    if (change.kind === 'config') delete state.configs[change.path];
    if (change.kind === 'plugin') delete state.plugins[change.path];
    if (change.kind === 'agents' && change.action === 'remove') state.createdAgents = state.createdAgents.filter((f) => f !== change.path);
  }
  // Directories we may have made: removed only when empty.
  const dirs = scope === 'project' ? [loc.pluginDir, path.dirname(loc.pluginDir)] : [loc.pluginDir];
  if (changes.some((c) => c.kind === 'plugin' && c.after === undefined)) for (const dir of dirs) await fs.rmdir(dir).catch(() => {});
  await writeState(ctx, state);
  const unwrap = await unwrapCommand(ctx, 'opencode');
  const runFiles = unwrap.changes.filter((c) => c.action !== 'unchanged');
  warnings.push(...unwrap.warnings);

  if (ctx.globals.json) {
    out.json({ undo: true, scope, files: [...changes.map(({ kind, path: p, action }) => ({ kind, path: p, action })), ...runFiles.map(({ path: p, action }) => ({ kind: 'run-file', path: p, action }))], warnings });
    return;
  }
  for (const w of warnings) out.warn(w);
  if (changes.length === 0 && runFiles.length === 0) {
    out.info(`Nothing to undo: no Third Loop settings found for opencode${scope === 'global' ? ' (global)' : ' in this project'}.`);
    return;
  }
  for (const change of changes) {
    const verb = change.action === 'restore' ? 'Restored the original' : change.action === 'remove' ? 'Removed' : 'Removed the Third Loop settings from';
    out.success(`${verb} ${display(ctx, change.path)}`);
  }
  if (runFiles.length > 0) {
    out.success(`Took \`opencode\` out of ${listWords(runFiles.map((c) => display(ctx, c.path)))}: in new terminals (in every folder) \`opencode\` is opencode itself again.`);
    out.info('  `claude` still starts through `thirdloop run` there (`thirdloop setup claude --undo` removes that).');
  } else {
    out.info('  Shell exports are shared with Claude Code and were left alone (`thirdloop setup claude --undo` removes them).');
  }
}
