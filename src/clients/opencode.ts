/**
 * What opencode needs written to route through the instance: its config file
 * (a `thirdloop` provider on @ai-sdk/anthropic, the default model, an
 * allowlist entry), the session plugin, and optionally an AGENTS.md block.
 * Pure functions of text and paths; the command does the I/O.
 *
 * Facts checked against opencode's source (packages/opencode/src):
 * - config files are `opencode.json` and `opencode.jsonc` (both read, the
 *   .jsonc after the .json in the same directory); `.opencode.json` (leading
 *   dot) belonged to the old Go opencode and is ignored;
 * - the global directory is `$XDG_CONFIG_HOME/opencode`, else
 *   `~/.config/opencode`, on every platform: opencode takes it from
 *   xdg-basedir, which has no Windows branch, so on Windows it is
 *   `%USERPROFILE%\.config\opencode`, not `%APPDATA%\opencode`;
 * - plugins are loaded from `{plugin,plugins}/*.{ts,js}` in each config
 *   directory (the global one and every `.opencode/` up the tree); we use the
 *   documented plural `plugins/`;
 * - `{env:VAR}` in a string value is replaced with the variable at load time.
 */
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  appendToJsoncArray,
  parseJsoncObject,
  removeJsoncArrayItem,
  removeJsoncValue,
  setJsoncValue,
  type JsoncFormat,
} from '../files/jsonc-edit.js';
import { usageError } from '../core/errors.js';
import { insertableString, insertableValue, type TextEncoding } from '../files/exact-text.js';
import { hasBlock, removeBlock, upsertBlock, type Markers } from '../files/marked-block.js';

import { PROVIDER_ID, PROVIDER_NAME } from './opencode-provider.js';

export { PROVIDER_ID, PROVIDER_NAME };
export const SCHEMA_URL = 'https://opencode.ai/config.json';
export const PLUGIN_FILE = 'thirdloop-session.ts';
export const ANTHROPIC_VERSION = '2023-06-01';
/** Never the secret: opencode substitutes the variable when it loads the file, so the file is safe to commit. */
export const API_KEY_REFERENCE = '{env:ANTHROPIC_API_KEY}';
export const SESSION_HEADER = 'x-claude-code-session-id';

export type Scope = 'project' | 'global';

export interface Where {
  cwd: string;
  homedir: string;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
}

const pathFor = (platform: NodeJS.Platform) => (platform === 'win32' ? path.win32 : path.posix);

/** opencode's global config directory (see the header comment for Windows). */
export function globalConfigDir(where: Where): string {
  const p = pathFor(where.platform);
  const xdg = where.env.XDG_CONFIG_HOME?.trim();
  const base = xdg && p.isAbsolute(xdg) ? xdg : p.join(where.homedir, '.config');
  return p.join(base, 'opencode');
}

export interface Locations {
  /** Directory holding opencode.json(c). */
  configDir: string;
  /** Both names opencode reads, .json first. */
  candidates: [json: string, jsonc: string];
  pluginDir: string;
  pluginFile: string;
  agentsFile: string;
  /** The file opencode ignores, worth a warning when present (project scope only). */
  ignoredDotFile?: string;
}

export function locations(scope: Scope, where: Where): Locations {
  const p = pathFor(where.platform);
  const configDir = scope === 'global' ? globalConfigDir(where) : where.cwd;
  const pluginDir = scope === 'global' ? p.join(configDir, 'plugins') : p.join(where.cwd, '.opencode', 'plugins');
  return {
    configDir,
    candidates: [p.join(configDir, 'opencode.json'), p.join(configDir, 'opencode.jsonc')],
    pluginDir,
    pluginFile: p.join(pluginDir, PLUGIN_FILE),
    agentsFile: p.join(configDir, 'AGENTS.md'),
    ignoredDotFile: scope === 'project' ? p.join(where.cwd, '.opencode.json') : undefined,
  };
}

/**
 * Which file to edit: the .jsonc when it exists (opencode reads it after the
 * .json, so its values win), else the .json, else a new opencode.json.
 */
export function chooseConfigFile(loc: Locations, exists: (file: string) => boolean): string {
  const [json, jsonc] = loc.candidates;
  if (exists(jsonc)) return jsonc;
  return json;
}

/**
 * `<instance>/v1` with exactly one `/v1`: trims spaces, drops a query,
 * fragment, trailing slashes and any `/v1` the user already typed.
 */
