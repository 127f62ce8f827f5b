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
import { checkShell, commandList, type ShellCheck } from '../shells/verify.js';
import { RUN_FILE_MODE, blockMode, makeStandIn } from '../shells/run-files.js';
import type { EnvFileName, ProfileShell, RunFileName, ShellEnv, ShellLayout, ShellMode, ShellName, WrappedCommand } from '../shells/types.js';
import { nodeSpawner } from '../shells/cmd.js';
import { windowsFacts } from '../shells/windows/facts.js';
import { spawnedWindows, type WindowsSystem } from '../shells/windows/system.js';
import { keyIdOf, result, withoutNothingChanged, type CheckResult } from './types.js';
import { checkWindows } from './windows.js';

export interface ShellCheckInput {
  e: ShellEnv;
  config: Pick<ConfigStore, 'dir' | 'get'>;
  /** The stored credential and instance URL the shells should carry. */
  credential: string;
  apiUrl: string;
  /** How long each shell may take to start (default: the terminal default). */
  timeoutMs?: number;
  /** Windows itself (registry, PowerShells); default: powershell.exe. Injected in tests. */
  windows?: WindowsSystem;
}

interface ShellState {
  shell: ProfileShell;
  layout: ShellLayout;
  texts: Map<string, ByteText | undefined>;
  /** A start-up file that could not be read (not a regular file, …): skipped, said once. */
  unreadable: string[];
  hasBlock: boolean;
  damaged?: string;
  /** What the shell's blocks source: the run file (--via-run) or the env file; the record's word when no block says. */
  mode: ShellMode;
}

async function shellState(shell: ProfileShell, input: ShellCheckInput, probe: MachineProbe, recordedRun: boolean): Promise<ShellState> {
  const layout = await shell.layout(input.e, probe);
  const texts = new Map<string, ByteText | undefined>();
  const unreadable: string[] = [];
  let hasBlock = false;
  let damaged: string | undefined;
  const modes = new Set<ShellMode>();
  for (const file of layout.files) {
    try {
      const found = await readRegularFile(file.path, tildify(file.path, input.e.homedir));
      const view = found && fromBytes(found.bytes);
      texts.set(file.path, view);
      if (view) {
        try {
          for (const block of findBlocks(view.text)) {
            hasBlock = true;
            const mode = blockMode(view.text.slice(block.start, block.end));
            if (mode) modes.add(mode);
          }
        } catch (error) {
          damaged = `${tildify(file.path, input.e.homedir)}: ${(error as Error).message}`;
        }
      }
    } catch (error) {
      unreadable.push(withoutNothingChanged(error));
    }
  }
  // The blocks say which file they source; the last edit decides when they disagree (the record knows it).
  const mode: ShellMode = modes.size === 1 ? [...modes][0]! : recordedRun ? 'run' : 'env';
  return { shell, layout, texts, unreadable, hasBlock, damaged, mode };
}

const list = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/** The shell's check, with its mode in words and in --json (`mode`). */
function describeShell(state: ShellState, check: ShellCheck, input: ShellCheckInput, commands: readonly WrappedCommand[]): CheckResult {
  const found = describeCheck(state, check, input, commands);
  if (found.status === 'skip') return found;
  const mode = state.mode === 'run' ? 'via-run' : 'exports';
  const words = state.mode === 'run' ? 'Mode: --via-run (no key in the environment or in the files the shells read).' : 'Mode: exports (the key is in the env file the profile sources).';
  return { ...found, message: `${found.message} ${words}`, mode };
}

