/**
 * The --via-run files as the real shells read them: run.sh sourced by bash, zsh and dash (/bin/sh on
 * Debian and Ubuntu: a desktop session's ~/.profile sources it), run.fish by fish. `claude` typed there must hand
 * exactly what was typed to the program the file names, and that program must be started by
 * exactly the paths the file was written with, however hostile (spaces, quotes, `$`, backticks,
 * non-ASCII). The program is a stand-in "node" (or `thirdloop`) that prints its argv NUL-separated.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../src/files/byte-text.js';
import { placeBlock } from '../../src/files/marked-block.js';
import { bash } from '../../src/shells/bash.js';
import { fish } from '../../src/shells/fish.js';
import { planOwnFiles, planShellSetup, type PlanContext } from '../../src/shells/plan.js';
import { machineProbe } from '../../src/shells/probe.js';
import { STAND_IN_SH } from '../../src/shells/probe-command.js';
import { makeStandIn, runFileContent } from '../../src/shells/run-files.js';
import { scanStartup } from '../../src/shells/startup-scan.js';
import { checkShell } from '../../src/shells/verify.js';
import { RUN_BLOCK_COMMENT } from '../../src/shells/types.js';
import { zsh } from '../../src/shells/zsh.js';
import type { ProfileShell, RunFileName, RunValues, ShellEnv } from '../../src/shells/types.js';
import { needs, which } from '../helpers/components.js';
import { makeCredential, tempHome } from '../helpers/setup-env.js';

/** What a person types, in a syntax bash, zsh, dash and fish all read the same way. */
const TYPED = `claude a 'b c' '$HOME' '' "it's"`;
const TYPED_ARGS = ['a', 'b c', '$HOME', '', "it's"];

/** Legal in a Linux file name, and each one a way for a careless quote to break. */
const HOSTILE_DIR = `dir with 'single' "double" $HOME \`id\` \\back ünïcødé 中文 $(x)`;
const HOSTILE_PROFILE = `it's "p" $HOME \`id\` \\x $(y) ü`;

/** Prints its arguments NUL-separated, so nothing in them (a newline, a space) can be confused. */
const ARGV_PRINTER = "#!/bin/sh\nprintf '%s\\0' \"$@\"\n";

const root = tempHome('thirdloop-runfiles-');
afterAll(() => root.cleanup());

const dir = path.join(root.home, HOSTILE_DIR);
mkdirSync(dir, { recursive: true });
const fakeNode = path.join(dir, 'node');
writeFileSync(fakeNode, ARGV_PRINTER);
chmodSync(fakeNode, 0o755);
const script = path.join(dir, `thirdloop's "cli" $HOME.js`);
// A `thirdloop` first on PATH, for the ['thirdloop'] form.
const binDir = path.join(root.home, `bin ${'$'}PATH 'q'`);
mkdirSync(binDir);
writeFileSync(path.join(binDir, 'thirdloop'), ARGV_PRINTER);
chmodSync(path.join(binDir, 'thirdloop'), 0o755);

const PATH = `${binDir}:/usr/local/bin:/usr/bin:/bin`;
/** A shell's own chatter about job control when started with -i and no terminal: not an error in our file. */
const NOISE = /cannot set terminal process group|no job control in this shell/;

function run(program: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(which(program)!, args, { env: { PATH, HOME: root.home, ...env }, timeout: 20_000 });
  const stderr = result.stderr.toString('utf8').split('\n').filter((l) => l.trim() && !NOISE.test(l));
  return { status: result.status, stderr, argv: result.stdout.toString('utf8').split('\0').slice(0, -1) };
}

