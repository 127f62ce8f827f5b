/**
 * One pass over a /v1 request's raw header list: what the gateway needs to know (credential,
 * session id, body framing) and the list it sends upstream, built as it goes. Raw, so nothing is
 * folded or lost (two `Authorization` headers are seen as two) and Node's lazy `req.headers` object
 * is never built.
 */
import { credentialFromValues } from '../auth/credential.js';
import { withBetaFlag, type UpstreamAuth } from './upstreams.js';

/**
 * Never forwarded: this hop's framing and connection headers (RFC 9110 §7.6.1), the member's
 * credential and cookies, what the gateway sets itself (`content-length`, `accept-encoding`), and
 * the client's claims about earlier hops (`forwarded`, `x-forwarded-*`), which the provider has no
 * reason to trust. `content-encoding` never gets this far: only identity bodies are accepted.
 */
const DROPPED = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  'content-encoding',
  'accept-encoding',
  'x-api-key',
  'authorization',
  'cookie',
  'forwarded',
  'via',
]);

const SESSION_ID = /^[\w.:-]{1,128}$/;

export interface RequestHeaders {
  /** The member's credential: undefined when absent, null when malformed (two headers, or two that disagree). */
  credential: string | undefined | null;
  /** `x-claude-code-session-id` when it looks like one, for the audit row. */
  sessionId: string | null;
  /** `content-length` as sent (undefined when absent); Node's parser has checked it frames the body. */
  contentLength: number | undefined;
  /** The body is chunked (or otherwise framed without a length). */
  chunked: boolean;
  /** `content-encoding` unless absent or `identity`. */
  contentEncoding: string | undefined;
  /** The headers for the provider (flat: name, value, …), the organization's credential included, without `content-length`. */
  forward: string[];
}

export function readRequestHeaders(raw: readonly string[], auth: UpstreamAuth): RequestHeaders {
  const xApiKeys: string[] = [];
  const authorizations: string[] = [];
  let sessionId: string | null = null;
  let contentLength: number | undefined;
  let chunked = false;
  let contentEncoding: string | undefined;
  let connection: string | undefined;
  let beta: string | undefined;
  const forward: string[] = [];

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (DROPPED.has(name) || name.startsWith('x-forwarded-')) {
      if (name === 'x-api-key') xApiKeys.push(value);
      else if (name === 'authorization') authorizations.push(value);
      else if (name === 'content-length') {
        // Node has already refused a length that is not one number (or two that differ).
        if (/^\d+$/.test(value)) contentLength = Number(value);
      }
      else if (name === 'transfer-encoding') chunked = true;
      else if (name === 'content-encoding') {
        if (value.trim().toLowerCase() !== 'identity') contentEncoding = contentEncoding ? `${contentEncoding}, ${value}` : value;
      } else if (name === 'connection') connection = connection ? `${connection},${value}` : value;
      continue;
    }
    if (name === 'x-claude-code-session-id') sessionId = SESSION_ID.test(value) ? value : null;
    else if (name === 'anthropic-beta' && auth.betaFlag) {
      // With an OAuth credential the flag is merged into one header below.
      beta = beta ? `${beta},${value}` : value;
      continue;
    }
    forward.push(name, value);
  }

  // Headers the client named in `Connection` were meant for this hop only.
  if (connection) {
    const named = new Set(connection.split(',').map((token) => token.trim().toLowerCase()));
    for (let i = forward.length - 2; i >= 0; i -= 2) if (named.has(forward[i]!)) forward.splice(i, 2);
    if (beta !== undefined && named.has('anthropic-beta')) beta = undefined;
  }
  if (auth.betaFlag) forward.push('anthropic-beta', withBetaFlag(beta, auth.betaFlag));
  // Plain bytes, so usage can be read as they pass; compression buys little on this hop.
  forward.push('accept-encoding', 'identity');
  for (const item of auth.headers) forward.push(item);

  return { credential: credentialFromValues(xApiKeys, authorizations), sessionId, contentLength, chunked, contentEncoding, forward };
}
