/**
 * Starts the command of `thirdloop run` and waits for it. Its stdin, stdout and stderr are run's
 * own file descriptors, passed down untouched (`stdio: 'inherit'`): a terminal stays a terminal,
 * so Claude Code's interface, colours and raw-mode keys work as when started directly. It stays
 * in run's process group, so the terminal's job control (Ctrl+Z, `fg`) and Ctrl+C reach it
 * directly; signals sent to run itself are forwarded (signals.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ExitCode, UserError } from '../core/errors.js';
import { exitStatus, forwardSignals } from './signals.js';

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  platform: NodeJS.Platform;
}

/** Resolves with the exit status a shell would report; rejects with a UserError when it cannot start. */
export async function runCommand(argv: string[], options: CommandOptions): Promise<number> {
  const [file, ...args] = argv;
  if (!file) throw new UserError('No command to run.', { exitCode: ExitCode.usage });
  // Windows runs npm-installed commands (claude.cmd) through cmd.exe; cross-spawn finds and quotes them.
  const start: typeof spawn = options.platform === 'win32' ? ((await import('cross-spawn')).default.spawn as typeof spawn) : spawn;
  const child: ChildProcess = start(file, args, { stdio: 'inherit', env: options.env, cwd: options.cwd });
  const forwarding = forwardSignals(child, { platform: options.platform });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) => reject(cannotStart(file, error)));
      child.once('exit', (code, signal) => resolve(exitStatus(code, signal)));
    });
  } finally {
    forwarding.stop();
  }
}

/** As shells say it: 127 for a command not found, 126 for one that cannot be executed. */
function cannotStart(file: string, error: NodeJS.ErrnoException): UserError {
  if (error.code === 'ENOENT') {
    return new UserError(`Command not found: ${file}.`, { exitCode: 127, hint: 'Check its name, or give its full path.' });
  }
  if (error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC') {
    return new UserError(`Cannot execute ${file}: ${error.code === 'EISDIR' ? 'it is a directory' : 'permission denied'}.`, { exitCode: 126 });
  }
  return new UserError(`Could not start ${file}: ${error.message}.`, { exitCode: 126 });
}
