/**
 * Signals between `thirdloop run` and its command, as `op run` and `aws-vault exec` behave: run
 * outlives no signal of its own while the command lives (the broker must stay up until it exits),
 * and a signal sent to run reaches the command once.
 *
 * The terminal's process group matters. Ctrl+C (SIGINT) and Ctrl+\ (SIGQUIT) typed in a terminal
 * go to the whole foreground process group, which holds run and the command both; forwarding them
 * again would deliver them twice, and programs count presses (Claude Code and many REPLs treat a
 * second Ctrl+C as "exit"). So those two are forwarded only when they cannot have come from the
 * terminal: run is not in its terminal's foreground group, or the command left run's group (an
 * interactive shell takes the terminal for itself). SIGTERM and SIGHUP are always forwarded: a
 * terminal never sends SIGTERM, and a hang-up sent twice ends a program once.
 *
 * On Windows a console Ctrl+C reaches every process attached to it and there are no signals to
 * forward (ChildProcess.kill terminates at once), so run only waits for the command.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const FROM_TERMINAL = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT']);
const POSIX_FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const WINDOWS_HELD: NodeJS.Signals[] = ['SIGINT', 'SIGBREAK', 'SIGHUP'];

/** A process's group and its terminal's foreground group (0: no terminal), as the system reports them. */
export interface GroupInfo {
  pgrp: number;
  tpgid: number;
}

/** Reads /proc/<pid>/stat (Linux); the fields after the command name, which may itself hold spaces and ")". */
function procStat(pid: number | 'self'): GroupInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // state ppid pgrp session tty_nr tpgid …
    return { pgrp: Number(fields[2]), tpgid: Number(fields[5]) };
  } catch {
    return undefined;
  }
}

/** The same from ps (macOS and the BSDs have no /proc). */
function psStat(pid: number): GroupInfo | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'pgid=,tpgid=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000 });
    const [pgrp, tpgid] = out.trim().split(/\s+/).map(Number);
    return pgrp && tpgid !== undefined && Number.isFinite(tpgid) ? { pgrp, tpgid } : undefined;
  } catch {
    return undefined;
  }
}

export function groupInfo(pid: number): GroupInfo | undefined {
  return procStat(pid) ?? psStat(pid);
}

/**
 * True when a SIGINT or SIGQUIT run received was (as far as the system can tell) typed in the
 * terminal, so the command, in the same foreground group, received it too. When unsure: false
 * (forward it), since a signal lost is worse than one delivered twice.
 */
export function terminalDelivered(self: GroupInfo | undefined, child: GroupInfo | undefined): boolean {
  if (!self || !child) return false;
  return self.tpgid > 0 && self.tpgid === self.pgrp && child.pgrp === self.pgrp;
}

export interface Forwarding {
  stop(): void;
}

export interface ForwardingOptions {
  platform: NodeJS.Platform;
  /** Where the group information comes from (tests pass their own). */
  groups?: (pid: number) => GroupInfo | undefined;
  /** Where signal handlers are installed (tests pass an EventEmitter). */
  target?: Pick<NodeJS.Process, 'on' | 'off' | 'rawListeners' | 'pid'>;
}

/**
 * Installs the handlers; `stop()` removes them. `child` needs `pid`, `kill` and its exit state.
 * Listeners other modules installed for these signals are set aside meanwhile: the config
 * module's atomic writer (conf, through when-exit) cleans up on a signal and then sends the same
 * signal to this process again, which would be forwarded a second time. run writes no files.
 */
export function forwardSignals(
  child: { pid?: number; kill(signal: NodeJS.Signals): boolean; exitCode: number | null; signalCode: NodeJS.Signals | null },
  options: ForwardingOptions,
): Forwarding {
  const target = options.target ?? process;
  const groups = options.groups ?? groupInfo;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const setAside = new Map<NodeJS.Signals, Array<(...args: unknown[]) => void>>();
  const windows = options.platform === 'win32';
  for (const signal of windows ? WINDOWS_HELD : POSIX_FORWARDED) {
    const others = target.rawListeners(signal) as Array<(...args: unknown[]) => void>;
    for (const listener of others) target.off(signal, listener);
    setAside.set(signal, others);
    const handler = () => {
      if (windows || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      if (FROM_TERMINAL.has(signal) && terminalDelivered(groups(target.pid), groups(child.pid))) return;
      try {
        child.kill(signal);
      } catch {
        // Gone between the check and the kill: its exit is on its way.
      }
    };
    handlers.set(signal, handler);
    target.on(signal, handler);
  }
  return {
    stop() {
      for (const [signal, handler] of handlers) target.off(signal, handler);
      handlers.clear();
      for (const [signal, others] of setAside) for (const listener of others) target.on(signal, listener);
      setAside.clear();
    },
  };
}

/** The exit status a shell reports: the command's code, or 128 + the signal's number when a signal ended it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? (constants.signals as Record<string, number | undefined>)[signal] : undefined;
  return number ? 128 + number : 1;
}
