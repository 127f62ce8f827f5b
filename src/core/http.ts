/**
 * One HTTP client for the CLI: a single keep-alive undici agent (through
 * HTTPS_PROXY/NO_PROXY when set), connect and read timeouts, retries with
 * backoff for idempotent requests only, and `--debug` lines with timings.
 * Every failure becomes an ApiError: one sentence naming the URL and what to
 * do. The credential is never printed.
 */
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { ExitCode, UserError } from './errors.js';
import { redactSecrets } from './credential.js';

export interface HttpOptions {
  baseUrl: string;
  /** `<id>;<secret>`; sent as Authorization: Bearer (or x-api-key when asked). */
  credential?: string;
  debug?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  retries?: number;
  /** Injected in tests to keep retries fast. */
  sleep?: (ms: number) => Promise<void>;
  userAgent?: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT' | 'HEAD';
  path: string;
  body?: unknown;
  /** Send the credential as `x-api-key` (the /v1 gateway) instead of Bearer. */
  auth?: 'bearer' | 'x-api-key' | 'none';
  /** Override: retry even a POST (only for requests that are safe to repeat). */
  idempotent?: boolean;
}

export interface HttpResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string | string[] | undefined>;
}

/** A failed request: the HTTP status (0 for network errors) and the server's error type. */
export class ApiError extends UserError {
  readonly status: number;
  readonly type: string | undefined;
  readonly url: string;
  constructor(message: string, options: { status: number; type?: string; url: string; exitCode?: number; hint?: string; cause?: unknown }) {
    super(message, { exitCode: options.exitCode, hint: options.hint, cause: options.cause });
    this.name = 'ApiError';
    this.status = options.status;
    this.type = options.type;
    this.url = options.url;
  }
}

let sharedAgent: Dispatcher | undefined;
let sharedAgentKey = '';

function agentFor(env: NodeJS.ProcessEnv, connectTimeoutMs: number, readTimeoutMs: number): Dispatcher {
  const key = [env.HTTPS_PROXY ?? env.https_proxy, env.HTTP_PROXY ?? env.http_proxy, env.NO_PROXY ?? env.no_proxy, connectTimeoutMs, readTimeoutMs].join('|');
  if (sharedAgent && sharedAgentKey === key) return sharedAgent;
  sharedAgentKey = key;
  sharedAgent = new EnvHttpProxyAgent({
    httpProxy: env.HTTP_PROXY ?? env.http_proxy,
    httpsProxy: env.HTTPS_PROXY ?? env.https_proxy,
    noProxy: env.NO_PROXY ?? env.no_proxy,
    connect: { timeout: connectTimeoutMs },
    headersTimeout: readTimeoutMs,
    bodyTimeout: readTimeoutMs,
    keepAliveTimeout: 4_000,
  });
  return sharedAgent;
}

/** Closes the shared agent so the process can exit without waiting for idle sockets. */
export async function closeHttp(): Promise<void> {
  const agent = sharedAgent;
  sharedAgent = undefined;
  await agent?.close().catch(() => {});
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'OPTIONS']);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ETIMEDOUT', 'EAI_AGAIN']);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Normalizes and checks an instance URL given by the user. */
export function normalizeApiUrl(input: string, origin = '--api-url'): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new UserError(`${origin} "${input}" is not a URL; pass the instance's address, e.g. https://thirdloop.example.com.`, {
      exitCode: ExitCode.usage,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`${origin} must start with https:// (or http:// for a local instance), not ${url.protocol}//.`, {
      exitCode: ExitCode.usage,
    });
  }
  if (url.username || url.password) {
    throw new UserError(`${origin} must not contain a user name or password.`, { exitCode: ExitCode.usage });
  }
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

export function createHttp(options: HttpOptions) {
  const env = options.env ?? process.env;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const readTimeoutMs = options.readTimeoutMs ?? 30_000;
  const retries = options.retries ?? 2;
  const sleep = options.sleep ?? defaultSleep;
  const debug = options.debug;

  async function send<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const url = options.baseUrl + req.path;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': options.userAgent ?? 'thirdloop-cli',
    };
    const auth = req.auth ?? 'bearer';
    if (options.credential && auth === 'bearer') headers.authorization = `Bearer ${options.credential}`;
    if (options.credential && auth === 'x-api-key') headers['x-api-key'] = options.credential;
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const canRetry = req.idempotent ?? IDEMPOTENT.has(req.method);
    const dispatcher = agentFor(env, connectTimeoutMs, readTimeoutMs);

    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let status: number;
      let text: string;
      let responseHeaders: Record<string, string | string[] | undefined>;
      try {
        const res = await request(url, { method: req.method, headers, body, dispatcher });
        status = res.statusCode;
        responseHeaders = res.headers;
        text = await res.body.text();
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        const code = errorCode(error);
        debug?.(`${req.method} ${url} -> ${code ?? 'error'} (${ms} ms)`);
        if (canRetry && attempt < retries && code && RETRYABLE_CODES.has(code)) {
          await sleep(backoff(attempt));
          continue;
        }
        throw networkError(error, url, options.baseUrl);
      }
      const ms = Math.round(performance.now() - started);
      debug?.(`${req.method} ${url} -> ${status} (${ms} ms)`);

      if (status >= 200 && status < 300) {
        if (status === 204 || text === '' || req.method === 'HEAD') return { status, data: undefined as T, headers: responseHeaders };
        try {
          return { status, data: JSON.parse(text) as T, headers: responseHeaders };
        } catch (error) {
          throw notJson(url, status, responseHeaders, error);
        }
      }
      if (canRetry && attempt < retries && RETRYABLE_STATUS.has(status)) {
        const wait = retryAfterMs(responseHeaders['retry-after']) ?? backoff(attempt);
        if (wait <= 10_000) {
          await sleep(wait);
          continue;
        }
      }
      throw httpError(status, text, responseHeaders, url, options.baseUrl);
    }
  }

  return { send, baseUrl: options.baseUrl };
}