function writeRunFile(name: RunFileName, values: RunValues): string {
  const file = path.join(root.home, `${name}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, runFileContent(name, values));
  return file;
}

/** Each shell sourcing a file, then running a line as typed. */
const SOURCE_THEN: Record<string, (file: string, line: string) => [string, string[]]> = {
  bash: (file, line) => ['bash', ['--norc', '--noprofile', '-c', `. "$0"\n${line}`, file]],
  zsh: (file, line) => ['zsh', ['-f', '-c', `. "$0"\n${line}`, file]],
  // Debian's and Ubuntu's /bin/sh, which reads ~/.profile in desktop sessions.
  dash: (file, line) => ['dash', ['-c', `. "$0"\n${line}`, file]],
  // macOS's /bin/sh is bash in POSIX mode, where aliases expand even in scripts.
  'bash --posix': (file, line) => ['bash', ['--posix', '--norc', '--noprofile', '-c', `. "$0"\n${line}`, file]],
  fish: (file, line) => ['fish', ['--no-config', '-c', `source $argv[1]\n${line}`, file]],
};
const FILE_OF: Record<string, RunFileName> = { bash: 'run.sh', zsh: 'run.sh', dash: 'run.sh', 'bash --posix': 'run.sh', fish: 'run.fish' };

describe.skipIf(needs('bash', 'zsh', 'fish', 'dash'))('the run files, read by the real shells', () => {
  it('a desktop session: sh (dash) -l reads ~/.profile, whose block sources run.sh, without a word on stderr', async () => {
    const h = tempHome('thirdloop-profile-');
    try {
      const e: ShellEnv = { platform: 'linux', homedir: h.home, env: { PATH } };
      writeFileSync(path.join(h.home, '.profile'), '# ~/.profile: executed by the command interpreter for login shells.\nalias claude="$HOME/.claude/local/claude"\n');
      const pc: PlanContext = { e, dir: path.join(h.home, '.config/thirdloop'), label: (f) => f, edits: [] };
      mkdirSync(pc.dir, { recursive: true });
      const layout = await bash.layout(e, machineProbe(e));
      const planned = [...(await planOwnFiles(pc, ['bash'], 'run', { run: { thirdloop: [fakeNode, script], profile: 'default', commands: ['claude'] } })), ...(await planShellSetup(pc, bash, layout, 'run'))];
      expect(planned.map((p) => path.basename(p.change.path))).toContain('.profile');
      for (const p of planned) writeFileSync(p.change.path, p.bytes!, { mode: p.mode });
      const out = spawnSync(which('dash')!, ['-l', '-c', TYPED], { env: { PATH, HOME: h.home }, cwd: h.home });
      expect(out.stderr.toString()).toBe('');
      expect(out.stdout.toString().split('\0').slice(0, -1)).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
    } finally {
      h.cleanup();
    }
  });

  describe.each(Object.keys(SOURCE_THEN))('%s', (shell) => {
    const typed = (values: RunValues) => {
      const [program, args] = SOURCE_THEN[shell]!(writeRunFile(FILE_OF[shell]!, values), TYPED);
      return run(program, args);
    };

    it('`claude` as typed reaches [node, script] with the hostile paths, the profile and every argument byte-exact', () => {
      const out = typed({ thirdloop: [fakeNode, script], profile: HOSTILE_PROFILE, commands: ['claude'] });
      expect(out.stderr).toEqual([]);
      expect(out.status).toBe(0);
      expect(out.argv).toEqual([script, 'run', '--profile', HOSTILE_PROFILE, '--', 'claude', ...TYPED_ARGS]);
    });

    it('the default profile passes no --profile; opencode gets its own function', () => {
      const values: RunValues = { thirdloop: [fakeNode, script], profile: 'default', commands: ['claude', 'opencode'] };
      expect(typed(values).argv).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
      const [program, args] = SOURCE_THEN[shell]!(writeRunFile(FILE_OF[shell]!, values), `opencode 'x y'`);
      expect(run(program, args).argv).toEqual([script, 'run', '--', 'opencode', 'x y']);
    });

    it("['thirdloop']: the thirdloop first on PATH, not a function or alias of that name", () => {
      const values: RunValues = { thirdloop: ['thirdloop'], profile: 'work.eu-1', commands: ['claude'] };
      const out = typed(values);
      expect(out.stderr).toEqual([]);
      expect(out.argv).toEqual(['run', '--profile', 'work.eu-1', '--', 'claude', ...TYPED_ARGS]);
      // A shell function named thirdloop (a user's own wrapper) does not capture the call.
      const shadow = shell === 'fish' ? 'function thirdloop; echo shadowed; end' : 'thirdloop() { echo shadowed; }';
      const [program, args] = SOURCE_THEN[shell]!(writeRunFile(FILE_OF[shell]!, values), `${shadow}\n${TYPED}`);
      expect(run(program, args).argv).toEqual(['run', '--profile', 'work.eu-1', '--', 'claude', ...TYPED_ARGS]);
    });

    // fish has no errexit or nounset.
    if (shell !== 'fish')
      it('under `set -eu` (strict rc files): no error, same arguments', () => {
        const file = writeRunFile(FILE_OF[shell]!, { thirdloop: [fakeNode, script], profile: 'default', commands: ['claude'] });
        const [program, args] = SOURCE_THEN[shell]!(file, TYPED);
        args[args.length - 2] = `set -eu\n${args.at(-2)}`;
        const out = run(program, args);
        expect([out.status, out.stderr]).toEqual([0, []]);
        expect(out.argv).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
      });

    it('sourcing the file twice changes nothing', () => {
      const file = writeRunFile(FILE_OF[shell]!, { thirdloop: [fakeNode, script], profile: 'default', commands: ['claude'] });
      const [program, args] = SOURCE_THEN[shell]!(file, `${shell === 'fish' ? 'source $argv[1]' : '. "$0"'}\n${TYPED}`);
      const out = run(program, args);
      expect(out.stderr).toEqual([]);
      expect(out.argv).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
    });
  });
});

/**
 * Claude Code's old local installer put `alias claude="$HOME/.claude/local/claude"` in the rc file.
 * Before our block, the function must win (an alias is expanded before a function is looked up);
 * after it, the alias wins, and the start-up scan must name that line so that setup and doctor can.
 */
describe.skipIf(needs('bash', 'zsh', 'fish'))('an alias `claude` in a lived-in home', () => {
  const ALIAS_LINE = { posix: 'alias claude="$HOME/.claude/local/claude"', fish: 'alias claude "$HOME/.claude/local/claude"' };
  const RC: Record<'bash' | 'zsh' | 'fish', { shell: ProfileShell; rc: string; runFile: RunFileName; alias: string; start: string[] }> = {
    bash: { shell: bash, rc: '.bashrc', runFile: 'run.sh', alias: ALIAS_LINE.posix, start: ['-i', '-c'] },
    zsh: { shell: zsh, rc: '.zshrc', runFile: 'run.sh', alias: ALIAS_LINE.posix, start: ['-i', '-c'] },
    fish: { shell: fish, rc: '.config/fish/config.fish', runFile: 'run.fish', alias: ALIAS_LINE.fish, start: ['-i', '-c'] },
  };

  /** A home whose rc file holds `before`, our block (sourcing the run file), then `after`; the old local claude prints "alias". */
  function home(name: keyof typeof RC, before: string, after: string) {
    const { shell, rc, runFile } = RC[name];
    const h = tempHome(`thirdloop-alias-${name}-`);
    const e: ShellEnv = { platform: 'linux', homedir: h.home, env: { HOME: h.home, PATH } };
    mkdirSync(path.join(h.home, '.claude/local'), { recursive: true });
    writeFileSync(path.join(h.home, '.claude/local/claude'), "#!/bin/sh\nprintf 'alias\\0'\n", { mode: 0o755 });
    const own = path.join(h.home, '.config/thirdloop', runFile);
    mkdirSync(path.dirname(own), { recursive: true });
    writeFileSync(own, runFileContent(runFile, { thirdloop: [fakeNode, script], profile: 'default', commands: ['claude'] }));
    const block = (text: string) => placeBlock(text, shell.sourceBlock(own, e, RUN_BLOCK_COMMENT)).text;
    const files: Record<string, string> = {};
    if (name === 'fish') {
      // fish: our block is conf.d/thirdloop.fish, read after conf.d/claude.fish and before config.fish.
      files[path.join(h.home, '.config/fish/conf.d/thirdloop.fish')] = block('');
      if (before) files[path.join(h.home, '.config/fish/conf.d/claude.fish')] = before;
      if (after) files[path.join(h.home, rc)] = after;
    } else {
      files[path.join(h.home, rc)] = block(before) + after;
    }
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    return { ...h, e, shell, files };
  }

  const typedIn = (name: keyof typeof RC, h: { home: string }) => {
    const out = spawnSync(which(name)!, [...RC[name].start, TYPED], { env: { PATH, HOME: h.home, TERM: 'dumb' }, timeout: 30_000 });
    return out.stdout.toString('utf8').split('\0').slice(0, -1);
  };

  async function findings(h: ReturnType<typeof home>) {
    const layout = await h.shell.layout(h.e, machineProbe(h.e));
    const texts = new Map(layout.files.map((f) => [f.path, h.files[f.path] === undefined ? undefined : fromBytes(Buffer.from(h.files[f.path]!))]));
    return scanStartup(h.shell, layout, texts).filter((f) => f.kind === 'command');
  }

  describe.each(['bash', 'zsh', 'fish'] as const)('%s', (name) => {
    it('defined before the block: `claude` is the function, reaching thirdloop run with every argument', async () => {
      // The second form has words after the program: left in place, it would make `claude() {` a syntax error.
      const aliases = name === 'fish' ? [RC[name].alias] : [RC[name].alias, 'alias claude="$HOME/.claude/local/claude --verbose"'];
      for (const alias of aliases) {
        const h = home(name, `# from Claude Code's local installer\n${alias}\n`, '');
        try {
          expect(typedIn(name, h), alias).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
          expect(await findings(h)).toEqual([]);
        } finally {
          h.cleanup();
        }
      }
    });

    it('defined after the block: the alias wins in the real shell, and the scan names its line', async () => {
      const h = home(name, '', `\n# from Claude Code's local installer\n${RC[name].alias}\n`);
      try {
        expect(typedIn(name, h)).toEqual(['alias']);
        const found = await findings(h);
        const rc = path.join(h.home, RC[name].rc);
        const line = h.files[rc]!.split('\n').indexOf(RC[name].alias) + 1;
        expect(found.map((f) => [f.file, f.line, f.variable])).toEqual([[rc, line, 'claude']]);
      } finally {
        h.cleanup();
      }
    });

    it('defined after the block inside an if (indented, as people guard it): still named', async () => {
      const guarded =
        name === 'fish'
          ? `if test -x $HOME/.claude/local/claude\n    ${RC[name].alias}\nend\n`
          : `if [ -x "$HOME/.claude/local/claude" ]; then\n    ${RC[name].alias}\nfi\n`;
      const h = home(name, '', guarded);
      try {
        expect(typedIn(name, h)).toEqual(['alias']);
        const found = await findings(h);
        expect(found.map((f) => [path.basename(f.file), f.variable])).toEqual([[path.basename(RC[name].rc), 'claude']]);
      } finally {
        h.cleanup();
      }
    });
  });
});

