/**
 * The shell set-up `thirdloop setup claude` wrote: each profile's marked
 * block present and current, and each env file (0600) holding the stored
 * key and this instance's URL. The key itself is compared, never shown.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ConfigStore } from '../context.js';
import { BASE_URL_KEY, claudeSettingsPath, parseSettings } from '../clients/claude.js';
import { hasBlock, upsertBlock } from '../files/marked-block.js';
import { ENV_FILE_NAMES, SECRET_FILE_MODE, anthropicBaseUrl, envFileContent, readShellRecord } from '../shells/env-files.js';
import { SHELLS, shellsFor } from '../shells/index.js';
import { readTextFile } from '../shells/text-file.js';
import type { EnvFileName, ProfileShell, ShellEnv, ShellName } from '../shells/types.js';
import { result, withoutNothingChanged, type CheckResult } from './types.js';

export interface ShellCheckInput {
  e: ShellEnv;
  config: Pick<ConfigStore, 'dir' | 'get'>;
  /** The stored credential and instance URL the files should carry. */
  credential: string;
  apiUrl: string;
}

const tildify = (file: string, home: string) => {
  const rel = path.relative(home, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `~/${rel}` : file;
};

/** Which shells to look at: the ones setup recorded, plus any profile that has our block. */
async function configuredShells(input: ShellCheckInput): Promise<Array<{ name: ShellName; recorded: boolean; hasBlock: boolean; text?: string; error?: string }>> {
  const recorded = new Set(readShellRecord(input.config as ConfigStore).shells);
  const found = [];
  for (const name of shellsFor(input.e.platform)) {
    const shell = SHELLS[name];
    if (shell.kind !== 'profile') continue;
    let text: string | undefined;
    let error: string | undefined;
    let block = false;
    try {
      text = (await readTextFile(shell.profilePath(input.e)))?.text;
      block = text !== undefined && hasBlock(text);
    } catch (e) {
      error = (e as Error).message;
    }
    if (recorded.has(name) || block) found.push({ name, recorded: recorded.has(name), hasBlock: block, text, error });
  }
  return found;
}

function checkProfile(shell: ProfileShell, input: ShellCheckInput, state: { hasBlock: boolean; text?: string; error?: string }): CheckResult {
  const check = `shell:${shell.name}`;
  const profile = tildify(shell.profilePath(input.e), input.e.homedir);
  const fix = `thirdloop setup claude --shell ${shell.name}`;
  if (state.error) return result(check, 'fail', state.error, fix);
  if (state.text === undefined) return result(check, 'fail', `${profile} is missing, so ${shell.label} does not load the Third Loop settings.`, fix);
  if (!state.hasBlock) return result(check, 'fail', `${profile} has no thirdloop block, so new ${shell.label} terminals miss the Third Loop settings.`, fix);
  const envFile = path.join(input.config.dir, shell.envFileName);
  let current: boolean;
  try {
    current = upsertBlock(state.text, shell.sourceBlock(envFile, input.e)) === state.text;
  } catch (error) {
    return result(check, 'fail', `${profile}: ${(error as Error).message}`, `Fix the thirdloop lines by hand, then ${fix}.`);
  }
  if (!current) return result(check, 'warn', `${profile} has an outdated thirdloop block.`, fix);
  return result(check, 'ok', `${profile} loads ${tildify(envFile, input.e.homedir)}.`);
}

async function checkEnvFile(name: EnvFileName, served: ShellName[], input: ShellCheckInput): Promise<CheckResult> {
  const file = path.join(input.config.dir, name);
  const shown = tildify(file, input.e.homedir);
  const check = `env-file:${name}`;
  const fix = `thirdloop setup claude --shell ${served.join(',')}`;
  let text: string;
  let mode: number;
  try {
    [text, mode] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file).then((s) => s.mode & 0o777)]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return result(check, 'fail', code === 'ENOENT' ? `${shown} is missing: the profile block sources nothing.` : `Cannot read ${shown} (${code}).`, fix);
  }
  if (input.e.platform !== 'win32' && mode !== SECRET_FILE_MODE) {
    return result(check, 'fail', `${shown} holds the key but its mode is ${mode.toString(8)}, not 600.`, `chmod 600 ${shown}`);
  }
  let expected: string;
  try {
    expected = envFileContent(name, { apiUrl: input.apiUrl, credential: input.credential });
  } catch (error) {
    return result(check, 'fail', `Cannot compute the expected ${shown}: ${(error as Error).message}.`, fix);
  }
  if (text === expected) return result(check, 'ok', `${shown} holds the stored key and ${anthropicBaseUrl(input.apiUrl)}.`);
  const credential = input.credential.trim();
  if (!text.includes(credential)) {
    return result(check, 'fail', `${shown} holds a different key than the stored one (stale after a rotate?).`, fix);
  }
  if (!text.includes(anthropicBaseUrl(input.apiUrl))) {
    return result(check, 'fail', `${shown} points at another instance than ${anthropicBaseUrl(input.apiUrl)}.`, fix);
  }
  return result(check, 'warn', `${shown} was edited since thirdloop wrote it.`, fix);
}

/** `setup claude --key-helper`: Claude Code asks `thirdloop token` for the key; undefined when not set up that way. */
export async function checkKeyHelper(input: ShellCheckInput): Promise<CheckResult | undefined> {
  const file = claudeSettingsPath(input.e);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let settings: Record<string, unknown>;
  try {
    settings = parseSettings(text, tildify(file, input.e.homedir));
  } catch (error) {
    return result('claude-settings', 'fail', withoutNothingChanged(error), `Fix ${tildify(file, input.e.homedir)}, then thirdloop setup claude --key-helper`);
  }
  const helper = settings.apiKeyHelper;
  if (typeof helper !== 'string' || !/\btoken\b/.test(helper) || !/thirdloop/.test(helper)) return undefined;
  const env = settings.env as Record<string, unknown> | undefined;
  const want = anthropicBaseUrl(input.apiUrl);
  if (env?.[BASE_URL_KEY] !== want) {
    return result('claude-settings', 'fail', `${tildify(file, input.e.homedir)} asks thirdloop for the key but its env.${BASE_URL_KEY} is not ${want}.`, 'thirdloop setup claude --key-helper');
  }
  return result('claude-settings', 'ok', `Claude Code gets the key from \`thirdloop token\` and talks to ${want}.`);
}

export async function checkShells(input: ShellCheckInput): Promise<CheckResult[]> {
  const shells = await configuredShells(input);
  const helper = await checkKeyHelper(input);
  if (shells.length === 0) {
    return [helper ?? result('shells', 'warn', 'No shell profile loads the Third Loop settings yet.', 'thirdloop setup claude')];
  }
  const results: CheckResult[] = helper ? [helper] : [];
  const envFiles = new Map<EnvFileName, ShellName[]>();
  for (const state of shells) {
    const shell = SHELLS[state.name] as ProfileShell;
    results.push(checkProfile(shell, input, state));
    if (state.hasBlock || state.recorded) envFiles.set(shell.envFileName, [...(envFiles.get(shell.envFileName) ?? []), state.name]);
  }
  for (const name of ENV_FILE_NAMES) {
    const served = envFiles.get(name);
    if (served) results.push(await checkEnvFile(name, served, input));
  }
  return results;
}
