/** Where the gateway forwards to, and how the organization's credential is presented there. */

export type Upstream =
  | { kind: 'mock' }
  | {
      kind: 'http';
      /** scheme://host:port, what undici dispatches to. */
      origin: string;
      /** A path prefix of the configured URL without its trailing slash ('' for none). */
      basePath: string;
    };

/** `mock`, or an http(s) URL such as `https://api.anthropic.com` (a `/v1` suffix is tolerated). */
export function parseUpstream(value: string): Upstream {
  if (value === 'mock') return { kind: 'mock' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`The upstream must be "mock" or an http(s) URL, not "${value}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`The upstream must be "mock" or an http(s) URL, not "${value}".`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error('The upstream URL must not carry credentials, a query or a fragment; pass the key with THIRDLOOP_UPSTREAM_API_KEY.');
  }
  // Requests keep their own /v1/... path, so an operator's `https://host/v1` must not double it.
  const basePath = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return { kind: 'http', origin: url.origin, basePath };
}

/** Anthropic accepts OAuth access tokens on the API only with this beta flag. */
export const OAUTH_BETA = 'oauth-2025-04-20';

export type CredentialKind = 'api-key' | 'oauth';

/**
 * OAuth access tokens (`sk-ant-oat…`) go in `Authorization: Bearer`; Console API keys
 * (`sk-ant-api…`) and anything else (most Anthropic-compatible providers) in `x-api-key`.
 */
export const credentialKind = (credential: string): CredentialKind =>
  credential.startsWith('sk-ant-oat') ? 'oauth' : 'api-key';

/** How every upstream request presents the organization's credential; computed once at start-up. */
export interface UpstreamAuth {
  /** Header pairs added to every request, flat (name, value, …). */
  readonly headers: readonly string[];
  /** A flag `anthropic-beta` must name (OAuth tokens), else undefined. */
  readonly betaFlag: string | undefined;
}

export function upstreamAuth(credential: string | undefined): UpstreamAuth {
  if (!credential) return { headers: [], betaFlag: undefined };
  if (credentialKind(credential) === 'api-key') return { headers: ['x-api-key', credential], betaFlag: undefined };
  return { headers: ['authorization', `Bearer ${credential}`], betaFlag: OAUTH_BETA };
}

/** The client's `anthropic-beta` value with `flag` appended unless already named; the client's flags stay as they were. */
export function withBetaFlag(beta: string | undefined, flag: string): string {
  if (!beta) return flag;
  return beta.split(',').some((f) => f.trim() === flag) ? beta : `${beta},${flag}`;
}
