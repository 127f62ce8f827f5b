/**
 * The defects of issue 14 one by one, each judged by the real shell that
 * users run (setup-homes.test.ts runs whole homes through the full cycle;
 * this file names each defect and its smallest reproduction).
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkShells } from '../../src/doctor/shells.js';
import { configureShells, runShellSetup } from '../../src/shells/configure.js';
import { needs } from '../helpers/components.js';
import { makeCredential, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('defects');
const missing = needs('bash', 'zsh', 'fish', 'sh');

let home: TempHome;
/** FIFOs a test made: opened for writing at the end, so a reader the code under test left blocked gets EOF. */
const fifos: string[] = [];
beforeEach(() => {
  home = tempHome();
});
afterEach(() => {
  for (const fifo of fifos.splice(0)) {
    try {
      closeSync(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));
    } catch {
      /* gone */
    }
  }
  home.cleanup();
});
const h = (...parts: string[]) => path.join(home.home, ...parts);

const setup = (shells: Array<'bash' | 'zsh' | 'fish'>, platform: NodeJS.Platform = 'linux') =>
  configureShells(testContext(home.home, { platform }).ctx, { shells, apiUrl: API_URL, credential: CREDENTIAL });
const undo = (shells: Array<'bash' | 'zsh' | 'fish'>) => configureShells(testContext(home.home).ctx, { shells, undo: true });

/** What a new terminal started as `flags` prints for `command` (no product code involved); `uid`: as that user. */
function terminal(shell: 'bash' | 'zsh' | 'fish' | 'sh', flags: string[], command = 'printf "%s|%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY"', uid?: number): string {
  const [program, args] = uid === undefined ? [shell, [...flags, '-c', command]] : ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', shell, ...flags, '-c', command]];
  return execFileSync(program, args, {
    env: { HOME: home.home, PATH: process.env.PATH, TERM: 'xterm-256color' },
    cwd: home.home,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 30_000,
  });
}
const BOTH = `${API_URL}|${CREDENTIAL}`;

/** The promise's outcome, or a rejection saying it hung (a FIFO read blocks forever). */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

/** doctor's verdict on each shell, as `thirdloop doctor` computes it. */
async function doctorSays(): Promise<Record<string, { status: string; message: string }>> {
  const { ctx } = testContext(home.home);
  const config = await ctx.config();
  const results = await checkShells({ e: { platform: 'linux', homedir: home.home, env: ctx.env }, config, credential: CREDENTIAL, apiUrl: API_URL });
  return Object.fromEntries(results.map((r) => [r.check, { status: r.status, message: r.message }]));
}

/** The lines a unified diff adds. */
const addedLines = (diff: string) =>
  diff
    .split('\n')
    .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
    .map((line) => line.slice(1));

const OTHER_UID = 4321;
const isRoot = process.getuid?.() === 0;

