/**
 * The --via-run files as the real shells read them: run.sh sourced by bash, zsh and /bin/sh (dash:
 * a desktop session's ~/.profile sources it), run.fish by fish. `claude` typed there must hand
 * exactly what was typed to the program the file names, and that program must be started by
 * exactly the paths the file was written with, however hostile (spaces, quotes, `$`, backticks,
 * non-ASCII). The program is a stand-in "node" (or `thirdloop`) that prints its argv NUL-separated.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBytes } from '../../src/files/byte-text.js';
import { placeBlock } from '../../src/files/marked-block.js';
import { bash } from '../../src/shells/bash.js';
import { fish } from '../../src/shells/fish.js';
import { machineProbe } from '../../src/shells/probe.js';
import { runFileContent } from '../../src/shells/run-files.js';
import { scanStartup } from '../../src/shells/startup-scan.js';
import { RUN_BLOCK_COMMENT } from '../../src/shells/types.js';
import { zsh } from '../../src/shells/zsh.js';
import type { ProfileShell, RunFileName, RunValues, ShellEnv } from '../../src/shells/types.js';
import { needs, which } from '../helpers/components.js';
import { tempHome } from '../helpers/setup-env.js';

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
  sh: (file, line) => ['sh', ['-c', `. "$0"\n${line}`, file]],
  fish: (file, line) => ['fish', ['--no-config', '-c', `source $argv[1]\n${line}`, file]],
};
const FILE_OF: Record<string, RunFileName> = { bash: 'run.sh', zsh: 'run.sh', sh: 'run.sh', fish: 'run.fish' };

describe.skipIf(needs('bash', 'zsh', 'fish', 'dash'))('the run files, read by the real shells', () => {
  it('/bin/sh is the shell desktop sessions read ~/.profile with here, so dash is what is judged as sh', () => {
    expect(run('sh', ['-c', 'echo ${BASH_VERSION-}${ZSH_VERSION-}']).argv).toEqual([]);
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
      const h = home(name, `# from Claude Code's local installer\n${RC[name].alias}\n`, '');
      try {
        expect(typedIn(name, h)).toEqual([script, 'run', '--', 'claude', ...TYPED_ARGS]);
        expect(await findings(h)).toEqual([]);
      } finally {
        h.cleanup();
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
