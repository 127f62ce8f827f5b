/** Kept apart from session.ts so `thirdloop token` (Claude Code's apiKeyHelper) loads no HTTP client. */
import type { ProfileConfig, SecretStore } from '../context.js';
import { ExitCode, UserError, notAuthenticated } from './errors.js';

/**
 * The error for "no secret found": not signed in, or signed in with a key in a
 * keychain that cannot be read right now (locked, no Secret Service).
 */
export function missingSecret(profileName: string, profile: ProfileConfig | undefined, secrets: SecretStore, apiUrl?: string): UserError {
  const flag = profileName === 'default' ? '' : ` --profile ${profileName}`;
  if (profile?.keyId && profile.storage === 'keychain' && secrets.keychainError) {
    return new UserError(`The key for this profile is in the system keychain, which cannot be read: ${secrets.keychainError}.`, {
      exitCode: ExitCode.notAuthenticated,
      hint: `Unlock the keychain and try again, or run \`thirdloop auth${flag} --force --insecure-storage\` to keep the key in a file instead.`,
    });
  }
  return notAuthenticated(
    profileName === 'default' ? 'Not signed in.' : `Not signed in (profile "${profileName}").`,
    `Run \`thirdloop auth${flag} --api-url ${usableUrl(apiUrl) ?? usableUrl(profile?.apiUrl) ?? 'URL'}\`.`,
  );
}

/** A stored URL worth repeating in a command to run: one that parses as http(s). */
function usableUrl(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    return /^https?:$/.test(new URL(url).protocol) ? url : undefined;
  } catch {
    return undefined;
  }
}
