/**
 * doctor's shell check on a temp HOME that the real `setup` code prepared:
 * it starts the real shells and reports what they see, so it agrees with
 * them where a reading of the files would not (a line after the block, a
 * block that sources nothing, a FIFO among the start-up files).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkShells, type ShellCheckInput } from '../../src/doctor/shells.js';
import { configureShells } from '../../src/shells/configure.js';
import { needs } from '../helpers/components.js';
import { makeCredential, testContext } from '../helpers/setup-env.js';

const URL_ = 'https://tl.example.com';
const KEY = makeCredential('doctor-shells');
const missing = needs('bash', 'zsh', 'fish');

let home: string;
let input: ShellCheckInput;

const write = (file: string, text: string, mode = 0o644) => {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
};

async function setUp(shells: Array<'bash' | 'zsh' | 'fish'>) {
  const { ctx } = testContext(home);
  await configureShells(ctx, { shells, apiUrl: URL_, credential: KEY });
  const config = await ctx.config();
  input = { e: { platform: 'linux', homedir: home, env: ctx.env }, config, credential: KEY, apiUrl: URL_ };
}

const status = async () => Object.fromEntries((await checkShells(input)).map((r) => [r.check, r.status]));
const byName = async (name: string) => (await checkShells(input)).find((r) => r.check === name)!;

beforeEach(async () => {
  home = mkdtempSync(join(tmpdir(), 'doctor-shells-'));
  const { ctx } = testContext(home);
  input = { e: { platform: 'linux', homedir: home, env: ctx.env }, config: await ctx.config(), credential: KEY, apiUrl: URL_ };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe.skipIf(missing)('checkShells: what new terminals really see', () => {
  it('passes what setup claude wrote, naming what each kind of terminal sees', async () => {
    write(join(home, '.bashrc'), 'alias ll="ls -l"\n');
    await setUp(['bash', 'fish']);
    expect(await status()).toEqual({ 'shell:bash': 'ok', 'shell:fish': 'ok', 'env-file:env.sh': 'ok', 'env-file:env.fish': 'ok' });
    expect((await byName('shell:bash')).message).toBe(
      `New bash terminals (bash -i, bash -l and bash -il) see ${URL_} and the stored key ${KEY.split(';')[0]}. Mode: exports (the key is in the env file the profile sources).`,
    );
    expect((await byName('shell:bash')).mode).toBe('exports');
  });

  it('warns when nothing is set up', async () => {
    const [r] = await checkShells(input);
    expect(r).toMatchObject({ check: 'shells', status: 'warn', fix: 'thirdloop setup claude' });
  });

  it('accepts the key-helper set-up instead of shells', async () => {
    write(join(home, '.claude', 'settings.json'), JSON.stringify({ apiKeyHelper: "'/usr/bin/node' '/x/thirdloop.js' token", env: { ANTHROPIC_BASE_URL: URL_ } }));
    expect(await status()).toEqual({ 'claude-settings': 'ok' });
    write(join(home, '.claude', 'settings.json'), JSON.stringify({ apiKeyHelper: 'thirdloop token', env: { ANTHROPIC_BASE_URL: 'https://old.example.com' } }));
    expect(await status()).toEqual({ 'claude-settings': 'fail' });
  });

  it('fails a shell whose block is gone, saying which terminals miss what', async () => {
    await setUp(['bash', 'zsh']);
    write(join(home, '.bashrc'), 'export PATH=$PATH:~/bin\n');
    const bash = await byName('shell:bash');
    expect(bash).toMatchObject({ status: 'fail' });
    expect(bash.message).toContain('bash -i sees no ANTHROPIC_BASE_URL and no ANTHROPIC_API_KEY (~/.bashrc, which bash -i reads, has no thirdloop block)');
    expect(bash.fix).toBe('thirdloop setup claude --shell bash');
    expect(bash.message).not.toContain('bash -l sees'); // ~/.profile still has its block
    expect((await byName('shell:zsh')).status).toBe('ok');
  });

  it('fails a line after the block that overrides the key, with its file and line (the files alone look fine)', async () => {
    await setUp(['bash', 'zsh', 'fish']);
    appendFileSync(join(home, '.bashrc'), 'export ANTHROPIC_API_KEY=sk-ant-personal-key\n');
    write(join(home, '.zlogin'), 'export ANTHROPIC_BASE_URL=https://api.anthropic.com\n');
    write(join(home, '.config', 'fish', 'config.fish'), 'set -e ANTHROPIC_API_KEY\n');
    const results = await checkShells(input);
    const get = (name: string) => results.find((r) => r.check === name)!;
    expect(get('shell:bash').status).toBe('fail');
    expect(get('shell:bash').message).toMatch(/bash -i sees an ANTHROPIC_API_KEY that is not the Third Loop key \(~\/\.bashrc line \d+ sets ANTHROPIC_API_KEY after the thirdloop block\)/);
    expect(get('shell:bash').message).not.toContain('sk-ant-personal');
    expect(get('shell:zsh').message).toContain('zsh -l sees ANTHROPIC_BASE_URL=https://api.anthropic.com (~/.zlogin line 1 sets ANTHROPIC_BASE_URL after the thirdloop block)');
    expect(get('shell:fish').message).toContain('~/.config/fish/config.fish line 1 unsets ANTHROPIC_API_KEY after the thirdloop block');
  });

  it('fails an env file with another key, another URL, a loose mode, or none', async () => {
    await setUp(['bash']);
    const envSh = join(home, '.config', 'thirdloop', 'env.sh');
    const good = readFileSync(envSh, 'utf8');

    write(envSh, good.replace(KEY, makeCredential('stale')), 0o600);
    let r = await byName('env-file:env.sh');
    expect(r.status).toBe('fail');
    expect(r.message).toContain('different key');
    expect((await byName('shell:bash')).message).toContain(`of another key (${makeCredential('stale').split(';')[0]})`);

    write(envSh, good.replace(URL_, 'https://old.example.com'), 0o600);
    r = await byName('env-file:env.sh');
    expect(r.message).toContain('another instance');

    write(envSh, good, 0o644);
    r = await byName('env-file:env.sh');
    expect(r).toMatchObject({ status: 'fail', fix: `chmod 600 ~/.config/thirdloop/env.sh` });

    rmSync(envSh);
    r = await byName('env-file:env.sh');
    expect(r.status).toBe('fail');
    expect(r.message).toContain('missing');
  });

  it('a start-up file that is a FIFO: never read, and the shell it would stall is named without being started', async () => {
    await setUp(['zsh']);
    execFileSync('mkfifo', [join(home, '.zlogin')]);
    const started = Date.now();
    const results = await checkShells(input);
    expect(Date.now() - started).toBeLessThan(8000); // zsh -l itself would wait on the FIFO forever
    const files = results.find((r) => r.check === 'shell:zsh:files')!;
    expect(files.status).toBe('warn');
    expect(files.message).toContain('skipped ~/.zlogin: it is a FIFO (named pipe), not a regular file');
    const zsh = results.find((r) => r.check === 'shell:zsh')!;
    expect(zsh.status).toBe('fail');
    expect(zsh.message).toContain('zsh -l sees nothing: not started (~/.zlogin is a FIFO (named pipe), which zsh would wait on forever)');
    expect(zsh.message).not.toContain('zsh -i sees');
  });

  it('says a shell that is not installed was not checked', async () => {
    await setUp(['bash', 'zsh']);
    const bin = join(home, 'bin');
    mkdirSync(bin);
    symlinkSync(execFileSync('sh', ['-c', 'command -v bash'], { encoding: 'utf8' }).trim(), join(bin, 'bash'));
    input = { ...input, e: { ...input.e, env: { ...input.e.env, PATH: bin } } };
    expect(await byName('shell:zsh')).toMatchObject({ status: 'skip', message: 'zsh is not installed here, so new zsh terminals were not checked.' });
    expect((await byName('shell:bash')).status).toBe('ok');
  });
});
