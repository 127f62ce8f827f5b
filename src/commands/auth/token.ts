/**
 * `thirdloop token`: prints the stored `<id>;<secret>` and a newline, nothing
 * else (Claude Code's apiKeyHelper and scripts read stdout). No network.
 */
import type { Context } from '../../context.js';
import { checkProfileName } from '../../core/profile-name.js';
import { parseCredential } from '../../core/credential.js';
import { ExitCode, UserError } from '../../core/errors.js';
import { missingSecret } from '../../core/missing-secret.js';

export async function run(ctx: Context): Promise<void> {
  const profileName = checkProfileName(ctx.globals.profile);
  const profile = (await ctx.config()).getProfile(profileName);
  const secrets = await ctx.secrets();
  // As for every command: a profile never signed in has no key, whatever a keychain still holds under its name.
  const secret = profile?.keyId || ctx.env.THIRDLOOP_API_KEY?.trim() ? await secrets.get(profileName) : undefined;
  if (!secret) throw missingSecret(profileName, profile, secrets, ctx.globals.apiUrl);
  try {
    const { id, secret: key } = parseCredential(secret.credential, secret.source === 'env' ? 'THIRDLOOP_API_KEY' : 'The stored credential');
    ctx.io.stdout.write(`${id};${key}\n`);
  } catch (error) {
    throw new UserError((error as Error).message, { exitCode: ExitCode.notAuthenticated, hint: 'Run `thirdloop auth` to sign in again.' });
  }
}
