/**
 * What opencode really does in a folder: which config files it reads, in
 * which order, what the merged result is, and whether it loads the
 * `thirdloop` provider. `setup opencode` and `doctor` judge by this, not by
 * whether one file holds our block.
 *
 * The rules, as opencode's source has them (packages/opencode/src/config and
 * provider/provider.ts), lowest precedence first:
 * 1. the global folder: config.json, opencode.json, opencode.jsonc;
 * 2. the file named by OPENCODE_CONFIG;
 * 3. unless OPENCODE_DISABLE_PROJECT_CONFIG: opencode.jsonc and opencode.json
 *    in the folder and each parent up to the worktree (the git root; `/`
 *    outside git), the farthest first, and in one folder the .jsonc last, so
 *    it wins over the .json;
 * 4. opencode.json then opencode.jsonc in each `.opencode` folder from the
 *    folder up to the worktree (nearest first), then `~/.opencode`, then
 *    OPENCODE_CONFIG_DIR;
 * 5. OPENCODE_CONFIG_CONTENT;
 * 6. the managed folder (/etc/opencode, /Library/Application Support/opencode,
 *    %ProgramData%\opencode), which overrides everything.
 * Objects merge deeply; arrays and values are replaced by the later file, so
 * `enabled_providers` and `disabled_providers` come from the last file that
 * sets them. A provider is loaded when it is configured, listed in
 * `enabled_providers` if that is set, absent from `disabled_providers` (which
 * wins over enabled), and has at least one usable model.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseJsoncObject } from '../files/jsonc-edit.js';
import { decodeExact } from '../files/exact-text.js';
import { readRegularFile } from '../files/regular-file.js';
import { PROVIDER_ID, globalConfigDir, type Where } from './opencode.js';

export interface ConfigLayer {
  /** A file path, or `OPENCODE_CONFIG_CONTENT`. */
  source: string;
  scope: 'global' | 'project';
  /** Inline text (OPENCODE_CONFIG_CONTENT); files are read from disk. */
  inline?: string;
}

export interface LayerOptions {
  /** Leave out the project's files: what opencode does in a folder with no config of its own. */
  globalOnly?: boolean;
  /** opencode's managed folder; defaults by platform (OPENCODE_TEST_MANAGED_CONFIG_DIR overrides, as in opencode). */
  managedDir?: string;
  /** Files a planned write will create: counted as present. */
  planned?: ReadonlySet<string>;
}

const pathFor = (platform: NodeJS.Platform) => (platform === 'win32' ? path.win32 : path.posix);

export function managedConfigDir(where: Where): string {
  const override = where.env.OPENCODE_TEST_MANAGED_CONFIG_DIR;
  if (override) return override;
  if (where.platform === 'darwin') return '/Library/Application Support/opencode';
  if (where.platform === 'win32') return path.win32.join(where.env.ProgramData || 'C:\\ProgramData', 'opencode');
  return '/etc/opencode';
}

const isDir = (dir: string) => {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
};

/** The worktree opencode stops at: the folder holding `.git` above `cwd`, else the root. */
export function worktreeOf(cwd: string, platform: NodeJS.Platform): string {
  const p = pathFor(platform);
  let dir = cwd;
  for (;;) {
    if (existsSync(p.join(dir, '.git'))) return dir;
    const parent = p.dirname(dir);
    if (parent === dir) return dir;
    dir = parent;
  }
}

