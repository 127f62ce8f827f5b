/** What every doctor check reports: one line, and what to do about it. */

/** skip: not checked, because something it needs failed or is not set up (said in the message). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** A short stable name, e.g. "instance", "shell:bash", "opencode:project". */
  check: string;
  status: CheckStatus;
  /** One sentence; never a secret. */
  message: string;
  /** The command or action that fixes it; null when nothing needs doing. */
  fix: string | null;
  /** Shell checks: how the shell gives Claude Code its key (exports) or keeps it out (via-run). */
  mode?: 'exports' | 'via-run';
}

export const result = (check: string, status: CheckStatus, message: string, fix: string | null = null): CheckResult => ({
  check,
  status,
  message,
  fix: status === 'ok' || status === 'skip' ? (fix ?? null) : fix,
});

/** The key ID part of `<id>;<secret>`, safe to show. */
export const keyIdOf = (credential: string | undefined): string | undefined => {
  const id = credential?.split(';')[0]?.trim();
  return id && /^tlk_[0-9A-Za-z]+$/.test(id) ? id : undefined;
};

/** Errors from the editing modules end in "Nothing was changed."; doctor changes nothing anyway. */
export const withoutNothingChanged = (error: unknown) => (error instanceof Error ? error.message : String(error)).replace(/\s*Nothing was changed\.$/, '');
