/** The instance's consent page for the CLI (`/cli-auth`, docs/api.md). */
import { CLI_AUTH_PATH, CODE_CHALLENGE_METHOD, CODE_MODE, CONSENT_PARAMS, NAME_MAX_LENGTH, type ConsentQuery } from 'thirdloop-protocol';

export interface ConsentRequest {
  baseUrl: string;
  state: string;
  codeChallenge: string;
  keyName: string;
  expiresInDays: number;
  /** The loopback callback; absent in code mode (--no-browser). */
  redirectUri?: string;
  /** The stored key the new one replaces (--rotate). */
  replaces?: string;
  /** This machine's name, shown on the consent page. */
  machine?: string;
}

export function consentUrl(request: ConsentRequest): string {
  const url = new URL(`${request.baseUrl.replace(/\/+$/, '')}${CLI_AUTH_PATH}`);
  const query: ConsentQuery = {
    redirect_uri: request.redirectUri || undefined,
    state: request.state,
    code_challenge: request.codeChallenge,
    code_challenge_method: CODE_CHALLENGE_METHOD,
    key_name: request.keyName,
    expires_in_days: String(request.expiresInDays),
    replaces: request.replaces || undefined,
    machine: request.machine || undefined,
    mode: request.redirectUri ? undefined : CODE_MODE,
  };
  for (const name of CONSENT_PARAMS) {
    const value = query[name];
    if (value !== undefined) url.searchParams.set(name, value);
  }
  return url.toString();
}

/** `CLI auth — <hostname> (<YYYY-MM-DD>)`, kept within the name length limit. */
export function defaultKeyName(hostname: string, now: Date): string {
  const date = now.toISOString().slice(0, 10);
  const suffix = ` (${date})`;
  const prefix = 'CLI auth — ';
  const host = [...(hostname.trim() || 'this machine').replace(/[^\x20-\x7E]/g, '')].slice(0, NAME_MAX_LENGTH - prefix.length - suffix.length).join('');
  return `${prefix}${host}${suffix}`;
}