export type Http = ReturnType<typeof createHttp>;

const backoff = (attempt: number) => 250 * 2 ** attempt + Math.floor(Math.random() * 100);

function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function networkError(error: unknown, url: string, baseUrl: string): ApiError {
  const code = errorCode(error);
  const host = safeHost(baseUrl);
  const base = { status: 0, url, cause: error };
  const checkUrl = 'Check the instance URL (--api-url) and your network.';
  switch (code) {
    case 'ECONNREFUSED':
      return new ApiError(`Could not connect to ${url}: connection refused. Is the Third Loop instance running at ${baseUrl}?`, { ...base, hint: checkUrl });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ApiError(`Could not find the host ${host} (requesting ${url}): DNS lookup failed.`, { ...base, hint: checkUrl });
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new ApiError(`Timed out connecting to ${url}.`, { ...base, hint: `${checkUrl} A proxy may be needed (HTTPS_PROXY).` });
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new ApiError(`${url} did not answer in time.`, { ...base, hint: 'Try again; if it keeps happening, the instance may be overloaded.' });
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'EPIPE':
      return new ApiError(`The connection to ${url} was closed before an answer arrived.`, { ...base, hint: 'Try again.' });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new ApiError(`Cannot reach ${host} (requesting ${url}): the network is unreachable.`, { ...base, hint: checkUrl });
    default:
      if (code && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code)) {
        return new ApiError(`TLS error talking to ${url} (${code}): the certificate could not be verified.`, {
          ...base,
          hint: 'If your organization uses its own certificate authority, set NODE_EXTRA_CA_CERTS to its PEM file.',
        });
      }
      return new ApiError(
        `Request to ${url} failed${code ? ` (${code})` : ''}: ${redactSecrets(firstLine(error))}.`,
        { ...base, hint: checkUrl },
      );
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').replace(/\.$/, '');
}

function safeHost(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

function contentType(headers: Record<string, string | string[] | undefined>): string {
  const value = headers['content-type'];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

function notJson(url: string, status: number, headers: Record<string, string | string[] | undefined>, cause: unknown): ApiError {
  const type = contentType(headers);
  const what = /html/i.test(type) ? 'an HTML page' : 'something that is not valid JSON';
  return new ApiError(`${url} answered ${status} with ${what}, not the JSON a Third Loop instance sends.`, {
    status,
    url,
    cause,
    hint: 'Check that --api-url points at the Third Loop instance itself (not a login portal or proxy page).',
  });
}

/** The server's `{"error": {"type", "message"}}` body, when it is one. */
function parseServerError(text: string): { type?: string; message?: string } {
  try {
    const data = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } | string; message?: unknown };
    if (data && typeof data.error === 'object' && data.error) {
      return {
        type: typeof data.error.type === 'string' ? data.error.type : undefined,
        message: typeof data.error.message === 'string' ? data.error.message : undefined,
      };
    }
    if (typeof data?.message === 'string') return { message: data.message };
  } catch {
    /* not JSON */
  }
  return {};
}

function sentence(text: string): string {
  const trimmed = redactSecrets(text.trim()).replace(/\s+/g, ' ').slice(0, 400);
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function httpError(status: number, text: string, headers: Record<string, string | string[] | undefined>, url: string, baseUrl: string): ApiError {
  const server = parseServerError(text);
  const base = { status, url, type: server.type };
  const said = server.message ? ` ${sentence(server.message)}` : '';
  if (status === 401) {
    return new ApiError(`${baseUrl} did not accept the stored key (401 from ${url}).${said}`, {
      ...base,
      exitCode: ExitCode.notAuthenticated,
      hint: 'Run `thirdloop auth` to sign in again.',
    });
  }
  if (status === 403) return new ApiError(`${url} refused the request (403).${said}`, base);
  if (status === 404) return new ApiError(server.message ? sentence(server.message) : `${url} was not found (404); is --api-url the instance's address?`, base);
  if (status === 409 || status === 400 || status === 422) {
    return new ApiError(server.message ? sentence(server.message) : `${url} refused the request (${status}).`, base);
  }
  if (status === 413) return new ApiError(`${url} refused the request as too large (413).`, base);
  if (status === 429) {
    const wait = retryAfterMs(headers['retry-after']);
    const when = wait === undefined ? 'in a moment' : `in ${Math.max(1, Math.ceil(wait / 1000))} s`;
    return new ApiError(`${url} is rate limiting requests (429); try again ${when}.${said}`, base);
  }
  if (status >= 500) {
    return new ApiError(`${baseUrl} had a server error (${status} from ${url}); try again later.`, {
      ...base,
      hint: 'If it persists, tell the instance administrators.',
    });
  }
  if (!server.message && /html/i.test(contentType(headers))) return notJson(url, status, headers, undefined);
  return new ApiError(`${url} answered ${status}.${said}`, base);
}
