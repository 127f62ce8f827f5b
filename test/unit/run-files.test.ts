/**
 * The parts of `setup claude --via-run` below the command: run.ps1 as a real PowerShell grammar
 * reads it, the stand-in `claude` as the real /bin/sh and node run it (and parseStandIn reads what
 * it printed), the start-up scan's `claude` definitions, how the functions start thirdloop, and
 * the plan for the files of our own (modes, secrets, unused files, what a block sources).
 * The shells reading run.sh and run.fish are in test/e2e/run-files-shells.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { bash } from '../../src/shells/bash.js';
import { fish } from '../../src/shells/fish.js';
import { placeBlock } from '../../src/files/marked-block.js';
import { OWN_FILE_NAMES, planOwnFiles, planUndo, planUnusedOwnFiles, type PlanContext } from '../../src/shells/plan.js';
import { powershell, powershellRunFile } from '../../src/shells/powershell.js';
import { STAND_IN_JS, STAND_IN_SH, parseProbe, parseStandIn, shPrintCommand, standInMark } from '../../src/shells/probe-command.js';
import { RUN_FILE_MODE, blockMode, makeStandIn, runFileContent, thirdloopInvocation } from '../../src/shells/run-files.js';
import { definesCommand } from '../../src/shells/startup-scan.js';
import { BLOCK_COMMENT, RUN_BLOCK_COMMENT } from '../../src/shells/types.js';
import { zsh } from '../../src/shells/zsh.js';
import type { ProfileShell, RunValues } from '../../src/shells/types.js';
import { needs, which } from '../helpers/components.js';
import { parsePowerShell, verbatimValue, walk } from '../helpers/powershell-grammar.js';
import { makeCredential, tempHome } from '../helpers/setup-env.js';

const root = tempHome('thirdloop-run-unit-');
afterAll(() => root.cleanup());

/** The mark verify.ts gives a stand-in: `TL<12 hex>:` and the stand-in's letter. */
const newMark = () => `TL${randomBytes(6).toString('hex')}:`;

