/**
 * One HTTP client for the CLI: connect and read timeouts, retries with backoff
 * for idempotent requests only, and `--debug` lines with timings. Every failure
 * becomes an ApiError: one sentence naming the URL and what to do. The
 * credential is never printed.
 *
 * Why node:http and not undici: a CLI makes one or two requests and exits, so
 * what counts is the cost of loading the client, not its throughput. undici
 * parses HTTP with llhttp compiled to WebAssembly: for one GET then exit,
 * bench/explain.mjs measured it at +78-94 ms CPU over bare node, 96 MB peak RSS
 * (2.5x bare node) and an exit that waits 50-480 ms for V8's background tier-up
 * of that WebAssembly, against +4-10 ms, 43 MB (1.1x) and a 4 ms wait for
 * node:http, whose parser is in the node binary. So direct connections use
 * node:http/node:https with one keep-alive Agent per protocol, and undici (its
 * EnvHttpProxyAgent: CONNECT tunnels, proxy auth) is imported only when
 * HTTPS_PROXY/HTTP_PROXY applies to the URL after NO_PROXY. Measured on
 * `keys list --json`, undici then node:http: +97 -> +54 ms CPU over bare node,
 * peak RSS 100 -> 50 MB (2.55x -> 1.27x), exit wait 239 -> 4 ms; the login
 * round trip (callback to exit, 0600 file) 245-276 -> 133 ms median.
 */
import type { Agent as HttpAgent, ClientRequest, IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import { ExitCode, UserError } from './errors.js';
import { redactSecrets } from './credential.js';
import { isTlsCode, proxySentence, showProxy, tlsSentence } from './transport-errors.js';

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
  /** The fields of the server's error object besides type and message (e.g. attempts_left). */
  readonly details: Record<string, unknown> | undefined;
  /** The action that fixes it, when the message already says it and no hint line is printed (doctor's fix column). */
  readonly fix: string | undefined;
  constructor(
    message: string,
    options: {
      status: number;
      type?: string;
      url: string;
      exitCode?: number;
      hint?: string;
      fix?: string;
      cause?: unknown;
      details?: Record<string, unknown>;
    },
  ) {
    super(message, { exitCode: options.exitCode, hint: options.hint, cause: options.cause });
    this.name = 'ApiError';
    this.status = options.status;
    this.type = options.type;
    this.url = options.url;
    this.details = options.details;
    this.fix = options.fix ?? options.hint;
  }
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What one attempt brings back, whichever transport carried it. */
interface RawResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
}

interface Attempt {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  connectTimeoutMs: number;
  readTimeoutMs: number;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy URL that applies to `target`, or undefined for a direct connection.
 * Same rules as undici's EnvHttpProxyAgent (which then carries the request):
 * https targets use HTTPS_PROXY, else HTTP_PROXY; http targets use HTTP_PROXY;
 * NO_PROXY is a comma or space separated list of `*`, hosts and domain
 * suffixes (a leading `.` or `*.` is ignored), each with an optional `:port`.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): string | undefined {
  const httpProxy = env.HTTP_PROXY ?? env.http_proxy;
  const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy;
  const proxy = target.protocol === 'https:' ? httpsProxy || httpProxy : target.protocol === 'http:' ? httpProxy : undefined;
  if (!proxy) return undefined;
  // host, not hostname, keeps the brackets of an IPv6 address (as undici does).
  const hostname = target.host.replace(/:\d*$/, '').toLowerCase();
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  return bypassesProxy(env.NO_PROXY ?? env.no_proxy ?? '', hostname, port) ? undefined : proxy;
}

function bypassesProxy(noProxy: string, hostname: string, port: number): boolean {
  const entries = noProxy
    .split(/[,\s]/)
    .filter(Boolean)
    .map((entry) => {
      const parsed = /^(.+):(\d+)$/.exec(entry);
      return { hostname: (parsed ? parsed[1]! : entry).replace(/^\*?\./, '').toLowerCase(), port: parsed ? Number.parseInt(parsed[2]!, 10) : 0 };
    });
  if (entries.length === 0) return false;
  if (noProxy === '*') return true;
  return entries.some(
    (entry) => (!entry.port || entry.port === port) && (hostname === entry.hostname || hostname.endsWith(`.${entry.hostname}`)),
  );
}

