/**
 * `thirdloop keys rotate <id> [--yes]`: a new key with the same name and
 * lifetime replaces the old one in one step on the server (so it works at the
 * limit). For the key this machine uses, the new secret goes straight into
 * the keychain and the shell env files `thirdloop setup` wrote; for any other
 * key, the new secret is shown once.
 */
import type { Context, StoredSecret } from '../../context.js';
import type { ApiKey, NewKey } from '../../core/api.js';
import { UserError } from '../../core/errors.js';
import { confirmOrRefuse, describeKey, findTarget, withSpinner, type Target } from '../../core/key-commands.js';
import { assertAllowed, expiresIn } from '../../core/key-actions.js';
import { createOutput, isoDate, type Output } from '../../core/output.js';
import { describeStorage } from '../../core/secrets.js';
import { rewriteEnvFiles } from '../../shells/env-files.js';

export interface RotateOptions {
  id?: string;
  yes?: boolean;
}

export async function run(ctx: Context, options: RotateOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const target = await findTarget(ctx, out, options.id);
  const { session, key, thisMachine } = target;
  // Only Active keys rotate, so the replacement never changes the active count (works at the limit).
  assertAllowed(key, 'rotate');

  await confirmOrRefuse(ctx, out, {
    question: `Rotate ${describeKey(key)}? Its secret stops working at once${thisMachine ? '; this machine switches to the new one' : ''}.`,
    refusal: `Not rotating ${describeKey(key)}`,
    yes: options.yes,
  });
  const minted = await withSpinner(ctx, out, `Rotating ${describeKey(key)}…`, () => session.api.rotateKey(key.id));
  if (!minted?.key?.id || typeof minted.credential !== 'string') {
    throw new UserError(`${session.baseUrl} answered the rotation without the new key; check with \`thirdloop keys list\`.`);
  }
  if (thisMachine) return switchThisMachine(ctx, out, target, minted);

  if (ctx.globals.json) {
    out.json({ key: minted.key, secret_key: minted.secret_key, credential: minted.credential, replaced_key_id: key.id, this_machine: false, storage: null, files_changed: [] });
    out.warn('The new secret key is in this output only: it will not be shown again.');
    return;
  }
  reportRotated(ctx, out, key, minted.key);
  out.out(`API key ID   ${minted.key.id}`);
  out.out(`Secret key   ${out.c.bold(minted.secret_key)}`);
  out.out(`Credential   ${out.c.bold(minted.credential)}`);
  out.warn('Copy the new secret now: it will not be shown again. Update every client that used the old one.');
  out.next('`thirdloop keys list` to see the new key.');
}

function reportRotated(ctx: Context, out: Output, old: ApiKey, fresh: ApiKey): void {
  out.success(
    `Rotated "${fresh.name}": ${fresh.id} replaces ${old.id}, which no longer works. Expires ${isoDate(fresh.expires_at)} (${expiresIn(fresh.expires_at, ctx.clock.now())}).`,
  );
}

/** This machine's key was rotated: store the new secret, update config and the env files setup wrote. */
async function switchThisMachine(ctx: Context, out: Output, target: Target, minted: NewKey): Promise<void> {
  const { session, key: old } = target;
  let stored: StoredSecret | undefined;
  if (session.secret.source !== 'env') {
    try {
      stored = await (await ctx.secrets()).set(session.profileName, minted.credential, {
        // Keep the secret where the old one was: a credentials file stays a file.
        insecure: session.secret.source === 'file',
      });
    } catch (error) {
      // The old secret is gone on the server: the new one must not be lost with it.
      out.out(minted.credential);
      throw new UserError(`Rotated ${describeKey(old)}, but the new secret could not be stored on this machine: ${(error as Error).message}`, {
        hint: 'The new credential is printed above, once: store it with `thirdloop auth --with-key --force` (pipe it in on stdin).',
        cause: error,
      });
    }
    const config = await ctx.config();
    const profile = config.getProfile(session.profileName) ?? {};
    config.setProfile(session.profileName, {
      ...profile,
      apiUrl: profile.apiUrl ?? session.baseUrl,
      keyId: minted.key.id,
      keyName: minted.key.name,
      expiresAt: minted.key.expires_at,
      storage: stored.source === 'file' ? 'file' : 'keychain',
    });
  }
  let changed: string[];
  try {
    changed = await rewriteEnvFiles(ctx, { apiUrl: session.baseUrl, credential: minted.credential });
  } catch (error) {
    // The new secret is stored; only the shells' copies are stale.
    throw new UserError(`Rotated ${describeKey(old)} and stored the new secret, but the shell environment files could not be updated: ${(error as Error).message}`, {
      hint: 'Fix the file named above, then run `thirdloop setup claude` again to rewrite them.',
      cause: error,
    });
  }

  if (ctx.globals.json) {
    out.json({
      key: minted.key,
      secret_key: minted.secret_key,
      credential: minted.credential,
      replaced_key_id: old.id,
      this_machine: true,
      storage: stored ? { source: stored.source, location: stored.location ?? null } : { source: 'env', location: null },
      files_changed: changed,
    });
    if (!stored) out.warn('THIRDLOOP_API_KEY still holds the old key: set it to the new credential.');
    return;
  }
  reportRotated(ctx, out, old, minted.key);
  if (stored) {
    out.success(`Stored the new secret in ${describeStorage(stored)}.`);
    if (stored.source === 'file' && session.secret.source === 'keychain') {
      out.warn(`The system keychain could not be used (${stored.fallbackReason}); the secret is in plain text at ${stored.location} (readable only by you).`);
    }
  } else {
    out.out(`Credential   ${out.c.bold(minted.credential)}`);
    out.warn('This machine takes its key from THIRDLOOP_API_KEY, which still holds the old one: set it to the new credential above (shown once).');
  }
  if (changed.length > 0) out.success(`Updated the shell environment files with the new key: ${changed.join(', ')}.`);
  else out.info('No shell environment files to update (`thirdloop setup claude` writes them).');
  out.next(changed.length > 0 ? 'open a new terminal so the shells pick up the new key; `thirdloop status` shows it.' : '`thirdloop status` shows the new key.');
}
