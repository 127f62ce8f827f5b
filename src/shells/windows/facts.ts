/**
 * What decides where the PowerShell profiles are and whether they run:
 * the Documents folder as Windows resolves it, which PowerShells are
 * installed, and their execution policies. Gathered once per command.
 */
import path from 'node:path';
import { envValue, expandEnvironmentStrings, windowsJoin, windowsPathFlavour } from './paths.js';
import type { ExecutionPolicy, PowerShellEdition, WindowsSystem } from './system.js';

export { windowsJoin } from './paths.js';

export interface PowerShellFacts {
  edition: PowerShellEdition;
  /** undefined: cannot be told (then its profile is written too). */
  installed: boolean | undefined;
  policy?: ExecutionPolicy;
}

export interface WindowsFacts {
  /** The Documents folder ($PROFILE's parent's parent). */
  documents: string;
  /** How it was found, when worth saying (OneDrive, registry unreadable). */
  documentsNote?: string;
  powershells: PowerShellFacts[];
}

export const USER_SHELL_FOLDERS = 'Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders';

/**
 * Documents as [Environment]::GetFolderPath('MyDocuments') gives it, which
 * is what both PowerShells put $PROFILE under (about_Profiles: "$HOME\Documents"
 * is only the default): the `Personal` value under HKCU\…\Explorer\User Shell
 * Folders with environment variables expanded (REG_EXPAND_SZ such as
 * %USERPROFILE%\OneDrive - Contoso\Documents after OneDrive's Known Folder
 * Move, or D:\Docs after a redirection), else %USERPROFILE%\Documents, the
 * folder's default.
 */
export async function documentsFolder(system: WindowsSystem, homedir: string, env: NodeJS.ProcessEnv): Promise<{ path: string; note?: string }> {
  const profileDir = envValue(env, 'USERPROFILE') || homedir;
  const fallback = windowsJoin(homedir, profileDir, 'Documents');
  const values = await system.readUserValues(USER_SHELL_FOLDERS, ['Personal']);
  if (!values) return { path: fallback, note: `Could not read the Documents folder's place from the registry; assumed ${fallback}.` };
  const raw = values.Personal?.data.trim();
  if (!raw) return { path: fallback };
  const expanded = raw.includes('%') ? expandEnvironmentStrings(raw, env) : raw;
  const p = windowsPathFlavour(homedir);
  const absolute = /^[A-Za-z]:[\\/]|^[\\/]{2}[^\\/]/.test(expanded) || (p === path.posix && expanded.startsWith('/'));
  if (expanded.includes('%') || !absolute) {
    return { path: fallback, note: `The registry names ${raw} as the Documents folder, which is not a full path here; assumed ${fallback}.` };
  }
  const resolved = windowsJoin(homedir, expanded);
  const onedrive = /onedrive/i.test(resolved) ? `Documents is in OneDrive (${resolved}), as the registry says: the PowerShell profiles are there.` : undefined;
  return { path: resolved, note: onedrive };
}

export async function windowsFacts(system: WindowsSystem, homedir: string, env: NodeJS.ProcessEnv, options: { policies?: boolean } = {}): Promise<WindowsFacts> {
  const [documents, powershells] = await Promise.all([
    documentsFolder(system, homedir, env),
    Promise.all(
      (['Desktop', 'Core'] as const).map(async (edition): Promise<PowerShellFacts> => {
        const installed = await system.powershellInstalled(edition);
        const policy = installed === false || options.policies === false ? undefined : await system.executionPolicy(edition);
        return { edition, installed, ...(policy ? { policy } : {}) };
      }),
    ),
  ]);
  return { documents: documents.path, ...(documents.note ? { documentsNote: documents.note } : {}), powershells };
}

export const EDITION_LABEL: Record<PowerShellEdition, string> = { Desktop: 'Windows PowerShell 5.1', Core: 'PowerShell 7' };
/** The folder under Documents each edition's $PROFILE is in (about_Profiles). */
export const EDITION_FOLDER: Record<PowerShellEdition, string> = { Desktop: 'WindowsPowerShell', Core: 'PowerShell' };

export interface PolicyVerdict {
  edition: PowerShellEdition;
  policy: string;
  /** The scope whose setting wins (first that is not Undefined), or undefined when none is set (the default). */
  scope?: string;
  /** Group Policy decides: only an administrator can change it. */
  groupPolicy: boolean;
}

/**
 * Whether a profile runs: Restricted runs no script file (the profile
 * included), AllSigned only signed ones, and neither our block nor the
 * file it loads is signed (about_Execution_Policies). RemoteSigned,
 * Unrestricted and Bypass run local files. The winning scope is the first
 * not Undefined in precedence order; Group Policy scopes (MachinePolicy,
 * UserPolicy) cannot be overridden by the user.
 */
export function blockedProfiles(facts: WindowsFacts | undefined): PolicyVerdict[] {
  const out: PolicyVerdict[] = [];
  for (const ps of facts?.powershells ?? []) {
    if (!ps.policy) continue;
    const effective = ps.policy.effective;
    if (!/^(Restricted|AllSigned)$/i.test(effective)) continue;
    const scope = ps.policy.scopes.find((s) => !/^Undefined$/i.test(s.policy))?.scope;
    out.push({ edition: ps.edition, policy: effective, scope, groupPolicy: /^(MachinePolicy|UserPolicy)$/i.test(scope ?? '') });
  }
  return out;
}

/**
 * One sentence and a fix for a blocked profile. `userEnvironment`: the
 * user environment carries the variables too (cmd configured), so that
 * PowerShell gets them anyway, as every program does.
 */
export function describeBlocked(v: PolicyVerdict, userEnvironment = false): { message: string; fix: string } {
  const who = EDITION_LABEL[v.edition];
  const where = v.scope ? `set for ${v.scope}` : 'the default on Windows client';
  const message = userEnvironment
    ? `${who}'s execution policy is ${v.policy} (${where}), so it does not run its profile; it still gets the Third Loop settings from the user environment.`
    : `${who}'s execution policy is ${v.policy} (${where}), so it does not run profiles: new ${who} windows would not load the Third Loop settings.`;
  const other = userEnvironment ? '' : ', or use `thirdloop setup claude --shell cmd` (the user environment, which every PowerShell inherits)';
  const fix = v.groupPolicy
    ? `Group Policy sets it, so only an administrator can change it${userEnvironment ? '.' : `: use \`thirdloop setup claude --shell cmd\` (the user environment, which every PowerShell inherits).`}`
    : `In PowerShell run \`Set-ExecutionPolicy -Scope CurrentUser -ExecutionPolicy RemoteSigned\`${other}.`;
  return { message, fix };
}
