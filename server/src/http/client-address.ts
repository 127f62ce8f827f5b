/**
 * Who the client is, for every limiter: `--trust-proxy CIDR[,CIDR…]` (THIRDLOOP_TRUST_PROXY)
 * names the reverse proxies and load balancers in front of the server. The client address is then
 * taken from X-Forwarded-For, walking back only through trusted hops (`clientAddress`); without the
 * option X-Forwarded-For is ignored and the address is the socket's.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export class TrustProxyError extends Error {}

/** "10.0.0.0/8, 192.168.1.7,::1" → ["10.0.0.0/8", "192.168.1.7", "::1"]; throws on anything else. */
export function parseTrustProxy(value: string | undefined, origin = '--trust-proxy'): string[] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((part) => {
    const entry = part.trim();
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (!family || !prefixOk || extra !== undefined) {
      throw new TrustProxyError(`${origin} takes IP addresses or CIDR ranges separated by commas (e.g. 10.0.0.0/8,127.0.0.1); "${entry}" is neither.`);
    }
    return entry;
  });
}

const unmapped = (address: string) => (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address);

/** Whether a socket's peer is one of the trusted proxies. */
export function trustedProxyMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    if (!address) return false;
    const a = unmapped(address);
    return list.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * The client's address, the one rule every limiter and audit row uses (the framework's routes
 * through `request.clientAddress`, /v1 directly): the socket's peer, unless that is a trusted
 * proxy; then X-Forwarded-For is walked from its right end (the entry the nearest proxy appended)
 * through trusted hops only, to the first address that is not one (the leftmost, when all are).
 */
export function clientAddress(req: IncomingMessage, isTrustedProxy: (address: string | undefined) => boolean): string {
  let address = req.socket.remoteAddress ?? '';
  if (!isTrustedProxy(address)) return address;
  const forwarded = req.headers['x-forwarded-for'];
  if (!forwarded) return address;
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (hop === '') continue;
    address = hop;
    if (!isTrustedProxy(hop)) break;
  }
  return address;
}

/**
 * The key a limiter counts a client by: an IPv4 address as itself (also when written IPv4-mapped),
 * an IPv6 address by its /64, since one host is routinely given a whole /64 and could otherwise
 * take a fresh address for every attempt.
 */
export function limiterAddress(ip: string): string {
  const a = unmapped(ip);
  if (isIP(a) !== 6) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '').toLowerCase()).join(':')}::/64`;
}
