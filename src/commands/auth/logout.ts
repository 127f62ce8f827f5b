/**
 * `thirdloop logout [--revoke]`: removes the secret, the profile's config and
 * the shell env files that hold the secret (the profile lines sourcing them
 * only run when the file exists).
 * With --revoke the key is deleted on the instance first; if that request
 * fails for any reason other than "already gone", nothing is removed.
 */
import path from 'node:path';
import type { Context } from '../../context.js';
import { checkProfileName } from '../../core/profile-name.js';
import { parseCredential } from '../../core/credential.js';
import { Cancelled, UserError } from '../../core/errors.js';
import { ApiError } from '../../core/http.js';
import { createOutput } from '../../core/output.js';
import { confirm } from '../../core/prompt.js';
import { apiFor, ownInstanceError, resolveApiUrl } from '../../core/session.js';
import { readTextIfExists, removeFile } from '../../files/atomic-write.js';
import { USER_ENVIRONMENT, currentUserEnvironment, nodeSpawner, restoreUserEnvironment } from '../../shells/cmd.js';
import { ENV_FILE_NAMES, readShellRecord, writeShellRecord } from '../../shells/env-files.js';
import { API_KEY_VAR } from '../../shells/types.js';
import { spawnedWindows, type WindowsSystem } from '../../shells/windows/system.js';

export interface LogoutOptions {
  revoke?: boolean;
  yes?: boolean;
  /** Test seam: Windows itself (the user environment); default through powershell.exe. */
  windows?: WindowsSystem;
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
    const elsewhere = ownInstanceError(ctx, { profileName, profile: profile ?? {}, baseUrl });
    if (elsewhere) throw elsewhere;
    const { id } = parseCredential(stored.credential, 'The stored credential');
    if (!options.yes) {
      const ok = await confirm(ctx, `Delete key "${profile?.keyName ?? id}" (${id}) on ${baseUrl} permanently?`, '--yes');
      if (!ok) throw new Cancelled();
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
  const removedEnvFiles = stored ? await removeEnvFilesHolding(config.dir, stored.credential) : [];
  // Windows: the user environment setup claude --shell cmd set holds the key too.
  if (stored && ctx.platform === 'win32' && readShellRecord(config).userEnvironment) {
    const windows = options.windows ?? spawnedWindows(nodeSpawner, ctx.env);
    const now = await currentUserEnvironment(windows).catch(() => undefined);
    if (now?.[API_KEY_VAR]?.data === stored.credential) {
      await restoreUserEnvironment(windows, config.dir);
      writeShellRecord(config, { ...readShellRecord(config), userEnvironment: false });
      removedEnvFiles.push(USER_ENVIRONMENT);
    }
  }

  if (ctx.globals.json) {
    out.json({ profile: profileName, logged_out: true, revoked, key_id: profile?.keyId ?? null, removed_files: removedEnvFiles });
  } else {
    out.success(
      `Signed out${profile?.apiUrl ? ` of ${profile.apiUrl}` : ''}${profileName === 'default' ? '' : ` (profile ${profileName})`}; removed the key from this machine${revoked ? ' and deleted it on the instance' : ''}.`,
    );
    if (removedEnvFiles.length > 0) {
      out.info(`Also removed the shell env files that held it: ${removedEnvFiles.join(', ')}. New terminals no longer export it.`);
      out.next('run `thirdloop setup claude --undo` to drop the (now idle) lines from your shell profiles too.');
    }
    if (!revoked && profile?.keyId) {
      const consoleUrl = profile.apiUrl ? ` (${profile.apiUrl}/settings/api-keys)` : '';
      out.info(`Key ${profile.keyId} is still active on the instance; delete it in Settings > API Keys${consoleUrl}, or next time use \`thirdloop logout --revoke\`.`);
    }
  }
  if (ctx.env.THIRDLOOP_API_KEY) out.warn('THIRDLOOP_API_KEY is still set in this environment.');
}

/** The env files `setup claude` wrote that hold this credential: the secret must not outlive the sign-in. */
async function removeEnvFilesHolding(dir: string, credential: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of ENV_FILE_NAMES) {
    const file = path.join(dir, name);
    const text = await readTextIfExists(file);
    if (text?.includes(credential) && (await removeFile(file))) removed.push(file);
  }
  return removed;
}
