/**
 * `thirdloop setup opencode`: point opencode at the instance — a `thirdloop`
 * provider in opencode.json(c), the session plugin, optionally an AGENTS.md
 * section and the shell exports — and `--undo` it.
 *
 * Everything is planned (read, parsed, computed) before anything is written,
 * so an unparseable file or a failed request changes nothing.
 */
import { constants as fsConstants, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { UserError, notAuthenticated } from '../../core/errors.js';
import { createOutput, type Output } from '../../core/output.js';
import { confirm } from '../../core/prompt.js';
import { ApiError } from '../../core/http.js';
import { requireSession, type Session } from '../../core/session.js';
import { backupPathFor, describeFsError, readTextIfExists, removeFile, resolveTarget, writeFileAtomic } from '../../files/atomic-write.js';
import { unifiedDiff } from '../../files/unified-diff.js';
import {
  FALLBACK_MODELS,
  PLUGIN_SIGNATURE,
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
import { parseJsoncObject } from '../../files/jsonc-edit.js';

export interface SetupOpencodeOptions {
  global?: boolean;
  model?: string;
  agentsMd?: boolean;
  withEnv?: boolean;
  dryRun?: boolean;
  undo?: boolean;
  yes?: boolean;
}

/** Kept in the CLI's config (no secrets): what each run added, for --undo. */
const STATE_KEY = 'setupOpencode';
interface State {
  /** By config file path. */
  configs: Record<string, ConfigRecord>;
  /** AGENTS.md files we created (undo deletes them when only our block is left). */
  createdAgents: string[];
}

type Action = 'create' | 'update' | 'remove' | 'unchanged' | 'restore';
interface FileChange {
  kind: 'config' | 'plugin' | 'agents';
  path: string;
  action: Action;
  before?: string;
  after?: string;
  diff?: string;
  backupPath?: string;
}

const readState = async (ctx: Context): Promise<State> => {
  const stored = (await ctx.config()).get<Partial<State>>(STATE_KEY) ?? {};
  return { configs: stored.configs ?? {}, createdAgents: stored.createdAgents ?? [] };
};
const writeState = async (ctx: Context, state: State) => (await ctx.config()).set(STATE_KEY, state);

const display = (ctx: Context, file: string) => {
  const rel = path.relative(ctx.cwd, file);
  if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return rel;
  const home = path.relative(ctx.homedir, file);
  return home && !home.startsWith('..') && !path.isAbsolute(home) ? `~${path.sep}${home}` : file;
};

const actionFor = (before: string | undefined, after: string | undefined): Action =>
  before === after ? 'unchanged' : before === undefined ? 'create' : after === undefined ? 'remove' : 'update';

export async function run(ctx: Context, options: SetupOpencodeOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const scope: Scope = options.global ? 'global' : 'project';
  const loc = locations(scope, ctx);
  if (options.undo) return undo(ctx, out, loc, scope, options);

  const session = await requireSession(ctx);
  const baseURL = normalizeBaseURL(session.baseUrl);
  const warnings: string[] = [];

  // Plan every file first: any refusal (unparseable JSON, unknown model) changes nothing.
  const { list, source } = await instanceModels(out, session, options.model, warnings, ctx.globals.json);
  const defaultModel = pickDefaultModel(list, options.model);
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
  const before = await readTextIfExists(configFile);
  const hadOurs = before !== undefined && isOurs(before, configFile);
  const previous = hadOurs ? state.configs[configFile] : undefined;
  const applied = applyOpencodeConfig(before, block, defaultModel, display(ctx, configFile), previous, pickSmallModel(list, defaultModel));
  if (applied.record.changedSmallModel && !previous?.changedSmallModel) {
    warnings.push(`small_model was ${JSON.stringify(applied.record.previousSmallModel)}, a provider opencode will no longer load; it is now ${PROVIDER_ID}/${pickSmallModel(list, defaultModel)} (--undo puts it back).`);
  }

  const changes: FileChange[] = [
    { kind: 'config', path: configFile, action: actionFor(before, applied.text), before, after: applied.text },
  ];

  const template = await fs.readFile(pluginTemplatePath(), 'utf8').catch((error) => {
    throw new UserError(`The opencode plugin template is missing from this installation (${(error as Error).message}).`, {
      hint: 'Reinstall thirdloop.',
    });
  });
  const pluginBefore = await readTextIfExists(loc.pluginFile);
  changes.push({ kind: 'plugin', path: loc.pluginFile, action: actionFor(pluginBefore, template), before: pluginBefore, after: template });

  if (options.agentsMd) {
    const agentsBefore = await readTextIfExists(loc.agentsFile);
    const agentsAfter = upsertAgentsBlock(agentsBefore);
    changes.push({ kind: 'agents', path: loc.agentsFile, action: actionFor(agentsBefore, agentsAfter), before: agentsBefore, after: agentsAfter });
  }

  if (options.dryRun) {
    for (const change of changes) {
      const label = display(ctx, change.path);
      change.diff = unifiedDiff(change.before, change.after, { oldLabel: change.before === undefined ? '/dev/null' : label, newLabel: label });
    }
    const env = await envStep(ctx, out, session, options, true);
    if (ctx.globals.json) {
      out.json({ dryRun: true, ...summary(ctx, scope, baseURL, defaultModel, list, source, changes, warnings), env });
      return;
    }
    for (const w of warnings) out.warn(w);
    for (const change of changes) if (change.diff) out.out(change.diff.trimEnd());
    if (env.diffs) for (const d of env.diffs) out.out(d.trimEnd());
    out.info('Dry run: nothing was written.');
    return;
  }

  // Every target must be writable before the first write, so a blocked path changes nothing.
  for (const change of changes) if (change.action !== 'unchanged') await checkWritable(ctx, change.path);
  // Write: config first (the plugin is useless without it), each file atomically.
  for (const change of changes) {
    if (change.action === 'unchanged') continue;
    const result = await writeFileAtomic(change.path, change.after!, { backup: change.kind !== 'plugin', mode: 0o644, dirMode: 0o755 });
    change.backupPath = result.backupPath;
  }
  const written = applied.text;
  state.configs[configFile] = {
    file: configFile,
    ...applied.record,
    originalSha256: previous?.originalSha256 ?? (before === undefined ? undefined : sha256(before)),
    writtenSha256: sha256(written),
  };
  const agents = changes.find((c) => c.kind === 'agents');
  if (agents?.action === 'create' && !state.createdAgents.includes(agents.path)) state.createdAgents.push(agents.path);
  await writeState(ctx, state);

  if (ctx.globals.json) {
    const env = await envStep(ctx, out, session, options, false);
    out.json(summary(ctx, scope, baseURL, defaultModel, list, source, changes, warnings, env));
    return;
  }
  for (const w of warnings) out.warn(w);
  const c = changes[0]!;
  out.success(
    `${c.action === 'unchanged' ? 'Already up to date' : c.action === 'create' ? 'Created' : 'Updated'} ${display(ctx, configFile)}: provider "${PROVIDER_ID}" → ${baseURL}, default model ${PROVIDER_ID}/${defaultModel} (${list.length} model${list.length === 1 ? '' : 's'}).`,
  );
  out.success(`${changes[1]!.action === 'unchanged' ? 'Session plugin already in place' : 'Wrote the session plugin'}: ${display(ctx, loc.pluginFile)}`);
  if (agents) out.success(`${agents.action === 'unchanged' ? 'AGENTS.md already has' : 'Added'} the Third Loop section${agents.action === 'unchanged' ? '' : ` to ${display(ctx, agents.path)}`}.`);
  for (const change of changes) if (change.backupPath) out.info(`  Backup of the original: ${display(ctx, change.backupPath)}`);
  out.info(`  The file holds no key: opencode reads it from ANTHROPIC_API_KEY ({env:ANTHROPIC_API_KEY}), so ${scope === 'project' ? 'it is safe to commit' : 'it holds no secret'}.`);
  const env = await envStep(ctx, out, session, options, false);
  const opencode = `run \`opencode\`${scope === 'project' ? ' in this directory' : ''} in a new terminal; \`thirdloop status\` shows "Last used" move.`;
  out.next(env.configured ? opencode : `\`${env.command}\` (or re-run with --with-env), then ${opencode}`);
}

/** The file can be replaced, or created under its nearest existing directory. */
async function checkWritable(ctx: Context, file: string): Promise<void> {
  const blocked = (reason: string) =>
    new UserError(`Cannot write ${display(ctx, file)}: ${reason}. Nothing was changed.`);
  let target = file;
  for (;;) {
    try {
      const stat = await fs.stat(target);
      if (target === file && stat.isDirectory()) throw blocked('it is a directory');
      if (target !== file && !stat.isDirectory()) throw blocked(`${display(ctx, target)} is not a directory`);
      await fs.access(target, fsConstants.W_OK);
      return;
    } catch (error) {
      if (error instanceof UserError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        const parent = path.dirname(target);
        if (parent === target) return;
        target = parent;
        continue;
      }
      if (code === 'ENOTDIR') throw blocked('a parent path is not a directory');
      throw describeFsError(error, display(ctx, file));
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

interface EnvResult {
  configured: boolean;
  action: 'already' | 'configured' | 'skipped' | 'dry-run';
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
  env?: EnvResult,
) {
  return {
    scope,
    provider: PROVIDER_ID,
    baseURL,
    model: `${PROVIDER_ID}/${model}`,
    models: list.map((m) => m.id),
    modelsSource: source,
    files: changes.map((c) => ({
      kind: c.kind,
      path: c.path,
      action: c.action,
      ...(c.backupPath ? { backup: c.backupPath } : {}),
      ...(c.diff !== undefined ? { diff: c.diff } : {}),
    })),
    warnings,
    ...(env ? { env } : {}),
    cwd: ctx.cwd,
  };
}

/** Removes our provider, plugin and AGENTS.md block, and nothing else. No sign-in needed. */
async function undo(ctx: Context, out: Output, loc: Locations, scope: Scope, options: SetupOpencodeOptions): Promise<void> {
  const state = await readState(ctx);
  const changes: FileChange[] = [];
  const restores = new Map<string, string>();

  for (const file of loc.candidates) {
    const text = await readTextIfExists(file);
    if (text === undefined || !isOurs(text, file)) continue;
    const record = state.configs[file];
    const backup = backupPathFor(await resolveTarget(file));
    const backupText = await readTextIfExists(backup);
    // Unchanged since we wrote it and the backup is the original: put the original back byte for byte.
    if (record && record.writtenSha256 === sha256(text) && backupText !== undefined && record.originalSha256 === sha256(backupText)) {
      changes.push({ kind: 'config', path: file, action: 'restore', before: text, after: backupText });
      restores.set(file, backup);
      continue;
    }
    const removed = removeOpencodeConfig(text, display(ctx, file), record);
    changes.push({ kind: 'config', path: file, action: removed.empty ? 'remove' : 'update', before: text, after: removed.empty ? undefined : removed.text });
  }

  const plugin = await readTextIfExists(loc.pluginFile);
  const warnings: string[] = [];
  if (plugin !== undefined) {
    if (plugin.includes(PLUGIN_SIGNATURE)) changes.push({ kind: 'plugin', path: loc.pluginFile, action: 'remove', before: plugin });
    else warnings.push(`${display(ctx, loc.pluginFile)} was not written by thirdloop; left alone.`);
  }

  const agents = await readTextIfExists(loc.agentsFile);
  if (agents !== undefined && hasAgentsBlock(agents)) {
    const rest = removeAgentsBlock(agents);
    const deleteFile = rest === undefined && state.createdAgents.includes(loc.agentsFile);
    changes.push({ kind: 'agents', path: loc.agentsFile, action: deleteFile ? 'remove' : 'update', before: agents, after: deleteFile ? undefined : (rest ?? '') });
  }

  if (options.dryRun) {
    for (const change of changes) {
      const label = display(ctx, change.path);
      change.diff = unifiedDiff(change.before, change.after, { oldLabel: label, newLabel: change.after === undefined ? '/dev/null' : label });
    }
    if (ctx.globals.json) {
      out.json({ dryRun: true, undo: true, scope, files: changes.map(({ kind, path: p, action, diff }) => ({ kind, path: p, action, diff })), warnings });
      return;
    }
    for (const w of warnings) out.warn(w);
    for (const change of changes) if (change.diff) out.out(change.diff.trimEnd());
    if (changes.length === 0) out.info('Nothing to undo.');
    out.info('Dry run: nothing was changed.');
    return;
  }

  for (const change of changes) {
    if (change.after === undefined) await removeFile(change.path);
    else await writeFileAtomic(change.path, change.after);
    const backup = restores.get(change.path) ?? backupPathFor(await resolveTarget(change.path));
    // The one-time backup goes once the file is back to it (or gone because we created it).
    const backupText = change.kind === 'plugin' ? undefined : await readTextIfExists(backup);
    if (restores.has(change.path) || (backupText !== undefined && backupText === change.after)) await removeFile(backup);
    if (change.kind === 'config') delete state.configs[change.path];
    if (change.kind === 'agents' && change.action === 'remove') state.createdAgents = state.createdAgents.filter((f) => f !== change.path);
  }
  // Directories we may have made: removed only when empty.
  const dirs = scope === 'project' ? [loc.pluginDir, path.dirname(loc.pluginDir)] : [loc.pluginDir];
  if (changes.some((c) => c.kind === 'plugin')) for (const dir of dirs) await fs.rmdir(dir).catch(() => {});
  await writeState(ctx, state);

  if (ctx.globals.json) {
    out.json({ undo: true, scope, files: changes.map(({ kind, path: p, action }) => ({ kind, path: p, action })), warnings });
    return;
  }
  for (const w of warnings) out.warn(w);
  if (changes.length === 0) {
    out.info(`Nothing to undo: no Third Loop settings found for opencode${scope === 'global' ? ' (global)' : ' in this project'}.`);
    return;
  }
  for (const change of changes) {
    const verb = change.action === 'restore' ? 'Restored the original' : change.action === 'remove' ? 'Removed' : 'Removed the Third Loop settings from';
    out.success(`${verb} ${display(ctx, change.path)}`);
  }
  out.info('  Shell exports are shared with Claude Code and were left alone (`thirdloop setup claude --undo` removes them).');
}

