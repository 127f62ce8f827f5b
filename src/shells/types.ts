/** What every shell module describes; no I/O here. */

export type ShellName = 'bash' | 'zsh' | 'fish' | 'powershell' | 'cmd';

/** The parts of the context that decide where a shell's files are. */
export interface ShellEnv {
  platform: NodeJS.Platform;
  homedir: string;
  env: NodeJS.ProcessEnv;
}

export interface EnvValues {
  /** ANTHROPIC_BASE_URL: the instance URL, without /v1. */
  apiUrl: string;
  /** ANTHROPIC_API_KEY: `<api_key_id>;<api_secret_key>`. */
  credential: string;
}

export type EnvFileName = 'env.sh' | 'env.fish' | 'env.ps1';

/** A shell configured through a marked block in a profile that sources an env file. */
export interface ProfileShell {
  kind: 'profile';
  name: ShellName;
  label: string;
  /** The file that gets the marked block. */
  profilePath(e: ShellEnv): string;
  /** Files whose presence shows the user uses this shell (for the default selection). */
  usageHints(e: ShellEnv): string[];
  envFileName: EnvFileName;
  /** The env file: the two exports, correctly quoted. Holds the secret. */
  envFileContent(values: EnvValues): string;
  /** Lines inside the marked block: source the env file only if it exists. */
  sourceBlock(envFile: string, e: ShellEnv): string[];
  /** The profile is a file of ours (fish conf.d): delete it when the block was all it held. */
  ownsProfile: boolean;
  /** Names of ANTHROPIC_* variables a profile line sets, if any. */
  setsVariable(line: string): string | undefined;
  /** A command that prints both variables in this shell, for "how to verify". */
  verifyCommand: string;
}

/** cmd on Windows: no profile; the user environment carries the variables. */
export interface UserEnvironmentShell {
  kind: 'user-environment';
  name: 'cmd';
  label: string;
  verifyCommand: string;
}

export type Shell = ProfileShell | UserEnvironmentShell;

export const BASE_URL_VAR = 'ANTHROPIC_BASE_URL';
export const API_KEY_VAR = 'ANTHROPIC_API_KEY';
/** Variables that, set elsewhere, compete with ours. */
export const WATCHED_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_AUTH_TOKEN'] as const;
export const WATCHED_VAR_PATTERN = '(ANTHROPIC_(?:API_KEY|BASE_URL|AUTH_TOKEN))';

export const BLOCK_COMMENT =
  '# Managed by `thirdloop setup claude` (remove with --undo). The key itself is in the file sourced here, not in this one.';
