/**
 * How the gateway reaches the model provider: one keep-alive pool to its origin, trusting the
 * system's certificate authorities (NODE_EXTRA_CA_CERTS included, as Node reads it at start) plus
 * the operator's `--upstream-ca FILE`, and through the operator's forward proxy when the server's
 * environment names one (HTTPS_PROXY / HTTP_PROXY, with NO_PROXY exceptions, as curl reads them).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { EnvHttpProxyAgent, Pool, type Dispatcher } from 'undici';

export interface UpstreamDispatcherOptions {
  origin: string;
  timeoutMs: number;
  /** PEM file of extra certificate authorities to trust for the provider (`--upstream-ca`). */
  caFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** The proxy variables of the environment, when any is set; undici applies NO_PROXY itself. */
export function proxyEnv(env: NodeJS.ProcessEnv): { httpProxy?: string; httpsProxy?: string; noProxy: string } | undefined {
  const httpProxy = env.HTTP_PROXY || env.http_proxy || undefined;
  const httpsProxy = env.HTTPS_PROXY || env.https_proxy || undefined;
  if (!httpProxy && !httpsProxy) return undefined;
  return { httpProxy, httpsProxy, noProxy: env.NO_PROXY ?? env.no_proxy ?? '' };
}

/**
 * The trusted authorities with `--upstream-ca`: Node's bundled list, NODE_EXTRA_CA_CERTS and the
 * file (a `ca` option replaces Node's defaults, so they are listed again). Undefined: Node's defaults.
 */
export function upstreamCa(caFile: string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  if (!caFile) return undefined;
  // Node warns once at start and goes on without an unreadable NODE_EXTRA_CA_CERTS; so does this.
  const extra = env.NODE_EXTRA_CA_CERTS ? [readIfPossible(env.NODE_EXTRA_CA_CERTS)].filter((pem): pem is string => pem !== undefined) : [];
  return [...rootCertificates, ...extra, readFileSync(caFile, 'utf8')];
}

function readIfPossible(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the CA file once at start-up, so a wrong path is an error then, not a 502 per request. */
export function checkUpstreamCaFile(caFile: string, origin = '--upstream-ca'): void {
  let text: string;
  try {
    text = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new Error(`${origin} ${caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${origin} ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
  }
}

export function createUpstreamDispatcher(options: UpstreamDispatcherOptions): Dispatcher {
  const env = options.env ?? process.env;
  const ca = upstreamCa(options.caFile, env);
  const common = {
    keepAliveTimeout: 30_000,
    // The per-request values in proxy.ts are the ones that apply; these only bound the defaults.
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  };
  const proxy = proxyEnv(env);
  if (!proxy) return new Pool(options.origin, { ...common, ...(ca ? { connect: { ca } } : {}) });
  // Direct origins (NO_PROXY) connect with `connect`; tunnelled ones start TLS with `requestTls`.
  return new EnvHttpProxyAgent({ ...common, ...proxy, ...(ca ? { connect: { ca }, requestTls: { ca } } : {}) });
}