describe.skipIf(missing)('issue 14, defect by defect, judged by the real shells', () => {
  it('1. a CRLF .bashrc: the block closes its `if` (LF lines), every new bash gets the variables, undo is byte-exact', async () => {
    const original = "# synced from Windows\r\nalias ll='ls -l'\r\n";
    writeFileSync(h('.bashrc'), original);
    await setup(['bash']);
    expect(terminal('bash', ['-i'])).toBe(BOTH);
    await undo(['bash']);
    expect(readFileSync(h('.bashrc'), 'latin1')).toBe(original);
  });

  it('2. ZDOTDIR set in ~/.zshenv (not exported), setup run from elsewhere: the files zsh really reads get the block', async () => {
    writeFileSync(h('.zshenv'), 'ZDOTDIR=$HOME/.config/zsh\n');
    mkdirSync(h('.config', 'zsh'), { recursive: true });
    writeFileSync(h('.config', 'zsh', '.zshrc'), 'setopt autocd\n');
    await setup(['zsh']);
    expect(existsSync(h('.zshrc'))).toBe(false); // zsh never reads it
    expect(terminal('zsh', ['-i'])).toBe(BOTH);
    expect(terminal('zsh', ['-l'])).toBe(BOTH);
  });

  it('3. login shells (ssh host cmd, su -, IDEs) get the variables: bash -l and zsh -l on a Debian home', async () => {
    for (const name of ['.bashrc', '.profile']) writeFileSync(h(name), readFileSync(path.join('/etc/skel', name)));
    await setup(['bash', 'zsh']);
    expect(terminal('bash', ['-l'])).toBe(BOTH);
    expect(terminal('zsh', ['-l'])).toBe(BOTH);
    expect(terminal('bash', ['-i'])).toBe(BOTH);
  });

  it('3. desktop sessions read ~/.profile with sh even where ~/.bash_profile exists: both get the block', async () => {
    writeFileSync(h('.bash_profile'), 'export PATH="$HOME/bin:$PATH"\n'); // does not source ~/.profile
    writeFileSync(h('.profile'), 'export EDITOR=vim\n');
    writeFileSync(h('.bashrc'), "alias ll='ls -l'\n");
    await setup(['bash']);
    expect(terminal('bash', ['-l'])).toBe(BOTH);
    // What Xsession and display managers do: sh reads ~/.profile.
    expect(terminal('sh', ['-l'])).toBe(BOTH);
    await undo(['bash']);
    expect(readFileSync(h('.profile'), 'utf8')).toBe('export EDITOR=vim\n');
  });

  it('4. macOS with only ~/.profile: no ~/.bash_profile appears, so bash -l still reads the user’s ~/.profile', async () => {
    mkdirSync(h('mybin'));
    writeFileSync(h('.profile'), 'export PATH="$HOME/mybin:$PATH"\n');
    await setup(['bash'], 'darwin');
    expect(readdirSync(home.home)).not.toContain('.bash_profile');
    expect(terminal('bash', ['-l'], 'case ":$PATH:" in *":$HOME/mybin:"*) printf "%s|%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY";; esac')).toBe(BOTH);
  });

  it('10. undo knows from its record, not from a backup, that it did not create a file: an empty ~/.zshrc stays', async () => {
    writeFileSync(h('.zshrc'), '');
    await setup(['zsh']);
    rmSync(h('.zshrc.thirdloop-backup'), { force: true });
    await undo(['zsh']);
    expect(existsSync(h('.zshrc'))).toBe(true);
    expect(readFileSync(h('.zshrc'), 'utf8')).toBe('');
  });

  it('12. the block ends with a newline: a later `echo … >> ~/.bashrc` is a line of its own, setup and undo still work', async () => {
    writeFileSync(h('.bashrc'), 'alias k=kubectl'); // no final newline
    await setup(['bash']);
    appendFileSync(h('.bashrc'), 'alias kk=kubectl\n');
    expect(terminal('bash', ['-i'], 'alias kk')).toContain('kubectl');
    await setup(['bash']);
    await undo(['bash']);
    expect(readFileSync(h('.bashrc'), 'utf8')).toBe('alias k=kubectl\nalias kk=kubectl\n');
  });

  it('5. a FIFO ~/.bashrc: setup, --dry-run, --undo and doctor answer at once (no hang), setup with one sentence naming it', async () => {
    execFileSync('mkfifo', [h('.bashrc')]);
    fifos.push(h('.bashrc'));
    writeFileSync(h('.zshrc'), 'setopt autocd\n');
    const error = (await within(10_000, setup(['bash'])).catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(/^Cannot edit ~\/\.bashrc: it is a FIFO \(named pipe\), not a regular file.*Nothing was changed\.$/);
    const dry = await within(10_000, configureShells(testContext(home.home).ctx, { shells: ['bash'], apiUrl: API_URL, credential: CREDENTIAL, dryRun: true })).catch((e: Error) => e);
    expect((dry as Error).message).toMatch(/FIFO/);
    await within(10_000, undo(['bash']));
    expect(lstatSync(h('.bashrc')).isFIFO()).toBe(true);
    // zsh set up; doctor then answers at once, bash's FIFO named as such.
    await setup(['zsh']);
    const verdicts = await within(60_000, doctorSays());
    expect(verdicts['shell:zsh']?.status).toBe('ok');
    expect(terminal('zsh', ['-i'])).toBe(BOTH);
  });

  it.skipIf(!isRoot)('5. a ~/.bashrc linked to a character device is refused, and the device node stays a device', async () => {
    execFileSync('mknod', [h('nulldev'), 'c', '1', '3']);
    symlinkSync(h('nulldev'), h('.bashrc'));
    const error = await setup(['bash']).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/~\/\.bashrc: it is a character device \(it links to .*nulldev\), not a regular file.*Nothing was changed\./);
    expect(lstatSync(h('nulldev')).isCharacterDevice()).toBe(true);
    await undo(['bash']);
    expect(lstatSync(h('nulldev')).isCharacterDevice()).toBe(true);
  });

  it.skipIf(!isRoot || Boolean(needs('setpriv')))('6. root on someone else’s home (sudo -E): every file stays or becomes the owner’s, and the owner’s terminals get the variables', async () => {
    const { ctx } = testContext(home.home, { credential: CREDENTIAL, apiUrl: API_URL }); // signed in by the owner
    writeFileSync(h('.bashrc'), "alias ll='ls -l'\n");
    writeFileSync(h('.profile'), 'export EDITOR=vim\n');
    chmodSync(h('.bashrc'), 0o640);
    execFileSync('chown', ['-R', `${OTHER_UID}:${OTHER_UID}`, home.home]);
    await configureShells(ctx, { shells: ['bash'], apiUrl: API_URL, credential: CREDENTIAL });
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
      const p = path.join(dir, name);
      return lstatSync(p).isDirectory() ? [p, ...walk(p)] : [p];
    });
    for (const file of walk(home.home)) expect(`${path.relative(home.home, file)} ${lstatSync(file).uid}:${lstatSync(file).gid}`).toBe(`${path.relative(home.home, file)} ${OTHER_UID}:${OTHER_UID}`);
    expect(statSync(h('.bashrc')).mode & 0o777).toBe(0o640);
    expect(statSync(h('.config', 'thirdloop', 'env.sh')).mode & 0o777).toBe(0o600);
    expect(terminal('bash', ['-i'], undefined, OTHER_UID)).toBe(BOTH);
    expect(terminal('bash', ['-l'], undefined, OTHER_UID)).toBe(BOTH);
  });

  it('7. config.fish sets its own ANTHROPIC_API_KEY after conf.d: setup does not call fish configured, and names the file and line', async () => {
    mkdirSync(h('.config', 'fish'), { recursive: true });
    writeFileSync(h('.config', 'fish', 'config.fish'), 'set -gx EDITOR vim\nset -gx ANTHROPIC_API_KEY sk-ant-personal-0000\n');
    const error = await setup(['fish']).catch((e: Error) => e);
    expect(terminal('fish', [])).not.toBe(BOTH); // reality: fish does not get our key
    expect((error as Error).message).toMatch(/~\/\.config\/fish\/config\.fish line 2 sets ANTHROPIC_API_KEY/);
  });

  it('7. ~/.bash_profile sources .bashrc, then exports a personal key: login shells still get the Third Loop key', async () => {
    writeFileSync(h('.bash_profile'), '[ -f ~/.bashrc ] && . ~/.bashrc\nexport ANTHROPIC_API_KEY=sk-ant-personal-0000\n');
    writeFileSync(h('.bashrc'), "alias ll='ls -l'\n");
    await setup(['bash']);
    expect(terminal('bash', ['-l'])).toBe(BOTH);
    expect(terminal('bash', ['-i'])).toBe(BOTH);
  });

  it('7. ~/.zlogin exports a personal key: setup does not call zsh configured, and names ~/.zlogin line 1', async () => {
    writeFileSync(h('.zshrc'), 'setopt autocd\n');
    writeFileSync(h('.zlogin'), 'export ANTHROPIC_API_KEY=sk-ant-personal-0000\n');
    const error = await setup(['zsh']).catch((e: Error) => e);
    expect(terminal('zsh', ['-l'])).not.toBe(BOTH);
    expect((error as Error).message).toMatch(/~\/\.zlogin line 1 sets ANTHROPIC_API_KEY/);
  });

  it('8. an early `return` before the block that this machine takes: setup says so (file and line) instead of ✓', async () => {
    writeFileSync(h('.bashrc'), "[ -f ~/.in-container ] && return\nalias ll='ls -l'\n");
    writeFileSync(h('.in-container'), '');
    const error = await setup(['bash']).catch((e: Error) => e);
    expect(terminal('bash', ['-i'])).not.toBe(BOTH);
    expect((error as Error).message).toMatch(/~\/\.bashrc line 1 \(`\[ -f ~\/\.in-container \] && return`\) stops the reading/);
  });

  it('8. a .bashrc that ends with `exec zsh -i`: setup says bash never reaches the check, naming the line', async () => {
    writeFileSync(h('.bashrc'), 'export EDITOR=vim\nexec zsh -i\n');
    const error = await setup(['bash']).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/~\/\.bashrc line 2 runs `exec zsh -i`/);
  });

  it('9. doctor agrees with the terminals: ✓ while they get both values, ✗ naming the file and line once a later line overrides the key', async () => {
    writeFileSync(h('.zshrc'), 'setopt autocd\n');
    await setup(['zsh']);
    expect(terminal('zsh', ['-i'])).toBe(BOTH);
    expect((await doctorSays())['shell:zsh']?.status).toBe('ok');
    appendFileSync(h('.zshrc'), 'export ANTHROPIC_API_KEY=sk-ant-personal-0000\n');
    expect(terminal('zsh', ['-i'])).not.toBe(BOTH);
    const verdict = (await doctorSays())['shell:zsh']!;
    expect(verdict.status).toBe('fail');
    expect(verdict.message).toMatch(/~\/\.zshrc line \d+ sets ANTHROPIC_API_KEY/);
    expect(verdict.message).not.toContain(CREDENTIAL.split(';')[1]);
  });

  it('9. doctor does not say ✓ when the env file the block sources is gone', async () => {
    writeFileSync(h('.bashrc'), "alias ll='ls -l'\n");
    await setup(['bash']);
    rmSync(h('.config', 'thirdloop', 'env.sh'));
    expect(terminal('bash', ['-i'])).not.toBe(BOTH);
    expect((await doctorSays())['shell:bash']?.status).not.toBe('ok');
  });

  it('11. a read-only ~/.bashrc (home-manager): --dry-run shows the lines; once they are in the file, setup works', async () => {
    mkdirSync(h('store'));
    writeFileSync(h('store', 'bashrc'), '# generated by home-manager\nexport EDITOR=vim\n');
    chmodSync(h('store', 'bashrc'), 0o444);
    symlinkSync(h('store', 'bashrc'), h('.bashrc'));
    const refused = (await setup(['bash']).catch((e: Error) => e)) as Error & { hint?: string };
    expect(refused.message).toMatch(/read-only/);
    const dry = await configureShells(testContext(home.home).ctx, { shells: ['bash'], apiUrl: API_URL, credential: CREDENTIAL, dryRun: true });
    const change = dry.find((c) => c.path === h('.bashrc'))!;
    const lines = addedLines(change.diff ?? '');
    expect(lines.join('\n')).toContain('# >>> thirdloop >>>');
    // What home-manager would generate once the user adds the lines to their configuration.
    chmodSync(h('store', 'bashrc'), 0o644);
    appendFileSync(h('store', 'bashrc'), `${lines.join('\n')}\n`);
    chmodSync(h('store', 'bashrc'), 0o444);
    await setup(['bash']);
    expect(terminal('bash', ['-i'])).toBe(BOTH);
  });
  it('a shell that is not installed where setup runs: its files are written and it is said to be unchecked, never ✓', async () => {
    mkdirSync(h('bin'));
    for (const program of ['bash', 'zsh']) symlinkSync(execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim(), h('bin', program));
    const { ctx } = testContext(home.home, { env: { PATH: h('bin') } });
    const result = await runShellSetup(ctx, { shells: ['bash', 'fish'], apiUrl: API_URL, credential: CREDENTIAL });
    expect(result.unverified).toEqual(['fish']);
    expect(result.failed).toEqual([]);
    expect(result.checks.find((c) => c.shell === 'fish')).toMatchObject({ installed: false });
    expect(result.checks.find((c) => c.shell === 'bash')).toMatchObject({ installed: true, ok: true });
    // Where fish is installed (a machine sharing this home), the files written unchecked work.
    expect(terminal('fish', ['-i'])).toBe(BOTH);
  });
});