describe('run.ps1, read by a real PowerShell grammar', () => {
  const HOSTILE = [
    "it's",
    'say "hi"',
    'back`tick`$(whoami)',
    '$env:USERPROFILE and ${x}',
    '‘curly’ “double” ‚low‛ „low”',
    'naïve Ünïcødé 中文 🙂',
    "'';Write-Host pwned;''",
    '@(1,2) # not a comment; -not $true',
  ];

  it.each(HOSTILE)('paths and a profile holding %j: parses cleanly, each one a single literal that reads back exactly', async (hostile) => {
    const node = `C:\\Program Files\\${hostile}\\node.exe`;
    const script = `C:\\Users\\${hostile}\\AppData\\Roaming\\npm\\node_modules\\thirdloop\\bin\\thirdloop.js`;
    const profile = `work ${hostile}`;
    const text = powershellRunFile({ thirdloop: [node, script], profile, commands: ['claude', 'opencode'] });
    const { root: tree, errors } = await parsePowerShell(text);
    expect(errors, text).toEqual([]);

    const statements = tree.children.filter((n) => n!.type === 'statement_list').flatMap((n) => n!.children);
    // An alias of the same name wins over a function in PowerShell: each function comes right after its alias goes.
    expect(statements.map((s) => (s!.type === 'function_statement' ? `function ${s!.childForFieldName?.('name')?.text ?? s!.children[1]!.text}` : s!.text))).toEqual([
      'Remove-Item -LiteralPath Alias:claude -ErrorAction SilentlyContinue',
      'function claude',
      'Remove-Item -LiteralPath Alias:opencode -ErrorAction SilentlyContinue',
      'function opencode',
    ]);
    for (const fn of statements.filter((s) => s!.type === 'function_statement')) {
      const name = fn!.children[1]!.text;
      const nodes = [...walk(fn!)];
      // The call: `& <node> <script> run --profile <profile> '--' <name> @args`, every value a verbatim literal.
      const command = nodes.find((n) => n.type === 'command')!;
      expect(command.children[0]!.type).toBe('command_invokation_operator');
      const literals = nodes.filter((n) => n.type === 'verbatim_string_characters').map((n) => verbatimValue(n.text));
      expect(literals).toEqual([node, script, profile, '--']);
      // `--` quoted: bare, PowerShell may take it as its own end of parameters and not pass it on.
      expect(text).toContain(`'--' ${name} @args }`);
      expect(nodes.filter((n) => n.type === 'variable').map((n) => n.text)).toEqual(['@args']);
      expect(nodes.some((n) => n.type === 'sub_expression' || n.type === 'expandable_string_literal')).toBe(false);
      expect(nodes.filter((n) => n.type === 'generic_token').map((n) => n.text)).toEqual(['run', name]);
    }
  });

  it("['thirdloop'] and the default profile: `& thirdloop run '--' claude @args`", async () => {
    const text = powershellRunFile({ thirdloop: ['thirdloop'], profile: 'default', commands: ['claude'] });
    expect((await parsePowerShell(text)).errors).toEqual([]);
    expect(text).toContain("function claude { & thirdloop run '--' claude @args }");
    expect(text).not.toContain('--profile');
  });

  it.each(HOSTILE)('the check typed in PowerShell, with the stand-in in a folder holding %j, parses, the folder one literal', async (hostile) => {
    const standInDir = `C:\\Users\\ada\\AppData\\Local\\Temp\\${hostile}\\thirdloop-check-x`;
    const mark = newMark();
    const text = powershell.runProbeCommand(mark, standInDir, ['claude']);
    const { root: tree, errors } = await parsePowerShell(text);
    expect(errors, text).toEqual([]);
    const literals = [...walk(tree)].filter((n) => n.type === 'verbatim_string_characters').map((n) => verbatimValue(n.text));
    expect(literals).toContain(standInDir);
    expect(literals.at(-1)).toBe('a b');
    // `claude <mark>claude: 'a b'` is the last command: the function, then its two arguments.
    const commands = [...walk(tree)].filter((n) => n.type === 'command');
    expect(commands.at(-1)!.text).toBe(`claude ${standInMark(mark, 'claude')} 'a b'`);
  });

  it('the grammar does flag a broken function (so a clean parse means something)', async () => {
    expect((await parsePowerShell("function claude { & 'C:\\x\\node.exe run '--' claude @args }\n")).errors).not.toEqual([]);
  });
});

describe('the run files hold no key and say what they are', () => {
  it('every file names thirdloop run and the command, and carries the header', () => {
    const values: RunValues = { thirdloop: ['/usr/bin/node', '/opt/thirdloop/bin/thirdloop.js'], profile: 'default', commands: ['claude'] };
    for (const name of ['run.sh', 'run.fish', 'run.ps1'] as const) {
      const text = runFileContent(name, values);
      expect(text.startsWith('# Written by thirdloop. Holds no key'), name).toBe(true);
      expect(text).not.toMatch(/ANTHROPIC_API_KEY|tls_/);
      expect(text.endsWith('\n')).toBe(true);
    }
  });
});

