/**
 * The sentences for TLS and proxy failures (src/core/transport-errors.ts),
 * for every code and proxy answer the CLI tells apart; the e2e suites see
 * them from the real nginx and tinyproxy. A proxy is never shown with its
 * user name or password.
 */
import { describe, expect, test } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { proxySettings } from '../../src/core/http.js';
import { isTlsCode, proxySentence, showProxy, tlsSentence } from '../../src/core/transport-errors.js';

const URL_ = 'https://thirdloop.example.com/api/me';

describe('TLS', () => {
  test.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])(
    '%s: an untrusted authority, and NODE_EXTRA_CA_CERTS as the fix, in one sentence',
    (code) => {
      const s = tlsSentence(code, URL_);
      expect(s.message).toBe(
        `TLS error talking to ${URL_} (${code}): its certificate is signed by a certificate authority this machine does not trust; if your organization uses its own, set NODE_EXTRA_CA_CERTS to that authority's PEM file and run the command again.`,
      );
      expect(s.hint).toBeUndefined();
      expect(s.fix).toBe("export NODE_EXTRA_CA_CERTS=<your organization's CA certificate, PEM>");
    },
  );

  test('out of date, another host name, no TLS at all: each its own cause, none blames the CA', () => {
    expect(tlsSentence('CERT_HAS_EXPIRED', URL_).message).toContain('its certificate is out of date');
    expect(tlsSentence('ERR_TLS_CERT_ALTNAME_INVALID', URL_).message).toContain('issued for another host name');
    expect(tlsSentence('ERR_SSL_WRONG_VERSION_NUMBER', URL_).message).toContain('use an http:// URL');
    for (const code of ['CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
      expect(tlsSentence(code, URL_).message).not.toContain('NODE_EXTRA_CA_CERTS');
    }
  });

  test('which codes are TLS codes', () => {
    for (const code of ['CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_SSL_WRONG_VERSION_NUMBER']) expect(isTlsCode(code), code).toBe(true);
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_ABORTED', undefined]) expect(isTlsCode(code), String(code)).toBe(false);
  });
});

describe('proxies', () => {
  const abort = (status: number) =>
    Object.assign(new Error(`Proxy response (${status}) !== 200 when HTTP Tunneling`), { code: 'UND_ERR_ABORTED' });

  test('showProxy drops the user name and password', () => {
    expect(showProxy('http://alice:s3cret@proxy.corp:3128')).toBe('http://proxy.corp:3128');
    expect(showProxy('http://proxy.corp:3128/')).toBe('http://proxy.corp:3128');
    expect(showProxy('not a url with s3cret')).toBe('the proxy in HTTPS_PROXY');
  });

  test('407 without credentials, 407 or 401 with them: the credentials are named, never shown', () => {
    const bare = proxySentence(abort(407), 'UND_ERR_ABORTED', URL_, 'http://proxy.corp:3128')!;
    expect(bare.message).toBe(
      'The proxy http://proxy.corp:3128 (HTTPS_PROXY) refused to open a tunnel to thirdloop.example.com: 407 Proxy Authentication Required; it needs a user name and password in HTTPS_PROXY (http://USER:PASSWORD@HOST:PORT).',
    );
    for (const status of [407, 401]) {
      const given = proxySentence(abort(status), 'UND_ERR_ABORTED', URL_, 'http://alice:s3cret@proxy.corp:3128')!;
      expect(given.message).toContain('it did not accept the user name and password in HTTPS_PROXY');
      expect(given.message).not.toMatch(/alice|s3cret/);
      expect(given.fix).toBe('export HTTPS_PROXY=http://USER:PASSWORD@proxy.corp:3128');
    }
  });

  test('403, 502, a proxy that is not there, and an http instance (HTTP_PROXY)', () => {
    expect(proxySentence(abort(403), 'UND_ERR_ABORTED', URL_, 'http://p:1')!.message).toContain('403 Forbidden; ask your network administrators to allow it');
    expect(proxySentence(abort(502), 'UND_ERR_ABORTED', URL_, 'http://p:1')!.message).toContain('could not open a tunnel to thirdloop.example.com: 502 Bad Gateway');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(proxySentence(refused, 'ECONNREFUSED', URL_, 'http://u:pw@127.0.0.1:1')!.message).toBe(
      'Could not connect to the proxy http://127.0.0.1:1 (HTTPS_PROXY) to reach thirdloop.example.com: connection refused; check HTTPS_PROXY, or list the host in NO_PROXY to connect directly.',
    );
    expect(proxySentence(abort(403), 'UND_ERR_ABORTED', 'http://10.0.0.5:8787/api/me', 'http://p:1')!.message).toContain('(HTTP_PROXY)');
  });

  test('failures that are not the proxy\'s are left to the other sentences', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(proxySentence(reset, 'ECONNRESET', URL_, 'http://p:1')).toBeUndefined();
    const tls = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(proxySentence(tls, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', URL_, 'http://p:1')).toBeUndefined();
  });
});

describe('the proxy variables', () => {
  test('a bare host:port is read as http://, as curl reads it; the values reach undici checked', () => {
    expect(proxySettings({ HTTPS_PROXY: 'proxy.corp:3128', NO_PROXY: 'localhost' })).toEqual({
      httpProxy: undefined,
      httpsProxy: 'http://proxy.corp:3128',
      noProxy: 'localhost',
    });
    expect(proxySettings({ https_proxy: 'u:p@proxy.corp:3128', http_proxy: 'https://proxy.corp:443' })).toEqual({
      httpProxy: 'https://proxy.corp:443',
      httpsProxy: 'http://u:p@proxy.corp:3128',
      noProxy: '',
    });
  });

  test('a malformed value or another scheme is a usage error that names the variable, never its value', () => {
    for (const [env, says] of [
      [{ HTTPS_PROXY: 'http://u:pw-secret@bad host:1' }, 'HTTPS_PROXY is not a proxy address;'],
      [{ https_proxy: 'socks5://u:pw-secret@127.0.0.1:1080' }, 'https_proxy must be an http:// or https:// proxy, not socks5://;'],
      [{ HTTP_PROXY: 'ftp://pw-secret@x' }, 'HTTP_PROXY must be an http:// or https:// proxy, not ftp://;'],
    ] as const) {
      let error: unknown;
      try {
        proxySettings(env);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(env)).toBeInstanceOf(UserError);
      expect((error as UserError).exitCode).toBe(2);
      expect((error as Error).message).toContain(says);
      expect((error as Error).message).not.toContain('pw-secret');
    }
  });
});
