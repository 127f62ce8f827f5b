/** The ShellProbe the layouts use, on the real machine: files read safely, shells run as a new terminal. */
import { promises as fs } from 'node:fs';
import { inspect, readRegularFile } from '../files/regular-file.js';
import { DEFAULT_SHELL_TIMEOUT_MS, findProgram, runInTerminal, terminalEnvironment, type TerminalOptions } from './terminal.js';
import type { RunResult, ShellEnv, ShellProbe } from './types.js';

export interface MachineProbe extends ShellProbe {
  /** Where an installed program is; undefined when it is not installed. */
  find(program: string): string | undefined;
  /** The time limit of one shell start. */
  timeoutMs: number;
}

export function machineProbe(e: ShellEnv, options: TerminalOptions = {}): MachineProbe {
  const env = terminalEnvironment(e, options.owner);
  const found = new Map<string, string | undefined>();
  const find = (program: string) => {
    if (!found.has(program)) found.set(program, findProgram(program, env, e.platform));
    return found.get(program);
  };
  return {
    find,
    timeoutMs: options.timeoutMs ?? DEFAULT_SHELL_TIMEOUT_MS,
    exists: async (file) => (await inspect(file).catch(() => undefined))?.kind !== 'missing',
    read: async (file) => (await readRegularFile(file).catch(() => undefined))?.bytes,
    list: (dir) => fs.readdir(dir).catch(() => []),
    run: async (program, args, override = {}): Promise<RunResult | undefined> => {
      const where = find(program);
      return where ? runInTerminal(where, args, e, { ...options, ...override }) : undefined;
    },
  };
}
