/**
 * commander's program: every command, option, help text and example. Loaded
 * by main.ts for every line that is not an everyday one (everyday.ts), with
 * commander itself. Each action hands the parsed line to `dispatch`, which
 * runs the command's module (lazily imported).
 */
import type { Command } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { colorize } from './core/report-error.js';
import type { Invocation } from './everyday.js';

type Commander = typeof import('commander');

const EXPIRY_CHOICES = [30, 60, 90, 180, 365];

const parseExpiry = (commander: Commander) => (value: string): number => {
  const days = Number(value.trim().replace(/d(ays?)?$/i, ''));
  if (!EXPIRY_CHOICES.includes(days)) {
    throw new commander.InvalidArgumentError(`Expiry must be one of ${EXPIRY_CHOICES.join(', ')} (days).`);
  }
  return days;
};

const parseSeconds = (commander: Commander) => (value: string): number => {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    throw new commander.InvalidArgumentError('Give a whole number of seconds between 1 and 3600.');
  }
  return seconds;
};

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/** The variables people set for the CLI (beyond the options' own), shown under the main help. */
const ENVIRONMENT = `Environment:
  THIRDLOOP_API_KEY       <id>;<secret> to use instead of the stored key (CI)
  THIRDLOOP_CONFIG_DIR    where the config lives (default: ~/.config/thirdloop, or $XDG_CONFIG_HOME)
  THIRDLOOP_HTTP_TIMEOUT  seconds to wait for the instance to answer (default 30)
  BROWSER                 the program auth opens the consent page with; "none" prints the URL only
  HTTPS_PROXY, NO_PROXY   a proxy to the instance (http://USER:PASSWORD@HOST:PORT), and exceptions
  NODE_EXTRA_CA_CERTS     a PEM file of your organization's certificate authority, if it signs the
                          instance's certificate
`;

/** Runs a parsed command line: the command's module gets the context and its options. */
export type Dispatch = (invocation: Invocation) => Promise<void>;

/** What a command's action gets from commander: its options, then its arguments. */
type Handler = (args: unknown[], cmd: Command) => Promise<void>;

/**
 * The handler of commander's action for `commands/<module>.js`.
 * `extra` adds options commander does not parse (run's command words).
 */
function lazyWith(dispatch: Dispatch, module: string, argNames: string[] = [], extra?: () => Record<string, unknown>): Handler {
  return (args, cmd) => {
    const options: Record<string, unknown> = { ...cmd.opts(), ...extra?.() };
    argNames.forEach((name, i) => (options[name] = args[i]));
    const globals = cmd.optsWithGlobals() as { apiUrl?: string; profile?: string; json?: boolean; debug?: boolean; color?: boolean };
    const parent = cmd.parent?.name();
    return dispatch({
      module,
      label: parent && parent !== 'thirdloop' ? `${parent} ${cmd.name()}` : cmd.name(),
      options,
      globals: {
        apiUrl: globals.apiUrl,
        apiUrlFrom: cmd.getOptionValueSourceWithGlobals('apiUrl') === 'env' ? 'THIRDLOOP_API_URL' : '--api-url',
        profile: globals.profile,
        json: Boolean(globals.json),
        debug: Boolean(globals.debug),
        color: globals.color,
      },
    });
  };
}

function action(handler: Handler) {
  return (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command;
    return handler(all.slice(0, -2), cmd);
  };
}

/** Every word after the first `--`, exactly as typed (undefined when there is no `--`). */
function afterDoubleDash(argv: readonly string[]): string[] | undefined {
  const at = argv.indexOf('--', 2);
  return at === -1 ? undefined : argv.slice(at + 1);
}

