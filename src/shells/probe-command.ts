/**
 * The command a started shell runs to show what a program it starts would
 * see: /bin/sh is exec'd (so only exported variables reach it, as they reach
 * Claude Code) and prints, between marks, whether each variable is set and
 * its value, and whether ANTHROPIC_AUTH_TOKEN is set (never its value).
 * The text has no single quote and no backslash, so it reads the same in
 * bash, zsh and fish single quotes. Pure.
 *
 * Output: <mark>B[=value]<mark>K[=value]<mark>T[set]<mark>E
 */

export const shProbe = (mark: string): string =>
  `exec /bin/sh -c '${shPrint(mark)}'`;

/** The same print without handing the shell over, for a probe that goes on (the --via-run check). */
export const shPrintCommand = (mark: string): string => `/bin/sh -c '${shPrint(mark)}'`;

const shPrint = (mark: string) =>
  `printf "%s" "${mark}B\${ANTHROPIC_BASE_URL+=}\${ANTHROPIC_BASE_URL-}${mark}K\${ANTHROPIC_API_KEY+=}\${ANTHROPIC_API_KEY-}${mark}T\${ANTHROPIC_AUTH_TOKEN+set}${mark}E"`;

/** The same for PowerShell, which has no /bin/sh to hand over to: its environment is the process's. */
export const powershellProbe = (mark: string): string => {
  const value = (name: string) => `$(if (Test-Path Env:${name}) { '=' + $env:${name} } else { '' })`;
  const set = (name: string) => `$(if (Test-Path Env:${name}) { 'set' } else { '' })`;
  return `[Console]::Out.Write('${mark}B' + ${value('ANTHROPIC_BASE_URL')} + '${mark}K' + ${value('ANTHROPIC_API_KEY')} + '${mark}T' + ${set('ANTHROPIC_AUTH_TOKEN')} + '${mark}E')`;
};

export interface ProbeOutput {
  baseUrl?: string;
  apiKey?: string;
  authToken: boolean;
}

/** Reads the probe's output out of whatever else the start-up files printed; undefined when the probe never ran. */
export function parseProbe(stdout: string, mark: string): ProbeOutput | undefined {
  const m = new RegExp(`${mark}B(=?)([^]*?)${mark}K(=?)([^]*?)${mark}T(set)?${mark}E`).exec(stdout);
  if (!m) return undefined;
  return {
    baseUrl: m[1] ? m[2] : undefined,
    apiKey: m[3] ? m[4] : undefined,
    authToken: m[5] === 'set',
  };
}

/**
 * What a stand-in of the --via-run check printed: one per wrapped command (`claude`, `opencode`),
 * first on PATH, started by `thirdloop run` through the shell's function, it shows the environment
 * run gave it and the arguments it got. Its mark comes as its first argument (standInMark).
 * Output: <mark>R<base url><mark>K<api key><mark>T[set]<mark>C<opencode inline config><mark>A<argc>:<first><mark>E
 */
export interface StandInOutput {
  baseUrl: string;
  apiKey: string;
  /** THIRDLOOP_API_KEY reached it. */
  thirdloopKey: boolean;
  /** OPENCODE_CONFIG_CONTENT as it got it ('' when unset): run points opencode's thirdloop provider at the broker there. */
  opencodeConfig: string;
  /** The arguments after the mark, as the stand-in counted them, and the first of them. */
  argc: number;
  first: string;
}

/** The mark each wrapped command's stand-in gets, so that every command's output is found apart. */
export const standInMark = (mark: string, command: string): string => `${mark}${command}:`;

/** Each wrapped command as the probe types it, one argument with a space: single quotes read the same in sh, bash, zsh, fish and PowerShell. */
export const typedCommands = (mark: string, commands: readonly string[]): string[] => commands.map((c) => `${c} ${standInMark(mark, c)} 'a b'`);

export function parseStandIn(stdout: string, mark: string): StandInOutput | undefined {
  const m = new RegExp(`${mark}R([^]*?)${mark}K([^]*?)${mark}T(set)?${mark}C([^]*?)${mark}A(\\d+):([^]*?)${mark}E`).exec(stdout);
  if (!m) return undefined;
  return { baseUrl: m[1]!, apiKey: m[2]!, thirdloopKey: m[3] === 'set', opencodeConfig: m[4]!, argc: Number(m[5]), first: m[6]! };
}

/** The stand-in itself, for /bin/sh (one file, under each wrapped command's name). */
export const STAND_IN_SH = [
  '#!/bin/sh',
  'm="$1"; shift',
  'printf "%s" "${m}R${ANTHROPIC_BASE_URL-}${m}K${ANTHROPIC_API_KEY-}${m}T${THIRDLOOP_API_KEY+set}${m}C${OPENCODE_CONFIG_CONTENT-}${m}A$#:${1-}${m}E"',
  '',
].join('\n');

/** On Windows, the same in Node, started by a <command>.cmd beside it. */
export const STAND_IN_JS = [
  'const [m, ...rest] = process.argv.slice(2);',
  'const env = (name) => process.env[name] ?? "";',
  'process.stdout.write(`${m}R${env("ANTHROPIC_BASE_URL")}${m}K${env("ANTHROPIC_API_KEY")}${m}T${process.env.THIRDLOOP_API_KEY === undefined ? "" : "set"}${m}C${env("OPENCODE_CONFIG_CONTENT")}${m}A${rest.length}:${rest[0] ?? ""}${m}E`);',
  '',
].join('\n');
