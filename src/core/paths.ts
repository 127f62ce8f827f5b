/**
 * Where thirdloop keeps its files. One directory per user, owner-only:
 * THIRDLOOP_CONFIG_DIR wins; else $XDG_CONFIG_HOME/thirdloop (default
 * ~/.config/thirdloop) on Linux and macOS (like gh, not ~/Library, so that
 * dotfiles tooling finds it), and %APPDATA%\thirdloop on Windows.
 */
import path from 'node:path';
import { fs } from './node-fs.js';

const { mkdirSync, statSync } = fs;

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export interface PathEnv {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  homedir: string;
}

export function configDir({ env, platform, homedir }: PathEnv): string {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const override = env.THIRDLOOP_CONFIG_DIR?.trim();
  // The override names a real directory on this host, whatever platform a test injects.
  if (override) return path.resolve(override);
  if (platform === 'win32') {
    const appData = env.APPDATA?.trim() || p.join(homedir, 'AppData', 'Roaming');
    return p.join(appData, 'thirdloop');
  }
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME?.trim();
  const base = xdg && p.isAbsolute(xdg) ? xdg : p.join(homedir, '.config');
  return p.join(base, 'thirdloop');
}

export const configFilePath = (dir: string) => path.join(dir, 'config.json');
export const credentialsFilePath = (dir: string) => path.join(dir, 'credentials.json');

const isDir = (dir: string) => {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
};

/**
 * `mkdir -p` that fails where Node's recursive mkdir spins forever: a folder
 * that exists but refuses a new entry with ENOENT (e.g. under /proc).
 */
export function makeDirs(dir: string, mode = DIR_MODE): void {
  try {
    mkdirSync(dir, { mode });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && isDir(dir)) return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir || isDir(parent)) throw error;
    makeDirs(parent, mode);
  }
  try {
    mkdirSync(dir, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !isDir(dir)) throw error;
  }
}

/** Creates the directory owner-only, and tightens it if it already existed looser. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  makeDirs(dir, DIR_MODE);
  if (process.platform === 'win32') return;
  const stat = await fs.stat(dir);
  if ((stat.mode & 0o077) !== 0) await fs.chmod(dir, DIR_MODE);
}
