/**
 * `thirdloop keys enable <id>`: Suspended → Active, refused at the limit
 * (before any change request) with the commands that free a slot.
 */
import type { Context } from '../../context.js';
import { ApiError } from '../../core/http.js';
import { alreadyThere, describeKey, findTarget, listKeys, withSpinner } from '../../core/key-commands.js';
import { assertAllowed, atLimit, isNoOp, limitError } from '../../core/key-actions.js';
import { createOutput } from '../../core/output.js';

export interface EnableOptions {
  id?: string;
}

export async function run(ctx: Context, options: EnableOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const { session, list, key } = await findTarget(ctx, out, options.id);
  if (isNoOp(key.status, 'enable')) return alreadyThere(ctx, out, key);
  assertAllowed(key, 'enable');
  if (atLimit(list)) throw limitError(list, `enable ${describeKey(key)}`, session.credential.id);
  let updated;
  try {
    ({ key: updated } = await withSpinner(ctx, out, `Enabling ${describeKey(key)}…`, () => session.api.enableKey(key.id)));
  } catch (error) {
    // Another machine took the last slot meanwhile.
    if (error instanceof ApiError && error.status === 409) {
      const fresh = await listKeys(ctx, out, session).catch(() => undefined);
      if (fresh && atLimit(fresh)) throw limitError(fresh, `enable ${describeKey(key)}`, session.credential.id);
    }
    throw error;
  }
  if (ctx.globals.json) {
    out.json({ key: updated });
    return;
  }
  out.success(`Enabled ${describeKey(updated)}: it is ${updated.status} again.`);
  out.next(`\`thirdloop keys list\` to see your keys; \`thirdloop keys disable ${updated.id}\` suspends it again.`);
}