/** `start` and its parents up to `stop` (included), nearest first. */
function upTo(start: string, stop: string, platform: NodeJS.Platform): string[] {
  const p = pathFor(platform);
  const dirs: string[] = [];
  let dir = start;
  for (;;) {
    dirs.push(dir);
    if (dir === stop) break;
    const parent = p.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return dirs;
}

/** The config sources opencode reads in `where.cwd`, lowest precedence first (files that do not exist are left out). */
export function configLayers(where: Where, options: LayerOptions = {}): ConfigLayer[] {
  const p = pathFor(where.platform);
  const env = where.env;
  const layers: ConfigLayer[] = [];
  const exists = (source: string) => existsSync(source) || Boolean(options.planned?.has(source));
  const file = (source: string, scope: ConfigLayer['scope']) => {
    if (exists(source)) layers.push({ source, scope });
  };
  const globalDir = globalConfigDir(where);
  for (const name of ['config.json', 'opencode.json', 'opencode.jsonc']) file(p.join(globalDir, name), 'global');
  if (env.OPENCODE_CONFIG) file(p.resolve(where.cwd, env.OPENCODE_CONFIG), 'global');

  const projectAllowed = !options.globalOnly && !env.OPENCODE_DISABLE_PROJECT_CONFIG;
  const worktree = worktreeOf(where.cwd, where.platform);
  if (projectAllowed) {
    const found: string[] = [];
    for (const dir of upTo(where.cwd, worktree, where.platform)) {
      for (const name of ['opencode.jsonc', 'opencode.json']) if (exists(p.join(dir, name))) found.push(p.join(dir, name));
    }
    for (const source of found.reverse()) layers.push({ source, scope: 'project' });
  }

  const dirs: Array<[string, ConfigLayer['scope']]> = [];
  if (projectAllowed) {
    for (const dir of upTo(where.cwd, worktree, where.platform)) {
      const dot = p.join(dir, '.opencode');
      if (isDir(dot)) dirs.push([dot, 'project']);
    }
  }
  const homeDot = p.join(where.homedir, '.opencode');
  if (isDir(homeDot)) dirs.push([homeDot, 'global']);
  if (env.OPENCODE_CONFIG_DIR) dirs.push([env.OPENCODE_CONFIG_DIR, 'global']);
  const seen = new Set<string>();
  for (const [dir, scope] of dirs) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    for (const name of ['opencode.json', 'opencode.jsonc']) file(p.join(dir, name), scope);
  }

  if (env.OPENCODE_CONFIG_CONTENT) layers.push({ source: 'OPENCODE_CONFIG_CONTENT', scope: 'global', inline: env.OPENCODE_CONFIG_CONTENT });
  const managed = options.managedDir ?? managedConfigDir(where);
  for (const name of ['opencode.json', 'opencode.jsonc']) file(p.join(managed, name), 'global');
  return layers;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** remeda's mergeDeep, as opencode merges its files: objects deeply, everything else replaced. */
export function mergeDeep(target: Json, source: Json): Json {
  const out: Json = { ...target };
  for (const [key, value] of Object.entries(source)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? mergeDeep(current, value) : value;
  }
  return out;
}

export interface EffectiveConfig {
  layers: ConfigLayer[];
  config: Json;
  /** For the keys that decide whether our provider loads: the last source that set each. */
  setBy: Partial<Record<'enabled_providers' | 'disabled_providers' | 'model' | 'provider', string>>;
}

/**
 * Reads and merges the layers. `override` replaces a file's text (a planned
 * write, judged before it is made). A file opencode could not parse throws
 * the parser's sentence, as opencode itself would refuse to start.
 */
export async function effectiveConfig(layers: ConfigLayer[], override: Map<string, string> = new Map()): Promise<EffectiveConfig> {
  let config: Json = {};
  const setBy: EffectiveConfig['setBy'] = {};
  for (const layer of layers) {
    let text = layer.inline ?? override.get(layer.source);
    if (text === undefined) {
      const read = await readRegularFile(layer.source);
      if (!read) continue;
      text = decodeExact(read.bytes).text;
    }
    const value = parseJsoncObject(text, layer.source).value;
    for (const key of ['enabled_providers', 'disabled_providers', 'model'] as const) if (key in value) setBy[key] = layer.source;
    if (isObject(value.provider) && PROVIDER_ID in value.provider) setBy.provider = layer.source;
    config = mergeDeep(config, value);
  }
  return { layers, config, setBy };
}

export type LoadVerdict =
  | { loaded: true; models: string[] }
  | { loaded: false; reason: 'not-configured' | 'disabled' | 'not-enabled' | 'no-models'; source?: string };

/** Whether opencode loads our provider from a merged config, and if not, why (and which file decided). */
export function providerLoaded(effective: EffectiveConfig): LoadVerdict {
  const { config, setBy } = effective;
  const provider = isObject(config.provider) ? config.provider[PROVIDER_ID] : undefined;
  if (!isObject(provider)) return { loaded: false, reason: 'not-configured' };
  const disabled = Array.isArray(config.disabled_providers) ? config.disabled_providers : [];
  if (disabled.includes(PROVIDER_ID)) return { loaded: false, reason: 'disabled', source: setBy.disabled_providers };
  const enabled = Array.isArray(config.enabled_providers) ? config.enabled_providers : undefined;
  if (enabled && !enabled.includes(PROVIDER_ID)) return { loaded: false, reason: 'not-enabled', source: setBy.enabled_providers };
  const models = isObject(provider.models) ? provider.models : {};
  const whitelist = Array.isArray(provider.whitelist) ? provider.whitelist : undefined;
  const blacklist = Array.isArray(provider.blacklist) ? provider.blacklist : [];
  const usable = Object.entries(models)
    .filter(([, m]) => !(isObject(m) && (m.status === 'deprecated' || m.status === 'alpha')))
    .filter(([id]) => !blacklist.includes(id) && (!whitelist || whitelist.includes(id)))
    .map(([id]) => id);
  if (usable.length === 0) return { loaded: false, reason: 'no-models', source: setBy.provider };
  return { loaded: true, models: usable };
}

/** The other providers an allowlist leaves on (undefined: there is no allowlist, every provider stays on). */
export function otherEnabledProviders(config: Json): string[] | undefined {
  const enabled = Array.isArray(config.enabled_providers) ? config.enabled_providers : undefined;
  return enabled?.filter((p): p is string => typeof p === 'string' && p !== PROVIDER_ID);
}
