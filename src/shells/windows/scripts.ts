/**
 * The PowerShell scripts thirdloop runs on Windows, as text (pure; every one
 * is parsed by a real PowerShell grammar in the tests). They travel as
 * -EncodedCommand and hold no value of the user's: names and kinds only.
 * Values to write reach the child through its environment (never its argv,
 * which process lists and command-line auditing record), and what a script
 * reads comes back on stdout as base64 of UTF-8 JSON, so that no console
 * code page can mangle a non-ASCII path.
 */

/** Registry value kinds an environment variable can have (REG_SZ, REG_EXPAND_SZ). */
export type RegKind = 'String' | 'ExpandString';

export interface RegValue {
  kind: RegKind;
  /** The data as stored: REG_EXPAND_SZ unexpanded. */
  data: string;
}

/** Where a value to write is found in the child's environment. */
export const VALUE_PREFIX = 'THIRDLOOP_SET_';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SUBKEY = /^[A-Za-z0-9 _\\]+$/;

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`bad registry value name ${name}`);
  return name;
}

const OUTPUT = '[Console]::Out.Write([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $found -Compress -Depth 4))))';

/**
 * Reads values under an HKCU key as stored (REG_EXPAND_SZ not expanded:
 * 'DoNotExpandEnvironmentNames'), with their kinds; prints {} for a missing key.
 */
export function readValuesScript(subkey: string, names: readonly string[]): string {
  if (!SUBKEY.test(subkey)) throw new Error(`bad registry key ${subkey}`);
  return [
    "$ErrorActionPreference = 'Stop'",
    '$found = @{}',
    `$key = [Microsoft.Win32.Registry]::CurrentUser.OpenSubKey('${subkey}')`,
    'if ($null -ne $key) {',
    `  foreach ($name in @(${names.map((n) => `'${checkName(n)}'`).join(', ')})) {`,
    '    $kind = $null',
    '    try { $kind = $key.GetValueKind($name) } catch { $kind = $null }',
    '    if ($null -ne $kind) {',
    "      $found[$name] = @{ kind = [string]$kind; data = [string]$key.GetValue($name, $null, 'DoNotExpandEnvironmentNames') }",
    '    }',
    '  }',
    '  $key.Close()',
    '}',
    OUTPUT,
  ].join('\n');
}

/**
 * Sets (value from $env:THIRDLOOP_SET_<name>, with its kind) or deletes each
 * value of HKCU\Environment, then broadcasts WM_SETTINGCHANGE with lParam
 * "Environment", as setx does: "To effect a change in the environment
 * variables for the system or the user, broadcast this message with lParam
 * set to the string "Environment"" (Win32 docs, WM_SETTINGCHANGE). Explorer
 * then hands the new values to every program it starts (a new cmd, Windows
 * Terminal, VS Code). SendMessageTimeout with HWND_BROADCAST, SMTO_ABORTIFHUNG
 * and 5 s, so a hung window cannot stall setup. The registry API is used
 * rather than [Environment]::SetEnvironmentVariable so that a value put back
 * by undo keeps its kind (REG_EXPAND_SZ stays expandable). Prints "broadcast"
 * when the broadcast went out.
 */
export function writeUserEnvironmentScript(changes: ReadonlyArray<{ name: string; kind?: RegKind }>): string {
  const lines = ["$ErrorActionPreference = 'Stop'", "$key = [Microsoft.Win32.Registry]::CurrentUser.CreateSubKey('Environment')"];
  for (const { name, kind } of changes) {
    checkName(name);
    if (kind) {
      if (kind !== 'String' && kind !== 'ExpandString') throw new Error(`bad kind ${String(kind)}`);
      lines.push(`$key.SetValue('${name}', [string]$env:${VALUE_PREFIX}${name}, [Microsoft.Win32.RegistryValueKind]::${kind})`);
    } else {
      lines.push(`$key.DeleteValue('${name}', $false)`);
    }
  }
  lines.push(
    '$key.Close()',
    "$sent = ''",
    'try {',
    "  Add-Type -Namespace ThirdLoop -Name User32 -MemberDefinition '[DllImport(\"user32.dll\", CharSet = CharSet.Unicode)] public static extern IntPtr SendMessageTimeout(IntPtr hWnd, uint Msg, UIntPtr wParam, string lParam, uint fuFlags, uint uTimeout, out UIntPtr lpdwResult);'",
    '  $result = [UIntPtr]::Zero',
    "  if ([ThirdLoop.User32]::SendMessageTimeout([IntPtr]0xffff, 0x1A, [UIntPtr]::Zero, 'Environment', 2, 5000, [ref]$result) -ne [IntPtr]::Zero) { $sent = 'broadcast' }",
    '} catch {',
    "  $sent = ''",
    '}',
    '[Console]::Out.Write($sent)',
  );
  return lines.join('\n');
}

/**
 * The execution policy a new window of this PowerShell gets: the effective
 * one, and each scope in precedence order (MachinePolicy, UserPolicy,
 * Process, CurrentUser, LocalMachine), as Get-ExecutionPolicy -List gives
 * them (about_Execution_Policies).
 */
export function executionPolicyScript(): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    '$found = @{ effective = [string](Get-ExecutionPolicy); scopes = @(Get-ExecutionPolicy -List | ForEach-Object { @{ scope = [string]$_.Scope; policy = [string]$_.ExecutionPolicy } }) }',
    OUTPUT,
  ].join('\n');
}

/** -EncodedCommand's argument: the script as base64 of UTF-16LE (about_PowerShell_exe). */
export const encodeCommand = (script: string) => Buffer.from(script, 'utf16le').toString('base64');

/** A script's printed answer: base64 of UTF-8 JSON; undefined when it is not that. */
export function decodeAnswer(stdout: string): unknown {
  const text = stdout.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  try {
    return JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