export function normalizeBaseURL(instanceUrl: string): string {
  const raw = instanceUrl.trim();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`"${raw}" is not a URL.`, 'Pass the instance URL, e.g. https://thirdloop.example.com');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw usageError(`"${raw}" is not an http(s) URL.`);
  }
  let pathname = url.pathname.replace(/\/+$/, '');
  while (/\/v1$/i.test(pathname)) pathname = pathname.replace(/\/v1$/i, '').replace(/\/+$/, '');
  return `${url.origin}${pathname}/v1`;
}

/** One entry of `GET /v1/models` (Anthropic's list shape). */
export interface InstanceModel {
  id: string;
  display_name?: string;
  created_at?: string;
}

export interface OpencodeModel {
  name: string;
  attachment: boolean;
  reasoning: boolean;
  temperature: boolean;
  tool_call: boolean;
  modalities: { input: Array<'text' | 'image' | 'pdf'>; output: Array<'text'> };
  limit: { context: number; output: number };
  release_date?: string;
}

/** Used when the instance's list cannot be had (said so to the user). */
export const FALLBACK_MODELS: InstanceModel[] = [
  { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' },
  { id: 'claude-opus-4-5', display_name: 'Claude Opus 4.5' },
];

/** Output-token ceilings of the older families; current Claude models allow 64k. */
function outputLimit(id: string): number {
  if (/claude-3-5-haiku|claude-3-haiku/.test(id)) return 8_192;
  if (/claude-3-5-sonnet|claude-3-opus/.test(id)) return 8_192;
  if (/claude-opus-4-(0|1)|claude-opus-4-2|claude-opus-4$|claude-opus-4-20/.test(id)) return 32_000;
  return 64_000;
}

/**
 * opencode knows nothing about a custom provider's models, and its defaults
 * for unknown ones are "no attachments, no reasoning, no temperature, limit
 * 0" — so spell out what Claude models can do.
 */
export function toOpencodeModel(model: InstanceModel): OpencodeModel {
  const release = model.created_at ? model.created_at.slice(0, 10) : undefined;
  return {
    name: model.display_name?.trim() || model.id,
    attachment: true,
    reasoning: !/claude-3-(5|haiku|opus|sonnet)/.test(model.id),
    temperature: true,
    tool_call: true,
    modalities: { input: ['text', 'image', 'pdf'], output: ['text'] },
    limit: { context: 200_000, output: outputLimit(model.id) },
    ...(release && /^\d{4}-\d{2}-\d{2}$/.test(release) ? { release_date: release } : {}),
  };
}

export function toOpencodeModels(list: InstanceModel[]): Record<string, OpencodeModel> {
  const models: Record<string, OpencodeModel> = {};
  for (const model of list) if (model.id) models[model.id] = toOpencodeModel(model);
  return models;
}

/**
 * The default: the model the user asked for (which must be offered), else the
 * newest Sonnet, else the first offered.
 */
export function pickDefaultModel(list: InstanceModel[], requested?: string): string {
  if (requested !== undefined) {
    const wanted = requested.replace(new RegExp(`^${PROVIDER_ID}/`), '').trim();
    if (!list.some((m) => m.id === wanted)) {
      throw usageError(
        `The instance does not offer "${wanted}".`,
        `Pick one of: ${list.map((m) => m.id).join(', ')}.`,
      );
    }
    return wanted;
  }
  const sonnets = list
    .filter((m) => m.id.includes('sonnet'))
    .sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
  const pick = sonnets[0] ?? list[0];
  if (!pick) throw usageError('The instance offers no models.');
  return pick.id;
}

/** For opencode's title and summary requests: the newest Haiku offered, else the default. */
export function pickSmallModel(list: InstanceModel[], defaultModel: string): string {
  const haiku = list
    .filter((m) => m.id.includes('haiku'))
    .sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || b.id.localeCompare(a.id));
  return haiku[0]?.id ?? defaultModel;
}

export interface ProviderBlock {
  npm: '@ai-sdk/anthropic';
  name: string;
  options: { baseURL: string; apiKey: string; headers: Record<string, string> };
  models: Record<string, OpencodeModel>;
}

export function providerBlock(baseURL: string, models: Record<string, OpencodeModel>): ProviderBlock {
  return {
    npm: '@ai-sdk/anthropic',
    name: PROVIDER_NAME,
    options: {
      baseURL,
      apiKey: API_KEY_REFERENCE,
      headers: { 'anthropic-version': ANTHROPIC_VERSION },
    },
    models,
  };
}

