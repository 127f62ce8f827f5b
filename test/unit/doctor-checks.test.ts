/** doctor's local checks on their own: this shell's environment, opencode.json, the result table and exit codes. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { colors } from '../../src/core/output.js';
import { createRunToken } from '../../src/broker/token.js';
import { checkEnvironment } from '../../src/doctor/environment.js';
import { checkOpencode } from '../../src/doctor/opencode.js';
import { exitCodeFor, renderResults, summary } from '../../src/doctor/report.js';
import { result } from '../../src/doctor/types.js';

const URL_ = 'https://tl.example.com';
const KEY = 'tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_secretsecretsecretsecretsecret000000';
const OLD = 'tlk_BBBBBBBBBBBBBBBBBBBBBBBB;tls_oldoldoldoldoldoldoldoldoldoldol000000';

describe('checkEnvironment', () => {
  it('is ok when both variables match', () => {
    expect(checkEnvironment({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: URL_ }, { credential: KEY, apiUrl: URL_ }).status).toBe('ok');
    // A trailing slash on the instance URL is the same instance.
    expect(checkEnvironment({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: `${URL_}/` }, { credential: KEY, apiUrl: URL_ }).status).toBe('ok');
  });

  it('names the stale key by ID, never the secret', () => {
    const r = checkEnvironment({ ANTHROPIC_API_KEY: OLD, ANTHROPIC_BASE_URL: URL_ }, { credential: KEY, apiUrl: URL_ });
    expect(r.status).toBe('fail');
    expect(r.message).toContain('tlk_BBBBBBBBBBBBBBBBBBBBBBBB');
    expect(r.message).toContain('tlk_AAAAAAAAAAAAAAAAAAAAAAAA');
    expect(r.message).toContain('stale after a rotate');
    expect(r.message).not.toContain('tls_');
    expect(r.fix).toMatch(/new terminal/);
  });

  it('does not echo a value that is not a Third Loop key', () => {
    const r = checkEnvironment({ ANTHROPIC_API_KEY: 'sk-ant-api03-private', ANTHROPIC_BASE_URL: URL_ }, { credential: KEY, apiUrl: URL_ });
    expect(r.status).toBe('fail');
    expect(r.message).not.toContain('sk-ant');
  });

  it('recognises a shell inside `thirdloop run`: a run token and its loopback broker', () => {
    const token = createRunToken().value;
    const inside = checkEnvironment({ ANTHROPIC_API_KEY: token, ANTHROPIC_BASE_URL: 'http://127.0.0.1:40123' }, { credential: KEY, apiUrl: URL_ });
    expect(inside.status).toBe('ok');
    expect(inside.message).toContain('thirdloop run');
    expect(inside.message).not.toContain(token);
    // A run token pointed anywhere else is not a run.
    expect(checkEnvironment({ ANTHROPIC_API_KEY: token, ANTHROPIC_BASE_URL: URL_ }, { credential: KEY, apiUrl: URL_ }).status).toBe('fail');
  });

  it('warns when neither is set, fails when only one is or the URL differs', () => {
    expect(checkEnvironment({}, { credential: KEY, apiUrl: URL_ }).status).toBe('warn');
    expect(checkEnvironment({ ANTHROPIC_API_KEY: KEY }, { credential: KEY, apiUrl: URL_ }).status).toBe('fail');
    expect(checkEnvironment({ ANTHROPIC_BASE_URL: URL_ }, { credential: KEY, apiUrl: URL_ }).status).toBe('fail');
    expect(checkEnvironment({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: 'https://other.example.com' }, { credential: KEY, apiUrl: URL_ }).status).toBe('fail');
    // Claude Code appends /v1 itself: a base URL ending in /v1 doubles it.
    expect(checkEnvironment({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: `${URL_}/v1` }, { credential: KEY, apiUrl: URL_ }).status).toBe('fail');
  });
});

describe('checkOpencode', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const where = () => ({ cwd: join(dir, 'project'), homedir: dir, env: { XDG_CONFIG_HOME: join(dir, '.config') }, platform: 'linux' as const });
  const config = (baseURL: string, apiKey = '{env:ANTHROPIC_API_KEY}') =>
    JSON.stringify({ provider: { thirdloop: { npm: '@ai-sdk/anthropic', options: { baseURL, apiKey }, models: { 'claude-sonnet-4-5': { name: 'Claude Sonnet 4.5' } } } }, model: 'thirdloop/claude-sonnet-4-5' });
  // The session plugin as setup writes it.
  const plugin = { 'project/.opencode/plugins/thirdloop-session.ts': readFileSync(new URL('../../templates/thirdloop-session.ts', import.meta.url), 'utf8') };

  function setup(files: Record<string, string>) {
    dir = mkdtempSync(join(tmpdir(), 'doctor-opencode-'));
    for (const [name, text] of Object.entries(files)) {
      const file = join(dir, name);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, text);
    }
  }

  it('accepts exactly one /v1 on this instance', async () => {
    setup({ 'project/opencode.json': config(`${URL_}/v1`), ...plugin });
    const [r] = await checkOpencode(where(), URL_);
    expect(r).toMatchObject({ check: 'opencode:project', status: 'ok' });
  });

  it.each([
    [`${URL_}`, 'lacks /v1'],
    [`${URL_}/v1/v1`, 'more than once'],
    [`${URL_}/v1/`, 'trailing slash'],
    [`https://elsewhere.example.com/v1`, 'points elsewhere'],
  ])('refuses baseURL %s (%s)', async (baseURL, why) => {
    setup({ 'project/opencode.json': config(baseURL) });
    const [r] = await checkOpencode(where(), URL_);
    expect(r!.status).toBe('fail');
    expect(r!.message).toContain(why);
    expect(r!.fix).toBe('thirdloop setup opencode');
  });

  it('fails on a secret written into the file, without printing it', async () => {
    setup({ 'project/opencode.json': config(`${URL_}/v1`, KEY) });
    const [r] = await checkOpencode(where(), URL_);
    expect(r!.status).toBe('fail');
    expect(r!.message).not.toContain('tls_');
  });

  it('checks the project file, then the global one (the .jsonc, with comments)', async () => {
    setup({
      'project/opencode.json': config(`${URL_}/v1`),
      ...plugin,
      '.config/opencode/opencode.jsonc': `// mine\n${config(`${URL_}/v1/v1`)}`,
    });
    const results = await checkOpencode(where(), URL_);
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['opencode:project', 'ok'],
      ['opencode:global', 'fail'],
    ]);
    expect(results[1]!.fix).toBe('thirdloop setup opencode --global');
  });

  it('gives the line and column of a broken file', async () => {
    setup({ 'project/opencode.json': '{\n  "provider": {,\n}' });
    const [r] = await checkOpencode(where(), URL_);
    expect(r!.status).toBe('fail');
    expect(r!.message).toMatch(/line 2, column \d+/);
    expect(r!.message).not.toMatch(/Nothing was changed/);
  });

  it('skips when opencode is not set up, and warns on a file without our provider', async () => {
    setup({});
    expect((await checkOpencode(where(), URL_))[0]!.status).toBe('skip');
    rmSync(dir, { recursive: true, force: true });
    setup({ 'project/opencode.json': '{"model": "anthropic/claude"}' });
    expect((await checkOpencode(where(), URL_))[0]!.status).toBe('warn');
  });
});

describe('report', () => {
  const results = [
    result('instance', 'ok', 'reachable'),
    result('key', 'warn', 'expires in 3 days', 'thirdloop auth --rotate'),
    result('environment', 'fail', 'stale', 'Open a new terminal'),
    result('gateway', 'skip', 'Not checked'),
  ];

  it('renders one mark per check and the fix under problems, plain without colour', () => {
    const text = renderResults(results, colors(false));
    expect(text.split('\n')).toEqual([
      '✓ instance     reachable',
      '! key          expires in 3 days',
      '               fix: thirdloop auth --rotate',
      '✗ environment  stale',
      '               fix: Open a new terminal',
      '- gateway      Not checked',
    ]);
    expect(renderResults(results, colors(true))).toMatch(/\u001b\[/);
  });

  it('summarises and picks the exit code', () => {
    expect(summary(results)).toBe('1 problem, 1 warning.');
    expect(exitCodeFor(results)).toBe(1);
    expect(exitCodeFor(results.filter((r) => r.status !== 'fail'))).toBe(0);
    expect(summary([results[0]!])).toBe('Everything looks good.');
    expect(exitCodeFor([result('signed-in', 'fail', 'Not signed in.', 'thirdloop auth'), ...results])).toBe(4);
  });
});

describe('the reload hint names the env file setup wrote for this shell', () => {
  it('bash/zsh, fish and PowerShell each source their own file from the real config dir', async () => {
    const { reloadHint } = await import('../../src/doctor/environment.js');
    expect(reloadHint({ SHELL: '/bin/bash' }, '/home/ada/.tlcfg', 'linux')).toContain("`. '/home/ada/.tlcfg/env.sh'`");
    expect(reloadHint({ SHELL: '/usr/bin/fish' }, '/home/ada/.config/thirdloop', 'linux')).toContain("`source '/home/ada/.config/thirdloop/env.fish'`");
    expect(reloadHint({}, 'C:\\Users\\ada\\AppData\\Roaming\\thirdloop', 'win32')).toContain("`. 'C:\\Users\\ada\\AppData\\Roaming\\thirdloop\\env.ps1'`");
  });
});
