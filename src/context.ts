/**
 * The one place a command's dependencies come from (gh's Factory pattern).
 * Commands export `run(ctx, options)` and touch the outside world only
 * through this object, so a test can drive them with a temp HOME and a real
 * server, and no module keeps globals.
 *
 * Heavy dependencies are behind async getters so that loading them costs
 * nothing for commands that do not need them. The two stores are light (they
 * load their writers and the keychain binding when used) and nearly every
 * command opens them, so they come with this module: a module loaded apart
 * costs a file read and a resolution at every start.
 */
import { homedir as osHomedir, hostname as osHostname } from 'node:os';
import type { Writable, Readable } from 'node:stream';
import type { OpenOutcome } from './core/browser.js';
import { openConfig } from './core/config.js';
import { configDir } from './core/paths.js';
import { FileAndKeychainSecretStore } from './core/secrets.js';
import type { ConfigStore, SecretStore } from './core/stores.js';

// Declared in core/stores.ts, so that core/config.ts and core/secrets.ts need nothing from this factory.
export type { ConfigStore, ProfileConfig, SecretStore, StoredSecret } from './core/stores.js';

export interface GlobalOptions {
  /** --api-url or THIRDLOOP_API_URL; undefined means "use the profile's". */
  apiUrl?: string;
  /** Which of the two gave apiUrl, for messages: "--api-url" or "THIRDLOOP_API_URL". */
  apiUrlFrom?: string;
  /** --profile or THIRDLOOP_PROFILE; default "default". */
  profile: string;
  json: boolean;
  debug: boolean;
  /** false with --no-color, NO_COLOR, or a stdout that is not a TTY. */
  color: boolean;
  /** false only when the user turned colour off (--no-color, NO_COLOR): stderr messages may still be coloured on a TTY. */
  colorAllowed?: boolean;
}

export interface IO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Terminal width, 80 when unknown. */
  columns: number;
}

export interface Clock {
  now(): Date;
}

export interface Context {
  io: IO;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  homedir: string;
  cwd: string;
  clock: Clock;
  globals: GlobalOptions;
  config(): Promise<ConfigStore>;
  secrets(): Promise<SecretStore>;
  /** Starts the user's browser on a URL (BROWSER, else the platform's opener); never waits for the browser. */
  openBrowser(url: string): Promise<OpenOutcome>;
  /** This machine's name (default key names, the consent page). */
  hostname: string;
}

export interface ContextOverrides extends Partial<Omit<Context, 'io' | 'globals'>> {
  io?: Partial<IO>;
}

type Stream = NodeJS.WriteStream | NodeJS.ReadStream | { isTTY?: boolean; columns?: number };
const isTTY = (stream: unknown) => Boolean((stream as Stream | undefined)?.isTTY);

/**
 * Builds the context from the global options; tests pass their own env, home,
 * io, clock or stores. Nothing heavy is imported until a getter needs it.
 */
export function createContext(globals: Partial<GlobalOptions> = {}, overrides: ContextOverrides = {}): Context {
  const env = overrides.env ?? process.env;
  // Each stream is made on first use: process.stdin and process.stderr build a stream object
  // (and load the modules under it) that `thirdloop token` or `keys list --json` never need.
  const io = lazyIO({
    stdout: () => overrides.io?.stdout ?? process.stdout,
    stderr: () => overrides.io?.stderr ?? process.stderr,
    stdin: () => overrides.io?.stdin ?? process.stdin,
    stdinIsTTY: () => overrides.io?.stdinIsTTY ?? isTTY(io.stdin),
    stdoutIsTTY: () => overrides.io?.stdoutIsTTY ?? isTTY(io.stdout),
    stderrIsTTY: () => overrides.io?.stderrIsTTY ?? isTTY(io.stderr),
    columns: () => overrides.io?.columns ?? ((io.stdout as { columns?: number }).columns || 80),
  });
  const colorAllowed = globals.colorAllowed ?? (globals.color !== false && !env.NO_COLOR);
  const fullGlobals: GlobalOptions = {
    apiUrl: globals.apiUrl,
    apiUrlFrom: globals.apiUrlFrom,
    profile: globals.profile ?? 'default',
    json: globals.json ?? false,
    debug: globals.debug ?? false,
    color: colorAllowed && io.stdoutIsTTY,
    colorAllowed,
  };
  const platform = overrides.platform ?? process.platform;
  const homedir = overrides.homedir ?? (env.HOME || env.USERPROFILE || osHomedir());

  let config: Promise<ConfigStore> | undefined;
  let secrets: Promise<SecretStore> | undefined;
  const ctx: Context = {
    io,
    env,
    platform,
    homedir,
    cwd: overrides.cwd ?? process.cwd(),
    clock: overrides.clock ?? { now: () => new Date() },
    globals: fullGlobals,
    hostname: overrides.hostname ?? '',
    config:
      overrides.config ??
      (() =>
        (config ??= Promise.resolve().then(() => openConfig(configDir({ env, platform, homedir }))))),
    secrets:
      overrides.secrets ??
      (() =>
        (secrets ??= Promise.resolve().then(() => new FileAndKeychainSecretStore({ dir: configDir({ env, platform, homedir }), env })))),
    openBrowser: overrides.openBrowser ?? ((url) => import('./core/browser.js').then((b) => b.openBrowser(url, env))),
  };
  if (!ctx.hostname) ctx.hostname = defaultHostname();
  return ctx;
}

/** An IO whose fields are computed on first read, then kept. */
function lazyIO(make: { [K in keyof IO]: () => IO[K] }): IO {
  const io = {} as IO;
  for (const name of Object.keys(make) as Array<keyof IO>) {
    Object.defineProperty(io, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = make[name]();
        Object.defineProperty(io, name, { value, enumerable: true, writable: true, configurable: true });
        return value;
      },
      set(value: unknown) {
        Object.defineProperty(io, name, { value, enumerable: true, writable: true, configurable: true });
      },
    });
  }
  return io;
}

function defaultHostname(): string {
  try {
    return osHostname() || 'this machine';
  } catch {
    return 'this machine';
  }
}
