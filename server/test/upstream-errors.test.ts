/**
 * The operator's log sentence for a failed request to the provider, and the member's 502 for a
 * TLS failure; the gateway-tls suite sees them from a real TLS provider and a real proxy.
 */
import { describe, expect, test } from 'vitest';
import { upstreamFailure } from '../src/gateway/proxy.js';
import { describeUpstreamError, errorCode, isTlsError } from '../src/gateway/upstreams.js';

const ORIGIN = 'https://llm.internal:8443';
const err = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('upstream failures', () => {
  test('an untrusted, expired or misnamed certificate: a 502 whose message names the trust problem', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      expect(isTlsError(err(code)), code).toBe(true);
      const failure = upstreamFailure(err(code));
      expect(failure.status).toBe(502);
      expect(failure.body()).toEqual({
        type: 'error',
        error: { type: 'api_error', message: "This instance does not trust the model provider's TLS certificate. Ask your Third Loop administrator to check it." },
      });
    }
    expect(isTlsError(err('ECONNRESET'))).toBe(false);
  });

  test('log sentences name the origin, the code and what to change', () => {
    expect(describeUpstreamError(err('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), ORIGIN)).toBe(
      'The model provider at https://llm.internal:8443 presented a TLS certificate this server does not trust (UNABLE_TO_GET_ISSUER_CERT_LOCALLY): give the certificate authority that signed it with --upstream-ca FILE (or NODE_EXTRA_CA_CERTS=FILE), or fix the provider URL.',
    );
    expect(describeUpstreamError(err('CERT_HAS_EXPIRED'), ORIGIN)).toContain('out of date (CERT_HAS_EXPIRED)');
    expect(describeUpstreamError(err('ERR_SSL_WRONG_VERSION_NUMBER'), ORIGIN)).toContain("check that the provider URL's scheme");
    expect(describeUpstreamError(err('UND_ERR_ABORTED', 'Proxy response (407) !== 200 when HTTP Tunneling'), ORIGIN)).toBe(
      'The forward proxy (HTTPS_PROXY) refused the tunnel to the model provider at https://llm.internal:8443 with 407; check the proxy address, its credentials and its allowed ports.',
    );
    expect(describeUpstreamError(err('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:8443'), ORIGIN)).toBe(
      'The request to the model provider at https://llm.internal:8443 failed (ECONNREFUSED): connect ECONNREFUSED 10.0.0.1:8443',
    );
  });

  test('codes are found through undici\'s wrappers and Node\'s per-address AggregateError', () => {
    expect(errorCode(Object.assign(new Error('fetch failed'), { cause: err('CERT_HAS_EXPIRED') }))).toBe('CERT_HAS_EXPIRED');
    expect(errorCode(Object.assign(new AggregateError([err('ECONNREFUSED')], 'all failed')))).toBe('ECONNREFUSED');
    expect(errorCode(new Error('no code'))).toBeUndefined();
  });
});
