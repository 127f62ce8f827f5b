/**
 * The everyday lines (`status`, `token`, `keys list`) are read by everyday.ts
 * without commander; every line it takes must mean exactly what commander's
 * program makes of it (same module, options and globals), and every line it
 * is not sure of must go to commander.
 */
import * as commander from 'commander';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { readEverydayLine, type Invocation } from '../../src/everyday.js';
import { buildProgram } from '../../src/program.js';

const ENV_NAMES = ['THIRDLOOP_API_URL', 'THIRDLOOP_PROFILE'] as const;
const saved = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
afterEach(() => {
  for (const name of ENV_NAMES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  vi.restoreAllMocks();
});

function setEnv(env: Partial<Record<(typeof ENV_NAMES)[number], string>>) {
  for (const name of ENV_NAMES) {
    if (env[name] === undefined) delete process.env[name];
    else process.env[name] = env[name];
  }
}

/** What commander's program dispatches for `args`, or the error code it stops with. */
async function viaCommander(args: string[]): Promise<Invocation | string> {
  const argv = ['node', 'thirdloop', ...args];
  let seen: Invocation | undefined;
  const program = buildProgram(commander, argv, async (invocation) => {
    seen = invocation;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    vi.restoreAllMocks();
  }
  return seen ?? 'nothing dispatched';
}

const COMMANDS = [['status'], ['whoami'], ['token'], ['keys', 'list'], ['keys', 'ls']];
const GLOBALS = [
  [],
  ['--json'],
  ['--debug', '--no-color'],
  ['--api-url', 'http://127.0.0.1:9'],
  ['--api-url=https://tl.example.com/'],
  ['--profile', 'work'],
  ['--profile=work.eu'],
  ['--profile='],
  ['--profile', '--json'], // the value is the next word, whatever it looks like
  ['--api-url', 'a', '--api-url', 'b'], // the last one wins
  ['--json', '--json', '--profile', 'x', '--debug'],
];
const ENVS = [{}, { THIRDLOOP_API_URL: 'http://env.example', THIRDLOOP_PROFILE: 'ci' }, { THIRDLOOP_API_URL: '', THIRDLOOP_PROFILE: '' }];

describe('everyday lines read without commander', () => {
  const cases = COMMANDS.flatMap((words) =>
    GLOBALS.flatMap((globals) =>
      ENVS.flatMap((env) => [
        { line: [...globals, ...words], env },
        { line: [...words, ...globals], env },
        // Global options between `keys` and `list` too.
        ...(words.length === 2 ? [{ line: [words[0]!, ...globals, words[1]!], env }] : []),
      ]),
    ),
  );

  test(`each of ${cases.length} lines means what commander makes of it`, async () => {
    for (const { line, env } of cases) {
      setEnv(env);
      const quick = readEverydayLine(line, process.env);
      expect(quick, `${line.join(' ')} ${JSON.stringify(env)}`).toBeDefined();
      expect(quick, `${line.join(' ')} ${JSON.stringify(env)}`).toEqual(await viaCommander(line));
    }
  });

  test.each([
    [['status', '--help']],
    [['-h', 'token']],
    [['keys', 'list', '-v']],
    [['status', 'extra']],
    [['keys']],
    [['keys', 'list', 'all']],
    [['help', 'status']],
    [['status', '--bogus']],
    [['status', '--jsn']],
    [['status', '--json=1']],
    [['token', '--profile']],
    [['keys', 'list', '--api-url']],
    [['token', '--']],
    [['token', '--', 'x']],
    [['status', '-']],
    [['statsu']],
    [['keys', 'create']],
    [['keys', 'delete', 'x', '--yes']],
    [['logout']],
    [[]],
  ])('%j goes to commander', async (line) => {
    setEnv({});
    expect(readEverydayLine(line, process.env)).toBeUndefined();
  });
});
