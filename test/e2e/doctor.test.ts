/**
 * `thirdloop doctor` against the real reference server with a temporary
 * HOME: a healthy set-up passes, and each broken link is found and named
 * with its fix — a stale shell environment after `keys rotate`, an
 * opencode.json with the wrong baseURL, a profile without its block, a
 * server that is down, and no sign-in at all.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCliBuilt, makeHome, runCli } from '../helpers/cli.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  message: string;
  fix: string | null;
}

let server: ReferenceServer;
let home: { home: string; cleanup(): void };
let credential: string;

const byName = (checks: Check[], name: string) => {
  const found = checks.find((c) => c.check === name);
  if (!found) throw new Error(`no "${name}" check in ${JSON.stringify(checks.map((c) => c.check))}`);
  return found;
};

/** The env a freshly opened terminal would have after `setup claude`. */
const shellEnv = (key = credential) => ({ ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: server.url });

async function doctor(env: Record<string, string | undefined> = shellEnv()) {
  const r = await runCli(['doctor', '--json'], { home: home.home, env });
  let checks: Check[] = [];
  try {
    checks = JSON.parse(r.stdout) as Check[];
  } catch {
    throw new Error(`doctor --json printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, checks };
}

// Build once up front (others edit src/ meanwhile), inside the hook's longer timeout.
beforeAll(() => ensureCliBuilt(), 120_000);

beforeAll(async () => {
  server = await startReferenceServer();
  await server.addUser('doc@example.com');
  credential = (await server.createKey('doc@example.com', { name: 'doctor' })).credential;
  home = makeHome('thirdloop-doctor-');
  const steps: string[][] = [
    ['auth', '--with-key', '--insecure-storage', '--api-url', server.url],
    ['setup', 'claude', '--shell', 'bash,zsh,fish', '--yes'],
    ['setup', 'opencode', '--yes'],
  ];
  for (const args of steps) {
    const r = await runCli(args, { home: home.home, input: args.includes('--with-key') ? credential : undefined });
    if (r.exitCode !== 0) throw new Error(`thirdloop ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  }
  // setup claude starts bash, zsh and fish three ways each to check its work: slow on a busy machine.
}, 180_000);

afterAll(async () => {
  await server?.stop();
  home?.cleanup();
});