export function buildProgram(commander: Commander, argv: readonly string[], dispatch: Dispatch): Command {
  const { Command, Option } = commander;
  const lazy = (module: string, argNames?: string[], extra?: () => Record<string, unknown>) => lazyWith(dispatch, module, argNames, extra);
  const expiry = parseExpiry(commander);
  const program = new Command('thirdloop');
  program
    .description("Connect this machine to your organization's Third Loop instance.")
    .version(pkg.version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addOption(new Option('--api-url <url>', 'the Third Loop instance (default: the profile’s)').env('THIRDLOOP_API_URL'))
    .addOption(new Option('--profile <name>', 'which stored sign-in to use').env('THIRDLOOP_PROFILE').default('default'))
    .option('--json', 'print machine-readable JSON on stdout')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('--debug', 'print requests and timings on stderr (secrets redacted)')
    .showSuggestionAfterError(true)
    // Every subcommand's help lists the global options it accepts too.
    .configureHelp({ showGlobalOptions: true })
    // commander's own errors read like ours: "Error: Unknown option '--bogus'".
    .configureOutput({
      outputError: (text, write) => write(text.replace(/^error: (.)/, (_, first: string) => `${colorize('Error:', process.stderr)} ${first.toUpperCase()}`)),
    })
    .exitOverride()
    .addHelpText(
      'after',
      examples('thirdloop auth --api-url https://thirdloop.example.com', 'thirdloop setup claude', 'thirdloop status', 'thirdloop keys list'),
    );
  program.addHelpText('after', ENVIRONMENT);

  program
    .command('auth')
    .description('sign in through the browser and store a new API key in the OS keychain')
    .option('--name <name>', 'name of the key to create (default "CLI auth — <hostname> (<date>)")')
    .addOption(new Option('--expires <days>', 'key lifetime: 30, 60, 90, 180 or 365 days').argParser(expiry))
    .option('--rotate', 'replace the stored key with a new one (works at the 2-key limit)')
    .option('--force', 'sign in again without asking, even when already signed in')
    .option('--no-browser', 'do not open a browser: print the URL and paste the one-time code shown there')
    .option('--with-key', 'read an existing `<id>;<secret>` credential from stdin instead (CI)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for approval').argParser(parseSeconds(commander)).default(300))
    .option('--insecure-storage', 'store the secret in a plain-text 0600 file instead of the OS keychain')
    .addHelpText(
      'after',
      examples(
        'thirdloop auth --api-url https://thirdloop.example.com',
        'thirdloop auth --no-browser        # over SSH: paste the code shown in the browser',
        'thirdloop auth --rotate            # new key replacing the stored one',
        'echo "$THIRDLOOP_CREDENTIAL" | thirdloop auth --with-key --api-url https://thirdloop.example.com',
      ),
    )
    .action(action(lazy('auth/login')));

  program
    .command('status')
    .alias('whoami')
    .description('show the instance, the key this machine uses, its expiry and where the secret lives')
    .addHelpText('after', examples('thirdloop status', 'thirdloop whoami --json'))
    .action(action(lazy('auth/status')));

  program
    .command('logout')
    .description('remove the stored key from this machine')
    .option('--revoke', 'also delete the key on the instance first')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', examples('thirdloop logout', 'thirdloop logout --revoke --yes'))
    .action(action(lazy('auth/logout')));

  program
    .command('token')
    .description('print the stored `<id>;<secret>` credential (for scripts and Claude Code’s apiKeyHelper)')
    .addHelpText('after', examples('thirdloop token', 'ANTHROPIC_API_KEY="$(thirdloop token)" claude'))
    .action(action(lazy('auth/token')));

  const keys = program
    .command('keys')
    .description('list and manage your API keys (at most 2 active)')
    .addHelpText('after', examples('thirdloop keys list', 'thirdloop keys create --name laptop --expires 30', 'thirdloop keys rotate laptop'));
  keys
    .command('list')
    .alias('ls')
    .description('list your keys with status, expiry and last use')
    .addHelpText('after', examples('thirdloop keys list', 'thirdloop keys list --json'))
    .action(action(lazy('keys/list')));
  keys
    .command('create')
    .description('create a key; its secret is shown once')
    .option('--name <name>', 'name (1–64 printable characters)')
    .addOption(new Option('--expires <days>', 'lifetime: 30, 60, 90, 180 or 365 days (default 90)').argParser(expiry))
    .addHelpText('after', examples('thirdloop keys create', 'thirdloop keys create --name ci --expires 30 --json'))
    .action(action(lazy('keys/create')));
  keys
    .command('disable')
    .argument('<id>', 'key ID, unique ID prefix or unique name')
    .description('suspend an active key (it can be enabled again)')
    .option('-y, --yes', 'do not ask for confirmation (asked only for the key this machine uses)')
    .addHelpText('after', examples('thirdloop keys disable tlk_ab12', 'thirdloop keys disable laptop --yes'))
    .action(action(lazy('keys/disable', ['id'])));
  keys
    .command('enable')
    .argument('<id>', 'key ID, unique ID prefix or unique name')
    .description('re-activate a suspended key')
    .addHelpText('after', examples('thirdloop keys enable laptop'))
    .action(action(lazy('keys/enable', ['id'])));
  keys
    .command('delete')
    .alias('rm')
    .argument('<id>', 'key ID, unique ID prefix or unique name')
    .description('delete a key permanently')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', examples('thirdloop keys delete old-laptop', 'thirdloop keys delete tlk_ab12 --yes'))
    .action(action(lazy('keys/delete', ['id'])));
  keys
    .command('rotate')
    .argument('<id>', 'key ID, unique ID prefix or unique name')
    .description('replace a key with a new one of the same name and lifetime')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', examples('thirdloop keys rotate laptop', 'thirdloop keys rotate tlk_ab12 --yes --json'))
    .action(action(lazy('keys/rotate', ['id'])));
  keys
    .command('rename')
    .argument('<id>', 'key ID, unique ID prefix or unique name')
    .argument('<name>', 'the new name')
    .description('rename a key')
    .addHelpText('after', examples('thirdloop keys rename tlk_ab12 "work laptop"'))
    .action(action(lazy('keys/rename', ['id', 'name'])));

  const setup = program
    .command('setup')
    .description('configure a client to use your Third Loop instance')
    .addHelpText('after', examples('thirdloop setup claude', 'thirdloop setup opencode --global'));
  setup
    .command('claude')
    .description('make new terminals route Claude Code through the instance (shell profile exports)')
    .option('--shell <shells>', 'comma-separated: bash,zsh,fish,powershell,cmd, or all (default: current shell + existing profiles)')
    .option('--dry-run', 'show the changes as a diff and write nothing')
    .option('--undo', 'remove what setup claude added')
    .option('--key-helper', 'configure Claude Code’s apiKeyHelper instead of exporting the key')
    .option('--via-run', 'no key in the shells: `claude` becomes a function that runs `thirdloop run -- claude`')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `${examples(
        'thirdloop setup claude',
        'thirdloop setup claude --via-run',
        'thirdloop setup claude --shell bash,zsh --dry-run',
        'thirdloop setup claude --key-helper',
        'thirdloop setup claude --undo',
      )}
Modes: by default new terminals export ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY
(the key is in a 0600 file the profile sources). --via-run exports nothing:
\`claude\` typed in a new terminal runs \`thirdloop run -- claude\`, which gives
Claude Code a token that works only while it runs. Running again with or
without --via-run switches the shells named. \`thirdloop doctor\` shows each
shell's mode.
`,
    )
    .action(action(lazy('setup/claude')));
  setup
    .command('opencode')
    .description('write opencode.json and the session plugin for the instance')
    .option('--global', 'configure opencode for this user instead of the current project')
    .option('--model <id>', 'the default model')
    .option('--agents-md', 'add a Third Loop section to AGENTS.md')
    .option('--keep-providers', 'add Third Loop without switching the project’s other providers off (no enabled_providers of ours)')
    .option('--force', 'replace a session plugin you edited (your version is kept as a backup)')
    .option('--with-env', 'also configure the shells to export ANTHROPIC_API_KEY (as setup claude)')
    .option('--via-run', 'no key in the shells: `opencode` (and `claude`) become functions that run `thirdloop run -- <command>`')
    .option('--dry-run', 'show the changes as a diff and write nothing')
    .option('--undo', 'remove what setup opencode added (and `opencode` from the --via-run functions)')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `${examples(
        'thirdloop setup opencode',
        'thirdloop setup opencode --via-run',
        'thirdloop setup opencode --keep-providers',
        'thirdloop setup opencode --global --model claude-sonnet-4-5',
        'thirdloop setup opencode --undo',
      )}
--via-run: \`opencode\` typed in a new terminal runs \`thirdloop run -- opencode\`,
which points the thirdloop provider at a broker on 127.0.0.1 and gives opencode
a token that works only while it runs. \`claude\` is wrapped the same way. The
shells already set up with \`setup claude --via-run\` get it, else the current
shell and those whose profile exists; a shell that exported the key switches.
`,
    )
    .action(action(lazy('setup/opencode')));

  program
    .command('run')
    .description('run a command (e.g. claude) through a local broker, so it gets a one-time token and never your key')
    .usage('[--profile NAME] -- <command> [args...]')
    .argument('<command...>', 'the command to run and its arguments, after --')
    .addHelpText(
      'after',
      `${examples(
        'thirdloop run -- claude',
        'thirdloop run --profile work -- claude --resume',
        'thirdloop run -- node agent.mjs         # any Anthropic SDK client',
        'thirdloop run -- env | grep ANTHROPIC   # what the command gets',
      )}
The command gets ANTHROPIC_BASE_URL=http://127.0.0.1:<port>, and in
ANTHROPIC_API_KEY a token for this run only; the broker on that port adds your
key to the command's /v1 requests, and closes when the command exits.
Exit status: the command's (128 + N when signal N ended it), 4 when not signed
in, 127 when the command is not found.
`,
    )
    .action(action(lazy('run', [], () => ({ command: afterDoubleDash(argv) }))));

  program
    .command('doctor')
    .description('check the instance, the key, the keychain, shell profiles and client configuration')
    .addHelpText(
      'after',
      `${examples('thirdloop doctor', 'thirdloop doctor --json', 'thirdloop doctor --profile work')}\nExit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 4 when not signed in.\n`,
    )
    .action(action(lazy('doctor')));

  return program;
}

