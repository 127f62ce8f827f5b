/**
 * opencode, judged by what opencode would do here: the config files it
 * really reads in this folder (global, project, `.opencode/`, merged as it
 * merges them), whether it then loads the `thirdloop` provider (enabled and
 * disabled providers applied), its baseURL (this instance, exactly one
 * `/v1`), the key referenced from the environment and never written in, the
 * default model, which other providers stay on, and the session plugin.
 *
 * Two verdicts: `opencode:project` for opencode started in this folder (when
 * the folder has config of its own), `opencode:global` for a folder without.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { API_KEY_REFERENCE, PLUGIN_FILE, PROVIDER_ID, globalConfigDir, normalizeBaseURL, pluginTemplatePath, type Scope, type Where } from '../clients/opencode.js';
import { configLayers, effectiveConfig, otherEnabledProviders, providerLoaded, worktreeOf, type ConfigLayer } from '../clients/opencode-effective.js';
import { UserError } from '../core/errors.js';
import { readRegularFile } from '../files/regular-file.js';
import { result, withoutNothingChanged, type CheckResult } from './types.js';

const tildify = (file: string, home: string) => {
  const rel = path.relative(home, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `~/${rel}` : file;
};

const get = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined), value);

/** The plugin folders opencode loads in this folder (`.opencode/` up to the worktree, then the global one). */
function pluginDirs(scope: Scope, where: Where): string[] {
  const dirs: string[] = [];
  if (scope === 'project') {
    const stop = worktreeOf(where.cwd, where.platform);
    for (let dir = where.cwd; ; dir = path.dirname(dir)) {
      dirs.push(path.join(dir, '.opencode', 'plugins'), path.join(dir, '.opencode', 'plugin'));
      if (dir === stop || path.dirname(dir) === dir) break;
    }
  }
  const global = globalConfigDir(where);
  dirs.push(path.join(global, 'plugins'), path.join(global, 'plugin'));
  return dirs;
}

/** What the session plugin adds to the verdict: nothing when ours is in place, else a sentence. */
async function pluginProblem(scope: Scope, where: Where): Promise<string | undefined> {
  const template = await fs.readFile(pluginTemplatePath()).catch(() => undefined);
  for (const dir of pluginDirs(scope, where)) {
    const file = path.join(dir, PLUGIN_FILE);
    const found = await readRegularFile(file).catch(() => undefined);
    if (!found) continue;
    if (template && !found.bytes.equals(template)) {
      return `${tildify(file, where.homedir)} is not the session plugin thirdloop writes (edited?), so the instance may not group this project's requests by session`;
    }
    return undefined;
  }
  return `the session plugin (${PLUGIN_FILE}) is missing, so the instance cannot group opencode's requests by session`;
}

