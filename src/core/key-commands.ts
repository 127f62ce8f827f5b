/**
 * What the `keys` verbs share: finding the key `<id>` means (one list
 * request), knowing whether it is the key this machine uses, asking before
 * destructive steps, and a spinner only where someone can see it.
 */
import type { Context } from '../context.js';
import type { ApiKey, KeyList } from './api.js';
import { Cancelled, ExitCode, UserError } from './errors.js';
import { STATUS_LABEL } from './key-actions.js';
import { checkKeyRef, resolveKey } from './key-resolve.js';
import type { Output } from './output.js';
import { confirm } from './prompt.js';
import { requireSession, type Session } from './session.js';

export interface Target {
  session: Session;
  list: KeyList;
  key: ApiKey;
  /** The key whose secret this machine holds (keychain, file or THIRDLOOP_API_KEY). */
  thisMachine: boolean;
}

/** Runs `fn` under a spinner when stderr is a terminal; silently otherwise. */
export async function withSpinner<T>(ctx: Context, out: Output, text: string, fn: () => Promise<T>): Promise<T> {
  if (!ctx.io.stderrIsTTY || ctx.globals.json) return fn();
  const spinner = out.spinner(text);
  try {
    return await fn();
  } finally {
    spinner.stop();
  }
}

export async function listKeys(ctx: Context, out: Output, session: Session): Promise<KeyList> {
  const list = await withSpinner(ctx, out, 'Fetching your keys…', () => session.api.listKeys());
  if (!list || !Array.isArray(list.keys)) throw new UserError(`${session.baseUrl} answered the key list in an unexpected shape; is it a Third Loop instance?`);
  return list;
}

/** Validates `<id>` locally (exit 2), then signs in and resolves it against the key list. */
export async function findTarget(ctx: Context, out: Output, rawRef: unknown): Promise<Target> {
  const ref = checkKeyRef(rawRef);
  const session = await requireSession(ctx);
  const list = await listKeys(ctx, out, session);
  const key = resolveKey(list.keys, ref);
  return { session, list, key, thisMachine: key.id === session.credential.id };
}

/** `"laptop" (tlk_…)` */
export const describeKey = (key: Pick<ApiKey, 'id' | 'name'>) => `"${key.name}" (${key.id})`;

/** disable/enable of a key already in that state: nothing to do, said so, exit 0 (no change is requested). */
export function alreadyThere(ctx: Context, out: Output, key: ApiKey): void {
  if (ctx.globals.json) out.json({ key, changed: false });
  else out.info(`${describeKey(key)} is already ${STATUS_LABEL[key.status].toLowerCase()}; nothing to do.`);
}

/**
 * Asks yes/no on a terminal; without one (or with nobody to ask) refuses
 * naming `--yes`. `yes` skips the question.
 */
export async function confirmOrRefuse(
  ctx: Context,
  out: Output,
  args: { question: string; yes?: boolean; refusal: string; warning?: string },
): Promise<void> {
  if (args.warning) out.warn(args.warning);
  if (args.yes) return;
  if (!ctx.io.stdinIsTTY) {
    throw new UserError(`${args.refusal} without confirmation, and there is no terminal to ask on.`, {
      exitCode: ExitCode.usage,
      hint: 'Pass --yes to go ahead without asking.',
    });
  }
  if (!(await confirm(ctx, args.question, '--yes'))) throw new Cancelled();
}
