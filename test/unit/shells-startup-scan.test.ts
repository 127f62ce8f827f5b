/**
 * The pure parts of the judge: reading start-up files in each shell's order
 * for lines that undo the block (and lines that stop the reading before
 * it), the probe's output, and the words used for what a shell saw, which
 * never hold a secret.
 */
import { describe, expect, it } from 'vitest';
import { fromBytes } from '../../src/files/byte-text.js';
import { placeBlock } from '../../src/files/marked-block.js';
import { bash } from '../../src/shells/bash.js';
import { fish } from '../../src/shells/fish.js';
import { parseProbe, powershellProbe, shProbe } from '../../src/shells/probe-command.js';
import { scanStartup, type Finding } from '../../src/shells/startup-scan.js';
import type { ProfileShell, ShellLayout } from '../../src/shells/types.js';
import { describeSeen, redactShellText, stderrProblem } from '../../src/shells/verify.js';
import { zsh } from '../../src/shells/zsh.js';

const BODY = ['# managed', 'if [ -f "$HOME/e" ]; then . "$HOME/e"; fi'];
const withBlock = (text: string) => placeBlock(text, BODY).text;
const view = (text: string) => fromBytes(Buffer.from(text));

function scan(shell: ProfileShell, layout: ShellLayout, files: Record<string, string>): Finding[] {
  return scanStartup(shell, layout, new Map(Object.entries(files).map(([p, t]) => [p, view(t)])));
}
const brief = (findings: Finding[]) => findings.map((f) => `${f.kind} ${f.file}:${f.line}${f.variable ? ` ${f.variable}` : ''}${f.does ? ` ${f.does}` : ''} [${f.modes.join(',')}]`);

const bashLayout: ShellLayout = {
  files: [
    { path: '/h/.profile', modes: ['login', 'interactive login'], target: true },
    { path: '/h/.bashrc', modes: ['interactive'], target: true },
  ],
  notes: [],
};
const zshLayout: ShellLayout = {
  files: [
    { path: '/h/.zshenv', modes: ['interactive', 'login', 'interactive login'], target: true },
    { path: '/h/.zprofile', modes: ['login', 'interactive login'] },
    { path: '/h/.zshrc', modes: ['interactive', 'interactive login'], target: true },
    { path: '/h/.zlogin', modes: ['login', 'interactive login'] },
  ],
  notes: [],
};

describe('the start-up scan', () => {
  it('names a line after the last block as an override, one before it as a line the block beats', () => {
    const findings = scan(zsh, zshLayout, {
      '/h/.zshenv': withBlock('export ANTHROPIC_API_KEY=early\n'),
      '/h/.zshrc': withBlock('export ANTHROPIC_BASE_URL=x\n') + 'unset ANTHROPIC_API_KEY\n',
      '/h/.zlogin': 'export ANTHROPIC_API_KEY=late\n',
    });
    expect(brief(findings)).toEqual([
      'earlier /h/.zshenv:1 ANTHROPIC_API_KEY [interactive,login,interactive login]',
      'earlier /h/.zshrc:1 ANTHROPIC_BASE_URL [interactive,interactive login]',
      'override /h/.zshrc:6 ANTHROPIC_API_KEY [interactive,interactive login]',
      'override /h/.zlogin:1 ANTHROPIC_API_KEY [login,interactive login]',
    ]);
    expect(findings.find((f) => f.file === '/h/.zshrc' && f.kind === 'override')!.unsets).toBe(true);
  });

  it('ANTHROPIC_AUTH_TOKEN anywhere is worth a word', () => {
    expect(brief(scan(bash, bashLayout, { '/h/.bashrc': withBlock('[ -n x ] && export ANTHROPIC_AUTH_TOKEN=t\n') }))).toEqual([
      'auth-token /h/.bashrc:1 ANTHROPIC_AUTH_TOKEN [interactive]',
    ]);
  });

  it('a return before the block stops the file; the Debian guard for non-interactive shells does not count for interactive ones', () => {
    const debian = 'case $- in\n    *i*) ;;\n      *) return;;\nesac\nHISTSIZE=1000\n';
    expect(scan(bash, bashLayout, { '/h/.bashrc': withBlock(debian) })).toEqual([]);
    expect(scan(bash, bashLayout, { '/h/.bashrc': withBlock('[[ $- != *i* ]] && return\n') })).toEqual([]);
    // The same guard in ~/.profile does stop a non-interactive login shell.
    expect(brief(scan(bash, bashLayout, { '/h/.profile': withBlock('[ -z "$PS1" ] && return\n') }))).toEqual(['stops /h/.profile:1 return [login]']);
    expect(brief(scan(bash, bashLayout, { '/h/.bashrc': withBlock('[ -f ~/.in-container ] && return\n') }))).toEqual(['stops /h/.bashrc:1 return [interactive]']);
  });

  it('a return inside a function is the function’s; exec with a command replaces the shell, exec with redirections does not', () => {
    const text = 'f() {\n  return 1\n}\nfunction g {\n  [ -z "$1" ] && return\n}\nexec 2>/dev/null\nexec >>"$HOME/log"\n[ -z "$TMUX" ] && exec tmux\n';
    const findings = scan(bash, bashLayout, { '/h/.bashrc': withBlock(text) });
    expect(brief(findings)).toEqual(['stops /h/.bashrc:9 exec tmux [interactive]']);
    expect(findings[0]!.code).toBe('[ -z "$TMUX" ] && exec tmux');
    expect(findings[0]!.afterBlock).toBe(false);
  });

  it('an exec in .zshrc after the .zshenv block ran hands over with the variables already set', () => {
    const findings = scan(zsh, zshLayout, { '/h/.zshenv': withBlock(''), '/h/.zshrc': '[ -z "$TMUX" ] && exec tmux\n' });
    expect(findings.map((f) => [f.kind, f.does, f.afterBlock])).toEqual([['stops', 'exec tmux', true]]);
  });

  it('fish: config.fish runs after conf.d; functions and `status is-interactive` blocks are understood', () => {
    const layout: ShellLayout = {
      files: [
        { path: '/h/conf.d/a.fish', modes: ['interactive', 'login'] },
        { path: '/h/conf.d/thirdloop.fish', modes: ['interactive', 'login'], target: true },
        { path: '/h/config.fish', modes: ['interactive', 'login'] },
      ],
      notes: [],
    };
    const findings = scan(fish, layout, {
      '/h/conf.d/a.fish': 'function f\n  return 1\nend\nset -gx ANTHROPIC_BASE_URL early\n',
      '/h/conf.d/thirdloop.fish': withBlock(''),
      '/h/config.fish': 'if not status is-interactive\n    exit\nend\nset -gx ANTHROPIC_API_KEY sk-ant-x\nset -e ANTHROPIC_BASE_URL\n',
    });
    expect(brief(findings)).toEqual([
      'earlier /h/conf.d/a.fish:4 ANTHROPIC_BASE_URL [interactive,login]',
      'override /h/config.fish:4 ANTHROPIC_API_KEY [interactive,login]',
      'override /h/config.fish:5 ANTHROPIC_BASE_URL [interactive,login]',
      'stops /h/config.fish:2 exit [login]',
    ]);
  });

  it('reads CRLF and Latin-1 files as they are', () => {
    const latin1 = Buffer.from('# caf\xe9\r\nexport ANTHROPIC_API_KEY=x\r\n', 'latin1');
    const findings = scanStartup(bash, bashLayout, new Map([['/h/.bashrc', fromBytes(Buffer.concat([latin1, Buffer.from(placeBlock('', BODY).text)]))]]));
    expect(brief(findings)).toEqual(['earlier /h/.bashrc:2 ANTHROPIC_API_KEY [interactive]']);
  });
});