describe.skipIf(needs('sh', 'node'))('the stand-in claude, run by the real /bin/sh and node, read by parseStandIn', () => {
  const sh = path.join(root.home, 'stand-in.sh');
  writeFileSync(sh, STAND_IN_SH, { mode: 0o755 });
  const js = path.join(root.home, 'stand-in.cjs');
  writeFileSync(js, STAND_IN_JS);

  /** Only what is given: no variable of this process leaks into what is judged. */
  const STAND_INS = {
    sh: (args: string[], env: Record<string, string>) => spawnSync(sh, args, { env: { PATH: '/usr/bin:/bin', ...env } }),
    node: (args: string[], env: Record<string, string>) => spawnSync(which('node')!, [js, ...args], { env: { ...env } }),
  };

  const CASES: Array<{ what: string; env: Record<string, string>; args: string[]; seen: ReturnType<typeof parseStandIn> }> = [
    {
      what: 'the probe as verify.ts types it',
      env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:40123', ANTHROPIC_API_KEY: 'tlr_run-token' },
      args: ['a b'],
      seen: { baseUrl: 'http://127.0.0.1:40123', apiKey: 'tlr_run-token', thirdloopKey: false, opencodeConfig: '', argc: 1, first: 'a b' },
    },
    {
      what: 'values made of the mark letters, colons, digits and newlines',
      env: { ANTHROPIC_BASE_URL: 'RKTAE:S1:x\nE', ANTHROPIC_API_KEY: 'A2:K\nTset', THIRDLOOP_API_KEY: 'x' },
      args: ['R:K:T:A9:E', 'second'],
      seen: { baseUrl: 'RKTAE:S1:x\nE', apiKey: 'A2:K\nTset', thirdloopKey: true, opencodeConfig: '', argc: 2, first: 'R:K:T:A9:E' },
    },
    {
      what: 'OPENCODE_CONFIG_CONTENT as run sets it for opencode',
      env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:40123', ANTHROPIC_API_KEY: 'tlr_run-token', OPENCODE_CONFIG_CONTENT: '{"provider":{"thirdloop":{"options":{"baseURL":"http://127.0.0.1:40123/v1"}}}}' },
      args: ['a b'],
      seen: { baseUrl: 'http://127.0.0.1:40123', apiKey: 'tlr_run-token', thirdloopKey: false, opencodeConfig: '{"provider":{"thirdloop":{"options":{"baseURL":"http://127.0.0.1:40123/v1"}}}}', argc: 1, first: 'a b' },
    },
    {
      what: 'nothing set, no argument',
      env: {},
      args: [],
      seen: { baseUrl: '', apiKey: '', thirdloopKey: false, opencodeConfig: '', argc: 0, first: '' },
    },
    {
      what: 'empty values, an empty THIRDLOOP_API_KEY (set all the same), an empty first argument',
      env: { ANTHROPIC_BASE_URL: '', ANTHROPIC_API_KEY: '', THIRDLOOP_API_KEY: '' },
      args: ['', 'x'],
      seen: { baseUrl: '', apiKey: '', thirdloopKey: true, opencodeConfig: '', argc: 2, first: '' },
    },
    {
      what: 'printf and shell syntax in the values',
      env: { ANTHROPIC_BASE_URL: '%s %d \\n $HOME `id`', ANTHROPIC_API_KEY: "it's \"q\"" },
      args: ['%s\\c', '$(x)'],
      seen: { baseUrl: '%s %d \\n $HOME `id`', apiKey: "it's \"q\"", thirdloopKey: false, opencodeConfig: '', argc: 2, first: '%s\\c' },
    },
  ];

  describe.each(Object.keys(STAND_INS) as Array<keyof typeof STAND_INS>)('%s', (kind) => {
    it.each(CASES)('$what', ({ env, args, seen }) => {
      const mark = `${newMark()}S`;
      const out = STAND_INS[kind]([mark, ...args], env);
      expect(out.status).toBe(0);
      expect(out.stderr.toString()).toBe('');
      // What else the shell printed (start-up noise, the variables probe) does not confuse it.
      const stdout = `motd: welcome\n${out.stdout.toString('utf8')}\nbye\n`;
      expect(parseStandIn(stdout, mark)).toEqual(seen);
      // Another run's mark finds nothing.
      expect(parseStandIn(stdout, `${newMark()}S`)).toBeUndefined();
    });
  });

  it('beside the variables probe of the same mark, each parser reads its own part', () => {
    const mark = newMark();
    const probe = spawnSync('sh', ['-c', shPrintCommand(mark)], { env: { PATH: '/usr/bin:/bin', ANTHROPIC_BASE_URL: 'https://tl.example.com' } });
    // As the probe types them: claude, then opencode, each with its own mark.
    const claude = STAND_INS.sh([standInMark(mark, 'claude'), 'a b'], { ANTHROPIC_BASE_URL: 'http://127.0.0.1:1', ANTHROPIC_API_KEY: 'tok' });
    const opencode = STAND_INS.sh([standInMark(mark, 'opencode'), 'a b'], { ANTHROPIC_BASE_URL: 'http://127.0.0.1:2', ANTHROPIC_API_KEY: 'tok2', OPENCODE_CONFIG_CONTENT: '{}' });
    const stdout = probe.stdout.toString() + claude.stdout.toString() + opencode.stdout.toString();
    expect(parseProbe(stdout, mark)).toEqual({ baseUrl: 'https://tl.example.com', apiKey: undefined, authToken: false });
    expect(parseStandIn(stdout, standInMark(mark, 'claude'))).toEqual({ baseUrl: 'http://127.0.0.1:1', apiKey: 'tok', thirdloopKey: false, opencodeConfig: '', argc: 1, first: 'a b' });
    expect(parseStandIn(stdout, standInMark(mark, 'opencode'))).toEqual({ baseUrl: 'http://127.0.0.1:2', apiKey: 'tok2', thirdloopKey: false, opencodeConfig: '{}', argc: 1, first: 'a b' });
  });

  it('makeStandIn: an executable `claude` and `opencode` in a folder of their own, which remove() takes away', async () => {
    const standIn = await makeStandIn('linux');
    for (const name of ['claude', 'opencode']) {
      const program = path.join(standIn.dir, name);
      expect(statSync(program).mode & 0o777).toBe(0o755);
      const mark = standInMark(newMark(), name);
      const out = spawnSync(program, [mark, 'a b'], { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' } });
      expect(parseStandIn(out.stdout.toString(), mark)).toMatchObject({ baseUrl: 'http://127.0.0.1:9', argc: 1, first: 'a b' });
    }
    await standIn.remove();
    expect(() => statSync(standIn.dir)).toThrow();
  });
});

describe('definesCommand: a line that makes `claude` something else', () => {
  const POSITIVE: Array<[string, string]> = [
    // bash and zsh
    ['alias claude="$HOME/.claude/local/claude"', 'claude'],
    ["alias claude='npx @anthropic-ai/claude-code'", 'claude'],
    ['    alias claude="$HOME/.claude/local/claude"', 'claude'],
    ['\talias claude=~/.claude/local/claude', 'claude'],
    ['alias -g claude=x', 'claude'],
    ['alias ll="ls -l" claude=x', 'claude'],
    ['claude() { command claude --verbose "$@"; }', 'claude'],
    ['claude () {', 'claude'],
    ['  claude() {', 'claude'],
    ['function claude {', 'claude'],
    ['function claude() {', 'claude'],
    ['true; alias claude=x', 'claude'],
    ['[ -x ~/.claude/local/claude ] && alias claude=~/.claude/local/claude', 'claude'],
    ['command -v claude >/dev/null || alias claude=x', 'claude'],
    ['if [ -d ~/.claude ]; then alias claude=x; fi', 'claude'],
    ['opencode() { echo hi; }', 'opencode'],
    // fish
    ["alias claude '~/.claude/local/claude'", 'claude'],
    ['alias claude=~/.claude/local/claude', 'claude'],
    ['alias --save claude "x"', 'claude'],
    ['function claude', 'claude'],
    ['function claude --wraps claude', 'claude'],
    ['    function claude --description "local"', 'claude'],
    // PowerShell
    ['Set-Alias claude C:\\Users\\ada\\.claude\\local\\claude.exe', 'claude'],
    ['Set-Alias -Name claude -Value x', 'claude'],
    ['New-Alias -Name claude -Value x -Force', 'claude'],
    ['set-alias -Scope Global -Name claude -Value x', 'claude'],
    ['Set-Alias -Value x -Name claude', 'claude'],
    ['function claude { & x @args }', 'claude'],
    ['function global:claude { & x @args }', 'claude'],
    ['function script:claude { }', 'claude'],
    ['Function Claude {', 'claude'],
  ];
  const NEGATIVE = [
    '# alias claude="$HOME/.claude/local/claude"',
    '  # claude() {',
    'claudette() {',
    'myclaude() {',
    'alias cl=claude',
    "alias cl='claude --verbose'",
    'alias cl claude',
    'echo claude',
    'claude --version',
    'export PATH="$HOME/.claude/local:$PATH"',
    'unalias claude 2>/dev/null || :',
    'function claude-dev { claude --verbose "$@"; }',
    'function claude_dev',
    'alias claude-dev=claude',
    'echo "alias claude=x" >> ~/.bashrc',
    'Set-Alias cl claude',
    'Set-Alias -Name cl -Value claude',
    'functions -e claude',
  ];

  it.each(POSITIVE)('%j defines %s', (line, command) => {
    expect(definesCommand(line)).toBe(command);
  });
  it.each(NEGATIVE)('%j defines nothing', (line) => {
    expect(definesCommand(line)).toBeUndefined();
  });
});

describe('thirdloopInvocation: how the functions start thirdloop', () => {
  const bin = path.join(root.home, 'bin');
  mkdirSync(bin);
  const env = { PATH: `${bin}:/nonexistent` };

  it('an installed script: the running node, then the script, by absolute paths', () => {
    const script = '/usr/lib/node_modules/thirdloop/bin/thirdloop.js';
    expect(thirdloopInvocation({ platform: 'linux', env, nodePath: '/opt/node 20/bin/node', cliPath: script })).toEqual(['/opt/node 20/bin/node', script]);
    // Without the seam, the node running now.
    expect(thirdloopInvocation({ platform: 'linux', env, cliPath: script })).toEqual([process.execPath, script]);
  });

  const npx = '/home/ada/.npm/_npx/1a2b3c/node_modules/thirdloop/bin/thirdloop.js';

  it('from npx’s cache with no thirdloop on PATH: a clear error that says nothing changed and how to install', () => {
    // Neither a folder named thirdloop nor a file that is not executable is a program.
    mkdirSync(path.join(bin, 'thirdloop'));
    let error: unknown;
    try {
      thirdloopInvocation({ platform: 'linux', env, cliPath: npx });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(/Nothing was changed\.$/);
    expect((error as UserError).message).toContain('npx');
    expect((error as UserError).hint).toContain('npm install -g thirdloop');
    expect((error as UserError).exitCode).toBe(1);
  });

  it('from npx’s cache with a thirdloop on PATH: the name, found by the shell when `claude` runs', () => {
    const other = path.join(root.home, 'bin2');
    mkdirSync(other);
    writeFileSync(path.join(other, 'thirdloop'), '#!/bin/sh\n', { mode: 0o644 });
    expect(() => thirdloopInvocation({ platform: 'linux', env: { PATH: other }, cliPath: npx })).toThrow(UserError);
    chmodSync(path.join(other, 'thirdloop'), 0o755);
    expect(thirdloopInvocation({ platform: 'linux', env: { PATH: `/nonexistent:${other}` }, cliPath: npx })).toEqual(['thirdloop']);
    // A Windows npx cache too.
    expect(thirdloopInvocation({ platform: 'linux', env: { PATH: other }, cliPath: 'C:\\Users\\ada\\AppData\\Local\\npm-cache\\_npx\\ab\\x.js' })).toEqual(['thirdloop']);
  });
});

describe('thirdloopInvocation under npx, with the PATH npx really gives what it runs', () => {
  // `npx thirdloop` starts thirdloop with PATH=<npx cache>/node_modules/.bin:<cwd>/node_modules/.bin:…
  // (and npm's node-gyp-bin) before the terminal's own folders; the first holds npx's own `thirdloop`.
  // A new terminal has none of those folders: a `thirdloop` found only there is not one `claude` can start.
  const npxRoot = path.join(root.home, '.npm/_npx/3754ae20609b412a');
  const npx = path.join(npxRoot, 'node_modules/thirdloop/bin/thirdloop.js');
  const npxBin = path.join(npxRoot, 'node_modules/.bin');
  const projectBin = path.join(root.home, 'project/node_modules/.bin');
  const gypBin = path.join(root.home, 'lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin');
  const globalBin = path.join(root.home, '.npm-global/bin');
  for (const folder of [npxBin, projectBin, gypBin, globalBin]) mkdirSync(folder, { recursive: true });
  for (const folder of [npxBin, projectBin, gypBin]) writeFileSync(path.join(folder, 'thirdloop'), '#!/bin/sh\n', { mode: 0o755 });

  // npx run in a project's folder: npm adds node_modules/.bin of it and of each folder above it.
  const cwd = path.join(root.home, 'project/src');
  mkdirSync(cwd, { recursive: true });

  it('only npx’s own thirdloop (or the project’s) on PATH: refused, nothing changed', () => {
    const PATH = [npxBin, path.join(cwd, 'node_modules/.bin'), projectBin, path.join(root.home, 'node_modules/.bin'), gypBin, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
    expect(() => thirdloopInvocation({ platform: 'linux', env: { PATH }, cliPath: npx, cwd })).toThrow(/Nothing was changed\./);
  });

  it('a thirdloop installed where terminals look as well: the name', () => {
    writeFileSync(path.join(globalBin, 'thirdloop'), '#!/bin/sh\n', { mode: 0o755 });
    const PATH = [npxBin, projectBin, gypBin, globalBin, '/usr/bin', '/bin'].join(':');
    expect(thirdloopInvocation({ platform: 'linux', env: { PATH }, cliPath: npx, cwd })).toEqual(['thirdloop']);
  });

  it('a node_modules/.bin the user put on PATH themselves (not the working folder’s or above it): the name', () => {
    const tools = path.join(root.home, 'tools/node_modules/.bin');
    mkdirSync(tools, { recursive: true });
    writeFileSync(path.join(tools, 'thirdloop'), '#!/bin/sh\n', { mode: 0o755 });
    const PATH = [npxBin, projectBin, gypBin, tools, '/usr/bin', '/bin'].join(':');
    expect(thirdloopInvocation({ platform: 'linux', env: { PATH }, cliPath: npx, cwd })).toEqual(['thirdloop']);
    // From inside that folder, npm would have added it: then it does not count.
    expect(() => thirdloopInvocation({ platform: 'linux', env: { PATH: [npxBin, tools, '/usr/bin'].join(':') }, cliPath: npx, cwd: path.join(root.home, 'tools') })).toThrow(UserError);
  });
});

describe('the plan for the files of our own, in a real config folder', () => {
  const credential = makeCredential('runplan');
  const run: RunValues = { thirdloop: ['/usr/bin/node', '/opt/thirdloop/bin/thirdloop.js'], profile: 'default', commands: ['claude'] };
  const env = { apiUrl: 'https://tl.example.com', credential };
  const context = (): PlanContext => {
    const dir = path.join(root.home, `config-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    return { e: { platform: 'linux', homedir: root.home, env: {} }, dir, label: (f) => f, edits: [] };
  };
  const shells = ['bash', 'zsh', 'fish', 'powershell'] as const;

  it('--via-run: one run file per shell family, 0644, holding no secret; bash and zsh share run.sh', async () => {
    const pc = context();
    const plan = await planOwnFiles(pc, [...shells], 'run', { run });
    expect(plan.map((p) => [path.basename(p.change.path), p.change.shells, p.change.kind, p.change.action, p.change.holdsSecret, p.mode?.toString(8)])).toEqual([
      ['run.sh', ['bash', 'zsh'], 'run-file', 'create', false, '644'],
      ['run.fish', ['fish'], 'run-file', 'create', false, '644'],
      ['run.ps1', ['powershell'], 'run-file', 'create', false, '644'],
    ]);
    expect(RUN_FILE_MODE).toBe(0o644);
    for (const p of plan) expect(p.bytes!.toString()).not.toContain(credential.split(';')[1]!);
  });

  it('exports: env files, 0600, holding the secret', async () => {
    const plan = await planOwnFiles(context(), [...shells], 'env', { env });
    expect(plan.map((p) => [path.basename(p.change.path), p.change.kind, p.change.holdsSecret, p.mode?.toString(8)])).toEqual([
      ['env.sh', 'env-file', true, '600'],
      ['env.fish', 'env-file', true, '600'],
      ['env.ps1', 'env-file', true, '600'],
    ]);
  });

  it('a run file whose bytes and mode are as they would be is unchanged; another mode or other bytes is an update', async () => {
    const pc = context();
    for (const p of await planOwnFiles(pc, ['bash', 'fish'], 'run', { run })) writeFileSync(p.change.path, p.bytes!, { mode: p.mode });
    const again = await planOwnFiles(pc, ['bash', 'fish'], 'run', { run });
    expect(again.map((p) => [path.basename(p.change.path), p.change.action, p.bytes])).toEqual([
      ['run.sh', 'unchanged', undefined],
      ['run.fish', 'unchanged', undefined],
    ]);
    chmodSync(path.join(pc.dir, 'run.sh'), 0o600);
    writeFileSync(path.join(pc.dir, 'run.fish'), `${readFileSync(path.join(pc.dir, 'run.fish'), 'utf8')}# mine\n`);
    const changed = await planOwnFiles(pc, ['bash', 'fish'], 'run', { run });
    expect(changed.map((p) => [path.basename(p.change.path), p.change.action])).toEqual([
      ['run.sh', 'update'],
      ['run.fish', 'update'],
    ]);
    // A different profile is different bytes.
    const other = await planOwnFiles(pc, ['zsh'], 'run', { run: { ...run, profile: 'work' } });
    expect(other[0]!.change.action).toBe('update');
    expect(other[0]!.bytes!.toString()).toContain("run --profile 'work' -- claude");
  });

  it('a FIFO or a folder where a run file goes: refused with one sentence, nothing opened', async () => {
    const pc = context();
    expect(spawnSync('mkfifo', [path.join(pc.dir, 'run.sh')]).status).toBe(0);
    await expect(planOwnFiles(pc, ['bash'], 'run', { run })).rejects.toThrow(/run\.sh: it is a FIFO \(named pipe\).*Nothing was changed\./);
    mkdirSync(path.join(pc.dir, 'run.fish'));
    await expect(planOwnFiles(pc, ['fish'], 'run', { run })).rejects.toThrow(/run\.fish: it is a directory/);
  });

  it('unused own files: regular files are removed (env files named as holding the secret); a FIFO or folder in their place is left alone, without waiting, and said', async () => {
    const pc = context();
    writeFileSync(path.join(pc.dir, 'env.sh'), 'export ANTHROPIC_API_KEY=x\n', { mode: 0o600 });
    writeFileSync(path.join(pc.dir, 'run.fish'), 'function claude\nend\n');
    expect(spawnSync('mkfifo', [path.join(pc.dir, 'env.fish')]).status).toBe(0);
    mkdirSync(path.join(pc.dir, 'env.ps1'));
    writeFileSync(path.join(pc.dir, 'run.sh'), '# kept\n');
    const plan = await planUnusedOwnFiles(pc, new Set(['run.sh']));
    expect(plan.map((p) => [path.basename(p.change.path), p.change.action, p.change.kind, p.change.holdsSecret, p.change.shells])).toEqual([
      ['env.sh', 'remove', 'env-file', true, ['bash', 'zsh']],
      ['env.fish', 'unchanged', 'env-file', true, ['fish']],
      ['env.ps1', 'unchanged', 'env-file', true, ['powershell']],
      ['run.fish', 'remove', 'run-file', false, ['fish']],
    ]);
    expect(plan[0]!.beforeText).toBe('export ANTHROPIC_API_KEY=x\n');
    // An env file that cannot be removed may still hold a key: the user is told to remove it.
    expect(plan[1]!.change.warnings).toEqual([expect.stringMatching(/env\.fish: it is a FIFO \(named pipe\).*It was left in place and may hold a key: remove .*env\.fish by hand\.$/)]);
    expect(plan[2]!.change.warnings).toEqual([expect.stringMatching(/env\.ps1: it is a directory.*remove .*env\.ps1 by hand\.$/)]);
    // Keeping everything removes nothing.
    expect(await planUnusedOwnFiles(pc, new Set(OWN_FILE_NAMES))).toEqual([]);
  });
});

describe('blockMode: what a block sources', () => {
  const e = (homedir: string) => ({ platform: 'linux' as const, homedir, env: {} });
  const shellsOf: ProfileShell[] = [bash, zsh, fish, powershell];

  it.each(shellsOf.map((s) => [s.name, s] as const))('%s: its own run file is run, its env file env, in any config folder', (_name, shell) => {
    for (const dir of ['/home/ada/.config/thirdloop', '/srv/env.sh configs/thirdloop', '/home/ada/run.sh.d/thirdloop', "/home/it's/run.fish here"]) {
      const run = shell.sourceBlock(`${dir}/${shell.runFileName}`, e('/home/ada'), RUN_BLOCK_COMMENT).join('\n');
      const exports = shell.sourceBlock(`${dir}/${shell.envFileName}`, e('/home/ada'), BLOCK_COMMENT).join('\n');
      expect(blockMode(run), run).toBe('run');
      expect(blockMode(exports), exports).toBe('env');
    }
  });

  it('Windows PowerShell blocks under APPDATA, and a text naming neither', () => {
    const win = { platform: 'win32' as const, homedir: 'C:\\Users\\ada', env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' } };
    expect(blockMode(powershell.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\run.ps1', win, RUN_BLOCK_COMMENT).join('\n'))).toBe('run');
    expect(blockMode(powershell.sourceBlock('C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.ps1', win).join('\n'))).toBe('env');
    expect(blockMode('# >>> thirdloop >>>\n# <<< thirdloop <<<\n')).toBeUndefined();
  });
});

describe('planUndo: a start-up file another shell still reads keeps the file its block sources', () => {
  /** ~/.bashrc read by bash and zsh (one file, two shells), bash undone: what zsh's block sources stays. */
  async function undoBashOnly(configDir: string, mode: 'run' | 'env') {
    const home = path.join(root.home, `undo-${randomBytes(4).toString('hex')}`);
    const dir = path.join(home, configDir);
    mkdirSync(dir, { recursive: true });
    for (const own of ['env.sh', 'run.sh', 'env.fish']) writeFileSync(path.join(dir, own), '# ours\n');
    const e = { platform: 'linux' as const, homedir: home, env: {} };
    const own = path.join(dir, mode === 'run' ? 'run.sh' : 'env.sh');
    const rc = path.join(home, '.bashrc');
    writeFileSync(rc, placeBlock('# mine\n', bash.sourceBlock(own, e, mode === 'run' ? RUN_BLOCK_COMMENT : BLOCK_COMMENT)).text);
    const pc: PlanContext = { e, dir, label: (f) => f, edits: [] };
    const undone = await planUndo(pc, ['bash'], [{ path: rc, shells: ['bash', 'zsh'], ours: false }]);
    return { undone, removed: undone.plan.filter((p) => p.change.action === 'remove').map((p) => path.basename(p.change.path)) };
  }

  it.each([
    ['.config/thirdloop', 'run', ['run.sh'], ['env.sh', 'env.fish']],
    ['.config/thirdloop', 'env', ['env.sh'], ['env.fish', 'run.sh']],
    // A folder on the way that looks like one of our files does not decide the mode.
    ['run.sh.d/thirdloop', 'env', ['env.sh'], ['env.fish', 'run.sh']],
    ['env.sh files/thirdloop', 'run', ['run.sh'], ['env.sh', 'env.fish']],
  ] as const)('config in ~/%s, a %s block: keeps %j, removes %j', async (configDir, mode, kept, removed) => {
    const { undone, removed: gone } = await undoBashOnly(configDir, mode);
    expect([...undone.stillUsed]).toEqual(kept);
    expect(gone).toEqual(removed);
    // The shared file keeps its block: it is not part of the plan.
    expect(undone.plan.filter((p) => p.change.kind === 'profile')).toEqual([]);
  });
});
