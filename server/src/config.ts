/** Server settings, from the command line and the environment. */
import { homedir } from 'node:os';
import { join } from 'node:path';

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
  /** Web sign-in session lifetime. */
  sessionTtlMs: number;
  /** Failed sign-ins allowed per email (and, x4, per client address) in `signInWindowMs`. */
  signInMaxFailures: number;
  signInWindowMs: number;
  /** Gateway: longest wait for the provider's first byte, and between two chunks (THIRDLOOP_UPSTREAM_TIMEOUT_MS; default 10 min). */
  upstreamTimeoutMs?: number;
  /** Gateway: model ids clients send mapped to offered ones (THIRDLOOP_MODEL_ALIASES="from=to,from2=to2"). */
  modelAliases?: Record<string, string>;
  /** Gateway: how long "last used" and audit writes may wait to be batched (default 50 ms; the crash-loss window). */
  writeBehindMs?: number;
  /**
   * Gateway: how long a /v1 request body may take to arrive, counted from when reading it starts;
   * past it 408 and the connection is closed (THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS, default 60 s).
   */
  gatewayBodyTimeoutMs: number;
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
    sessionTtlMs: overrides.sessionTtlMs ?? 12 * 60 * 60 * 1000,
    signInMaxFailures: overrides.signInMaxFailures ?? 5,
    signInWindowMs: overrides.signInWindowMs ?? 15 * 60 * 1000,
    upstreamTimeoutMs: overrides.upstreamTimeoutMs ?? envNumber(env.THIRDLOOP_UPSTREAM_TIMEOUT_MS),
    modelAliases: overrides.modelAliases ?? parseModelAliases(env.THIRDLOOP_MODEL_ALIASES),
    writeBehindMs: overrides.writeBehindMs,
    gatewayBodyTimeoutMs: overrides.gatewayBodyTimeoutMs ?? envNumber(env.THIRDLOOP_GATEWAY_BODY_TIMEOUT_MS) ?? 60_000,
    closeGraceMs: overrides.closeGraceMs,
  };
}

/** A positive number from the environment, or undefined (unset or not a number). */
function envNumber(value: string | undefined): number | undefined {
  const n = Number(value);
  return value && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `from=to,from2=to2` → { from: 'to', from2: 'to2' }. */
export function parseModelAliases(value: string | undefined): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    const [from, to] = pair.split('=').map((part) => part.trim());
    if (from && to) aliases[from] = to;
  }
  return aliases;
}
