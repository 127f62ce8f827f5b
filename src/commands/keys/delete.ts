/**
 * `thirdloop keys delete <id> [--yes]`: permanent, in any status. Asks first
 * (showing the key's name) unless --yes; without a terminal, --yes is required.
 */
import type { Context } from '../../context.js';
import { confirmOrRefuse, describeKey, findTarget, withSpinner } from '../../core/key-commands.js';
import { assertAllowed } from '../../core/key-actions.js';
import { createOutput } from '../../core/output.js';

export interface DeleteOptions {
  id?: string;
  yes?: boolean;
}

export async function run(ctx: Context, options: DeleteOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const { session, key, thisMachine } = await findTarget(ctx, out, options.id);
  assertAllowed(key, 'delete');
  await confirmOrRefuse(ctx, out, {
    warning: thisMachine
      ? `${describeKey(key)} is the key this machine uses: once it is deleted, thirdloop and Claude Code on this machine lose access until you sign in again.`
      : undefined,
    question: `Delete ${describeKey(key)} permanently${thisMachine ? ' and lose access on this machine' : ''}? This cannot be undone.`,
    refusal: `Not deleting ${describeKey(key)}`,
    yes: options.yes,
  });
  await withSpinner(ctx, out, `Deleting ${describeKey(key)}…`, () => session.api.deleteKey(key.id));
  if (ctx.globals.json) {
    out.json({ deleted: true, key });
    return;
  }
  out.success(`Deleted ${describeKey(key)}. It can no longer be used anywhere.`);
  if (thisMachine) out.next('sign this machine in again with `thirdloop auth` (or remove the stale copy with `thirdloop logout`).');
  else out.next('`thirdloop keys list` to see the keys you have left, or `thirdloop keys create` for a new one.');
}