/** Direct connections: one keep-alive Agent per protocol, loaded on first use. */
const directAgents = new Map<string, HttpAgent>();

/** The shared keep-alive Agent and request function for `protocol` (the CLI's requests and `thirdloop run`'s broker). */
export async function directAgent(protocol: string): Promise<{ agent: HttpAgent; request: typeof import('node:http').request }> {
  // node:https loads node:tls; a plain-http instance never pays for it.
  const mod = protocol === 'https:' ? await import('node:https') : await import('node:http');
  let agent = directAgents.get(protocol);
  if (!agent) {
    // Idle sockets are unref'd by the Agent, so they never hold the process open.
    agent = new mod.Agent({ keepAlive: true, scheduling: 'lifo' });
    directAgents.set(protocol, agent);
  }
  return { agent, request: mod.request };
}

const timeoutError = (code: string, message: string) => Object.assign(new Error(message), { code });
const CONNECT_TIMEOUT = 'THIRDLOOP_CONNECT_TIMEOUT';
const READ_TIMEOUT = 'THIRDLOOP_READ_TIMEOUT';

/**
 * Gives a new connection `ms` to be established (TLS included), then destroys the request with a
 * connect-timeout error; a reused keep-alive socket is connected already. Returns a function that
 * cancels the timer (call it when the response starts).
 */
export function connectDeadline(req: ClientRequest, secure: boolean, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  req.on('socket', (socket) => {
    if (!socket.connecting) return;
    timer = setTimeout(() => req.destroy(timeoutError(CONNECT_TIMEOUT, 'connect timeout')), ms);
    socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
  });
  return () => clearTimeout(timer);
}

async function sendDirect(url: URL, attempt: Attempt): Promise<RawResponse> {
  const { agent, request } = await directAgent(url.protocol);
  return new Promise<RawResponse>((resolve, reject) => {
    const headers = { ...attempt.headers };
    if (attempt.body !== undefined) headers['content-length'] = String(Buffer.byteLength(attempt.body));
    const req: ClientRequest = request(url, { method: attempt.method, headers, agent });
    const connected = connectDeadline(req, url.protocol === 'https:', attempt.connectTimeoutMs);
    const fail = (error: unknown) => {
      connected();
      reject(error);
    };
    req.on('error', fail);
    // Idle time on the connected socket: waiting for the headers, then between body chunks.
    req.setTimeout(attempt.readTimeoutMs, () => req.destroy(timeoutError(READ_TIMEOUT, 'read timeout')));
    req.on('response', (res: IncomingMessage) => {
      connected();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as ResponseHeaders, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('close', () => {
        // Closed before the whole body (Content-Length not reached, chunk cut): a reset.
        if (!res.complete) fail(Object.assign(new Error('the connection closed before the whole answer arrived'), { code: 'ECONNRESET' }));
      });
    });
    req.end(attempt.body);
  });
}

/** Through a proxy: undici's EnvHttpProxyAgent, imported only now. */
let proxyAgent: Dispatcher | undefined;
let proxyAgentKey = '';

/** The import of undici, in one place so tests can tell whether it happened. */
export const transportSeam = {
  loadUndici: async (): Promise<typeof import('undici')> => {
    const mod = await import('undici');
    // undici is CommonJS: bundled into its own chunk, its exports are that chunk's default export only.
    return ((mod as { default?: unknown }).default ?? mod) as typeof import('undici');
  },
};

/** The proxy variables as undici gets them: each checked, a bare `host:port` read as http:// (as curl does). */
interface ProxySettings {
  httpProxy: string | undefined;
  httpsProxy: string | undefined;
  noProxy: string;
}

