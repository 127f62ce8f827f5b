/**
 * The per-run token: the only credential the command started by `thirdloop run` holds. It is
 * random (256 bits), lives in this process's memory and the child's environment, and is worthless
 * anywhere but the broker of this one run, which closes when the command exits.
 *
 * Its last 20 characters are fixed on purpose. Interactive Claude Code asks once whether to use an
 * ANTHROPIC_API_KEY it has not seen, and remembers the answer by the key's last 20 characters
 * (`customApiKeyResponses.approved` in ~/.claude.json). With a random tail it would ask on every
 * run and pile up one entry per run; with this tail one "Yes" covers every run, and what Claude
 * Code stores and shows ("…-thirdloop-run-token") holds nothing of the random part.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const RUN_TOKEN_PREFIX = 'tlr_';
export const RUN_TOKEN_TAIL = '-thirdloop-run-token';
const RUN_TOKEN = /^tlr_[A-Za-z0-9_-]{43}-thirdloop-run-token$/;

/** True for a value shaped like a run token (doctor recognises a shell inside `thirdloop run`). */
export const isRunToken = (value: string | undefined): boolean => value !== undefined && RUN_TOKEN.test(value);

export interface RunToken {
  /** What the child gets in ANTHROPIC_API_KEY. */
  readonly value: string;
  /** Constant-time comparison with what a request presented. */
  matches(presented: string | undefined | null): boolean;
}

export function createRunToken(random: (size: number) => Buffer = randomBytes): RunToken {
  const value = `${RUN_TOKEN_PREFIX}${random(32).toString('base64url')}${RUN_TOKEN_TAIL}`;
  const expected = Buffer.from(value);
  return {
    value,
    matches(presented) {
      if (!presented) return false;
      const candidate = Buffer.from(presented);
      // timingSafeEqual needs equal lengths; the length is public (the format is), the content is not.
      if (candidate.length !== expected.length) return false;
      return timingSafeEqual(candidate, expected);
    },
  };
}