/** What we changed in a config file, kept so that --undo removes only that. */
export interface ConfigRecord {
  file: string;
  createdFile: boolean;
  addedSchema: boolean;
  /** True when the file had no `provider` object before ours. */
  addedProviderKey: boolean;
  /**
   * "created": the key did not exist (we set it); "appended": we added our ID
   * to the user's list; "present": our ID was there already; "none": no list
   * (--keep-providers), every provider stays on.
   */
  enabledProviders: 'created' | 'appended' | 'present' | 'none';
  /** With "created" under --keep-providers: the other file's allowlist we repeated before ours. */
  copiedAllowlist?: string[];
  /** How many times our ID stood in `disabled_providers` before we took it out (undo puts it back). */
  removedFromDisabled?: number;
  /** The `model` value before ours (undefined: there was none). */
  previousModel?: unknown;
  /** Set when we replaced a `small_model` that the allowlist would have switched off. */
  changedSmallModel?: boolean;
  previousSmallModel?: unknown;
  /** SHA-256 of the file's bytes before the first run and after the last, to restore the backup byte for byte. */
  originalSha256?: string;
  writtenSha256: string;
}

export const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export type RecordedChanges = Omit<ConfigRecord, 'file' | 'writtenSha256' | 'originalSha256'>;

export interface ApplyResult {
  text: string;
  record: RecordedChanges;
}

export interface ApplyOptions {
  /** Add ours without an allowlist of our own, so the project's other providers stay on. */
  keepProviders?: boolean;
  /** How the file's text maps to bytes: what we insert is written as UTF-8 either way. */
  encoding?: TextEncoding;
  /** The `enabled_providers` another config file already imposes here (opencode replaces lists, it does not merge them). */
  inheritedEnabled?: readonly string[];
}

/**
 * Merges our settings into the config text (undefined: no file yet), keeping
 * every other key, comment and the file's formatting.
 *
 * `enabled_providers`: opencode loads ONLY the listed providers when the key
 * is set. Absent, we set `["thirdloop"]` so requests cannot leave through a
 * provider opencode finds on its own (that is the point of the instance) —
 * which switches the project's other providers off, and the command says
 * so; with `keepProviders` we set no list. Present, the user has chosen an
 * allowlist: we append ours and keep theirs.
 *
 * `disabled_providers` wins over `enabled_providers` in opencode, so our ID
 * is taken out of it (and put back by --undo).
 */
