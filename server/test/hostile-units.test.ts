/** The pure parts behind the hostile-traffic defences: addresses, route families, buckets, signatures. */
import { describe, expect, it } from 'vitest';
import { Signer } from '../src/auth/signing.js';
import { limiterAddress, parseTrustProxy, TrustProxyError, trustedProxyMatcher } from '../src/http/client-address.js';
import { describeClientError, rawErrorResponse, routeFamily, urlFromRawRequest } from '../src/http/error-shapes.js';
import { fullAt, msUntilToken, tokensAt } from '../src/store/token-bucket.js';

describe('--trust-proxy values', () => {
  it('accepts addresses and CIDR ranges, IPv4 and IPv6, with spaces after commas', () => {
    expect(parseTrustProxy('10.0.0.0/8, 192.168.1.7,::1,fd00::/8')).toEqual(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8']);
    expect(parseTrustProxy(undefined)).toEqual([]);
    expect(parseTrustProxy('  ')).toEqual([]);
  });

  it.each(['proxy.internal', '10.0.0.0/33', '10.0.0.0/8/1', '10.0.0.1,', '::1/129', '10.0.0.0/x', 'loopback'])('refuses %j with one sentence', (value) => {
    expect(() => parseTrustProxy(value)).toThrow(TrustProxyError);
    expect(() => parseTrustProxy(value)).toThrow(/^--trust-proxy takes IP addresses or CIDR ranges separated by commas/);
  });

  it('matches hops: ranges, single addresses, IPv4-mapped IPv6 sockets', () => {
    const trusted = trustedProxyMatcher(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    expect(trusted('10.200.3.4')).toBe(true);
    expect(trusted('::ffff:10.200.3.4')).toBe(true);
    expect(trusted('192.168.1.7')).toBe(true);
    expect(trusted('192.168.1.8')).toBe(false);
    expect(trusted('fd12::1')).toBe(true);
    expect(trusted('2001:db8::1')).toBe(false);
    expect(trusted(undefined)).toBe(false);
    expect(trustedProxyMatcher([])('10.0.0.1')).toBe(false);
  });
});

describe('limiter addresses', () => {
  it('IPv4 as itself (also written IPv4-mapped); IPv6 by its /64', () => {
    expect(limiterAddress('203.0.113.5')).toBe('203.0.113.5');
    expect(limiterAddress('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(limiterAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(limiterAddress('2001:db8:1:2:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(limiterAddress('2001:DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(limiterAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('route families and error shapes', () => {
  it.each([
    ['/v1', 'v1'],
    ['/v1/messages?beta=true', 'v1'],
    ['/%76%31/messages', 'v1'],
    ['/v1x', 'web'],
    ['/api/keys', 'api'],
    ['/api/%zz', 'api'],
    ['/apis', 'web'],
    ['/login', 'web'],
    ['/', 'web'],
  ])('%s → %s', (url, family) => {
    expect(routeFamily(url)).toBe(family);
  });

  it('a raw response is whole HTTP/1.1 that closes the connection', () => {
    const raw = rawErrorResponse('api', 431, 'The request line and headers are too large.');
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(head).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(head).toContain('connection: close');
    expect(JSON.parse(body)).toEqual({ error: { type: 'invalid_request_error', message: 'The request line and headers are too large.' } });
  });

  it('reads the target of a raw request, even cut short', () => {
    expect(urlFromRawRequest(Buffer.from('GET /api/me HTTP/1.1\r\nHost: x\r\n'))).toBe('/api/me');
    expect(urlFromRawRequest(Buffer.from(`GET /v1/${'a'.repeat(10_000)}`))).toMatch(/^\/v1\/a+$/);
    expect(urlFromRawRequest(Buffer.from('\x16\x03\x01 TLS hello'))).toBeUndefined();
    expect(urlFromRawRequest(undefined)).toBeUndefined();
  });

  it('framework and parser errors become a status and a sentence; nothing else leaks', () => {
    expect(describeClientError({ code: 'HPE_INVALID_METHOD' })).toEqual({ status: 400, message: 'The request is not valid HTTP.' });
    expect(describeClientError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 16384)).toEqual({ status: 413, message: 'The request body is larger than 16384 bytes.' });
    expect(describeClientError({ statusCode: 500, message: 'secret detail' })).toEqual({ status: 500, message: 'Internal server error.' });
    expect(describeClientError({ message: 'no status' })).toEqual({ status: 500, message: 'Internal server error.' });
  });
});

describe('token buckets', () => {
  const bucket = { key: 'k', limit: 5, windowMs: 15 * 60_000 };
  it('a new bucket is full; it refills at limit per window, never above the limit', () => {
    expect(tokensAt(bucket, undefined, 0)).toBe(5);
    expect(tokensAt(bucket, { tokens: 0, at: 0 }, 3 * 60_000)).toBeCloseTo(1);
    expect(tokensAt(bucket, { tokens: 0, at: 0 }, 60 * 60_000)).toBe(5);
    // A clock that went back refills nothing.
    expect(tokensAt(bucket, { tokens: 2, at: 10_000 }, 0)).toBe(2);
  });
  it('the wait for the next token, and when the row can be forgotten', () => {
    expect(msUntilToken(bucket, 0)).toBe(3 * 60_000);
    expect(msUntilToken(bucket, 0.5)).toBe(90_000);
    expect(msUntilToken(bucket, 1)).toBe(0);
    expect(fullAt(bucket, 0, 1000)).toBe(1000 + 15 * 60_000);
    expect(fullAt(bucket, 5, 1000)).toBe(1000);
  });
});

describe('signatures', () => {
  it('verify only for the same key, purpose and parts', () => {
    const a = new Signer(Buffer.alloc(32, 1));
    const b = new Signer(Buffer.alloc(32, 2));
    const sig = a.sign('login-csrf', 'id', '1');
    expect(sig).toMatch(/^[\w-]{43}$/);
    expect(a.verify(sig, 'login-csrf', 'id', '1')).toBe(true);
    expect(b.verify(sig, 'login-csrf', 'id', '1')).toBe(false);
    expect(a.verify(sig, 'device-cookie', 'id', '1')).toBe(false);
    expect(a.verify(sig, 'login-csrf', 'id1', '')).toBe(false);
    expect(a.verify(sig.slice(0, -1), 'login-csrf', 'id', '1')).toBe(false);
  });
});