export function proxySettings(env: NodeJS.ProcessEnv): ProxySettings {
  const pick = (upper: string, lower: string) => (env[upper] !== undefined ? { name: upper, value: env[upper] } : { name: lower, value: env[lower] });
  const http = pick('HTTP_PROXY', 'http_proxy');
  const https = pick('HTTPS_PROXY', 'https_proxy');
  return { httpProxy: proxyUrl(http.value, http.name), httpsProxy: proxyUrl(https.value, https.name), noProxy: env.NO_PROXY ?? env.no_proxy ?? '' };
}

/** The proxy that carries requests to `target` (checked, with its scheme), or undefined for a direct connection. */
export function proxyUrlFor(target: URL, env: NodeJS.ProcessEnv): string | undefined {
  if (proxyFor(target, env) === undefined) return undefined;
  const settings = proxySettings(env);
  return target.protocol === 'https:' ? settings.httpsProxy || settings.httpProxy : settings.httpProxy;
}

function proxyUrl(value: string | undefined, variable: string): string | undefined {
  if (!value) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  // The value is never echoed: it may hold the proxy's password.
  const fix = `set it as http://HOST:PORT, with USER:PASSWORD@ before the host if the proxy asks for them`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UserError(`${variable} is not a proxy address; ${fix}.`, { exitCode: ExitCode.usage });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`${variable} must be an http:// or https:// proxy, not ${url.protocol}//; ${fix}.`, { exitCode: ExitCode.usage });
  }
  return withScheme;
}

/**
 * undici's EnvHttpProxyAgent for the proxy settings in `env`, made once and kept while they stay
 * the same. A timeout of 0 disables it (the broker leaves waiting for a model to its client).
 */
export async function proxyDispatcher(
  env: NodeJS.ProcessEnv,
  timeouts: { connectTimeoutMs: number; readTimeoutMs: number },
): Promise<{ dispatcher: Dispatcher; undici: typeof import('undici') }> {
  // Checked first (a usage error names the variable), then loaded.
  const { httpProxy, httpsProxy, noProxy } = proxySettings(env);
  const undici = await transportSeam.loadUndici();
  const key = [httpsProxy, httpProxy, noProxy, timeouts.connectTimeoutMs, timeouts.readTimeoutMs].join('|');
  if (!proxyAgent || proxyAgentKey !== key) {
    // Another environment (tests): the old agent finishes what it carries, then closes.
    void proxyAgent?.close().catch(() => {});
    proxyAgentKey = key;
    proxyAgent = new undici.EnvHttpProxyAgent({
      httpProxy,
      httpsProxy,
      noProxy,
      connect: { timeout: timeouts.connectTimeoutMs },
      headersTimeout: timeouts.readTimeoutMs,
      bodyTimeout: timeouts.readTimeoutMs,
      keepAliveTimeout: 4_000,
    });
  }
  return { dispatcher: proxyAgent, undici };
}

