/**
 * Doctor on Windows: what the registry and the PowerShells themselves say,
 * beside what the shells show. Each PowerShell's profile (where Documents
 * really is), whether its execution policy lets the profile run, and the
 * user environment (HKCU\Environment), which every new program inherits —
 * compared with the stored key, never shown.
 */
import { readEdits } from '../files/edit-log.js';
import { fromBytes } from '../files/byte-text.js';
import { findBlocks } from '../files/marked-block.js';
import { readRegularFile } from '../files/regular-file.js';
import type { ConfigStore } from '../context.js';
import { currentUserEnvironment, readPriorValues } from '../shells/cmd.js';
import { EDITS_SCOPE, tildify } from '../shells/configure.js';
import { normalizeValues, readShellRecord } from '../shells/env-files.js';
import { windowsProfiles } from '../shells/powershell.js';
import type { ShellEnv } from '../shells/types.js';
import { API_KEY_VAR, BASE_URL_VAR } from '../shells/types.js';
import { EDITION_LABEL, blockedProfiles, describeBlocked } from '../shells/windows/facts.js';
import type { WindowsSystem } from '../shells/windows/system.js';
import { keyIdOf, result, type CheckResult } from './types.js';

export interface WindowsCheckInput {
  /** With `windows` facts gathered (Documents, PowerShells, policies). */
  e: ShellEnv;
  config: Pick<ConfigStore, 'dir' | 'get'>;
  credential: string;
  apiUrl: string;
  system: WindowsSystem;
}

async function profileHasBlock(file: string): Promise<boolean | undefined> {
  try {
    const found = await readRegularFile(file, file, 'read');
    if (!found) return undefined;
    return findBlocks(fromBytes(found.bytes).text).length > 0;
  } catch {
    return false;
  }
}

export async function checkWindows(input: WindowsCheckInput): Promise<CheckResult[]> {
  const { e } = input;
  const out: CheckResult[] = [];
  const record = readShellRecord(input.config as ConfigStore);
  const edited = readEdits(input.config as ConfigStore, EDITS_SCOPE).some((edit) => edit.tags.includes('powershell'));
  const label = (file: string) => tildify(file, e.homedir);

  // Each PowerShell's own profile: setup wrote both; a user who uses one must not find it empty.
  const profiles = windowsProfiles(e);
  const states = await Promise.all(profiles.map(async (p) => ({ ...p, block: await profileHasBlock(p.path) })));
  if (record.shells.includes('powershell') || edited || states.some((s) => s.block)) {
    for (const s of states) {
      const name = `powershell:profile:${s.edition === 'Desktop' ? '5.1' : '7'}`;
      const who = EDITION_LABEL[s.edition];
      if (s.installed === false && !s.block) continue;
      if (s.block) out.push(result(name, 'ok', `${who}'s profile ${label(s.path)} loads the Third Loop settings.`));
      else out.push(result(name, 'fail', `${who}'s profile ${label(s.path)} ${s.block === undefined ? 'does not exist' : 'has no thirdloop block'}, so new ${who} windows miss the Third Loop settings.`, 'thirdloop setup claude --shell powershell'));
    }
    if (e.windows?.documentsNote) out.push(result('powershell:documents', 'ok', e.windows.documentsNote));
    const blocked = blockedProfiles(e.windows);
    for (const ps of e.windows?.powershells ?? []) {
      if (!ps.policy) continue;
      const name = `powershell:policy:${ps.edition === 'Desktop' ? '5.1' : '7'}`;
      const verdict = blocked.find((b) => b.edition === ps.edition);
      if (!verdict) out.push(result(name, 'ok', `${EDITION_LABEL[ps.edition]}'s execution policy is ${ps.policy.effective}: it runs its profile.`));
      else {
        const { message, fix } = describeBlocked(verdict, Boolean(record.userEnvironment));
        // The user environment still carries the variables into that PowerShell: a warning then, not a failure.
        out.push(result(name, record.userEnvironment ? 'warn' : 'fail', message, fix));
      }
    }
  }

  // The user environment: what every new program (cmd, PowerShell, Explorer, IDEs) starts with.
  let current: Awaited<ReturnType<typeof currentUserEnvironment>> | undefined;
  try {
    current = await currentUserEnvironment(input.system);
  } catch {
    if (record.userEnvironment) out.push(result('user-environment', 'warn', 'Could not read the user environment (HKCU\\Environment) to check it.', 'Check that powershell.exe runs.'));
    return out;
  }
  const want = normalizeValues({ apiUrl: input.apiUrl, credential: input.credential });
  const key = current[API_KEY_VAR]?.data;
  const base = current[BASE_URL_VAR]?.data;
  const fix = 'thirdloop setup claude --shell cmd';
  if (record.userEnvironment) {
    if (key === want.credential && base === want.apiUrl) {
      const kept = (await readPriorValues(input.config.dir)) ? ' (the values from before are kept for --undo)' : '';
      out.push(result('user-environment', 'ok', `The user environment carries the stored key${keyIdOf(want.credential) ? ` ${keyIdOf(want.credential)}` : ''} and ${want.apiUrl} to every new program${kept}.`));
    } else {
      const what = key === undefined ? `no ${API_KEY_VAR}` : key !== want.credential ? `an ${API_KEY_VAR} that is not the stored key${keyIdOf(key) ? ` (${keyIdOf(key)})` : ''}` : `${BASE_URL_VAR}=${base ?? '(none)'}`;
      out.push(result('user-environment', 'fail', `thirdloop set the user environment, but it now holds ${what}.`, fix));
    }
  } else if (key !== undefined && key !== want.credential) {
    // Not ours: every program inherits it, and a profile that fails to load leaves it in charge.
    out.push(result('user-environment', 'warn', `The user environment sets ${API_KEY_VAR} to something that is not the stored Third Loop key${keyIdOf(key) ? ` (${keyIdOf(key)})` : ''}: programs started outside a configured shell send that key.`, `Remove it (System Properties > Environment Variables) or run \`${fix}\`.`));
  }
  return out;
}
