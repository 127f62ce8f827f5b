/**
 * The environment of the command `thirdloop run` starts: the user's own, with the broker's address
 * and the run token in the two variables every Anthropic client reads, and no way left to the
 * real key.
 *
 * - ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY are set to the broker and the token.
 * - THIRDLOOP_API_KEY is removed (it is the real credential, for CI).
 * - ANTHROPIC_AUTH_TOKEN is removed: Claude Code and the SDKs send it as `Authorization: Bearer`
 *   next to the token; whatever it holds, the broker would refuse it, and it may be the real key.
 * - Any other variable whose value holds a Third Loop secret (`tls_…` with a valid checksum: the
 *   stored key, an older one, one pasted into ANTHROPIC_CUSTOM_HEADERS…) is removed, and named.
 * - OPENCODE_CONFIG_CONTENT points the `thirdloop` provider that `setup opencode` writes at the
 *   broker: opencode.json names the instance's own URL (it has to, outside `run`), and the inline
 *   config is the layer opencode merges over project and global files. Other settings the user
 *   put in that variable are kept.
 * - When a proxy is configured, 127.0.0.1 and localhost join NO_PROXY/no_proxy: a client that
 *   honours HTTP_PROXY would otherwise send its requests for the broker to the proxy, which
 *   cannot reach this machine's loopback (and would see the token).
 */
import { isWellFormedSecret } from 'thirdloop-protocol';
import { PROVIDER_ID } from '../clients/opencode-provider.js';

export const BASE_URL_VAR = 'ANTHROPIC_BASE_URL';
export const API_KEY_VAR = 'ANTHROPIC_API_KEY';
const REMOVED_ALWAYS = ['THIRDLOOP_API_KEY', 'ANTHROPIC_AUTH_TOKEN'];
const PROXY_VARS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'];
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost'];
const SECRET_LIKE = /tls_[0-9A-Za-z]{38}/g;
const OPENCODE_INLINE_VAR = 'OPENCODE_CONFIG_CONTENT';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * opencode's inline config with our provider's baseURL at the broker, or undefined when the
 * user's own value is not a JSON object (left as it is: opencode reports it).
 */
function opencodeInline(current: string | undefined, baseUrl: string): string | undefined {
  let config: Record<string, unknown> = {};
  if (current?.trim()) {
    try {
      const parsed: unknown = JSON.parse(current);
      if (!isObject(parsed)) return undefined;
      config = parsed;
    } catch {
      return undefined;
    }
  }
  const providers = isObject(config.provider) ? config.provider : {};
  const ours = isObject(providers[PROVIDER_ID]) ? providers[PROVIDER_ID] : {};
  const options = isObject(ours.options) ? ours.options : {};
  const baseURL = `${baseUrl.replace(/\/+$/, '')}/v1`;
  return JSON.stringify({ ...config, provider: { ...providers, [PROVIDER_ID]: { ...ours, options: { ...options, baseURL } } } });
}

export interface ChildEnvironment {
  env: NodeJS.ProcessEnv;
  /** Variables left out because they held a Third Loop secret (never their values). */
  withSecret: string[];
  /** Other variables left out (ANTHROPIC_AUTH_TOKEN), that the user may want to hear about. */
  dropped: string[];
}

/** True when `value` holds a Third Loop secret: the given one, or any with a valid checksum. */
function holdsSecret(value: string, secret: string): boolean {
  if (value.includes(secret)) return true;
  for (const match of value.matchAll(SECRET_LIKE)) if (isWellFormedSecret(match[0])) return true;
  return false;
}

export function childEnvironment(
  parent: NodeJS.ProcessEnv,
  run: { baseUrl: string; token: string; secret: string },
  platform: NodeJS.Platform = process.platform,
): ChildEnvironment {
  // Windows variable names are case-insensitive; elsewhere `anthropic_api_key` is another variable.
  const same = platform === 'win32' ? (a: string, b: string) => a.toUpperCase() === b.toUpperCase() : (a: string, b: string) => a === b;
  const env: NodeJS.ProcessEnv = {};
  const withSecret: string[] = [];
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    if (same(name, BASE_URL_VAR) || same(name, API_KEY_VAR)) continue;
    if (REMOVED_ALWAYS.some((removed) => same(name, removed))) {
      if (same(name, 'ANTHROPIC_AUTH_TOKEN') && !holdsSecret(value, run.secret)) dropped.push(name);
      else if (!same(name, 'THIRDLOOP_API_KEY')) withSecret.push(name);
      continue;
    }
    if (holdsSecret(value, run.secret)) {
      withSecret.push(name);
      continue;
    }
    env[name] = value;
  }
  env[BASE_URL_VAR] = run.baseUrl;
  env[API_KEY_VAR] = run.token;
  const inlineName = Object.keys(env).find((name) => same(name, OPENCODE_INLINE_VAR)) ?? OPENCODE_INLINE_VAR;
  const inline = opencodeInline(env[inlineName], run.baseUrl);
  if (inline !== undefined) env[inlineName] = inline;

  if (PROXY_VARS.some((name) => env[name])) {
    const lists = ['NO_PROXY', 'no_proxy'].filter((name) => env[name] !== undefined);
    for (const name of lists.length > 0 ? lists : ['NO_PROXY', 'no_proxy']) {
      const entries = (env[name] ?? '').split(/[,\s]+/).filter(Boolean);
      if (entries.includes('*')) continue;
      env[name] = [...entries, ...LOOPBACK_NAMES.filter((host) => !entries.includes(host))].join(',');
    }
  }
  return { env, withSecret, dropped };
}
