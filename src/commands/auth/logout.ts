/**
 * `thirdloop logout [--revoke]`: removes the secret and the profile's config.
 * With --revoke the key is deleted on the instance first; if that request
 * fails for any reason other than "already gone", nothing is removed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { checkProfileName } from '../../core/profile-name.js';
import { parseCredential } from '../../core/credential.js';
import { UserError } from '../../core/errors.js';
import { ApiError } from '../../core/http.js';
import { createOutput } from '../../core/output.js';
import { confirm } from '../../core/prompt.js';
import { apiFor, resolveApiUrl } from '../../core/session.js';

export interface LogoutOptions {
  revoke?: boolean;
  yes?: boolean;
}

export async function run(ctx: Context, options: LogoutOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const profileName = checkProfileName(ctx.globals.profile);
  const config = await ctx.config();
  const secrets = await ctx.secrets();
  const profile = config.getProfile(profileName);
  const secret = await secrets.get(profileName);
  const stored = secret && secret.source !== 'env' ? secret : undefined;

  if (!profile && !stored) {
    out.info(`Not signed in${profileName === 'default' ? '' : ` (profile "${profileName}")`}; nothing to do.`);
    if (ctx.env.THIRDLOOP_API_KEY) out.warn('THIRDLOOP_API_KEY is set in this environment; unset it to stop using that key.');
    return;
  }

  let revoked = false;
  if (options.revoke) {
    const baseUrl = resolveApiUrl(ctx, profile);
    if (!stored || !baseUrl) {
      throw new UserError('Cannot revoke: the stored key or the instance URL is missing.', {
        hint: 'Run `thirdloop logout` without --revoke, and delete the key in the web console.',
      });
    }
    const { id } = parseCredential(stored.credential, 'The stored credential');
    if (!options.yes) {
      const ok = await confirm(ctx, `Delete key "${profile?.keyName ?? id}" (${id}) on ${baseUrl} permanently?`, '--yes');
      if (!ok) throw new UserError('Nothing changed.');
    }
    try {
      await apiFor(ctx, { baseUrl, credential: stored.credential }).deleteKey(id);
      revoked = true;
    } catch (error) {
      // A key the instance no longer accepts cannot be used anyway: go on removing it locally.
      if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 404)) throw error;
      out.warn(`The instance no longer accepts key ${id} (it was already deleted, disabled or expired).`);
    }
  }

  await secrets.delete(profileName);
  config.deleteProfile(profileName);

  if (ctx.globals.json) {
    out.json({ profile: profileName, logged_out: true, revoked, key_id: profile?.keyId ?? null });
  } else {
    out.success(
      `Signed out${profile?.apiUrl ? ` of ${profile.apiUrl}` : ''}${profileName === 'default' ? '' : ` (profile ${profileName})`}; removed the key from this machine${revoked ? ' and deleted it on the instance' : ''}.`,
    );
    if (!revoked && profile?.keyId) {
      out.info(`Key ${profile.keyId} is still active on the instance; \`thirdloop logout --revoke\` or \`thirdloop keys delete ${profile.keyId}\` deletes it.`);
    }
  }
  const envFiles = ['env.sh', 'env.fish', 'env.ps1'].map((name) => path.join(config.dir, name)).filter((file) => existsSync(file));
  if (envFiles.length > 0) {
    out.warn(`Your shell profiles still load the old key from ${envFiles.join(', ')}.`);
    out.next('run `thirdloop setup claude --undo` to remove them.');
  }
  if (ctx.env.THIRDLOOP_API_KEY) out.warn('THIRDLOOP_API_KEY is still set in this environment.');
}
