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
