/** The supported shells, and which of them to configure by default. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { usageError } from '../core/errors.js';
import { bash } from './bash.js';
import { cmd } from './cmd.js';
import { fish } from './fish.js';
import { powershell } from './powershell.js';
import { zsh } from './zsh.js';
import type { Shell, ShellEnv, ShellName } from './types.js';

export type { ShellName, ShellEnv, Shell, ProfileShell, EnvValues } from './types.js';
export { bash, zsh, fish, powershell, cmd };

export const SHELLS: Record<ShellName, Shell> = { bash, zsh, fish, powershell, cmd };
export const SHELL_NAMES = Object.keys(SHELLS) as ShellName[];

/** Shells that make sense on this platform: cmd is Windows only; zsh and fish are not native there. */
export function shellsFor(platform: NodeJS.Platform): ShellName[] {
  return platform === 'win32' ? ['bash', 'powershell', 'cmd'] : ['bash', 'zsh', 'fish', 'powershell'];
}

/** Parses `--shell bash,zsh` or `--shell all`. */
export function parseShellList(value: string, platform: NodeJS.Platform): ShellName[] {
  const available = shellsFor(platform);
  const wanted = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (wanted.length === 0) throw usageError('--shell needs at least one shell.', `Use --shell ${available.join(',')} or --shell all.`);
  const out = new Set<ShellName>();
  for (const name of wanted) {
    if (name === 'all') {
      available.forEach((s) => out.add(s));
      continue;
    }
    const alias = name === 'pwsh' ? 'powershell' : name;
    if (!(alias in SHELLS)) {
      // Quoted and cut: the value may hold terminal escapes or be a huge paste.
      throw usageError(`Unknown shell ${JSON.stringify(name.length > 32 ? `${name.slice(0, 32)}…` : name)}.`, `Supported: ${SHELL_NAMES.join(', ')}, or all.`);
    }
    if (!available.includes(alias as ShellName)) {
      throw usageError(`${alias} is not supported on ${platformName(platform)}.`, `Supported here: ${available.join(', ')}.`);
    }
    out.add(alias as ShellName);
  }
  return [...out];
}

const platformName = (p: NodeJS.Platform) => (p === 'win32' ? 'Windows' : p === 'darwin' ? 'macOS' : p);

/** The user's login shell from $SHELL, when it is one we support. */
export function currentShell(e: ShellEnv): ShellName | undefined {
  const shell = e.env.SHELL?.trim();
  if (!shell) return undefined;
  const base = path.basename(shell.replace(/\\/g, '/')).replace(/\.exe$/i, '').toLowerCase();
  const name = base === 'pwsh' ? 'powershell' : base;
  return shellsFor(e.platform).includes(name as ShellName) ? (name as ShellName) : undefined;
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

/** The current shell plus every supported shell the user seems to use (its profile exists). */
export async function defaultShells(e: ShellEnv): Promise<ShellName[]> {
  const chosen = new Set<ShellName>();
  const current = currentShell(e);
  if (current) chosen.add(current);
  for (const name of shellsFor(e.platform)) {
    const shell = SHELLS[name];
    if (shell.kind === 'user-environment') {
      chosen.add(name); // on Windows every terminal reads the user environment
      continue;
    }
    for (const hint of shell.usageHints(e)) {
      if (await exists(hint)) {
        chosen.add(name);
        break;
      }
    }
  }
  return shellsFor(e.platform).filter((name) => chosen.has(name));
}
