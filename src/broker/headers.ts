/**
 * Which headers cross the broker. RFC 9110 §7.6.1: an intermediary removes the hop-by-hop fields
 * (Connection, the fields it names, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade)
 * and forwards the rest; §7.6.3: a gateway adds itself to Via on the requests it forwards.
 * Headers are handled as raw [name, value, …] lists (IncomingMessage.rawHeaders): repeated fields
 * and their order pass unchanged, and no object is built per request.
 */

/** Hop-by-hop in every message, named in Connection or not (RFC 9110 §7.6.1; Trailer and the proxy fields from RFC 7230 §6.1). */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/**
 * Request fields the broker sets itself: the upstream Host; the credential (the run token comes
 * in, the stored key goes out); Expect, which Node's server has already answered with 100 Continue.
 */
const REQUEST_REPLACED = new Set(['host', 'x-api-key', 'authorization', 'expect']);

export const VIA = '1.1 thirdloop-run';

/** The field names a Connection header lists (they are hop-by-hop too). */
function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) (listed ??= new Set()).add(name);
    }
  }
  return listed;
}

/**
 * The headers to send upstream: the client's end-to-end fields, then Via, then the credential as
 * `x-api-key` when given (only /v1 requests carry it; the start-up probes go without any).
 */
export function upstreamRequestHeaders(raw: readonly string[], credential: string | undefined): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REQUEST_REPLACED.has(lower) || listed?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  out.push('via', VIA);
  if (credential) out.push('x-api-key', credential);
  return out;
}

/** The headers to send back to the client: the instance's end-to-end fields, unchanged. */
export function clientResponseHeaders(raw: readonly string[]): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** undici's response headers (an object, repeated fields as arrays) as a raw list. */
export function rawFromObject(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}
