/**
 * The everyday command lines, read without commander: `status` (`whoami`),
 * `token` and `keys list` (`keys ls`) with the global options. Loading and
 * building commander's program costs about 26 ms of CPU, more than the rest of
 * `thirdloop token`, which Claude Code runs each time it asks its apiKeyHelper
 * for a key. A line is taken here only when every word is understood; anything
 * else (help, an unknown option, a missing value, an extra word, `--`) goes to
 * commander, which keeps every message and the help. test/unit/everyday.test.ts
 * checks that both read each line alike.
 */

/** What a command's `run(ctx, options)` gets, whichever parser read the line. */
export interface Invocation {
  /** `commands/<module>.js` */
  module: string;
  /** `keys list`, for messages. */
  label: string;
  /** The command's own options, and its arguments by name. */
  options: Record<string, unknown>;
  globals: {
    apiUrl?: string;
    /** Which gave apiUrl: "--api-url" or "THIRDLOOP_API_URL". */
    apiUrlFrom: string;
    profile?: string;
    json: boolean;
    debug: boolean;
    /** false with --no-color (commander's `color`). */
    color?: boolean;
  };
}

/** The commands taken here: their words (aliases included) and modules. */
const EVERYDAY: Record<string, { module: string; label: string }> = {
  status: { module: 'auth/status', label: 'status' },
  whoami: { module: 'auth/status', label: 'status' },
  token: { module: 'auth/token', label: 'token' },
  'keys list': { module: 'keys/list', label: 'keys list' },
  'keys ls': { module: 'keys/list', label: 'keys list' },
};

/**
 * The invocation for `args` (argv without node and the script), or undefined
 * when the line is not one of the everyday ones, said the plain way.
 */
export function readEverydayLine(args: readonly string[], env: NodeJS.ProcessEnv): Invocation | undefined {
  const words: string[] = [];
  let apiUrl: string | undefined;
  let profile: string | undefined;
  let json = false;
  let debug = false;
  let color = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--debug') debug = true;
    else if (arg === '--no-color') color = false;
    else if (arg === '--api-url' || arg === '--profile') {
      // As commander does, the next word is the value, whatever it looks like.
      if (i + 1 >= args.length) return undefined;
      if (arg === '--api-url') apiUrl = args[++i];
      else profile = args[++i];
    } else if (arg.startsWith('--api-url=')) apiUrl = arg.slice('--api-url='.length);
    else if (arg.startsWith('--profile=')) profile = arg.slice('--profile='.length);
    else if (arg.length > 1 && arg.startsWith('-')) return undefined;
    else words.push(arg);
  }
  const command = Object.hasOwn(EVERYDAY, words.join(' ')) ? EVERYDAY[words.join(' ')] : undefined;
  if (!command) return undefined;
  // commander's .env(): a variable that is set, even empty, counts when the option is not given.
  const apiUrlFromEnv = apiUrl === undefined && 'THIRDLOOP_API_URL' in env;
  if (apiUrlFromEnv) apiUrl = env.THIRDLOOP_API_URL;
  if (profile === undefined) profile = 'THIRDLOOP_PROFILE' in env ? env.THIRDLOOP_PROFILE : 'default';
  return {
    module: command.module,
    label: command.label,
    options: {},
    globals: { apiUrl, apiUrlFrom: apiUrlFromEnv ? 'THIRDLOOP_API_URL' : '--api-url', profile, json, debug, color },
  };
}
