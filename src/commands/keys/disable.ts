/**
 * `thirdloop keys disable <id>`: Active → Suspended. The key stops
 * authenticating everywhere until it is enabled again. Disabling the key this
 * machine uses asks first, since this machine then cannot enable it back.
 */
import type { Context } from '../../context.js';
import { alreadyThere, confirmOrRefuse, describeKey, findTarget, withSpinner } from '../../core/key-commands.js';
import { assertAllowed, isNoOp } from '../../core/key-actions.js';
import { createOutput } from '../../core/output.js';

export interface DisableOptions {
  id?: string;
  yes?: boolean;
}

export async function run(ctx: Context, options: DisableOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const { session, key, thisMachine } = await findTarget(ctx, out, options.id);
  if (isNoOp(key.status, 'disable')) return alreadyThere(ctx, out, key);
  assertAllowed(key, 'disable');
  if (thisMachine) {
    await confirmOrRefuse(ctx, out, {
      warning: `${describeKey(key)} is the key this machine uses. Once it is disabled, thirdloop and Claude Code on this machine lose access, and this machine cannot enable it again (use Settings > API Keys or another signed-in machine).`,
      question: `Disable ${describeKey(key)} and lose access on this machine?`,
      refusal: `Not disabling ${describeKey(key)}, the key this machine uses,`,
      yes: options.yes,
    });
  }
  const { key: updated } = await withSpinner(ctx, out, `Disabling ${describeKey(key)}…`, () => session.api.disableKey(key.id));
  if (ctx.globals.json) {
    out.json({ key: updated });
    return;
  }
  out.success(`Disabled ${describeKey(updated)}: it is ${updated.status} and authenticates nowhere until enabled again.`);
  if (thisMachine) out.next('enable it again from Settings > API Keys, or sign this machine in with another key: `thirdloop auth`.');
  else out.next(`\`thirdloop keys enable ${updated.id}\` turns it back on; \`thirdloop keys delete ${updated.id}\` removes it for good.`);
}
