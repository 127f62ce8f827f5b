/** Server settings, from the command line and the environment. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseTrustProxy } from './http/client-address.js';

export interface ModelInfo {
  id: string;
  display_name: string;
}

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /**
   * What users put in ANTHROPIC_BASE_URL. Default `http://HOST:PORT`, filled
   * in once the port is known (with --port 0): read it at request time.
   */
  publicUrl: string;
  /** 'mock' answers from the built-in offline model; else the provider's base URL. */
  upstream: 'mock' | string;
  /** The organization's provider credential (THIRDLOOP_UPSTREAM_API_KEY). Never log it. */
  upstreamApiKey: string | undefined;
  models: ModelInfo[];
  /** Gateway requests per minute per member, across all of the member's keys. */
  rateLimitPerMinute: number;
  /**
   * Gateway: failed authentications allowed per client address per minute (token bucket, default 60);
   * past it /v1 answers 429 without an audit row, so strangers cannot grow the audit log without bound.
   */
  authFailuresPerMinute?: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Web sign-in session: absolute lifetime (THIRDLOOP_SESSION_LIFETIME_MINUTES, default 12 h). */
  sessionTtlMs: number;
  /** Web sign-in session: ends after this long without a request (THIRDLOOP_SESSION_IDLE_MINUTES, default 2 h). */
  sessionIdleMs: number;
  /**
   * Failed sign-ins allowed per (account, client address) and per known device in `signInWindowMs`;
   * 4× that per address, 10× per account from unknown devices (auth/sign-in-throttle.ts).
   */
  signInMaxFailures: number;
  signInWindowMs: number;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (`--trust-proxy`, THIRDLOOP_TRUST_PROXY): IP
   * addresses or CIDR ranges. Empty: the client address is the socket's. Every limiter keys on it.
   */
  trustProxy: string[];
  /** How long a request body may take to arrive, outside /v1 (THIRDLOOP_BODY_TIMEOUT_MS, default 10 s). */
  bodyTimeoutMs: number;
  /** The same for /v1, whose bodies may be 10 MiB (THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS, default 60 s). */
  gatewayBodyTimeoutMs: number;
  /** How long the request line and headers may take to arrive (default 10 s). */
  headersTimeoutMs: number;
  /**
   * Idle connections (open, no request in progress) kept per client address; past it never-used ones
   * are closed and keep-alive ones end with their answer (THIRDLOOP_MAX_IDLE_CONNECTIONS_PER_ADDRESS,
   * default 64; http/connection-guard.ts). Trusted proxies are exempt.
   */
  maxIdleConnectionsPerAddress: number;
  /** Gateway: longest wait for the provider's first byte, and between two chunks (THIRDLOOP_UPSTREAM_TIMEOUT_MS; default 10 min). */
  upstreamTimeoutMs?: number;
  /** Gateway: a PEM file of extra certificate authorities trusted for the provider (--upstream-ca, THIRDLOOP_UPSTREAM_CA). */
  upstreamCaFile?: string;
  /** Gateway: model ids clients send mapped to offered ones (THIRDLOOP_MODEL_ALIASES="from=to,from2=to2"). */
  modelAliases?: Record<string, string>;
  /** Gateway: how long "last used" and audit writes may wait to be batched (default 50 ms; the crash-loss window). */
  writeBehindMs?: number;
  /** Gateway: how long answers still streaming get to finish when the server stops, before they are cut (default 10 s). */
  closeGraceMs?: number;
}

export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 60;

export const DEFAULT_MODELS: ModelInfo[] = [
  { id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' },
  { id: 'claude-opus-4-5', display_name: 'Claude Opus 4.5' },
  { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5' },
];

/** The per-user data directory, as env-paths would choose it. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.THIRDLOOP_SERVER_DATA_DIR) return env.THIRDLOOP_SERVER_DATA_DIR;
  const home = homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'thirdloop-server');
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'thirdloop-server', 'Data');
  return join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'thirdloop-server');
}

export function urlFor(host: string, port: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

export function makeConfig(overrides: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const host = overrides.host ?? '127.0.0.1';
  const port = overrides.port ?? 8787;
  return {
    host,
    port,
    dataDir: overrides.dataDir ?? defaultDataDir(env),
    publicUrl: overrides.publicUrl ?? env.THIRDLOOP_PUBLIC_URL ?? urlFor(host, port),
    upstream: overrides.upstream ?? env.THIRDLOOP_UPSTREAM ?? 'mock',
    upstreamApiKey: overrides.upstreamApiKey ?? (env.THIRDLOOP_UPSTREAM_API_KEY || undefined),
    models: overrides.models ?? DEFAULT_MODELS,
    rateLimitPerMinute: overrides.rateLimitPerMinute ?? envNumber(env.THIRDLOOP_RATE_LIMIT_PER_MINUTE) ?? 600,
    authFailuresPerMinute:
      overrides.authFailuresPerMinute ?? envNumber(env.THIRDLOOP_AUTH_FAILURES_PER_MINUTE) ?? DEFAULT_AUTH_FAILURES_PER_MINUTE,
    bodyLimitBytes: overrides.bodyLimitBytes ?? 10 * 1024 * 1024,
    sessionTtlMs: overrides.sessionTtlMs ?? minutes(envNumber(env.THIRDLOOP_SESSION_LIFETIME_MINUTES)) ?? 12 * 60 * 60 * 1000,
    sessionIdleMs: overrides.sessionIdleMs ?? minutes(envNumber(env.THIRDLOOP_SESSION_IDLE_MINUTES)) ?? 2 * 60 * 60 * 1000,
    signInMaxFailures: overrides.signInMaxFailures ?? 5,
    signInWindowMs: overrides.signInWindowMs ?? 15 * 60 * 1000,
    trustProxy: overrides.trustProxy ?? parseTrustProxy(env.THIRDLOOP_TRUST_PROXY, 'THIRDLOOP_TRUST_PROXY'),
    bodyTimeoutMs: overrides.bodyTimeoutMs ?? envNumber(env.THIRDLOOP_BODY_TIMEOUT_MS) ?? 10_000,
    gatewayBodyTimeoutMs: overrides.gatewayBodyTimeoutMs ?? envNumber(env.THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS) ?? 60_000,
    headersTimeoutMs: overrides.headersTimeoutMs ?? 10_000,
    maxIdleConnectionsPerAddress:
      overrides.maxIdleConnectionsPerAddress ?? envNumber(env.THIRDLOOP_MAX_IDLE_CONNECTIONS_PER_ADDRESS) ?? 64,
    upstreamTimeoutMs: overrides.upstreamTimeoutMs ?? envNumber(env.THIRDLOOP_UPSTREAM_TIMEOUT_MS),
    upstreamCaFile: overrides.upstreamCaFile ?? (env.THIRDLOOP_UPSTREAM_CA || undefined),
    modelAliases: overrides.modelAliases ?? parseModelAliases(env.THIRDLOOP_MODEL_ALIASES),
    writeBehindMs: overrides.writeBehindMs,
    closeGraceMs: overrides.closeGraceMs,
  };
}

/** A positive number from the environment, or undefined (unset or not a number). */
function envNumber(value: string | undefined): number | undefined {
  const n = Number(value);
  return value && Number.isFinite(n) && n > 0 ? n : undefined;
}

const minutes = (n: number | undefined) => (n === undefined ? undefined : n * 60_000);

/** `from=to,from2=to2` → { from: 'to', from2: 'to2' }. */
export function parseModelAliases(value: string | undefined): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    const [from, to] = pair.split('=').map((part) => part.trim());
    if (from && to) aliases[from] = to;
  }
  return aliases;
}
