/**
 * What thirdloop asks of Windows itself: registry values of the current
 * user, the user environment, and which PowerShells are installed with
 * their execution policies. Tests inject a fake (the platform is injected
 * as win32 on other systems); the real one runs powershell.exe / pwsh.exe
 * with the scripts of scripts.ts. Nothing secret is ever on a command line:
 * reading passes names only; writing passes values in the child's environment.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../core/errors.js';
import type { SpawnResult, Spawner } from './spawner.js';
import { envValue, windowsJoin } from './paths.js';

export { envValue } from './paths.js';
import {
  VALUE_PREFIX,
  decodeAnswer,
  encodeCommand,
  executionPolicyScript,
  readValuesScript,
  writeUserEnvironmentScript,
  type RegKind,
  type RegValue,
} from './scripts.js';

export type { RegKind, RegValue } from './scripts.js';

/** Windows PowerShell 5.1 ("Desktop", powershell.exe) or PowerShell 7 ("Core", pwsh.exe). */
export type PowerShellEdition = 'Desktop' | 'Core';

export interface ExecutionPolicy {
  /** What Get-ExecutionPolicy answers in a new window. */
  effective: string;
  /** Each scope in precedence order, as Get-ExecutionPolicy -List. */
  scopes: Array<{ scope: string; policy: string }>;
}

export interface WindowsSystem {
  /** Values of a key under HKEY_CURRENT_USER as stored; undefined when the registry could not be read. */
  readUserValues(subkey: string, names: string[]): Promise<Record<string, RegValue> | undefined>;
  /** Sets (a value) or deletes (null) variables of HKCU\Environment, then broadcasts WM_SETTINGCHANGE. */
  writeUserEnvironment(changes: Record<string, RegValue | null>): Promise<{ broadcast: boolean }>;
  /** Whether this PowerShell is installed; undefined when it cannot be told. */
  powershellInstalled(edition: PowerShellEdition): Promise<boolean | undefined>;
  /** Its execution policy; undefined when it is not installed or could not be asked. */
  executionPolicy(edition: PowerShellEdition): Promise<ExecutionPolicy | undefined>;
}

const PROGRAM: Record<PowerShellEdition, string> = { Desktop: 'powershell.exe', Core: 'pwsh.exe' };

const exists = (file: string) =>
  fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );

/**
 * Where each PowerShell lives when installed: 5.1 ships in System32 with
 * every Windows since 7; PowerShell 7 installs to %ProgramFiles%\PowerShell\7
 * (MSI), or as a Store app whose alias is in %LOCALAPPDATA%\Microsoft\WindowsApps;
 * either may also be anywhere on PATH.
 */
export function powershellLocations(edition: PowerShellEdition, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  // Each path in its base's own style (see windowsJoin).
  const under = (base: string | undefined, ...parts: string[]) => base && out.push(windowsJoin(base, base, ...parts));
  if (edition === 'Desktop') under(envValue(env, 'SystemRoot') ?? envValue(env, 'windir'), 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
  if (edition === 'Core') {
    under(envValue(env, 'ProgramFiles'), 'PowerShell', '7', 'pwsh.exe');
    under(envValue(env, 'LOCALAPPDATA'), 'Microsoft', 'WindowsApps', 'pwsh.exe');
  }
  for (const dir of (envValue(env, 'PATH') ?? '').split(';').filter(Boolean)) under(dir, PROGRAM[edition]);
  return out;
}

/** The real Windows, through powershell.exe (or pwsh.exe for its own policy). */
export function spawnedWindows(spawn: Spawner, env: NodeJS.ProcessEnv): WindowsSystem {
  // A new window does not inherit a -ExecutionPolicy that started us: leave that out of the child.
  const childEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !/^(PSExecutionPolicyPreference|THIRDLOOP_SET_.*)$/i.test(name)));
  const located = new Map<PowerShellEdition, Promise<string | undefined>>();
  const locate = (edition: PowerShellEdition) => {
    if (!located.has(edition)) {
      located.set(
        edition,
        (async () => {
          for (const file of powershellLocations(edition, env)) if (await exists(file)) return file;
          return undefined;
        })(),
      );
    }
    return located.get(edition)!;
  };
  // -ExecutionPolicy Bypass only where the policy is not the question: it sets the Process scope.
  const run = async (program: string, script: string, extraEnv: NodeJS.ProcessEnv = {}, bypass = true): Promise<SpawnResult> =>
    spawn(program, ['-NoLogo', '-NoProfile', '-NonInteractive', ...(bypass ? ['-ExecutionPolicy', 'Bypass'] : []), '-EncodedCommand', encodeCommand(script)], {
      env: { ...childEnv, ...extraEnv },
    });
  // powershell.exe by name when its place cannot be told (PATH finds it on every Windows).
  const desktop = async () => (await locate('Desktop')) ?? 'powershell.exe';

  return {
    async readUserValues(subkey, names) {
      let result: SpawnResult;
      try {
        result = await run(await desktop(), readValuesScript(subkey, names));
      } catch {
        return undefined;
      }
      const answer = result.code === 0 ? decodeAnswer(result.stdout) : undefined;
      if (!answer || typeof answer !== 'object') return undefined;
      const out: Record<string, RegValue> = {};
      for (const [name, value] of Object.entries(answer as Record<string, { kind?: unknown; data?: unknown }>)) {
        if (typeof value?.data !== 'string') continue;
        out[name] = { kind: value.kind === 'ExpandString' ? 'ExpandString' : 'String', data: value.data };
      }
      return out;
    },

    async writeUserEnvironment(changes) {
      const list = Object.entries(changes).map(([name, value]) => ({ name, kind: value?.kind as RegKind | undefined }));
      const values: NodeJS.ProcessEnv = {};
      for (const [name, value] of Object.entries(changes)) if (value) values[`${VALUE_PREFIX}${name}`] = value.data;
      const program = await desktop();
      let result: SpawnResult;
      try {
        result = await run(program, writeUserEnvironmentScript(list), values);
      } catch (error) {
        throw new UserError(`Cannot run ${program} to set the user environment: ${(error as Error).message}.`, { cause: error });
      }
      if (result.code !== 0) {
        // stderr comes from our script, which never prints values.
        const detail = result.stderr.trim().split(/\r?\n/)[0] ?? '';
        throw new UserError(`Setting the user environment failed (${path.win32.basename(program)} exited with ${result.code}${detail ? `: ${detail}` : ''}).`);
      }
      return { broadcast: result.stdout.trim() === 'broadcast' };
    },

    async powershellInstalled(edition) {
      return (await locate(edition)) !== undefined ? true : edition === 'Desktop' ? undefined : false;
    },

    async executionPolicy(edition) {
      const program = edition === 'Desktop' ? await desktop() : await locate(edition);
      if (!program) return undefined;
      try {
        // Restricted still runs a -EncodedCommand (it blocks script files and profiles only).
        const result = await run(program, executionPolicyScript(), {}, false);
        const answer = result.code === 0 ? (decodeAnswer(result.stdout) as Partial<ExecutionPolicy> | undefined) : undefined;
        if (!answer || typeof answer.effective !== 'string') return undefined;
        const scopes = Array.isArray(answer.scopes) ? answer.scopes.filter((s) => typeof s?.scope === 'string' && typeof s.policy === 'string') : [];
        return { effective: answer.effective, scopes };
      } catch {
        return undefined;
      }
    },
  };
}