// doctor starts bash, zsh and fish three ways each: on a busy machine a run takes a while.
describe('thirdloop doctor', { timeout: 120_000 }, () => {
  it('passes a healthy set-up and checks every link', async () => {
    const r = await doctor();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    for (const name of ['signed-in', 'instance', 'key', 'shell:bash', 'shell:zsh', 'shell:fish', 'env-file:env.sh', 'env-file:env.fish', 'environment', 'opencode:project', 'gateway', 'last-used', 'run']) {
      expect(byName(r.checks, name).status, name).toBe('ok');
    }
    // --insecure-storage: the file fallback is named, not hidden.
    expect(byName(r.checks, 'secret-storage').status).toBe('warn');
    expect(byName(r.checks, 'secret-storage').message).toContain('credentials.json');
    // A shell's check also says its mode (exports here; via-run with `setup claude --via-run`).
    for (const c of r.checks) expect(Object.keys(c).sort()).toEqual(/^shell:[a-z]+$/.test(c.check) ? ['check', 'fix', 'message', 'mode', 'status'] : ['check', 'fix', 'message', 'status']);
    for (const name of ['shell:bash', 'shell:zsh', 'shell:fish']) expect((byName(r.checks, name) as { mode?: string }).mode).toBe('exports');
  });

  it('never prints the secret', async () => {
    const r = await doctor();
    const human = await runCli(['doctor'], { home: home.home, env: shellEnv() });
    const secret = credential.split(';')[1]!;
    expect(r.stdout + r.stderr + human.stdout + human.stderr).not.toContain(secret);
  });

  it('prints ✓/!/✗ lines without colour when not on a terminal, and a fix under each problem', async () => {
    const r = await runCli(['doctor'], { home: home.home, env: { ANTHROPIC_API_KEY: undefined, ANTHROPIC_BASE_URL: undefined } });
    expect(r.exitCode).toBe(0); // a shell without the variables is a warning, not a failure
    expect(r.stdout).toMatch(/^✓ instance\s+/m);
    expect(r.stdout).toMatch(/^! environment\s+This shell has neither/m);
    expect(r.stdout).toMatch(/fix: Open a new terminal/);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stdout.trim().split('\n').pop()).toMatch(/warning/);
  });

  it('flags a profile whose block was removed', async () => {
    const bashrc = join(home.home, '.bashrc');
    const original = readFileSync(bashrc, 'utf8');
    try {
      writeFileSync(bashrc, original.replace(/# >>> thirdloop >>>[\s\S]*# <<< thirdloop <<<\n?/, ''));
      const r = await doctor();
      expect(r.exitCode).toBe(1);
      const bash = byName(r.checks, 'shell:bash');
      expect(bash.status).toBe('fail');
      expect(bash.message).toContain('no thirdloop block');
      expect(bash.fix).toBe('thirdloop setup claude --shell bash');
      expect(byName(r.checks, 'shell:zsh').status).toBe('ok');
    } finally {
      writeFileSync(bashrc, original);
    }
  });

  it('flags an opencode.json whose baseURL is wrong', async () => {
    const file = join(home.home, 'opencode.json');
    const original = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, original.replace(`${server.url}/v1`, `${server.url}/v1/v1`));
      let r = await doctor();
      expect(r.exitCode).toBe(1);
      let check = byName(r.checks, 'opencode:project');
      expect(check.status).toBe('fail');
      expect(check.message).toContain('more than once');
      expect(check.fix).toBe('thirdloop setup opencode');

      writeFileSync(file, original.replace(`${server.url}/v1`, server.url));
      r = await doctor();
      check = byName(r.checks, 'opencode:project');
      expect(check.status).toBe('fail');
      expect(check.message).toContain('lacks /v1');

      writeFileSync(file, '{ "provider": ');
      r = await doctor();
      check = byName(r.checks, 'opencode:project');
      expect(check.status).toBe('fail');
      expect(check.message).toMatch(/not valid JSON.*line 1/);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('finds the stale key in this shell after `keys rotate`', async () => {
    const old = credential;
    const oldId = old.split(';')[0]!;
    const rotated = await runCli(['keys', 'rotate', oldId, '--yes'], { home: home.home });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    credential = (await runCli(['token'], { home: home.home })).stdout.trim();
    expect(credential).not.toBe(old);

    const r = await doctor(shellEnv(old));
    expect(r.exitCode).toBe(1);
    const env = byName(r.checks, 'environment');
    expect(env.status).toBe('fail');
    expect(env.message).toContain(oldId);
    expect(env.message).toContain('stale after a rotate');
    expect(env.fix).toMatch(/new terminal/);
    // rotate rewrote the env files, so new terminals are fine.
    expect(byName(r.checks, 'env-file:env.sh').status).toBe('ok');
    expect(byName(r.checks, 'key').status).toBe('ok');
    expect(r.stdout).not.toContain(old.split(';')[1]!);

    const fresh = await doctor(shellEnv(credential));
    expect(fresh.exitCode).toBe(0);
  });

  it('flags an env file left with an old key', async () => {
    const envSh = join(home.home, '.config', 'thirdloop', 'env.sh');
    const original = readFileSync(envSh, 'utf8');
    try {
      writeFileSync(envSh, original.replace(credential.split(';')[1]!, 'tls_stale'), { mode: 0o600 });
      const r = await doctor();
      const check = byName(r.checks, 'env-file:env.sh');
      expect(check.status).toBe('fail');
      expect(check.message).toContain('different key');
      expect(r.exitCode).toBe(1);
    } finally {
      writeFileSync(envSh, original, { mode: 0o600 });
    }
  });

  it('diagnoses a corrupt config file instead of stopping', async () => {
    const broken = makeHome('thirdloop-doctor-broken-');
    try {
      const dir = join(broken.home, '.config', 'thirdloop');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), '{"profiles": {"default": ');
      const r = await runCli(['doctor', '--json', '--api-url', server.url], { home: broken.home });
      expect(r.exitCode).toBe(4);
      const checks = JSON.parse(r.stdout) as Check[];
      expect(byName(checks, 'config').status).toBe('fail');
      expect(byName(checks, 'config').message).toContain('config.json');
      expect(byName(checks, 'instance').status).toBe('ok');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"profiles": {"default": ');
    } finally {
      broken.cleanup();
    }
  });

  it('exits 4 when not signed in', async () => {
    const empty = makeHome('thirdloop-doctor-empty-');
    try {
      const r = await runCli(['doctor', '--json', '--api-url', server.url], { home: empty.home });
      expect(r.exitCode).toBe(4);
      const checks = JSON.parse(r.stdout) as Check[];
      expect(byName(checks, 'signed-in')).toMatchObject({ status: 'fail', message: 'Not signed in.', fix: 'thirdloop auth' });
      expect(byName(checks, 'instance').status).toBe('ok');
    } finally {
      empty.cleanup();
    }
  });

  it('reports a server that is down and skips what depends on it', async () => {
    await server.stop();
    const r = await doctor();
    expect(r.exitCode).toBe(1);
    const instance = byName(r.checks, 'instance');
    expect(instance.status).toBe('fail');
    expect(instance.message).toMatch(/connection refused/);
    expect(instance.fix).toBeTruthy();
    expect(byName(r.checks, 'key').status).toBe('skip');
    expect(byName(r.checks, 'gateway').status).toBe('skip');
    expect(byName(r.checks, 'run')).toMatchObject({ status: 'skip', message: '`thirdloop run` cannot work until the instance is reachable.' });
    // Local checks still run.
    expect(byName(r.checks, 'shell:bash').status).toBe('ok');
    expect(byName(r.checks, 'environment').status).toBe('ok');
  });
});
