/**
 * What every shell module describes; no I/O here (layouts get theirs through a ShellProbe).
 *
 * Adding a shell (Windows PowerShell 5.1, Git Bash, …) is a new ProfileShell: where it reads its
 * start-up files (layout, from the injected platform and environment), how a terminal starts it
 * (startArgs per StartMode), how it prints what a program it starts would see (probeCommand, in the
 * format of probe-command.ts), its quoting (sourceBlock, envFileContent) and what its lines do
 * (setsVariable, stopsReading, testsInteractive, functionTracker). configure.ts plans, writes,
 * verifies and rolls back every shell alike; verify.ts judges any shell that prints that format.
 */
import type { Eol } from '../files/marked-block.js';
import type { WindowsFacts } from './windows/facts.js';

export type ShellName = 'bash' | 'zsh' | 'fish' | 'powershell' | 'cmd';

/** The parts of the context that decide where a shell's files are. */
export interface ShellEnv {
  platform: NodeJS.Platform;
  homedir: string;
  env: NodeJS.ProcessEnv;
  /** Windows: Documents as the registry says, the PowerShells installed and their policies (gathered once). */
  windows?: WindowsFacts;
}

export interface EnvValues {
  /** ANTHROPIC_BASE_URL: the instance URL, without /v1. */
  apiUrl: string;
  /** ANTHROPIC_API_KEY: `<api_key_id>;<api_secret_key>`. */
  credential: string;
}

export type EnvFileName = 'env.sh' | 'env.fish' | 'env.ps1';
export type RunFileName = 'run.sh' | 'run.fish' | 'run.ps1';

/**
 * How a configured shell gives Claude Code its key: `env` exports it (the env file holds it), `run`
 * defines functions so that `claude` runs as `thirdloop run -- claude` (the run file holds no key).
 */
export type ShellMode = 'env' | 'run';

/** The commands a run file turns into `thirdloop run -- <command>`. */
export type WrappedCommand = 'claude' | 'opencode';
/** Every command a run file can wrap (the --via-run check makes a stand-in of each). */
export const WRAPPED_COMMANDS: readonly WrappedCommand[] = ['claude', 'opencode'];
/** What people call each wrapped command's program, for messages. */
export const PROGRAM_LABEL: Record<WrappedCommand, string> = { claude: 'Claude Code', opencode: 'opencode' };

export interface RunValues {
  /** How the function starts thirdloop: ['thirdloop'] (found on PATH) or [node, script] (absolute). */
  thirdloop: string[];
  /** The profile whose key `run` uses; passed as --profile unless it is "default". */
  profile: string;
  commands: WrappedCommand[];
}

/**
 * How a new terminal starts a shell, which decides the files it reads:
 * a terminal window on Linux starts an interactive shell; macOS Terminal,
 * ssh and `su -` an interactive login shell; `ssh host cmd`, a desktop
 * session reading ~/.profile and IDEs resolving the environment a login shell.
 */
export type StartMode = 'interactive' | 'login' | 'interactive login';

/** One of the user's files the shell reads when it starts. */
export interface StartupFile {
  path: string;
  /** The start modes that read it. */
  modes: StartMode[];
  /** It gets the marked block. */
  target?: boolean;
  /** A target that is created when missing (otherwise only an existing one gets the block). */
  create?: boolean;
  /** A file of ours alone (fish conf.d/thirdloop.fish): deleted when the block was all it held. */
  ours?: boolean;
  /**
   * Text a new file starts with before the block (Git Bash's ~/.bash_profile sources ~/.bashrc, as Git
   * for Windows would have made it); a file setup created that holds only this after undo is deleted.
   */
  prelude?: string;
  /** For people: which program reads it (Windows PowerShell 5.1, PowerShell 7). */
  readBy?: string;
}

export interface ShellLayout {
  /** The user's start-up files, in the order the shell reads them. */
  files: StartupFile[];
  /** How the layout was found, when it is worth saying (e.g. where zsh's ZDOTDIR points). */
  notes: string[];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** What a layout may ask of the machine: files, and the installed shell itself. */
export interface ShellProbe {
  /** Whether a path exists (bash reads the first of its login files that does). */
  exists(file: string): Promise<boolean>;
  /** A regular file's bytes; undefined when missing or not a regular file. */
  read(file: string): Promise<Buffer | undefined>;
  /** The names in a folder; [] when it is not one. */
  list(dir: string): Promise<string[]>;
  /** Runs an installed program as a new terminal would; undefined when it is not installed. */
  run(program: string, args: string[], options?: { timeoutMs?: number }): Promise<RunResult | undefined>;
}

/** A shell configured through a marked block in its start-up files that sources an env file. */
export interface ProfileShell {
  kind: 'profile';
  name: ShellName;
  label: string;
  /** The program a terminal starts. */
  program: string;
  /** The arguments that start it in each mode and run `command`; the modes listed are the ones verified. */
  startArgs: Partial<Record<StartMode, (command: string) => string[]>>;
  /** The files it reads at start-up and which of them get the block. */
  layout(e: ShellEnv, probe: ShellProbe): Promise<ShellLayout>;
  /** Files whose presence shows the user uses this shell (for the default selection). */
  usageHints(e: ShellEnv): string[];
  envFileName: EnvFileName;
  /** The env file: the two exports, correctly quoted. Holds the secret. */
  envFileContent(values: EnvValues): string;
  /** Lines inside the marked block: source the env (or run) file only if it exists; `comment` replaces BLOCK_COMMENT. */
  sourceBlock(envFile: string, e: ShellEnv, comment?: string): string[];
  runFileName: RunFileName;
  /** The run file: a function per wrapped command that starts `thirdloop run -- <command>`. Holds no key. */
  runFileContent(values: RunValues): string;
  /**
   * A command for this shell that prints whether the key is in its environment (the probe format),
   * then puts `standInDir` first on PATH and runs each wrapped command as typed:
   * `<command> <standInMark(mark, command)> "a b"`.
   */
  runProbeCommand(mark: string, standInDir: string, commands: readonly WrappedCommand[]): string;
  /** The block's line ending in a file that uses `fileEol`. */
  blockEol(fileEol: Eol): Eol;
  /** Names of ANTHROPIC_* variables a profile line sets (or unsets), if any. */
  setsVariable(line: string): string | undefined;
  /** What a line does when it stops the reading of the file or the shell (return, exit, exec), if it does. */
  stopsReading(line: string): string | undefined;
  /** Whether a line tests for an interactive shell (a `return` it guards only happens in non-interactive ones). */
  testsInteractive(line: string): boolean;
  /** A reader that says, line by line, whether the line is inside a function body (where `return` ends the function). */
  functionTracker(): (line: string) => boolean;
  /** A command for this shell that prints what a program started from it would see (see verify.ts for the format). */
  probeCommand(mark: string): string;
  /** A command that prints the base URL in this shell, for "how to verify". */
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
export const AUTH_TOKEN_VAR = 'ANTHROPIC_AUTH_TOKEN';
/** Variables that, set elsewhere, compete with ours. */
export const WATCHED_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'ANTHROPIC_AUTH_TOKEN'] as const;
export const WATCHED_VAR_PATTERN = '(ANTHROPIC_(?:API_KEY|BASE_URL|AUTH_TOKEN))';

export const BLOCK_COMMENT =
  '# Managed by `thirdloop setup claude` (remove with --undo). The key itself is in the file sourced here, not in this one.';
export const RUN_BLOCK_COMMENT =
  '# Managed by `thirdloop setup claude --via-run` (remove with --undo). `claude` runs through `thirdloop run`; no key in any file.';
