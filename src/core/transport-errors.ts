/**
 * The sentences for the two failures that happen between the CLI and the
 * instance rather than at either end: a TLS certificate this machine does not
 * accept, and a forward proxy (HTTPS_PROXY) that will not carry the request.
 * Each names the problem and the fix; the proxy is shown without its user
 * name and password.
 */

export interface Sentence {
  message: string;
  /** A second line, printed under the message. */
  hint?: string;
  /** The fix alone, for reports that show it apart (doctor); the message already says it. */
  fix?: string;
}

/** Certificate authorities this machine does not trust (an organization's own CA, a self-signed certificate). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** node's codes, the same over a direct socket or through undici's tunnel. */
export const isTlsCode = (code: string | undefined): boolean =>
  Boolean(code && (UNTRUSTED.has(code) || /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)));

export function tlsSentence(code: string, url: string): Sentence {
  const at = `TLS error talking to ${url} (${code})`;
  if (UNTRUSTED.has(code)) {
    return {
      message: `${at}: its certificate is signed by a certificate authority this machine does not trust; if your organization uses its own, set NODE_EXTRA_CA_CERTS to that authority's PEM file and run the command again.`,
      fix: "export NODE_EXTRA_CA_CERTS=<your organization's CA certificate, PEM>",
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return { message: `${at}: its certificate is out of date; the instance's administrators must renew it, unless this machine's clock is wrong.`, fix: "Ask the instance's administrators to renew its certificate, or correct this machine's clock." };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return { message: `${at}: its certificate was issued for another host name; use the instance's address as its certificate names it in --api-url.`, fix: 'thirdloop auth --api-url <the address the certificate names>' };
  }
  if (code.startsWith('ERR_SSL_')) {
    return { message: `${at}: the server did not complete a TLS handshake; if the instance serves plain HTTP, use an http:// URL.`, fix: 'Check the scheme of --api-url (https:// or http://).' };
  }
  return {
    message: `${at}: the certificate could not be verified.`,
    hint: 'If your organization uses its own certificate authority, set NODE_EXTRA_CA_CERTS to its PEM file.',
  };
}

/** A proxy URL as it may be shown: scheme, host and port, never the user name or password. */
export function showProxy(proxy: string): string {
  try {
    const url = new URL(proxy);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'the proxy in HTTPS_PROXY';
  }
}

const PROXY_STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * The proxy's part in a failure, or undefined when the failure is not the proxy's. undici reports
 * a refused CONNECT as "Proxy response (407) !== 200 when HTTP Tunneling"; a connection the proxy
 * itself refuses comes back with the proxy's own address.
 */
export function proxySentence(error: unknown, code: string | undefined, url: string, proxy: string): Sentence | undefined {
  const shown = showProxy(proxy);
  const variable = url.startsWith('https:') ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  const target = new URL(url).host;
  const text = messageChain(error);
  const refused = /Proxy response \((\d{3})\)/.exec(text);
  if (refused) {
    const status = Number(refused[1]);
    const said = `${status}${PROXY_STATUS_TEXT[status] ? ` ${PROXY_STATUS_TEXT[status]}` : ''}`;
    if (status === 407 || status === 401) {
      const given = hasCredentials(proxy);
      return {
        message: `The proxy ${shown} (${variable}) refused to open a tunnel to ${target}: ${said}; ${given ? 'it did not accept the user name and password' : 'it needs a user name and password'} in ${variable} (http://USER:PASSWORD@HOST:PORT).`,
        fix: `export ${variable}=http://USER:PASSWORD@${hostOf(proxy)}`,
      };
    }
    if (status === 403) {
      return {
        message: `The proxy ${shown} (${variable}) refused to open a tunnel to ${target}: ${said}; ask your network administrators to allow it, or list the host in NO_PROXY if it is reachable directly.`,
        fix: `Ask your network administrators to allow ${target} through the proxy, or export NO_PROXY=${target.replace(/:\d+$/, '')}`,
      };
    }
    return {
      message: `The proxy ${shown} (${variable}) could not open a tunnel to ${target}: ${said}; check that the instance is up, or list the host in NO_PROXY if the proxy cannot reach it.`,
      fix: `Check that ${target} is up, or export NO_PROXY=${target.replace(/:\d+$/, '')}`,
    };
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'its host name was not found' : 'it is unreachable';
    return {
      message: `Could not connect to the proxy ${shown} (${variable}) to reach ${target}: ${why}; check ${variable}, or list the host in NO_PROXY to connect directly.`,
      fix: `Check ${variable}, or export NO_PROXY=${target.replace(/:\d+$/, '')}`,
    };
  }
  return undefined;
}

function hostOf(proxy: string): string {
  try {
    return new URL(proxy).host;
  } catch {
    return 'HOST:PORT';
  }
}

function hasCredentials(proxy: string): boolean {
  try {
    const url = new URL(proxy);
    return Boolean(url.username || url.password);
  } catch {
    return false;
  }
}

function messageChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error) parts.push(current.message);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join(' | ');
}
