/**
 * fish: a file of our own in conf.d (fish sources conf.d itself), so the
 * user's config.fish is never touched. fish reads conf.d's *.fish files in
 * the natural order of their names, then config.fish, in every kind of
 * shell; a global (`set -gx`) hides a universal variable of the same name.
 * XDG_CONFIG_HOME is respected.
 */
import { ENV_FILE_HEADER, RUN_FILE_HEADER, checkValue, pathFor, runWords, underHome, xdgConfigHome } from './common.js';
import { shPrintCommand, shProbe } from './probe-command.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { RunValues, EnvValues, ProfileShell, ShellEnv, ShellLayout, ShellProbe, StartMode } from './types.js';

/** fish single quotes: only \\ and \' are escapes. */
export const fishQuote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

function fishPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  return rel !== undefined && e.platform !== 'win32' ? `"$HOME/${rel}"` : fishQuote(file);
}

const fishDir = (e: ShellEnv) => pathFor(e.platform).join(xdgConfigHome(e), 'fish');
export const OUR_CONF_D_FILE = 'thirdloop.fish';
const ALL: StartMode[] = ['interactive', 'login', 'interactive login'];

/** fish's order for conf.d: names compared with runs of digits as numbers ("2" before "10"). */
export function naturalCompare(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

export async function fishLayout(e: ShellEnv, probe: ShellProbe): Promise<ShellLayout> {
  const p = pathFor(e.platform);
  const confD = p.join(fishDir(e), 'conf.d');
  const names = new Set((await probe.list(confD)).filter((n) => n.endsWith('.fish')));
  names.add(OUR_CONF_D_FILE);
  const files = [...names].sort(naturalCompare).map((name) =>
    name === OUR_CONF_D_FILE
      ? { path: p.join(confD, name), modes: ALL, target: true, create: true, ours: true }
      : { path: p.join(confD, name), modes: ALL },
  );
  files.push({ path: p.join(fishDir(e), 'config.fish'), modes: ALL });
  return { files, notes: [] };
}

const LEAD = String.raw`(?:^|;|&&|\|\||\band\b|\bor\b|\bbegin\b|\belse\b)\s*`;
const assignment = new RegExp(`${LEAD}set\\s+(?:-[-A-Za-z]+\\s+)*${WATCHED_VAR_PATTERN}(?:\\s|$|;)`);
const stop = new RegExp(`${LEAD}(return|exit)(?=\\s|;|$)`);
const exec = new RegExp(`${LEAD}exec\\s+([^\\s;&|<>]+)`);
const BLOCK_START = /^(function|if|for|while|switch|begin)$/;

/** Function bodies: fish blocks open with function/if/for/while/switch/begin and close with `end`. */
function fishFunctionTracker(): (line: string) => boolean {
  const stack: string[] = [];
  return (line: string) => {
    const before = stack.includes('function');
    const code = line.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, '').replace(/#.*$/, '');
    for (const statement of code.split(';')) {
      const words = statement.trim().split(/\s+/).filter((w) => !['and', 'or', 'not', 'command', 'builtin'].includes(w));
      const first = words[0] ?? '';
      if (BLOCK_START.test(first)) stack.push(first);
      else if (first === 'end') stack.pop();
    }
    return before || stack.includes('function');
  };
}

export const fish: ProfileShell = {
  kind: 'profile',
  name: 'fish',
  label: 'fish',
  program: 'fish',
  startArgs: {
    interactive: (command) => ['-i', '-c', command],
    login: (command) => ['-l', '-c', command],
    'interactive login': (command) => ['-l', '-i', '-c', command],
  },
  layout: fishLayout,
  usageHints: (e) => {
    const p = pathFor(e.platform);
    return [p.join(fishDir(e), 'config.fish'), p.join(fishDir(e), 'conf.d'), p.join(fishDir(e), 'conf.d', OUR_CONF_D_FILE)];
  },
  envFileName: 'env.fish',
  envFileContent: (values: EnvValues) =>
    [
      ...ENV_FILE_HEADER.map((line) => `# ${line}`),
      `set -gx ${BASE_URL_VAR} ${fishQuote(checkValue(BASE_URL_VAR, values.apiUrl))}`,
      `set -gx ${API_KEY_VAR} ${fishQuote(checkValue(API_KEY_VAR, values.credential))}`,
      '',
    ].join('\n'),
  sourceBlock: (envFile, e, comment = BLOCK_COMMENT) => {
    const quoted = fishPath(envFile, e);
    return [comment, `if test -f ${quoted}; source ${quoted}; end`];
  },
  runFileName: 'run.fish',
  // A fish alias is a function too, so defining ours replaces it.
  runFileContent: (values: RunValues) => {
    const words = runWords(values, fishQuote, 'command thirdloop');
    return [
      ...RUN_FILE_HEADER.map((line) => `# ${line}`),
      ...values.commands.flatMap((command) => [`function ${command}`, `    ${words} -- ${command} $argv`, 'end']),
      '',
    ].join('\n');
  },
  runProbeCommand: (mark, standInDir) => `${shPrintCommand(mark)}; set -gx PATH ${fishQuote(standInDir)} $PATH; claude ${mark}S 'a b'`,
  blockEol: () => '\n',
  setsVariable: (line) => (/^\s*#/.test(line) ? undefined : assignment.exec(line)?.[1]),
  stopsReading: (line) => {
    if (/^\s*#/.test(line)) return undefined;
    const e = exec.exec(line);
    return e ? `exec ${e[1]}` : stop.exec(line)?.[1];
  },
  testsInteractive: (line) => /status\s+(?:--)?is-interactive\b|status\s+-i\b/.test(line),
  functionTracker: fishFunctionTracker,
  probeCommand: shProbe,
  verifyCommand: 'echo $ANTHROPIC_BASE_URL',
};
