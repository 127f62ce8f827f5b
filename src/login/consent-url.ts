/** The instance's consent page for the CLI (`/cli-auth`, docs/api.md). */

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
  const url = new URL(`${request.baseUrl.replace(/\/+$/, '')}/cli-auth`);
  const params = url.searchParams;
  if (request.redirectUri) params.set('redirect_uri', request.redirectUri);
  params.set('state', request.state);
  params.set('code_challenge', request.codeChallenge);
  params.set('code_challenge_method', 'S256');
  params.set('key_name', request.keyName);
  params.set('expires_in_days', String(request.expiresInDays));
  if (request.replaces) params.set('replaces', request.replaces);
  if (request.machine) params.set('machine', request.machine);
  if (!request.redirectUri) params.set('mode', 'code');
  return url.toString();
}

/** `CLI auth — <hostname> (<YYYY-MM-DD>)`, kept within the 64-character name limit. */
export function defaultKeyName(hostname: string, now: Date): string {
  const date = now.toISOString().slice(0, 10);
  const suffix = ` (${date})`;
  const prefix = 'CLI auth — ';
  const host = [...(hostname.trim() || 'this machine').replace(/[^\x20-\x7E]/g, '')].slice(0, 64 - prefix.length - suffix.length).join('');
  return `${prefix}${host}${suffix}`;
}