async function sendViaProxy(url: URL, attempt: Attempt, env: NodeJS.ProcessEnv): Promise<RawResponse> {
  const { dispatcher, undici } = await proxyDispatcher(env, attempt);
  const res = await undici.request(url, { method: attempt.method as Dispatcher.HttpMethod, headers: attempt.headers, body: attempt.body, dispatcher });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Closes every connection so the process can exit without waiting for idle sockets. */
export async function closeHttp(): Promise<void> {
  for (const agent of directAgents.values()) agent.destroy();
  directAgents.clear();
  const agent = proxyAgent;
  proxyAgent = undefined;
  await agent?.close().catch(() => {});
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'OPTIONS']);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ETIMEDOUT', 'EAI_AGAIN']);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Normalizes and checks an instance URL given by the user. */
export function normalizeApiUrl(input: string, origin = '--api-url'): string {
  // Browsers stop near 2 KB too; a longer value is a paste gone wrong, not worth echoing.
  if (input.length > 2048) throw new UserError(`${origin} is ${input.length} characters long; pass the instance's address, e.g. https://thirdloop.example.com.`, { exitCode: ExitCode.usage });
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    // Never echo a password someone put before an "@".
    const shown = String(input).replace(/\/\/[^/]*@/, '//…@');
    throw new UserError(`${origin} "${shown}" is not a URL; pass the instance's address, e.g. https://thirdloop.example.com.`, {
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

/** THIRDLOOP_HTTP_TIMEOUT: seconds to wait for an answer (slow links, or tests of a hung server). */
function readTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const seconds = Number(env.THIRDLOOP_HTTP_TIMEOUT);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

export function createHttp(options: HttpOptions) {
  const env = options.env ?? process.env;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const readTimeoutMs = options.readTimeoutMs ?? readTimeoutFromEnv(env) ?? 30_000;
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
    const target = new URL(url);
    // Checked before the first attempt: a malformed proxy variable is a usage error, not a network one.
    const proxy = proxyUrlFor(target, env);
    // The route in --debug lines: which proxy carried it, never its user name or password.
    const via = proxy ? ` via proxy ${showProxy(proxy)}` : '';
    const attemptInit: Attempt = { method: req.method, headers, body, connectTimeoutMs, readTimeoutMs };

    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let status: number;
      let text: string;
      let responseHeaders: Record<string, string | string[] | undefined>;
      try {
        const res = proxy ? await sendViaProxy(target, attemptInit, env) : await sendDirect(target, attemptInit);
        status = res.status;
        responseHeaders = res.headers;
        text = res.text;
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        const code = errorCode(error);
        debug?.(`${req.method} ${url}${via} -> ${code ?? 'error'} (${ms} ms)`);
        if (canRetry && attempt < retries && code && RETRYABLE_CODES.has(code)) {
          await sleep(backoff(attempt));
          continue;
        }
        throw networkError(error, url, options.baseUrl, proxy);
      }
      const ms = Math.round(performance.now() - started);
      debug?.(`${req.method} ${url}${via} -> ${status} (${ms} ms)`);

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
    // Node tries each address of a host in turn and reports them together (AggregateError).
    const errors = (current as { errors?: unknown }).errors;
    current = (current as { cause?: unknown }).cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return undefined;
}

/**
 * One sentence for a failure to reach `url` (refused, DNS, timeout, TLS…), with what to check;
 * `proxy` (the one that carried the request) for the proxy's own refusals.
 */
export function networkError(error: unknown, url: string, baseUrl: string, proxy?: string): ApiError {
  const code = errorCode(error);
  const host = safeHost(baseUrl);
  const base = { status: 0, url, cause: error };
  const proxied = proxy ? proxySentence(error, code, url, proxy) : undefined;
  if (proxied) return new ApiError(proxied.message, { ...base, hint: proxied.hint, fix: proxied.fix });
  if (code && isTlsCode(code)) {
    const tls = tlsSentence(code, url);
    return new ApiError(tls.message, { ...base, hint: tls.hint, fix: tls.fix });
  }
  const checkUrl = 'Check the instance URL (--api-url) and your network.';
  switch (code) {
    case 'ECONNREFUSED':
      return new ApiError(`Could not connect to ${url}: connection refused. Is the Third Loop instance running at ${baseUrl}?`, { ...base, hint: checkUrl });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ApiError(`Could not find the host ${host} (requesting ${url}): DNS lookup failed.`, { ...base, hint: checkUrl });
    case CONNECT_TIMEOUT:
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return new ApiError(`Timed out connecting to ${url}.`, { ...base, hint: `${checkUrl} A proxy may be needed (HTTPS_PROXY).` });
    case READ_TIMEOUT:
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
function parseServerError(text: string): { type?: string; message?: string; details?: Record<string, unknown> } {
  try {
    const data = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } | string; message?: unknown };
    if (data && typeof data.error === 'object' && data.error) {
      const { type, message, ...details } = data.error as Record<string, unknown>;
      return {
        type: typeof type === 'string' ? type : undefined,
        message: typeof message === 'string' ? message : undefined,
        details,
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
  const base = { status, url, type: server.type, details: server.details };
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
