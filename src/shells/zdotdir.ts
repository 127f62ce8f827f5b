/**
 * Where zsh reads its files, found the way zsh finds them. It reads
 * .zshenv from ${ZDOTDIR:-$HOME} as the environment and /etc/zsh/zshenv
 * leave ZDOTDIR, and .zprofile, .zshrc and .zlogin from ZDOTDIR as .zshenv
 * leaves it. ZDOTDIR is often set in ~/.zshenv, exported or not, so a
 * program started from bash, an IDE or a script never sees it in its own
 * environment. When zsh is installed it is asked, both questions, with the
 * environment a new terminal has; otherwise ~/.zshenv is read for a
 * `ZDOTDIR=` line.
 */
import { fromBytes } from '../files/byte-text.js';
import { pathFor } from './common.js';
import type { ShellEnv, ShellProbe } from './types.js';

export interface Zdotdirs {
  /** The folder of the .zshenv zsh reads. */
  envDir: string;
  /** The folder of .zprofile, .zshrc and .zlogin. */
  rcDir: string;
  notes: string[];
}

const MARK = 'TLZDOTDIR:';
const ASK = `print -rn -- "${MARK}\${ZDOTDIR-}${MARK}"`;

/** ZDOTDIR as the environment passes it to a new terminal: only an absolute one means anything. */
export function environmentZdotdir(e: ShellEnv): string | undefined {
  const dir = e.env.ZDOTDIR?.trim();
  return dir && pathFor(e.platform).isAbsolute(dir) ? dir : undefined;
}

export async function resolveZdotdir(e: ShellEnv, probe: ShellProbe): Promise<Zdotdirs> {
  const p = pathFor(e.platform);
  const fromEnv = environmentZdotdir(e);
  const notes: string[] = [];
  const [before, after] = await Promise.all([probe.run('zsh', ['-o', 'norcs', '-c', ASK]), probe.run('zsh', ['-c', ASK])]);
  const answer = (run: typeof before) => {
    if (!run || run.timedOut) return undefined;
    const match = new RegExp(`${MARK}([^]*?)${MARK}`).exec(run.stdout);
    if (!match) return undefined;
    const dir = match[1]!;
    return dir === '' ? e.homedir : p.resolve(e.homedir, dir);
  };
  const envDir = answer(before);
  const rcDir = answer(after);
  if (envDir !== undefined && rcDir !== undefined) {
    if (rcDir !== envDir) notes.push(`zsh reads .zshrc from ${rcDir} (ZDOTDIR, set in ${p.join(envDir, '.zshenv')} or the system's zshenv).`);
    return { envDir, rcDir, notes };
  }
  if (before || after) notes.push('zsh did not say where its files are (it failed or took too long); read ZDOTDIR from .zshenv instead.');
  const staticEnvDir = fromEnv ?? e.homedir;
  const zshenv = await probe.read(p.join(staticEnvDir, '.zshenv'));
  const set = zshenv ? zdotdirFromZshenv(fromBytes(zshenv).text, e, staticEnvDir) : undefined;
  return { envDir: staticEnvDir, rcDir: set ?? staticEnvDir, notes };
}

/**
 * The last `ZDOTDIR=…` (or `export ZDOTDIR=…`) at the start of a line of
 * .zshenv, with $HOME, ~ and XDG_CONFIG_HOME expanded; undefined when there
 * is none or it needs more than that.
 */
export function zdotdirFromZshenv(text: string, e: ShellEnv, current: string): string | undefined {
  const p = pathFor(e.platform);
  let found: string | undefined;
  let zdotdir = current;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+|typeset\s+-x\s+)?ZDOTDIR=(\S*)\s*(?:#.*)?$/.exec(line);
    if (!m) continue;
    let value = m[1]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
    const xdg = e.env.XDG_CONFIG_HOME?.trim() || p.join(e.homedir, '.config');
    value = value
      .replace(/^~(?=\/|$)/, e.homedir)
      .replace(/\$\{XDG_CONFIG_HOME:-[^}]*\}|\$\{XDG_CONFIG_HOME\}|\$XDG_CONFIG_HOME\b/g, xdg)
      .replace(/\$\{HOME\}|\$HOME\b/g, e.homedir)
      .replace(/\$\{ZDOTDIR\}|\$ZDOTDIR\b/g, zdotdir);
    if (value.includes('$') || value.includes('`') || value === '') continue;
    zdotdir = p.resolve(e.homedir, value);
    found = zdotdir;
  }
  return found;
}