async function judge(scope: Scope, layers: ConfigLayer[], where: Where, apiUrl: string): Promise<CheckResult> {
  const check = `opencode:${scope}`;
  const shown = (file: string | undefined) => (file ? tildify(file, where.homedir) : 'its config');
  const fix = scope === 'global' ? 'thirdloop setup opencode --global' : 'thirdloop setup opencode';
  const here = scope === 'global' ? 'opencode (global config)' : 'opencode in this folder';
  let effective;
  try {
    effective = await effectiveConfig(layers);
  } catch (error) {
    const file = layers.find((l) => error instanceof Error && error.message.includes(l.source))?.source;
    if (error instanceof UserError) {
      return result(check, 'fail', `${withoutNothingChanged(error)}${/opencode/.test(error.message) ? '' : ' opencode refuses to start on it.'}`, file ? `Fix ${shown(file)} by hand, then ${fix}.` : fix);
    }
    throw error;
  }
  const verdict = providerLoaded(effective);
  if (!verdict.loaded) {
    switch (verdict.reason) {
      case 'not-configured':
        return result(check, 'warn', `${here} does not use Third Loop: no "${PROVIDER_ID}" provider in ${layers.filter((l) => l.scope === scope || scope === 'project').map((l) => shown(l.source)).join(', ')}.`, fix);
      case 'disabled':
        return result(check, 'fail', `${shown(verdict.source)} lists "${PROVIDER_ID}" in disabled_providers, so ${here} never loads the provider.`, `Remove "${PROVIDER_ID}" from disabled_providers in ${shown(verdict.source)} (\`${fix}\` does it in the file it edits).`);
      case 'not-enabled':
        return result(check, 'fail', `${shown(verdict.source)} has an enabled_providers list without "${PROVIDER_ID}", so ${here} does not load the provider.`, `Add "${PROVIDER_ID}" to enabled_providers in ${shown(verdict.source)} (\`${fix}\` does it in the file it edits).`);
      case 'no-models':
        return result(check, 'fail', `${here} loads no model of "${PROVIDER_ID}" (all removed by a whitelist, blacklist or status in ${shown(verdict.source)}).`, fix);
    }
  }

  const config = effective.config;
  const from = shown(effective.setBy.provider);
  const provider = get(config, 'provider', PROVIDER_ID);
  const want = normalizeBaseURL(apiUrl);
  const baseURL = get(provider, 'options', 'baseURL');
  if (typeof baseURL !== 'string') return result(check, 'fail', `${from}: provider.${PROVIDER_ID}.options.baseURL is missing.`, fix);
  if (baseURL !== want) {
    const v1s = (baseURL.match(/\/v1(?=\/|$)/gi) ?? []).length;
    const why = v1s === 0 ? 'it lacks /v1' : v1s > 1 ? 'it has /v1 more than once' : baseURL.trim() !== baseURL || baseURL.endsWith('/') ? 'it has stray spaces or a trailing slash' : 'it points elsewhere';
    return result(check, 'fail', `${from}: baseURL is "${baseURL}", not "${want}" (${why}).`, fix);
  }
  const apiKey = get(provider, 'options', 'apiKey');
  if (typeof apiKey === 'string' && /tls_[0-9A-Za-z]/.test(apiKey)) {
    return result(check, 'fail', `${from} contains a secret key in plain text; anyone who can read (or clone) it can use it.`, `Remove it, run \`${fix}\`, and rotate the key: thirdloop keys rotate <id>`);
  }
  if (apiKey !== API_KEY_REFERENCE) {
    return result(check, 'warn', `${from}: provider.${PROVIDER_ID}.options.apiKey is not "${API_KEY_REFERENCE}".`, fix);
  }

  const others = otherEnabledProviders(config);
  const providers =
    others === undefined
      ? 'other providers stay on (no enabled_providers)'
      : others.length === 0
        ? `only Third Loop is enabled (${shown(effective.setBy.enabled_providers)})`
        : `enabled next to ${others.join(', ')}`;
  const model = get(config, 'model');
  if (typeof model !== 'string' || !model.startsWith(`${PROVIDER_ID}/`)) {
    const what = typeof model === 'string' ? `"${model}" (${shown(effective.setBy.model)})` : 'not set';
    return result(check, 'warn', `${here} loads Third Loop (${want}; ${providers}), but the default model is ${what}, so requests go elsewhere until a ${PROVIDER_ID}/ model is picked.`, fix);
  }
  const modelID = model.slice(PROVIDER_ID.length + 1);
  if (!verdict.models.includes(modelID)) {
    return result(check, 'fail', `${here}: the default model ${model} is not one of the provider's models, so opencode cannot start a session with it.`, fix);
  }
  const plugin = await pluginProblem(scope, where);
  if (plugin) return result(check, 'warn', `${here} loads Third Loop (${want}, default model ${model}; ${providers}), but ${plugin}.`, fix);
  return result(check, 'ok', `${here} loads Third Loop: ${want}, default model ${model}; ${providers}.`);
}

/** Whether any of these files configures our provider (a broken file counts: the verdict will name it). */
async function mentionsUs(layers: ConfigLayer[]): Promise<boolean> {
  try {
    return (await effectiveConfig(layers)).setBy.provider !== undefined;
  } catch {
    return true;
  }
}

export async function checkOpencode(where: Where, apiUrl: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const project = configLayers(where);
  const global = configLayers(where, { globalOnly: true });
  const hasProject = project.some((l) => l.scope === 'project');
  if (hasProject) results.push(await judge('project', project, where, apiUrl));
  // A global config without our provider is opencode's own default file: worth a word only where nothing else applies.
  if (global.length > 0 && (!hasProject || (await mentionsUs(global)))) results.push(await judge('global', global, where, apiUrl));
  if (results.length === 0) {
    return [result('opencode', 'skip', 'No opencode.json here or in the global config (opencode not set up; optional).', 'thirdloop setup opencode')];
  }
  return results;
}