/**
 * verify.ts's judgeRun with the real shells starting the real probe (runProbeCommand) in homes set up
 * by the real plan, and the stand-in claude (makeStandIn) first on PATH. What stands in for
 * `node thirdloop.js run` is a small sh script that does what run does to a command's environment
 * (a loopback URL, a token, no THIRDLOOP_API_KEY) and execs it; the real run is judged end to end elsewhere.
 */
describe.skipIf(needs('bash', 'zsh', 'fish'))('judgeRun: the verdicts, through the real shells', () => {
  const credential = makeCredential('judge-run');
  const expected = { baseUrl: 'https://tl.example.com', credential };
  const RUN_LIKE = (exec: string) =>
    [
      '#!/bin/sh',
      '# $1 is the script; then run [--profile P] -- command args…',
      'shift; [ "$1" = run ] || exit 64; shift',
      'while [ "$1" != -- ]; do shift; done; shift',
      'unset THIRDLOOP_API_KEY',
      `ANTHROPIC_BASE_URL=http://127.0.0.1:45678 ANTHROPIC_API_KEY=tlr_runtoken ${exec}`,
      '',
    ].join('\n');
  const runLike = (name: string, exec: string) => {
    const file = path.join(dir, `run-like ${name}`);
    writeFileSync(file, RUN_LIKE(exec), { mode: 0o755 });
    return file;
  };
  const faithful = runLike('faithful', 'exec "$@"');

  /** A home as `setup claude --via-run` leaves it (the real plan's bytes), plus `extra` at the end of one start-up file. */
  async function viaRunHome(shell: ProfileShell, thirdloop: string[], extra?: { file: string; text: string }, standInDir?: string) {
    const h = tempHome(`thirdloop-judge-${shell.name}-`);
    const e: ShellEnv = { platform: 'linux', homedir: h.home, env: { PATH: '/usr/local/bin:/usr/bin:/bin' } };
    const pc: PlanContext = { e, dir: path.join(h.home, '.config/thirdloop'), label: (f) => f.replace(h.home, '~'), edits: [] };
    mkdirSync(pc.dir, { recursive: true });
    if (shell.name === 'bash') writeFileSync(path.join(h.home, '.bashrc'), '# ~/.bashrc\n');
    const probe = machineProbe(e);
    const layout = await shell.layout(e, probe);
    const planned = [...(await planOwnFiles(pc, [shell.name], 'run', { run: { thirdloop, profile: 'default', commands: ['claude'] } })), ...(await planShellSetup(pc, shell, layout, 'run'))];
    for (const p of planned) {
      mkdirSync(path.dirname(p.change.path), { recursive: true });
      writeFileSync(p.change.path, p.bytes!, { mode: p.mode });
    }
    if (extra) writeFileSync(path.join(h.home, extra.file), extra.text, { flag: 'a' });
    const again = await shell.layout(e, probe);
    const texts = new Map(again.files.map((f) => [f.path, existsSync(f.path) ? fromBytes(readFileSync(f.path)) : undefined]));
    const findings = scanStartup(shell, again, texts);
    const standIn = await makeStandIn('linux');
    try {
      return await checkShell({ shell, probe, expected, findings, label: pc.label, viaRun: { standInDir: standInDir ?? standIn.dir } });
    } finally {
      await standIn.remove();
      h.cleanup();
    }
  }
  const verdicts = (check: Awaited<ReturnType<typeof viaRunHome>>) => check.modes.map((m) => [m.command, m.status, m.saw, m.reason]);

  it.each([bash, zsh, fish])('$name: every start mode reaches the stand-in through the function and run, with `a b` as one argument', async (shell) => {
    const check = await viaRunHome(shell, [faithful, script]);
    expect(check.installed).toBe(true);
    expect(verdicts(check)).toEqual(check.modes.map((m) => [m.command, 'ok', '`claude` through `thirdloop run`', undefined]));
    expect(check.modes.length).toBe(3);
  });

  it.each([bash, zsh, fish])('$name: the stand-in in a folder with a hostile name (TMPDIR can be anything) is reached all the same', async (shell) => {
    const hostile = path.join(dir, `stand-in for ${shell.name}`);
    mkdirSync(hostile, { recursive: true });
    writeFileSync(path.join(hostile, 'claude'), STAND_IN_SH, { mode: 0o755 });
    const check = await viaRunHome(shell, [faithful, script], undefined, hostile);
    expect(check.modes.map((m) => [m.status, m.reason])).toEqual(check.modes.map(() => ['ok', undefined]));
  });

  it('an alias claude after the block: failed, naming the line', async () => {
    const check = await viaRunHome(bash, [faithful, script], { file: '.bashrc', text: 'alias claude="$HOME/.claude/local/claude"\n' });
    const interactive = check.modes.find((m) => m.command === 'bash -i')!;
    expect(interactive.status).toBe('failed');
    expect(interactive.reason).toMatch(/^~\/\.bashrc line \d+ defines `claude` again after the thirdloop block$/);
  });

  it('the key still exported by a line of its own: failed, naming the line, never showing the key', async () => {
    const check = await viaRunHome(bash, [faithful, script], { file: '.bashrc', text: `export ANTHROPIC_API_KEY='${credential}'\n` });
    const interactive = check.modes.find((m) => m.command === 'bash -i')!;
    expect([interactive.status, interactive.saw]).toEqual(['failed', 'the key in ANTHROPIC_API_KEY']);
    expect(interactive.reason).toMatch(/^~\/\.bashrc line \d+ sets it$/);
    expect(JSON.stringify(check)).not.toContain(credential.split(';')[1]!);
  });

  it('a run that splits the arguments: failed as arguments changed', async () => {
    const check = await viaRunHome(bash, [runLike('unquoted', 'exec $@'), script]);
    expect(check.modes.map((m) => [m.status, m.reason])).toEqual(check.modes.map(() => ['failed', 'it got 2 argument(s) for 1 ("a b")']));
  });

  it('a run that lets THIRDLOOP_API_KEY through: failed', async () => {
    const check = await viaRunHome(fish, [runLike('leaky', 'THIRDLOOP_API_KEY=x exec "$@"'), script]);
    expect(check.modes.map((m) => [m.status, m.reason])).toEqual(check.modes.map(() => ['failed', 'THIRDLOOP_API_KEY reached Claude Code']));
  });

  it('a run that fails: failed with what it said', async () => {
    const check = await viaRunHome(zsh, [runLike('failing', 'echo "Error: You are not signed in." >&2; exit 4'), script]);
    expect(check.modes.map((m) => [m.status, m.saw, m.reason])).toEqual(
      check.modes.map(() => ['failed', '`claude` not starting through `thirdloop run`', '`claude` said: You are not signed in.']),
    );
  });
});
