/**
 * `thirdloop status` (alias `whoami`): the instance, the key this machine
 * uses (asked of the instance, so a disabled or expired key shows as such),
 * its expiry with days left, last use, and where the secret lives.
 */
import type { Context } from '../../context.js';
import type { ApiKey, Me } from '../../core/api.js';
import { ExitCode, UserError } from '../../core/errors.js';
import { createOutput, daysUntil, isoDate, relativeTime, renderCards } from '../../core/output.js';
import { describeStorage } from '../../core/secrets.js';
import { requireSession } from '../../core/session.js';
import { EXPIRY_WARNING_DAYS, STATUS_LABEL, paintStatus } from '../../core/key-actions.js';

export async function run(ctx: Context): Promise<void> {
  const out = createOutput(ctx);
  const session = await requireSession(ctx);
  const now = ctx.clock.now();

  let me: Me | undefined;
  let failure: UserError | undefined;
  try {
    me = await session.api.me();
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    failure = error;
  }
  if (me && session.secret.source !== 'env') {
    // Keep the local copy of the name and expiry current (renamed on the web, say).
    const config = await ctx.config();
    const profile = config.getProfile(session.profileName);
    if (profile && profile.keyId === me.key.id && (profile.keyName !== me.key.name || profile.expiresAt !== me.key.expires_at)) {
      config.setProfile(session.profileName, { ...profile, keyName: me.key.name, expiresAt: me.key.expires_at });
    }
  }

  const key: Partial<ApiKey> & { id: string } = me?.key ?? {
    id: session.credential.id,
    name: session.profile.keyName,
    expires_at: session.profile.expiresAt,
  };
  const expiresAt = key.expires_at;
  const daysLeft = expiresAt ? daysUntil(expiresAt, now) : undefined;
  const storage = { source: session.secret.source, location: session.secret.location ?? null };

  if (ctx.globals.json) {
    out.json({
      profile: session.profileName,
      api_url: session.baseUrl,
      signed_in: Boolean(me),
      user: me?.user ?? null,
      key: me?.key ?? { id: key.id, name: key.name ?? null, status: null, expires_at: expiresAt ?? null },
      days_left: daysLeft ?? null,
      storage,
      error: failure ? failure.message : null,
    });
    if (failure) throw silent(failure);
    return;
  }

  const c = out.c;
  const fields: Array<[string, string]> = [
    ['Profile', session.profileName],
    ['Instance', session.baseUrl],
  ];
  if (me?.user?.email) fields.push(['Signed in as', me.user.email]);
  fields.push(['Key', `${key.name ?? c.dim('(unnamed)')} ${c.dim(`(${key.id})`)}`]);
  fields.push(['Status', me ? paintStatus(me.key.status, c) : c.dim('unknown (the instance could not be asked)')]);
  if (expiresAt) {
    const when = `${isoDate(expiresAt)} (${daysPhrase(daysLeft ?? 0)})`;
    const soon = daysLeft !== undefined && daysLeft < EXPIRY_WARNING_DAYS;
    fields.push(['Expires', soon ? c.yellow(`${when}`) : when]);
  }
  if (me) fields.push(['Last used', me.key.last_used_at ? relativeTime(me.key.last_used_at, now) : 'Never used']);
  fields.push(['Secret', describeStorage(session.secret)]);
  out.out(renderCards([fields], c));

  if (failure) throw failure;
  if (me && me.key.status !== 'active') {
    throw new UserError(`This key is ${STATUS_LABEL[me.key.status].toLowerCase()} and cannot be used.`, {
      hint: me.key.status === 'suspended' ? `Enable it with \`thirdloop keys enable ${me.key.id}\`, or run \`thirdloop auth --rotate\`.` : 'Run `thirdloop auth --rotate` for a new key.',
    });
  }
  if (daysLeft !== undefined && daysLeft < EXPIRY_WARNING_DAYS) {
    out.warn(`The key expires ${daysPhrase(daysLeft)}; run \`thirdloop auth --rotate\` for a new one.`);
  }
}

export function daysPhrase(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  if (days === 0) return 'today';
  return `in ${days} day${days === 1 ? '' : 's'}`;
}

/** With --json the document already carries the error; keep the exit code, print no second message. */
function silent(error: UserError): UserError {
  return new UserError('', { exitCode: error.exitCode ?? ExitCode.failure });
}
