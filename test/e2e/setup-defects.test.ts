/**
 * The defects of issue 14 one by one, each judged by the real shell that
 * users run (setup-homes.test.ts runs whole homes through the full cycle;
 * this file names each defect and its smallest reproduction).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureShells } from '../../src/shells/configure.js';
import { needs } from '../helpers/components.js';
import { makeCredential, tempHome, testContext, type TempHome } from '../helpers/setup-env.js';

const API_URL = 'https://thirdloop.example.com';
const CREDENTIAL = makeCredential('defects');
const missing = needs('bash', 'zsh', 'fish');

let home: TempHome;
beforeEach(() => {
  home = tempHome();
});
afterEach(() => home.cleanup());
const h = (...parts: string[]) => path.join(home.home, ...parts);

const setup = (shells: Array<'bash' | 'zsh' | 'fish'>, platform: NodeJS.Platform = 'linux') =>
  configureShells(testContext(home.home, { platform }).ctx, { shells, apiUrl: API_URL, credential: CREDENTIAL });
const undo = (shells: Array<'bash' | 'zsh' | 'fish'>) => configureShells(testContext(home.home).ctx, { shells, undo: true });

/** What a new terminal started as `flags` prints for `command` (no product code involved). */
function terminal(shell: 'bash' | 'zsh' | 'fish', flags: string[], command = 'printf "%s|%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY"'): string {
  return execFileSync(shell, [...flags, '-c', command], {
    env: { HOME: home.home, PATH: process.env.PATH, TERM: 'xterm-256color' },
    cwd: home.home,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 30_000,
  });
}
const BOTH = `${API_URL}|${CREDENTIAL}`;

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
});
