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

/** The error's code, looking through undici's wrappers (`cause`) and Node's per-address AggregateError. */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown }).errors;
    current = (current as { cause?: unknown }).cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return undefined;
}

/** Certificate authorities this process does not trust, or a certificate for another name or out of date. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

export const isTlsError = (error: unknown): boolean => {
  const code = errorCode(error) ?? '';
  return UNTRUSTED.has(code) || /^(CERT_|ERR_TLS_|ERR_SSL_)/.test(code);
};

/**
 * One sentence for the operator's log about a failed request to the provider: what went wrong,
 * at which origin, and what to change. Never the organization's credential (it is not in errors).
 */
export function describeUpstreamError(error: unknown, origin: string): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code && UNTRUSTED.has(code)) {
    return `The model provider at ${origin} presented a TLS certificate this server does not trust (${code}): give the certificate authority that signed it with --upstream-ca FILE (or NODE_EXTRA_CA_CERTS=FILE), or fix the provider URL.`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `The model provider at ${origin} presented a TLS certificate that is out of date (${code}); check the provider, and this machine's clock.`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `The model provider at ${origin} presented a TLS certificate for another host name (${code}); check the provider URL (--upstream).`;
  }
  if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_')) {
    return `TLS with the model provider at ${origin} failed (${code}); check that the provider URL's scheme (https:// or http://) matches the server.`;
  }
  const proxied = /Proxy response \((\d+)\)/.exec(message);
  if (proxied) {
    return `The forward proxy (HTTPS_PROXY) refused the tunnel to the model provider at ${origin} with ${proxied[1]}; check the proxy address, its credentials and its allowed ports.`;
  }
  if (code === 'UND_ERR_DESTROYED') return `The request to the model provider at ${origin} was abandoned as the server stopped.`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return `The model provider at ${origin} did not answer within the upstream timeout (${code}; THIRDLOOP_UPSTREAM_TIMEOUT_MS).`;
  }
  return `The request to the model provider at ${origin} failed (${code ?? 'error'}): ${message.split('\n')[0]}`;
}
