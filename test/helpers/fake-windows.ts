/**
 * A fake Windows for tests on other systems (the platform injected as
 * win32): a registry of the current user, the PowerShells' execution
 * policies, and a stand-in for powershell.exe / pwsh.exe that answers the
 * scripts thirdloop sends (windows/scripts.ts) the way they would be
 * answered: it decodes -EncodedCommand, reads which key, names and kinds the
 * script names, takes values to write from the child's environment, and
 * prints base64 JSON back. Every call is recorded (argv and env) so tests
 * can prove that no secret is ever on a command line.
 */
import type { Spawner } from '../../src/shells/cmd.js';
import type { ExecutionPolicy, RegValue } from '../../src/shells/windows/system.js';

export interface FakeWindowsState {
  /** HKCU subkey (lower case) → value name → value. */
  registry: Map<string, Map<string, RegValue>>;
  policies: { Desktop?: ExecutionPolicy; Core?: ExecutionPolicy };
  calls: Array<{ command: string; args: string[]; env: NodeJS.ProcessEnv; script: string }>;
  /** WM_SETTINGCHANGE broadcasts sent ("Environment"). */
  broadcasts: number;
  /** Make the broadcast fail (a locked-down machine without Add-Type). */
  noBroadcast?: boolean;
  /** Every spawn fails as if powershell.exe were missing. */
  broken?: boolean;
}

export const USER_SHELL_FOLDERS_KEY = 'software\\microsoft\\windows\\currentversion\\explorer\\user shell folders';

export function fakeWindows(init: { personal?: RegValue; environment?: Record<string, RegValue>; policies?: FakeWindowsState['policies'] } = {}): FakeWindowsState & { spawn: Spawner } {
  const state: FakeWindowsState = { registry: new Map(), policies: init.policies ?? {}, calls: [], broadcasts: 0 };
  if (init.personal) state.registry.set(USER_SHELL_FOLDERS_KEY, new Map([['Personal', init.personal]]));
  state.registry.set('environment', new Map(Object.entries(init.environment ?? {})));
  const answer = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

  const spawn: Spawner = async (command, args, options) => {
    const encoded = args[args.indexOf('-EncodedCommand') + 1] ?? '';
    const script = Buffer.from(encoded, 'base64').toString('utf16le');
    state.calls.push({ command, args, env: options.env, script });
    if (state.broken) throw Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
    const open = /OpenSubKey\('([^']+)'\)/.exec(script);
    if (open) {
      const key = state.registry.get(open[1]!.toLowerCase());
      const names = [...(/foreach \(\$name in @\(([^)]*)\)\)/.exec(script)?.[1] ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]!);
      const found: Record<string, RegValue> = {};
      for (const name of names) {
        const value = key?.get(name);
        if (value) found[name] = value;
      }
      return { code: 0, stdout: answer(found), stderr: '' };
    }
    if (script.includes("CreateSubKey('Environment')")) {
      const env = state.registry.get('environment')!;
      for (const m of script.matchAll(/\$key\.SetValue\('([^']+)', \[string\]\$env:(\w+), \[Microsoft\.Win32\.RegistryValueKind\]::(\w+)\)/g)) {
        env.set(m[1]!, { kind: m[3] as RegValue['kind'], data: options.env[m[2]!] ?? '' });
      }
      for (const m of script.matchAll(/\$key\.DeleteValue\('([^']+)', \$false\)/g)) env.delete(m[1]!);
      const broadcast = script.includes("0x1A, [UIntPtr]::Zero, 'Environment'") && !state.noBroadcast;
      if (broadcast) state.broadcasts++;
      return { code: 0, stdout: broadcast ? 'broadcast' : '', stderr: '' };
    }
    if (script.includes('Get-ExecutionPolicy')) {
      const policy = /pwsh/i.test(command) ? state.policies.Core : state.policies.Desktop;
      return policy ? { code: 0, stdout: answer(policy), stderr: '' } : { code: 1, stdout: '', stderr: 'not here' };
    }
    return { code: 1, stdout: '', stderr: 'unknown script' };
  };
  return Object.assign(state, { spawn });
}

/** Get-ExecutionPolicy -List as a client Windows shows it out of the box: everything Undefined, so Restricted. */
export const RESTRICTED_DEFAULT: ExecutionPolicy = {
  effective: 'Restricted',
  scopes: ['MachinePolicy', 'UserPolicy', 'Process', 'CurrentUser', 'LocalMachine'].map((scope) => ({ scope, policy: 'Undefined' })),
};

export const REMOTE_SIGNED_USER: ExecutionPolicy = {
  effective: 'RemoteSigned',
  scopes: [
    { scope: 'MachinePolicy', policy: 'Undefined' },
    { scope: 'UserPolicy', policy: 'Undefined' },
    { scope: 'Process', policy: 'Undefined' },
    { scope: 'CurrentUser', policy: 'RemoteSigned' },
    { scope: 'LocalMachine', policy: 'Undefined' },
  ],
};