describe('the probe', () => {
  it('is the same text in bash, zsh and fish quotes (no single quote, no backslash inside), and reads back out of noise', () => {
    const command = shProbe('TLabc:');
    expect(command.startsWith("exec /bin/sh -c '")).toBe(true);
    expect(command.slice("exec /bin/sh -c '".length, -1)).not.toMatch(/['\\]/);
    expect(parseProbe('motd\nTLabc:B=https://x TLabc:K=k;1TLabc:TsetTLabc:E\nbye', 'TLabc:')).toEqual({ baseUrl: 'https://x ', apiKey: 'k;1', authToken: true });
    expect(parseProbe('TLabc:BTLabc:KTLabc:TTLabc:E', 'TLabc:')).toEqual({ baseUrl: undefined, apiKey: undefined, authToken: false });
    expect(parseProbe('TLabc:B=', 'TLabc:')).toBeUndefined();
    expect(powershellProbe('TLabc:')).toContain("Test-Path Env:ANTHROPIC_API_KEY");
  });

  it('says what was seen without the secret', () => {
    const expected = { baseUrl: 'https://tl.example.com', credential: 'tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_secret' };
    expect(describeSeen({ baseUrl: expected.baseUrl, apiKey: expected.credential, authToken: false }, expected)).toBeUndefined();
    expect(describeSeen({ authToken: false }, expected)).toBe('no ANTHROPIC_BASE_URL and no ANTHROPIC_API_KEY');
    expect(describeSeen({ baseUrl: 'https://user:pw@api.anthropic.com', apiKey: 'sk-ant-api03-xyz', authToken: false }, expected)).toBe(
      'ANTHROPIC_BASE_URL=https://api.anthropic.com and an ANTHROPIC_API_KEY that is not the Third Loop key',
    );
    expect(describeSeen({ baseUrl: expected.baseUrl, apiKey: 'tlk_BBBBBBBBBBBBBBBBBBBBBBBB;tls_other', authToken: false }, expected)).toBe(
      'ANTHROPIC_API_KEY of another key (tlk_BBBBBBBBBBBBBBBBBBBBBBBB)',
    );
    expect(describeSeen({ baseUrl: expected.baseUrl, apiKey: '', authToken: false }, expected)).toBe('an empty ANTHROPIC_API_KEY');
  });

  it('quotes what the shell said about a problem, with any key hidden', () => {
    const stderr = [
      'bash: cannot set terminal process group (1): Inappropriate ioctl for device',
      'bash: no job control in this shell',
      "+ export ANTHROPIC_API_KEY='tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_secret' ANTHROPIC_OTHER=sk-ant-api03-abc: command not found",
    ].join('\n');
    expect(stderrProblem(stderr, ['tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_secret'])).toBe("+ export ANTHROPIC_API_KEY='<redacted>' ANTHROPIC_OTHER=sk-ant-<redacted>: command not found");
    expect(stderrProblem('/home/a/.bashrc: line 3: syntax error: unexpected end of file\n', [])).toBe('/home/a/.bashrc: line 3: syntax error: unexpected end of file');
    expect(redactShellText('x tls_abcdef y', [])).toBe('x tls_*** y');
  });
});
