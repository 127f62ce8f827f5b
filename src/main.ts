/**
 * The command line. Only Node built-ins and a few small modules load on the
 * start path (`--version` and the top-level `--help` are answered before it, by
 * bin/thirdloop.js), and the everyday lines (`status`, `token`, `keys list`)
 * are read by everyday.ts.
 * commander (bundled) and the program (program.ts) load for every other line.
 * Each command's module, and the context with everything it needs, is
 * imported only when that command runs.
 *
 * Every command module exports `run(ctx, options)`, where `options` are the
 * command's own options plus its arguments by name (`id`, `name`).
 */
import { ExitCode, UserError } from './core/errors.js';
import { reportError } from './core/report-error.js';
import { readEverydayLine, type Invocation } from './everyday.js';

type CommandModule = { run?: (ctx: unknown, options: unknown) => unknown };

/** `commands/<module>.js`; a module not built yet is a clear error. */
async function importCommand(module: string, label: string): Promise<CommandModule> {
  const url = new URL(`./commands/${module}.js`, import.meta.url).href;
  try {
    return (await import(url)) as CommandModule;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { url?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && (e.url === url || String(e.message).includes(`commands/${module}.js`))) {
      throw new UserError(`\`thirdloop ${label}\` is not available in this build yet.`);
    }
    throw error;
  }
}

/** Runs `commands/<module>.js`'s `run(ctx, options)`. */
async function runCommand({ module, label, options, globals }: Invocation): Promise<void> {
  // Both at once: the command's module does not wait for the context's to load.
  const [{ createContext }, mod] = await Promise.all([import('./context.js'), importCommand(module, label)]);
  const ctx = createContext({
    apiUrl: globals.apiUrl,
    apiUrlFrom: globals.apiUrlFrom,
    profile: globals.profile,
    json: globals.json,
    debug: globals.debug,
    color: globals.color,
  });
  if (typeof mod.run !== 'function') throw new Error(`commands/${module}.js has no run()`);
  await mod.run(ctx, options);
}

async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  try {
    // The everyday lines skip commander (everyday.ts); every other line, and every error, is commander's.
    const everyday = readEverydayLine(args, process.env);
    if (everyday) {
      await runCommand(everyday);
      return ExitCode.ok;
    }
    const [commander, { buildProgram }] = await Promise.all([import('commander'), import('./program.js')]);
    const program = buildProgram(commander, argv, runCommand);
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    return reportError(error, argv.includes('--debug'));
  }
}

const code = await main(process.argv);
// Idle keep-alive sockets, stdin listeners or a browser child must not hold the process.
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
