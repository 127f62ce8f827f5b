/** doctor's shell check on real files in a temp HOME: blocks present and current, env files current and private. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkShells, type ShellCheckInput } from '../../src/doctor/shells.js';
import { upsertBlock } from '../../src/files/marked-block.js';
import { envFileContent } from '../../src/shells/env-files.js';
import { SHELLS } from '../../src/shells/index.js';
import type { ProfileShell } from '../../src/shells/types.js';

const URL_ = 'https://tl.example.com';
const KEY = 'tlk_AAAAAAAAAAAAAAAAAAAAAAAA;tls_secretsecretsecretsecretsecret000000';

let home: string;
let input: ShellCheckInput;
let recorded: string[];

const write = (file: string, text: string, mode = 0o644) => {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
};

/** What `setup claude` leaves behind for one shell. */
function setUp(name: 'bash' | 'zsh' | 'fish', before = '') {
  const shell = SHELLS[name] as ProfileShell;
  const envFile = join(input.config.dir, shell.envFileName);
  write(envFile, envFileContent(shell.envFileName, { apiUrl: URL_, credential: KEY }), 0o600);
  write(shell.profilePath(input.e), upsertBlock(before, shell.sourceBlock(envFile, input.e)));
  recorded.push(name);
}

const status = async () => Object.fromEntries((await checkShells(input)).map((r) => [r.check, r.status]));

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'doctor-shells-'));
  recorded = [];
  const dir = join(home, '.config', 'thirdloop');
  input = {
    e: { platform: 'linux', homedir: home, env: { XDG_CONFIG_HOME: join(home, '.config') } },
    config: { dir, get: <T>(key: string) => (key === 'setup.shells' ? ({ shells: recorded } as T) : undefined) },
    credential: KEY,
    apiUrl: URL_,
  };
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('checkShells', () => {
  it('passes what setup claude wrote', async () => {
    setUp('bash', 'alias ll="ls -l"\n');
    setUp('fish');
    expect(await status()).toEqual({ 'shell:bash': 'ok', 'shell:fish': 'ok', 'env-file:env.sh': 'ok', 'env-file:env.fish': 'ok' });
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

  it('fails a recorded shell whose block is gone, and a missing profile', async () => {
    setUp('bash');
    setUp('zsh');
    write(join(home, '.bashrc'), 'export PATH=$PATH:~/bin\n');
    rmSync(join(home, '.zshrc'));
    const results = await checkShells(input);
    const bash = results.find((r) => r.check === 'shell:bash')!;
    expect(bash).toMatchObject({ status: 'fail', fix: 'thirdloop setup claude --shell bash' });
    expect(bash.message).toContain('no thirdloop block');
    expect(results.find((r) => r.check === 'shell:zsh')!.message).toContain('missing');
  });

  it('warns on an outdated block', async () => {
    setUp('bash');
    const bashrc = join(home, '.bashrc');
    write(bashrc, readFileSync(bashrc, 'utf8').replace('. "$HOME', 'source "$HOME'));
    expect((await status())['shell:bash']).toBe('warn');
  });

  it('fails an env file with another key, another URL, a loose mode, or none', async () => {
    setUp('bash');
    const envSh = join(input.config.dir, 'env.sh');
    const good = readFileSync(envSh, 'utf8');

    write(envSh, good.replace(KEY, 'tlk_BBBBBBBBBBBBBBBBBBBBBBBB;tls_x'), 0o600);
    let r = (await checkShells(input)).find((x) => x.check === 'env-file:env.sh')!;
    expect(r.status).toBe('fail');
    expect(r.message).toContain('different key');
    expect(r.message).not.toContain('tls_');

    write(envSh, good.replace(URL_, 'https://old.example.com'), 0o600);
    r = (await checkShells(input)).find((x) => x.check === 'env-file:env.sh')!;
    expect(r.message).toContain('another instance');

    write(envSh, good, 0o644);
    r = (await checkShells(input)).find((x) => x.check === 'env-file:env.sh')!;
    expect(r).toMatchObject({ status: 'fail', fix: `chmod 600 ~/.config/thirdloop/env.sh` });

    rmSync(envSh);
    r = (await checkShells(input)).find((x) => x.check === 'env-file:env.sh')!;
    expect(r.status).toBe('fail');
    expect(r.message).toContain('missing');
  });

  it('reports a damaged block instead of throwing', async () => {
    setUp('bash');
    write(join(home, '.bashrc'), '# >>> thirdloop >>>\necho half a block\n');
    expect((await status())['shell:bash']).toBe('fail');
  });
});
