/**
 * Does the shell doctor runs in carry the current key and URL? After
 * `keys rotate` the open terminals keep the old key until reopened, which
 * looks like "Claude Code suddenly gets 401". Compares, never prints, the key.
 */
import path from 'node:path';
import { isRunToken } from '../broker/token.js';
import { anthropicBaseUrl } from '../shells/env-files.js';
import { powershellQuote } from '../shells/powershell.js';
import { API_KEY_VAR, BASE_URL_VAR } from '../shells/types.js';
import { keyIdOf, result, type CheckResult } from './types.js';

/** How to reload in this shell: the env file setup wrote for the shell doctor runs under. */
export function reloadHint(env: NodeJS.ProcessEnv, configDir: string, platform: NodeJS.Platform): string {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const shell = p.basename(env.SHELL ?? '');
  const command =
    platform === 'win32'
      ? `. ${powershellQuote(p.join(configDir, 'env.ps1'))}`
      : shell === 'fish'
        ? `source '${p.join(configDir, 'env.fish')}'`
        : `. '${p.join(configDir, 'env.sh')}'`;
  return `Open a new terminal (or run \`${command}\` in this one).`;
}

export function checkEnvironment(
  env: NodeJS.ProcessEnv,
  stored: { credential: string; apiUrl: string },
  where: { configDir: string; platform: NodeJS.Platform; viaRun?: boolean } = { configDir: '~/.config/thirdloop', platform: 'linux' },
): CheckResult {
  const RELOAD = reloadHint(env, where.configDir, where.platform);
  const key = env[API_KEY_VAR]?.trim();
  const base = env[BASE_URL_VAR]?.trim();
  const wantBase = anthropicBaseUrl(stored.apiUrl);
  if (where.viaRun && !(key && isRunToken(key))) {
    // This kind of shell is set up with --via-run: no key here is the point.
    if (key && key === stored.credential.trim()) {
      return result('environment', 'warn', `This shell still exports ${API_KEY_VAR} with the stored key: it was opened before \`setup claude --via-run\`.`, 'Open a new terminal: it gets `claude` through `thirdloop run` and no key.');
    }
    if (!key) return result('environment', 'ok', `This shell exports no ${API_KEY_VAR}, as --via-run intends: \`claude\` here starts through \`thirdloop run\`.`);
  }
  if (!key && !base) {
    return result('environment', 'warn', `This shell has neither ${API_KEY_VAR} nor ${BASE_URL_VAR} set, so Claude Code started here will not use Third Loop.`, RELOAD);
  }
  if (!key) return result('environment', 'fail', `This shell has ${BASE_URL_VAR} but no ${API_KEY_VAR}.`, RELOAD);
  // Inside `thirdloop run` (e.g. `thirdloop run -- bash`): a run token and its broker, by design.
  if (isRunToken(key) && base && /^http:\/\/127\.0\.0\.1:\d+\/?$/.test(base)) {
    return result('environment', 'ok', `This shell runs inside \`thirdloop run\`: ${API_KEY_VAR} is a token for its broker at ${base}, not the key.`);
  }
  if (key !== stored.credential.trim()) {
    const id = keyIdOf(key);
    const what = id ? `key ${id}` : 'something that is not a Third Loop key';
    const storedId = keyIdOf(stored.credential);
    const stale = id && storedId && id !== storedId ? ' (stale after a rotate?)' : '';
    return result('environment', 'fail', `This shell's ${API_KEY_VAR} holds ${what}, not the stored key${storedId ? ` ${storedId}` : ''}${stale}.`, RELOAD);
  }
  if (!base) return result('environment', 'fail', `This shell has ${API_KEY_VAR} but no ${BASE_URL_VAR}, so Claude Code would send the key to Anthropic directly.`, RELOAD);
  if (anthropicBaseUrl(base) !== wantBase || /\/v1\/?$/i.test(base)) {
    return result('environment', 'fail', `This shell's ${BASE_URL_VAR} is ${base}, not ${wantBase}.`, RELOAD);
  }
  return result('environment', 'ok', `This shell's ${API_KEY_VAR} and ${BASE_URL_VAR} match the stored key and ${wantBase}.`);
}