export function applyOpencodeConfig(
  original: string | undefined,
  block: ProviderBlock,
  defaultModel: string,
  label: string,
  previous?: RecordedChanges,
  smallModel?: string,
  options: ApplyOptions = {},
): ApplyResult {
  const encoding = options.encoding ?? 'utf8';
  const createdFile = original === undefined;
  const doc = parseJsoncObject(original ?? '', label);
  const format: JsoncFormat = doc.format;
  let text = original === undefined || doc.empty ? `{}${format.eol}` : original;
  const root = doc.value;
  const rerun = previous !== undefined;

  const addedSchema = root.$schema === undefined;
  if (addedSchema) text = setJsoncValue(text, ['$schema'], SCHEMA_URL, format, { first: true });

  let enabledProviders: ConfigRecord['enabledProviders'];
  const enabled = root.enabled_providers;
  let finalAllowlist: unknown[] | undefined;
  let copiedAllowlist: string[] | undefined;
  if (Array.isArray(enabled)) {
    const onlyOurs = enabled.length > 0 && enabled.every((p) => p === PROVIDER_ID);
    if (options.keepProviders && onlyOurs && previous?.enabledProviders === 'created') {
      // A first run set ["thirdloop"]; this one asks to keep the other providers on.
      text = removeJsoncValue(text, ['enabled_providers'], format);
      enabledProviders = 'none';
      finalAllowlist = undefined;
    } else if (enabled.includes(PROVIDER_ID)) {
      enabledProviders = 'present';
      finalAllowlist = enabled;
    } else {
      text = appendToJsoncArray(text, ['enabled_providers'], PROVIDER_ID, format);
      enabledProviders = 'appended';
      finalAllowlist = [...enabled, PROVIDER_ID];
    }
  } else if (options.keepProviders) {
    const inherited = options.inheritedEnabled;
    if (inherited && !inherited.includes(PROVIDER_ID)) {
      // Another file's allowlist applies here; a list of our own replaces it, so it repeats theirs.
      finalAllowlist = [...inherited, PROVIDER_ID];
      text = setJsoncValue(text, ['enabled_providers'], insertableValue(finalAllowlist, encoding), format);
      enabledProviders = 'created';
      copiedAllowlist = [...inherited];
    } else {
      enabledProviders = 'none';
      finalAllowlist = inherited ? [...inherited] : undefined;
    }
  } else {
    text = setJsoncValue(text, ['enabled_providers'], [PROVIDER_ID], format);
    enabledProviders = 'created';
    finalAllowlist = [PROVIDER_ID];
  }

  let removedFromDisabled = 0;
  const disabled = root.disabled_providers;
  if (Array.isArray(disabled)) {
    // From the end, so earlier indexes stay valid.
    for (let i = disabled.length - 1; i >= 0; i--) {
      if (disabled[i] !== PROVIDER_ID) continue;
      text = removeJsoncArrayItem(text, ['disabled_providers'], i, format);
      removedFromDisabled++;
    }
  }

  const model = insertableString(`${PROVIDER_ID}/${defaultModel}`, encoding);
  const currentModel = root.model;
  if (currentModel !== model) text = setJsoncValue(text, ['model'], model, format);

  // opencode uses small_model for titles and summaries and fails when its
  // provider is not enabled; one our allowlist switches off becomes ours.
  const currentSmall = root.small_model;
  let changedSmallModel = false;
  if (typeof currentSmall === 'string' && smallModel) {
    const smallProvider = currentSmall.split('/')[0] ?? '';
    const ours = insertableString(`${PROVIDER_ID}/${smallModel}`, encoding);
    const switchedOff = finalAllowlist !== undefined && !finalAllowlist.includes(smallProvider);
    if (smallProvider === PROVIDER_ID ? currentSmall !== ours && rerunChangedSmall(previous) : switchedOff) {
      text = setJsoncValue(text, ['small_model'], ours, format);
      changedSmallModel = true;
    }
  }

  if (root.provider !== undefined && (typeof root.provider !== 'object' || root.provider === null || Array.isArray(root.provider))) {
    throw usageError(`${label}: "provider" is not an object, so ours cannot be added. Nothing was changed.`);
  }
  const addedProviderKey = root.provider === undefined;
  text = setJsoncValue(text, ['provider', PROVIDER_ID], insertableValue(block, encoding), format);

  // A re-run keeps what the first run recorded, so --undo still restores the user's own values.
  const removedBefore = previous?.removedFromDisabled ?? 0;
  return {
    text,
    record: {
      createdFile: rerun ? previous.createdFile : createdFile,
      addedSchema: rerun ? previous.addedSchema : addedSchema,
      addedProviderKey: rerun ? previous.addedProviderKey : addedProviderKey,
      enabledProviders:
        rerun && enabledProviders === 'present' ? previous.enabledProviders : enabledProviders,
      ...(rerun && enabledProviders === 'present' && previous.copiedAllowlist
        ? { copiedAllowlist: previous.copiedAllowlist }
        : copiedAllowlist
          ? { copiedAllowlist }
          : {}),
      ...(removedBefore + removedFromDisabled > 0 ? { removedFromDisabled: removedBefore + removedFromDisabled } : {}),
      previousModel:
        rerun && typeof currentModel === 'string' && currentModel.startsWith(`${PROVIDER_ID}/`)
          ? previous.previousModel
          : currentModel,
      ...(previous?.changedSmallModel
        ? { changedSmallModel: true, previousSmallModel: previous.previousSmallModel }
        : changedSmallModel
          ? { changedSmallModel: true, previousSmallModel: currentSmall }
          : {}),
    },
  };
}

/** On a re-run, our own small_model is kept in step with the instance only if we set it. */
const rerunChangedSmall = (previous?: RecordedChanges) => Boolean(previous?.changedSmallModel);

/**
 * Removes what we added. With our record, it puts back the previous model
 * and removes only the keys we created; without one (the record was lost),
 * it removes our provider, our allowlist entry and a `thirdloop/` model.
 * `empty` is true when the file ends up holding nothing and we created it.
 */
