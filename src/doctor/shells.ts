/**
 * What new terminals really get: every shell `setup claude` configured (or
 * whose start-up files hold our block) is started the way new terminals
 * start it, and what a program started from it would see is compared with
 * the stored key and this instance's URL (setup's own check, shells/verify).
 * The files are only read to say which file and line is to blame, and the
 * env files (0600) for their mode. The key itself is compared, never shown.
 */
import path from 'node:path';
import type { ConfigStore } from '../context.js';
import { BASE_URL_KEY, claudeSettingsPath, parseSettings } from '../clients/claude.js';
import { fromBytes, type ByteText } from '../files/byte-text.js';
import { readEdits } from '../files/edit-log.js';
import { findBlocks } from '../files/marked-block.js';
import { currentIdentity, ownerForNewFiles, ownerOf } from '../files/ownership.js';
import { readRegularFile } from '../files/regular-file.js';
import { EDITS_SCOPE, fileKind, staticWarnings, tildify } from '../shells/configure.js';
import { ENV_FILE_NAMES, SECRET_FILE_MODE, anthropicBaseUrl, envFileContent, normalizeValues, readShellRecord } from '../shells/env-files.js';
import { SHELLS, shellsFor } from '../shells/index.js';
import { machineProbe, type MachineProbe } from '../shells/probe.js';
import { fifosIn, modesWithoutBlock, scanStartup } from '../shells/startup-scan.js';
import { checkShell, type ShellCheck } from '../shells/verify.js';
import type { EnvFileName, ProfileShell, ShellEnv, ShellLayout, ShellName } from '../shells/types.js';
import { keyIdOf, result, withoutNothingChanged, type CheckResult } from './types.js';

export interface ShellCheckInput {
  e: ShellEnv;
  config: Pick<ConfigStore, 'dir' | 'get'>;
  /** The stored credential and instance URL the shells should carry. */
  credential: string;
  apiUrl: string;
  /** How long each shell may take to start (default: the terminal default). */
  timeoutMs?: number;
}

interface ShellState {
  shell: ProfileShell;
  layout: ShellLayout;
  texts: Map<string, ByteText | undefined>;
  /** A start-up file that could not be read (not a regular file, …): skipped, said once. */
  unreadable: string[];
  hasBlock: boolean;
  damaged?: string;
}

async function shellState(shell: ProfileShell, input: ShellCheckInput, probe: MachineProbe): Promise<ShellState> {
  const layout = await shell.layout(input.e, probe);
  const texts = new Map<string, ByteText | undefined>();
  const unreadable: string[] = [];
  let hasBlock = false;
  let damaged: string | undefined;
  for (const file of layout.files) {
    try {
      const found = await readRegularFile(file.path, tildify(file.path, input.e.homedir));
      const view = found && fromBytes(found.bytes);
      texts.set(file.path, view);
      if (view) {
        try {
          if (findBlocks(view.text).length > 0) hasBlock = true;
        } catch (error) {
          damaged = `${tildify(file.path, input.e.homedir)}: ${(error as Error).message}`;
        }
      }
    } catch (error) {
      unreadable.push(withoutNothingChanged(error));
    }
  }
  return { shell, layout, texts, unreadable, hasBlock, damaged };
}

const list = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

