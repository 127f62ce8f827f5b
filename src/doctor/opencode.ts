/**
 * opencode's config (the project's, then the global one): valid JSON(C),
 * a `thirdloop` provider whose baseURL is this instance with exactly one
 * `/v1`, and the key referenced from the environment, never written in.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { API_KEY_REFERENCE, PROVIDER_ID, locations, normalizeBaseURL, type Scope, type Where } from '../clients/opencode.js';
import { parseJsoncObject } from '../files/jsonc-edit.js';
import { result, withoutNothingChanged, type CheckResult } from './types.js';

const SCOPES: Scope[] = ['project', 'global'];

const tildify = (file: string, home: string) => {
  const rel = path.relative(home, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `~/${rel}` : file;
};

/** The config file opencode reads in a scope (the .jsonc wins over the .json), if any. */
function configFile(scope: Scope, where: Where): string | undefined {
  const [json, jsonc] = locations(scope, where).candidates;
  if (existsSync(jsonc)) return jsonc;
  if (existsSync(json)) return json;
  return undefined;
}

const get = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined), value);

export async function checkOpencodeFile(file: string, scope: Scope, where: Where, apiUrl: string): Promise<CheckResult> {
  const check = `opencode:${scope}`;
  const shown = tildify(file, where.homedir);
  const fix = scope === 'global' ? 'thirdloop setup opencode --global' : 'thirdloop setup opencode';
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    return result(check, 'fail', `Cannot read ${shown} (${(error as NodeJS.ErrnoException).code ?? error}).`, `Fix its permissions, then ${fix}.`);
  }
  let doc: unknown;
  try {
    doc = parseJsoncObject(text, shown).value;
  } catch (error) {
    return result(check, 'fail', withoutNothingChanged(error), `Fix ${shown} by hand, then ${fix}.`);
  }
  const provider = get(doc, 'provider', PROVIDER_ID);
  if (provider === undefined) return result(check, 'warn', `${shown} has no "${PROVIDER_ID}" provider, so opencode does not use Third Loop here.`, fix);
  const want = normalizeBaseURL(apiUrl);
  const baseURL = get(provider, 'options', 'baseURL');
  if (typeof baseURL !== 'string') return result(check, 'fail', `${shown}: provider.${PROVIDER_ID}.options.baseURL is missing.`, fix);
  if (baseURL !== want) {
    const v1s = (baseURL.match(/\/v1(?=\/|$)/gi) ?? []).length;
    const why = v1s === 0 ? 'it lacks /v1' : v1s > 1 ? 'it has /v1 more than once' : baseURL.trim() !== baseURL || baseURL.endsWith('/') ? 'it has stray spaces or a trailing slash' : 'it points elsewhere';
    return result(check, 'fail', `${shown}: baseURL is "${baseURL}", not "${want}" (${why}).`, fix);
  }
  const apiKey = get(provider, 'options', 'apiKey');
  if (typeof apiKey === 'string' && /tls_[0-9A-Za-z]/.test(apiKey)) {
    return result(check, 'fail', `${shown} contains a secret key in plain text; anyone who can read (or clone) it can use it.`, `Remove it, run \`${fix}\`, and rotate the key: thirdloop keys rotate <id>`);
  }
  if (apiKey !== API_KEY_REFERENCE) {
    return result(check, 'warn', `${shown}: provider.${PROVIDER_ID}.options.apiKey is not "${API_KEY_REFERENCE}".`, fix);
  }
  const model = get(doc, 'model');
  const note = typeof model === 'string' && model.startsWith(`${PROVIDER_ID}/`) ? `, default model ${model}` : '';
  return result(check, 'ok', `${shown} routes opencode through ${want}${note}.`);
}

export async function checkOpencode(where: Where, apiUrl: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const scope of SCOPES) {
    const file = configFile(scope, where);
    if (file) results.push(await checkOpencodeFile(file, scope, where, apiUrl));
  }
  if (results.length === 0) {
    return [result('opencode', 'skip', 'No opencode.json here or in the global config (opencode not set up; optional).', 'thirdloop setup opencode')];
  }
  return results;
}
