/**
 * What a signed-in command needs, in one call: the profile's config, the
 * stored credential and an API client for the instance. Commands use this
 * instead of reading config and secrets themselves.
 */
import type { Context, ProfileConfig, StoredSecret } from '../context.js';
import { createApi, type Api } from './api.js';
import { parseCredential, type Credential } from './credential.js';
import { ExitCode, UserError } from './errors.js';
import { normalizeApiUrl } from './http.js';
import { checkProfileName } from './profile-name.js';
import { missingSecret } from './missing-secret.js';

export { missingSecret };

/** --api-url / THIRDLOOP_API_URL first, then the profile's; undefined when neither. */
export function resolveApiUrl(ctx: Context, profile?: ProfileConfig): string | undefined {
  if (ctx.globals.apiUrl) return normalizeApiUrl(ctx.globals.apiUrl, ctx.globals.apiUrlFrom ?? '--api-url');
  if (profile?.apiUrl) return normalizeApiUrl(profile.apiUrl, `The profile's API URL`);
  return undefined;
}

/** Writes `--debug` lines to stderr; the credential never reaches them. */
export function debugWriter(ctx: Context): ((line: string) => void) | undefined {
  if (!ctx.globals.debug) return undefined;
  return (line) => ctx.io.stderr.write(`[debug] ${line}\n`);
}

export function apiFor(ctx: Context, options: { baseUrl: string; credential?: string }): Api {
  return createApi({
    baseUrl: options.baseUrl,
    credential: options.credential,
    env: ctx.env,
    debug: debugWriter(ctx),
    userAgent: `thirdloop-cli (${ctx.platform})`,
  });
}

export interface Session {
  profileName: string;
  profile: ProfileConfig;
  secret: StoredSecret;
  credential: Credential;
  baseUrl: string;
  api: Api;
}

/** Scheme, host and port: what decides where a request goes (undefined for a URL that does not parse). */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * The stored credential goes only to the instance it was minted for. When the
 * effective URL (--api-url, THIRDLOOP_API_URL) is another origin than the
 * profile's, the command stops before any request. THIRDLOOP_API_KEY is not
 * checked: whoever sets it hands over the key and the URL together.
 */
export function ownInstanceError(ctx: Context, args: { profileName: string; profile: ProfileConfig; baseUrl: string }): UserError | undefined {
  const stored = args.profile.apiUrl;
  if (!stored || !ctx.globals.apiUrl) return undefined;
  const origin = originOf(stored);
  if (origin !== undefined && origin === originOf(args.baseUrl)) return undefined;
  const from = ctx.globals.apiUrlFrom ?? '--api-url';
  const flag = args.profileName === 'default' ? '' : ` --profile ${args.profileName}`;
  return new UserError(
    `The key stored for ${args.profileName === 'default' ? 'this profile' : `profile "${args.profileName}"`} belongs to ${stored}, but ${from} is ${args.baseUrl}; it is never sent to another instance.`,
    {
      exitCode: ExitCode.usage,
      hint: `Drop ${from} to use ${stored}; for a second instance sign in to it under another profile (\`thirdloop auth --profile NAME --api-url ${args.baseUrl}\`), or move this profile there with \`thirdloop auth${flag} --force --api-url ${args.baseUrl}\`.`,
    },
  );
}

/** Loads the signed-in profile or throws "not signed in" (exit 4). */
export async function requireSession(ctx: Context): Promise<Session> {
  const profileName = checkProfileName(ctx.globals.profile);
  const config = await ctx.config();
  const profile = config.getProfile(profileName) ?? {};
  resolveApiUrl(ctx); // a malformed --api-url is a usage error first, signed in or not
  const secrets = await ctx.secrets();
  // A profile that was never signed in is not signed in, whatever a keychain may still hold
  // under its name (left by an earlier install): that secret belongs to no known instance.
  if (!profile.keyId && !ctx.env.THIRDLOOP_API_KEY?.trim()) throw missingSecret(profileName, profile, secrets, ctx.globals.apiUrl);
  const secret = await secrets.get(profileName);
  if (!secret) throw missingSecret(profileName, profile, secrets, ctx.globals.apiUrl);
  const origin = secret.source === 'env' ? 'THIRDLOOP_API_KEY' : 'The stored credential';
  let credential: Credential;
  try {
    credential = parseCredential(secret.credential, origin);
  } catch (error) {
    throw new UserError((error as Error).message, {
      exitCode: ExitCode.notAuthenticated,
      hint: secret.source === 'env' ? 'Set THIRDLOOP_API_KEY to `<api_key_id>;<api_secret_key>`.' : 'Run `thirdloop auth` to sign in again.',
    });
  }
  const baseUrl = resolveApiUrl(ctx, profile);
  if (!baseUrl) {
    throw new UserError('No Third Loop instance URL is known for this profile.', {
      exitCode: ExitCode.usage,
      hint: 'Pass --api-url URL (or set THIRDLOOP_API_URL).',
    });
  }
  if (secret.source !== 'env') {
    const refused = ownInstanceError(ctx, { profileName, profile, baseUrl });
    if (refused) throw refused;
  }
  return { profileName, profile, secret, credential, baseUrl, api: apiFor(ctx, { baseUrl, credential: secret.credential }) };
}