function describeCheck(state: ShellState, check: ShellCheck, input: ShellCheckInput): CheckResult {
  const { shell } = state;
  const name = `shell:${shell.name}`;
  const fix = `thirdloop setup claude --shell ${shell.name}`;
  if (!check.installed) return result(name, 'skip', `${shell.label} is not installed here, so new ${shell.label} terminals were not checked.`);
  const failed = check.modes.filter((m) => m.status === 'failed');
  if (failed.length > 0) {
    const why = failed.map((m) => `${m.command} sees ${m.saw} (${m.reason})`).join('; ');
    const owned = failed.some((m) => /line \d+ (sets|unsets|runs|\()/.test(m.reason ?? '')) && !failed.some((m) => /no thirdloop block/.test(m.reason ?? ''));
    return result(name, 'fail', `New ${shell.label} terminals miss the Third Loop settings: ${why}.`, owned ? `Remove or move that line, then run \`${fix}\`.` : fix);
  }
  const handed = check.modes.filter((m) => m.status === 'handed-over');
  const good = check.modes.filter((m) => m.status === 'ok').map((m) => m.command);
  const id = keyIdOf(input.credential);
  const saw = `see ${anthropicBaseUrl(input.apiUrl)} and the stored key${id ? ` ${id}` : ''}`;
  if (handed.length > 0) {
    return result(name, 'warn', `${list(good)} ${saw}; ${handed.map((m) => `${m.command} shows ${m.saw}`).join('; ')}.`, null);
  }
  const auth = check.modes.filter((m) => m.authToken).map((m) => m.command);
  if (auth.length > 0) {
    return result(name, 'warn', `New ${shell.label} terminals (${list(good)}) ${saw}, but also ANTHROPIC_AUTH_TOKEN (${list(auth)}), which Claude Code may send instead.`, 'Remove ANTHROPIC_AUTH_TOKEN from your start-up files.');
  }
  return result(name, 'ok', `New ${shell.label} terminals (${list(good)}) ${saw}.`);
}

async function checkEnvFile(name: EnvFileName, served: ShellName[], input: ShellCheckInput): Promise<CheckResult> {
  const file = path.join(input.config.dir, name);
  const shown = tildify(file, input.e.homedir);
  const check = `env-file:${name}`;
  const fix = `thirdloop setup claude --shell ${served.join(',')}`;
  let found;
  try {
    found = await readRegularFile(file, shown, 'read');
  } catch (error) {
    return result(check, 'fail', withoutNothingChanged(error), fix);
  }
  if (!found) return result(check, 'fail', `${shown} is missing: the profile block sources nothing.`, fix);
  const text = found.bytes.toString('utf8');
  const mode = found.stat.mode & 0o777;
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
  if (!text.includes(input.credential.trim())) return result(check, 'fail', `${shown} holds a different key than the stored one (stale after a rotate?).`, fix);
  if (!text.includes(anthropicBaseUrl(input.apiUrl))) return result(check, 'fail', `${shown} points at another instance than ${anthropicBaseUrl(input.apiUrl)}.`, fix);
  return result(check, 'warn', `${shown} was edited since thirdloop wrote it.`, fix);
}

/** `setup claude --key-helper`: Claude Code asks `thirdloop token` for the key; undefined when not set up that way. */
export async function checkKeyHelper(input: ShellCheckInput): Promise<CheckResult | undefined> {
  const file = claudeSettingsPath(input.e);
  const shown = tildify(file, input.e.homedir);
  let text: string | undefined;
  try {
    text = (await readRegularFile(file, shown, 'read'))?.bytes.toString('utf8');
  } catch (error) {
    return result('claude-settings', 'fail', withoutNothingChanged(error), `Fix ${shown}, then thirdloop setup claude --key-helper`);
  }
  if (text === undefined) return undefined;
  let settings: Record<string, unknown>;
  try {
    settings = parseSettings(text, shown);
  } catch (error) {
    return result('claude-settings', 'fail', withoutNothingChanged(error), `Fix ${shown}, then thirdloop setup claude --key-helper`);
  }
  const helper = settings.apiKeyHelper;
  if (typeof helper !== 'string' || !/\btoken\b/.test(helper) || !/thirdloop/.test(helper)) return undefined;
  const env = settings.env as Record<string, unknown> | undefined;
  const want = anthropicBaseUrl(input.apiUrl);
  if (env?.[BASE_URL_KEY] !== want) {
    return result('claude-settings', 'fail', `${shown} asks thirdloop for the key but its env.${BASE_URL_KEY} is not ${want}.`, 'thirdloop setup claude --key-helper');
  }
  return result('claude-settings', 'ok', `Claude Code gets the key from \`thirdloop token\` and talks to ${want}.`);
}

export async function checkShells(input: ShellCheckInput): Promise<CheckResult[]> {
  const helper = await checkKeyHelper(input);
  const recorded = new Set(readShellRecord(input.config as ConfigStore).shells);
  for (const edit of readEdits(input.config as ConfigStore, EDITS_SCOPE)) edit.tags.forEach((t) => recorded.add(t as ShellName));
  // Root looking at someone else's home runs their shells as them, as setup does.
  const owner = input.e.platform === 'win32' ? undefined : ownerForNewFiles(await ownerOf(input.e.homedir), currentIdentity());
  const probe = machineProbe(input.e, { owner, timeoutMs: input.timeoutMs });
  const profileShells = shellsFor(input.e.platform).filter((s) => SHELLS[s].kind === 'profile').map((s) => SHELLS[s] as ProfileShell);
  const states = (await Promise.all(profileShells.map((shell) => shellState(shell, input, probe)))).filter(
    (s) => recorded.has(s.shell.name) || s.hasBlock,
  );
  if (states.length === 0) {
    return [helper ?? result('shells', 'warn', 'No shell profile loads the Third Loop settings yet.', 'thirdloop setup claude')];
  }
  const values = normalizeValues({ apiUrl: input.apiUrl, credential: input.credential });
  const label = (file: string) => tildify(file, input.e.homedir);
  const checked = await Promise.all(
    states.map(async (state) => {
      const findings = scanStartup(state.shell, state.layout, state.texts);
      const fifos = await fifosIn(state.layout, fileKind);
      const withoutBlock = modesWithoutBlock(state.shell, state.layout, state.texts);
      const check = await checkShell({ shell: state.shell, probe, expected: { baseUrl: values.apiUrl, credential: values.credential }, findings, label, timeoutMs: probe.timeoutMs, fifos, withoutBlock });
      return { state, check, findings };
    }),
  );

  const results: CheckResult[] = helper ? [helper] : [];
  const envFiles = new Map<EnvFileName, ShellName[]>();
  for (const { state, check, findings } of checked) {
    results.push(describeCheck(state, check, input));
    const notes = [...state.unreadable.map((u) => `skipped ${u.replace(/^Cannot (?:edit|read) /, '')}`), ...(state.damaged ? [state.damaged] : [])];
    const warnings = staticWarnings(new Map([[state.shell.name, findings]]), new Set(check.installed ? [state.shell.name] : []), { label });
    if (notes.length + warnings.length > 0) {
      results.push(result(`shell:${state.shell.name}:files`, 'warn', [...notes, ...warnings].join(' '), 'Fix the line or file named, then run `thirdloop doctor` again.'));
    }
    envFiles.set(state.shell.envFileName, [...(envFiles.get(state.shell.envFileName) ?? []), state.shell.name]);
  }
  for (const name of ENV_FILE_NAMES) {
    const served = envFiles.get(name);
    if (served) results.push(await checkEnvFile(name, served, input));
  }
  return results;
}
