/**
 * Starting a shell the way a new terminal does, to see what it really does
 * with the files: a clean environment (the user's HOME, PATH, locale and
 * XDG folders; nothing of ours, no ANTHROPIC_* from this process), the
 * home as the working folder, stdin closed, its own session (so nothing in
 * a start-up file can read this terminal's keyboard), the home's owner as
 * the user when we run as root for someone else, and a time limit after
 * which the whole process group is killed.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Owner } from '../files/ownership.js';
import { windowsJoin } from './windows/paths.js';
import { environmentZdotdir } from './zdotdir.js';
import type { RunResult, ShellEnv } from './types.js';

/** Long enough for a heavy zshrc on a busy machine; a start-up file waiting for input ends here. */
export const DEFAULT_SHELL_TIMEOUT_MS = 10_000;
/** More than any start-up file should print; the rest is dropped. */
const MAX_OUTPUT = 1 << 20;

const PASSED = [
  'PATH',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'XDG_CONFIG_HOME',
  'XDG_DATA_HOME',
  'XDG_STATE_HOME',
  'XDG_CACHE_HOME',
  'XDG_RUNTIME_DIR',
  'XDG_CONFIG_DIRS',
  'XDG_DATA_DIRS',
  // A terminal inherits the desktop session's bus, where the keychain (Secret Service) is: `thirdloop run` needs it.
  'DBUS_SESSION_BUS_ADDRESS',
];

/** The name of a user id, from /etc/passwd (for USER and LOGNAME when we act for someone else). */
function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] === String(uid) && fields[0]) return fields[0];
    }
  } catch {
    // no passwd file: leave USER unset
  }
  return undefined;
}

/**
 * The environment a new terminal's shell starts with. ZDOTDIR only when the
 * environment really carries one (zsh then reads its .zshenv there);
 * otherwise zsh finds it through its own files, as it would in a terminal.
 */
export function terminalEnvironment(e: ShellEnv, owner?: Owner): NodeJS.ProcessEnv {
  if (e.platform === 'win32') {
    // Windows programs need much of their environment (SystemRoot, …); only ours is left out.
    return Object.fromEntries(Object.entries(e.env).filter(([name]) => !/^(ANTHROPIC_|THIRDLOOP_)/i.test(name)));
  }
  const env: NodeJS.ProcessEnv = { HOME: e.homedir };
  for (const name of PASSED) if (e.env[name]) env[name] = e.env[name];
  for (const [name, value] of Object.entries(e.env)) if (name.startsWith('LC_') && value) env[name] = value;
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  const term = e.env.TERM;
  env.TERM = term && term !== 'dumb' ? term : 'xterm-256color';
  if (e.env.SHELL) env.SHELL = e.env.SHELL;
  const name = owner ? userName(owner.uid) : (e.env.USER ?? e.env.LOGNAME);
  if (name) {
    env.USER = name;
    env.LOGNAME = name;
  }
  const zdotdir = environmentZdotdir(e);
  if (zdotdir) env.ZDOTDIR = zdotdir;
  return env;
}

/** The program's path on PATH, as a terminal would find it; undefined when it is not installed. */
export function findProgram(program: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const exts = platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  const dirs = (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : ':').filter(Boolean);
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = platform === 'win32' ? windowsJoin(dir, dir, program + ext) : path.posix.join(dir, program + ext);
      try {
        if (!statSync(candidate).isFile()) continue;
        if (platform !== 'win32') accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export interface TerminalOptions {
  /** Run as this user (only root can): the home's owner when it is not us. */
  owner?: Owner;
  timeoutMs?: number;
}

/** Runs `program args…` as a new terminal would; resolves (never rejects) with what it printed. */
export function runInTerminal(programPath: string, args: string[], e: ShellEnv, options: TerminalOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_SHELL_TIMEOUT_MS;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut, ms: Math.round(performance.now() - started) });
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(programPath, args, {
        cwd: e.homedir,
        env: terminalEnvironment(e, options.owner),
        stdio: ['ignore', 'pipe', 'pipe'],
        // A session of its own: no controlling terminal to read from, and one group to kill.
        detached: e.platform !== 'win32',
        windowsHide: true,
        ...(options.owner ? { uid: options.owner.uid, gid: options.owner.gid } : {}),
      });
    } catch (error) {
      resolve({ code: null, stdout: '', stderr: (error as Error).message, timedOut: false, ms: 0 });
      return;
    }
    const kill = () => {
      try {
        if (child.pid && e.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
      finish(null);
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk;
    });
    child.once('error', (error) => {
      stderr += error.message;
      finish(null);
    });
    // Once the shell has exited, what it left running in its group (`cmd &`) goes too. A daemon
    // with a session of its own (ssh-agent, …) may still hold the pipes: read what the shell
    // printed for a while, not until the daemon exits.
    child.once('exit', (code) => {
      kill();
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code);
      }, 2000).unref();
    });
    child.once('close', (code) => finish(code));
  });
}