export function removeOpencodeConfig(
  text: string,
  label: string,
  record?: RecordedChanges,
): { text: string; empty: boolean } {
  const doc = parseJsoncObject(text, label);
  const root = doc.value;
  const format = doc.format;
  let out = text;

  const provider = root.provider;
  if (provider && typeof provider === 'object' && PROVIDER_ID in provider) {
    const others = Object.keys(provider).filter((k) => k !== PROVIDER_ID);
    const dropKey = others.length === 0 && (record ? record.addedProviderKey : true);
    out = removeJsoncValue(out, dropKey ? ['provider'] : ['provider', PROVIDER_ID], format);
  }

  const enabled = root.enabled_providers;
  if (Array.isArray(enabled) && enabled.includes(PROVIDER_ID)) {
    const rest = enabled.filter((p) => p !== PROVIDER_ID);
    const weCreated = record ? record.enabledProviders === 'created' : rest.length === 0;
    const copied = record?.copiedAllowlist;
    const asCreated = rest.length === 0 || (copied !== undefined && JSON.stringify(rest) === JSON.stringify(copied));
    if (weCreated && asCreated) out = removeJsoncValue(out, ['enabled_providers'], format);
    else if (record?.enabledProviders !== 'present') {
      // Remove from the end so earlier indexes stay valid.
      for (let i = enabled.length - 1; i >= 0; i--) {
        if (enabled[i] === PROVIDER_ID) out = removeJsoncArrayItem(out, ['enabled_providers'], i, format);
      }
    }
  }

  if (record?.removedFromDisabled) {
    // The user had switched our provider off; with it gone, their list is put back as it was.
    const list = parseJsoncObject(out, label).value.disabled_providers;
    if (Array.isArray(list)) {
      for (let i = 0; i < record.removedFromDisabled; i++) out = appendToJsoncArray(out, ['disabled_providers'], PROVIDER_ID, format);
    } else if (list === undefined) {
      out = setJsoncValue(out, ['disabled_providers'], Array(record.removedFromDisabled).fill(PROVIDER_ID), format);
    }
  }

  if (typeof root.model === 'string' && root.model.startsWith(`${PROVIDER_ID}/`)) {
    out = setJsoncValue(out, ['model'], record ? record.previousModel : undefined, format);
  }

  if (record?.changedSmallModel && typeof root.small_model === 'string' && root.small_model.startsWith(`${PROVIDER_ID}/`)) {
    out = setJsoncValue(out, ['small_model'], record.previousSmallModel, format);
  }

  if (record?.addedSchema && root.$schema === SCHEMA_URL) out = removeJsoncValue(out, ['$schema'], format);

  const final = parseJsoncObject(out, label).value;
  return { text: out, empty: Object.keys(final).length === 0 && (record?.createdFile ?? false) };
}

/**
 * The AGENTS.md section: a marked block (C2's marked-block module with
 * Markdown comment markers), so re-runs replace it and --undo removes it and
 * nothing else.
 */
export const AGENTS_MARKERS: Markers = { start: '<!-- >>> thirdloop >>> -->', end: '<!-- <<< thirdloop <<< -->' };

export const AGENTS_LINES: readonly string[] = [
  '## Third Loop',
  '',
  '- Model requests go through the organization\'s Third Loop instance. Before starting, confirm the active provider is "Third Loop" (a `thirdloop/...` model); if it is not, stop and say so.',
  '- Never commit, print or paste API keys or secrets. `ANTHROPIC_API_KEY` comes from the environment; `opencode.json` only refers to it as `{env:ANTHROPIC_API_KEY}`.',
];

export const upsertAgentsBlock = (original: string | undefined, encoding: TextEncoding = 'utf8'): string =>
  upsertBlock(original ?? '', AGENTS_LINES.map((line) => insertableString(line, encoding)), { markers: AGENTS_MARKERS });

/** Removes our block; undefined when nothing else is left in the file. */
export function removeAgentsBlock(text: string): string | undefined {
  const result = removeBlock(text, AGENTS_MARKERS);
  return result.trim() === '' ? undefined : result;
}

export const hasAgentsBlock = (text: string) => hasBlock(text, AGENTS_MARKERS);

/** Marks the plugin file as ours, so --undo never deletes a file the user wrote. */
export const PLUGIN_SIGNATURE = 'written by `thirdloop setup opencode`';

/**
 * The package root (the folder whose package.json is named "thirdloop"),
 * found by walking up from this module: that is src/clients under vitest and
 * dist/ (or a dist chunk) once built, and `templates/` ships beside both.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'thirdloop') return dir;
    } catch {
      // no package.json here: keep walking
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the thirdloop package root (templates/ is missing)');
    dir = parent;
  }
}

export const pluginTemplatePath = () => path.join(packageRoot(), 'templates', PLUGIN_FILE);
