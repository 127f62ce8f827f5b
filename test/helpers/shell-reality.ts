/**
 * What new terminals really get, asked of the real bash, zsh and fish
 * without any of the product's code: each shell is started the way a
 * terminal of that kind starts it (interactive, login, interactive login),
 * with a clean environment (HOME, PATH, TERM), stdin closed, in a session
 * of its own, as the home's owner (setpriv) when that is not us, and runs
 * `env`, whose output shows what a program started from it inherits.
 */
import { spawn } from 'node:child_process';

export type TerminalKind = 'interactive' | 'login' | 'interactive login';
export const TERMINAL_KINDS: TerminalKind[] = ['interactive', 'login', 'interactive login'];
export type RealShell = 'bash' | 'zsh' | 'fish';

export interface TerminalSees {
  /** The shell ran the command at all. */
  ran: boolean;
  baseUrl?: string;
  apiKey?: string;
  stderr: string;
}

const FLAGS: Record<TerminalKind, string[]> = {
  interactive: ['-i'],
  login: ['-l'],
  'interactive login': ['-l', '-i'],
};

const MARK = 'REALITY-CHECK-8f3a';

export function terminalSees(
  shell: RealShell,
  kind: TerminalKind,
  home: string,
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<TerminalSees> {
  const command = `echo ${MARK}; command env; echo ${MARK}`;
  const args = [...FLAGS[kind], '-c', command];
  const asOther = options.uid !== undefined && options.uid !== process.getuid?.();
  const [program, argv] = asOther
    ? ['setpriv', [`--reuid=${options.uid}`, `--regid=${options.gid ?? options.uid}`, '--clear-groups', shell, ...args]]
    : [shell, args];
  const env = { HOME: home, PATH: process.env.PATH, TERM: 'xterm-256color', LANG: 'C.UTF-8', ...options.env };
  return new Promise((resolve) => {
    const child = spawn(program, argv as string[], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(kill, options.timeoutMs ?? 60_000);
    child.once('exit', () => {
      kill(); // what it left in its group; a daemon with its own session may hold the pipes: give up on those later
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 5000).unref();
    });
    child.once('close', () => {
      clearTimeout(timer);
      const parts = out.split(`${MARK}\n`);
      if (parts.length < 3) {
        resolve({ ran: false, stderr: err });
        return;
      }
      const vars = new Map<string, string>();
      for (const line of parts[1]!.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) vars.set(line.slice(0, eq), line.slice(eq + 1));
      }
      resolve({ ran: true, baseUrl: vars.get('ANTHROPIC_BASE_URL'), apiKey: vars.get('ANTHROPIC_API_KEY'), stderr: err });
    });
  });
}

/** For every kind of terminal: whether it sees exactly these values. */
export async function everyTerminalSees(
  shell: RealShell,
  home: string,
  expected: { baseUrl: string; apiKey: string },
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Record<TerminalKind, boolean>> {
  const seen = await Promise.all(TERMINAL_KINDS.map((kind) => terminalSees(shell, kind, home, options)));
  return Object.fromEntries(
    TERMINAL_KINDS.map((kind, i) => [kind, seen[i]!.baseUrl === expected.baseUrl && seen[i]!.apiKey === expected.apiKey]),
  ) as Record<TerminalKind, boolean>;
}
