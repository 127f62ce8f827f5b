/** Exit codes shared by every command (documented in the README). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notAuthenticated: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure the user can act on: printed as one sentence, no stack trace.
 * `hint` is the next command or flag to try, printed on its own line.
 */
export class UserError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.hint = options.hint;
  }
}

export const usageError = (message: string, hint?: string) =>
  new UserError(message, { exitCode: ExitCode.usage, hint });

export const notAuthenticated = (message = 'Not signed in.', hint = 'Run `thirdloop auth` first.') =>
  new UserError(message, { exitCode: ExitCode.notAuthenticated, hint });

/**
 * The user said no, or pressed Ctrl+C: reported as its own sentence without an
 * "Error:" prefix, since nothing went wrong. Exit 1 for a declined question,
 * 130 (128 + SIGINT) for Ctrl+C.
 */
export class Cancelled extends UserError {
  constructor(message = 'Cancelled.', exitCode: number = ExitCode.failure) {
    super(message, { exitCode });
    this.name = 'Cancelled';
  }
}

/** Exit status after Ctrl+C, as shells report it. */
export const SIGINT_EXIT = 130;

/**
 * A wait that ended without an answer: its deadline passed, Ctrl+C, or the
 * input closed. Not shown as is: the caller knows what it means for the user.
 */
export class WaitEnded extends Error {
  constructor(readonly reason: 'timeout' | 'cancelled' | 'ended') {
    super(`wait ended: ${reason}`);
    this.name = 'WaitEnded';
  }
}
