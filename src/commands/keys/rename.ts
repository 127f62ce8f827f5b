/**
 * `thirdloop keys rename <id> <name>`: names are 1–64 printable characters,
 * checked before any request. Renaming this machine's key updates the local
 * copy of its name too.
 */
import type { Context } from '../../context.js';
import { describeKey, findTarget, withSpinner } from '../../core/key-commands.js';
import { checkKeyRef } from '../../core/key-resolve.js';
import { assertAllowed, validateKeyName } from '../../core/key-actions.js';
import { createOutput } from '../../core/output.js';

export interface RenameOptions {
  id?: string;
  name?: string;
}

export async function run(ctx: Context, options: RenameOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  checkKeyRef(options.id);
  const name = validateKeyName(options.name, 'The new name');
  const { session, key, thisMachine } = await findTarget(ctx, out, options.id);
  assertAllowed(key, 'rename');
  const { key: updated } = await withSpinner(ctx, out, `Renaming ${describeKey(key)}…`, () => session.api.renameKey(key.id, name));
  if (thisMachine && session.secret.source !== 'env') {
    const config = await ctx.config();
    const profile = config.getProfile(session.profileName);
    if (profile?.keyId === updated.id) config.setProfile(session.profileName, { ...profile, keyName: updated.name });
  }
  if (ctx.globals.json) {
    out.json({ key: updated });
    return;
  }
  out.success(`Renamed ${key.id} from "${key.name}" to "${updated.name}".`);
  out.next('`thirdloop keys list` to see it.');
}
