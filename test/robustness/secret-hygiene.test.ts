/**
 * Secret hygiene: a full auth → keys → setup → run run, every command with
 * --debug, against the real reference server, a real Secret Service
 * (gnome-keyring in its own D-Bus session, its files outside the HOME) and,
 * for the browser sign-in, headless Chromium. Afterwards no secret that ever
 * existed in the run is in any file under the HOME or the project (except the
 * 0600 env files `setup` writes for the shells), in any captured output
 * (`token`, whose job is to print it, and the one-time display of `keys
 * create` aside), or in the argv or the environment of any child process the
 * CLI started (recorded by a preload that wraps node:child_process), the
 * commands `thirdloop run` started included — though the terminal they run in
 * exports the key, as `setup claude` makes every new terminal do. At the end
 * `setup claude --via-run` takes the env files away: then no file holds a key.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CLI_BIN, cliEnv, ensureCliBuilt } from '../helpers/cli.js';
import { browserMissing, decideConsent, launchBrowser } from '../helpers/browser.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { startFakeOpener, type FakeOpener } from '../helpers/opener.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { runCliSafe, type Run } from './tree.js';

const PRELOAD = path.join(import.meta.dirname, 'argv-recorder.cjs');
const CHILD = path.join(import.meta.dirname, '..', 'fixtures', 'run', 'child.mjs');
const missing = keyringMissing() ?? browserMissing();

interface Step {
  name: string;
  args: string[];
  run: Run;
}

const secretOf = (credential: string) => credential.split(';')[1]!.trim();

function filesUnder(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

describe.skipIf(missing)('secret hygiene across a full --debug run', () => {
  let server: ReferenceServer;
  let keyring: Keyring;
  let browser: Browser;
  let home: string;
  let project: string;
  let scratch: string;
  let argvLog: string;
  let opener: FakeOpener;
  const steps: Step[] = [];
  /** Every secret the run saw, by where it came from. */
  const secrets = new Map<string, string>();
  let keysCreateSecret = '';
  /** The env files as they were before --via-run: mode, and whether they held the current key. */
  const envFilesBefore = new Map<string, { mode: string; current: boolean }>();

  const env = () => ({
    ...keyring.env,
    NODE_OPTIONS: `--require ${PRELOAD}`,
    THIRDLOOP_TEST_ARGV_LOG: argvLog,
    ...opener.env, // BROWSER unset: `open` runs the xdg-open found first on PATH
    SHELL: '/bin/bash',
    NO_COLOR: '1',
  });

  async function step(
    name: string,
    args: string[],
    options: { input?: string; cwd?: string; expectExit?: number; env?: Record<string, string> } = {},
  ): Promise<Run> {
    // --debug first: after `run --` every word belongs to the command.
    const run = await runCliSafe(['--debug', ...args], { home, cwd: options.cwd ?? project, env: { ...env(), ...options.env }, input: options.input, timeoutMs: 30_000 });
    steps.push({ name, args, run });
    expect(run.exitCode, `${name}\n${run.stderr}`).toBe(options.expectExit ?? 0);
    return run;
  }

  /** `thirdloop auth --rotate` through the browser, the default way: xdg-open hands the page to Chromium, which approves. */
  async function browserRotate(user: { email: string; password: string }): Promise<Run> {
    const args = ['auth', '--rotate', '--debug'];
    const started = performance.now();
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: project, env: cliEnv(home, env()), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end();
    const exited = new Promise<Run>((resolve) =>
      child.once('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr, ms: Math.round(performance.now() - started) })),
    );
    const argv = await opener.next().catch((error: Error) => {
      throw new Error(`${error.message}:\n${stderr}`);
    });
    const page = await decideConsent(browser, argv[argv.length - 1]!, user, 'approve');
    const run = await exited;
    await page.context().close();
    steps.push({ name: 'auth --rotate (browser)', args, run });
    expect(run.exitCode, run.stderr).toBe(0);
    return run;
  }

  beforeAll(async () => {
    ensureCliBuilt();
    [server, keyring, browser] = await Promise.all([startReferenceServer(), startKeyring(), launchBrowser()]);
    home = mkdtempSync(path.join(tmpdir(), 'thirdloop-hygiene-'));
    project = path.join(home, 'project');
    mkdirSync(project);
    scratch = mkdtempSync(path.join(tmpdir(), 'thirdloop-hygiene-log-'));
    argvLog = path.join(scratch, 'argv.jsonl');
    opener = await startFakeOpener();

    const user = await server.addUser('hygiene@example.com', 'correct horse battery staple');
    const first = await server.createKey(user.email, { name: 'laptop' });
    secrets.set('the key given to auth --with-key', first.secret);

    await step('auth --with-key', ['auth', '--with-key', '--api-url', server.url], { input: first.credential });
    await step('status', ['status']);
    await step('keys list', ['keys', 'list']);
    await step('setup claude', ['setup', 'claude', '--shell', 'bash,zsh,fish', '--yes']);
    await step('setup opencode', ['setup', 'opencode', '--yes']);
    const created = await step('keys create', ['keys', 'create', '--name', 'ci', '--expires', '30', '--json']);
    const minted = JSON.parse(created.stdout) as { key: { id: string }; secret_key: string };
    keysCreateSecret = minted.secret_key;
    secrets.set('the key made by keys create', minted.secret_key);
    await step('keys delete', ['keys', 'delete', minted.key.id, '--yes']);
    await step('keys rotate (this machine)', ['keys', 'rotate', first.id, '--yes']);
    const afterRotate = await runCliSafe(['token'], { home, env: env() });
    secrets.set('the key keys rotate made', secretOf(afterRotate.stdout));
    await browserRotate(user);
    const afterBrowser = await runCliSafe(['token'], { home, env: env() });
    secrets.set('the key the browser sign-in made', secretOf(afterBrowser.stdout));
    await step('status (end)', ['status']);
    await step('keys list (end)', ['keys', 'list', '--json']);
    // A terminal `setup claude` configured exports the key; what `thirdloop run` starts must not see it.
    const exported = { ANTHROPIC_API_KEY: `${afterBrowser.stdout.trim()}`, ANTHROPIC_BASE_URL: server.url };
    await step('run -- env', ['run', '--', 'env'], { env: exported });
    await step('run -- environ', ['run', '--', process.execPath, CHILD, 'environ'], { env: exported });
    const sdk = await step('run -- Anthropic SDK', ['run', '--', process.execPath, CHILD, 'sdk'], { env: exported });
    expect(JSON.parse(sdk.stdout).plain).toMatch(/offline model/);
    for (const name of ['env.sh', 'env.fish']) {
      const file = path.join(home, '.config', 'thirdloop', name);
      envFilesBefore.set(name, { mode: (statSync(file).mode & 0o777).toString(8), current: readFileSync(file, 'utf8').includes(secretOf(afterBrowser.stdout)) });
    }
    // The shells switch to `claude` through `thirdloop run`: the check runs `thirdloop run` in each new terminal.
    const viaRun = await step('setup claude --via-run', ['setup', 'claude', '--via-run', '--shell', 'bash,zsh,fish', '--yes']);
    expect(viaRun.stderr).toMatch(/✓ bash .*`claude` goes through `thirdloop run`/);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([server?.stop(), keyring?.stop(), opener?.close()]);
    for (const dir of [home, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('saw four distinct secrets, the current one in the keychain', async () => {
    expect(new Set(secrets.values()).size).toBe(4);
    for (const secret of secrets.values()) expect(secret).toMatch(/^tls_[0-9A-Za-z]{38}$/);
    const stored = await keyring.lookup('default');
    expect(stored && secretOf(stored)).toBe(secrets.get('the key the browser sign-in made'));
  });

  it('no secret in any stdout or stderr (keys create shows its own once)', () => {
    expect(steps.length).toBe(15);
    for (const { name, run } of steps) {
      for (const [what, secret] of secrets) {
        const allowed = name === 'keys create' && secret === keysCreateSecret;
        expect(run.stderr.includes(secret), `${what} in the stderr of ${name}`).toBe(false);
        if (!allowed) expect(run.stdout.includes(secret), `${what} in the stdout of ${name}`).toBe(false);
      }
      // --debug really printed request lines (setup claude asks the instance nothing; run's broker says what it forwards).
      if (name.startsWith('run ')) expect(run.stderr, `${name} ran with --debug`).toMatch(/\[debug\] run: broker on http:\/\/127\.0\.0\.1:\d+/);
      else if (!name.startsWith('setup claude')) expect(run.stderr, `${name} ran with --debug`).toMatch(/\[debug\] (GET|POST|DELETE|PATCH) /);
    }
    // The search finds a secret where one is: keys create's one-time display.
    expect(steps.find((s) => s.name === 'keys create')!.run.stdout).toContain(keysCreateSecret);
  });

  it('no secret in any file under the HOME or the project: the 0600 env files held it until setup --via-run took them away', () => {
    // The env files held the current key (rewritten by both rotations), mode 0600: the search below would have found it.
    expect(Object.fromEntries(envFilesBefore)).toEqual({ 'env.sh': { mode: '600', current: true }, 'env.fish': { mode: '600', current: true } });
    for (const name of ['env.sh', 'env.fish']) expect(existsSync(path.join(home, '.config', 'thirdloop', name)), name).toBe(false);
    const files = filesUnder(home);
    expect(files.some((f) => f.endsWith('config.json'))).toBe(true);
    expect(files.some((f) => f.endsWith('run.sh'))).toBe(true);
    expect(files.some((f) => f.startsWith(project))).toBe(true);
    const hits: string[] = [];
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const [what, secret] of secrets) {
        if (bytes.includes(secret) || bytes.includes(Buffer.from(secret, 'utf16le'))) hits.push(`${what} in ${path.relative(home, file)}`);
      }
    }
    expect(hits).toEqual([]);
  });

  it('no secret in the argv or environment of any child process; the recorder saw the children', () => {
    const lines = readFileSync(argvLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { file: string; args: string[]; env: Record<string, string> });
    // The browser opener ran with the consent URL (so the recorder was live in the CLI), and got only that.
    expect(lines.some((l) => l.file === 'xdg-open' && l.args.length === 1 && l.args[0]!.startsWith(server.url))).toBe(true);
    expect(opener.calls.map((argv) => argv.length)).toEqual([1]);
    // The commands `run` started were recorded, with the broker and a run token in their environment.
    const started = lines.filter((l) => l.file === 'env' || (l.file === process.execPath && l.args[0] === CHILD));
    expect(started).toHaveLength(3);
    for (const l of started) {
      expect(l.env.ANTHROPIC_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(l.env.ANTHROPIC_API_KEY).toMatch(/^tlr_/);
    }
    const text = readFileSync(argvLog, 'utf8');
    for (const [what, secret] of secrets) expect(text.includes(secret), what).toBe(false);
    // Nor in the CLI's own argv (the secret only ever went in on stdin).
    for (const { args } of steps) for (const secret of secrets.values()) expect(args.join(' ')).not.toContain(secret);
  });
});