function describeCheck(state: ShellState, check: ShellCheck, input: ShellCheckInput, commands: readonly WrappedCommand[]): CheckResult {
  const { shell } = state;
  const name = `shell:${shell.name}`;
  const viaRun = state.mode === 'run';
  const fix = `thirdloop setup claude${viaRun ? ' --via-run' : ''} --shell ${shell.name}`;
  if (!check.installed) return result(name, 'skip', `${shell.label} is not installed here, so new ${shell.label} terminals were not checked.`);
  const failed = check.modes.filter((m) => m.status === 'failed');
  if (failed.length > 0) {
    const why = failed.map((m) => `${m.command} sees ${m.saw} (${m.reason})`).join('; ');
    const owned = failed.some((m) => /line \d+ (sets|unsets|runs|defines|\()/.test(m.reason ?? '')) && !failed.some((m) => /no thirdloop block/.test(m.reason ?? ''));
    const what = viaRun ? `New ${shell.label} terminals do not start ${commandList(commands)} through \`thirdloop run\`` : `New ${shell.label} terminals miss the Third Loop settings`;
    return result(name, 'fail', `${what}: ${why}.`, owned ? `Remove or move that line, then run \`${fix}\`.` : fix);
  }
  if (viaRun) {
    const good = check.modes.map((m) => m.command);
    return result(name, 'ok', `In new ${shell.label} terminals (${list(good)}) ${commandList(commands)} ${commands.length === 1 ? 'starts' : 'start'} through \`thirdloop run\`.`);
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

/** --via-run's file: there, holding no key, writable by its owner only (a profile runs it). */
async function checkRunFile(name: RunFileName, served: ShellName[], input: ShellCheckInput, commands: readonly WrappedCommand[]): Promise<CheckResult> {
  const file = path.join(input.config.dir, name);
  const shown = tildify(file, input.e.homedir);
  const check = `run-file:${name}`;
  const fix = `thirdloop setup claude --via-run --shell ${served.join(',')}`;
  let found;
  try {
    found = await readRegularFile(file, shown, 'read');
  } catch (error) {
    return result(check, 'fail', withoutNothingChanged(error), fix);
  }
  if (!found) return result(check, 'fail', `${shown} is missing: the profile block sources nothing, so ${commandList(commands)} ${commands.length === 1 ? 'is' : 'are'} not wrapped.`, fix);
  const text = found.bytes.toString('utf8');
  const secret = input.credential.split(';')[1] ?? input.credential;
  if (text.includes(secret)) return result(check, 'fail', `${shown} holds the key, which --via-run keeps out of every file.`, fix);
  const mode = found.stat.mode & 0o777;
  if (input.e.platform !== 'win32' && (mode & 0o022) !== 0) {
    return result(check, 'fail', `${shown} runs in every new terminal but others can write it (mode ${mode.toString(8)}).`, `chmod ${RUN_FILE_MODE.toString(8)} ${shown}`);
  }
  const as = commands.length === 1 ? `\`thirdloop run -- ${commands[0]}\`` : '`thirdloop run -- <command>`';
  return result(check, 'ok', `${shown} defines ${commandList(commands)} as ${as} and holds no key.`);
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
  if (input.e.platform === 'win32' && !input.e.windows) {
    // Where the PowerShell profiles are and whether they run, as Windows says.
    const system = input.windows ?? spawnedWindows(nodeSpawner, input.e.env);
    const e = { ...input.e, windows: await windowsFacts(system, input.e.homedir, input.e.env) };
    const windowsResults = await checkWindows({ e, config: input.config, credential: input.credential, apiUrl: input.apiUrl, system });
    const shells = await checkShells({ ...input, e });
    // Only the user environment set up (cmd): that is not "nothing loads the settings".
    const carried = windowsResults.some((r) => r.check === 'user-environment' && r.status === 'ok');
    return [...shells.filter((r) => !(carried && r.check === 'shells')), ...windowsResults];
  }
  const helper = await checkKeyHelper(input);
  const shellRecord = readShellRecord(input.config as ConfigStore);
  const recorded = new Set(shellRecord.shells);
  const recordedRun = new Set(shellRecord.runShells ?? []);
  for (const edit of readEdits(input.config as ConfigStore, EDITS_SCOPE)) edit.tags.forEach((t) => recorded.add(t as ShellName));
  // Root looking at someone else's home runs their shells as them, as setup does.
  const owner = input.e.platform === 'win32' ? undefined : ownerForNewFiles(await ownerOf(input.e.homedir), currentIdentity());
  const probe = machineProbe(input.e, { owner, timeoutMs: input.timeoutMs });
  const profileShells = shellsFor(input.e.platform).filter((s) => SHELLS[s].kind === 'profile').map((s) => SHELLS[s] as ProfileShell);
  const states = (await Promise.all(profileShells.map((shell) => shellState(shell, input, probe, recordedRun.has(shell.name))))).filter(
    (s) => recorded.has(s.shell.name) || s.hasBlock,
  );
  if (states.length === 0) {
    return [helper ?? result('shells', 'warn', 'No shell profile loads the Third Loop settings yet.', 'thirdloop setup claude')];
  }
  const values = normalizeValues({ apiUrl: input.apiUrl, credential: input.credential });
  const label = (file: string) => tildify(file, input.e.homedir);
  const standIn = states.some((s) => s.mode === 'run') ? await makeStandIn(input.e.platform, process.execPath, owner) : undefined;
  // What the run files wrap, as setup recorded it (claude always).
  const commands: WrappedCommand[] = [...new Set<WrappedCommand>(['claude', ...(shellRecord.runCommands ?? [])])];
  const checked = await Promise.all(
    states.map(async (state) => {
      const findings = scanStartup(state.shell, state.layout, state.texts);
      const fifos = await fifosIn(state.layout, fileKind);
      const withoutBlock = modesWithoutBlock(state.shell, state.layout, state.texts);
      const viaRun = state.mode === 'run' && standIn ? { standInDir: standIn.dir, commands } : undefined;
      const check = await checkShell({ shell: state.shell, probe, expected: { baseUrl: values.apiUrl, credential: values.credential }, findings, label, timeoutMs: probe.timeoutMs, fifos, withoutBlock, viaRun });
      return { state, check, findings };
    }),
  ).finally(() => standIn?.remove());

  const results: CheckResult[] = helper ? [helper] : [];
  const envFiles = new Map<EnvFileName, ShellName[]>();
  const runFiles = new Map<RunFileName, ShellName[]>();
  for (const { state, check, findings } of checked) {
    results.push(describeShell(state, check, input, commands));
    const notes = [...state.unreadable.map((u) => `skipped ${u.replace(/^Cannot (?:edit|read) /, '')}`), ...(state.damaged ? [state.damaged] : [])];
    const warnings = staticWarnings(new Map([[state.shell.name, findings]]), new Set(check.installed ? [state.shell.name] : []), { label });
    if (notes.length + warnings.length > 0) {
      results.push(result(`shell:${state.shell.name}:files`, 'warn', [...notes, ...warnings].join(' '), 'Fix the line or file named, then run `thirdloop doctor` again.'));
    }
    if (state.mode === 'run') runFiles.set(state.shell.runFileName, [...(runFiles.get(state.shell.runFileName) ?? []), state.shell.name]);
    else envFiles.set(state.shell.envFileName, [...(envFiles.get(state.shell.envFileName) ?? []), state.shell.name]);
  }
  for (const name of ENV_FILE_NAMES) {
    const served = envFiles.get(name);
    if (served) results.push(await checkEnvFile(name, served, input));
  }
  for (const [name, served] of runFiles) results.push(await checkRunFile(name, served, input, commands));
  return results;
}
