/**
 * `thirdloop keys` on a terminal, against the real reference server:
 * - in-process: `run(ctx, …)` with a context whose io says TTY, driving the
 *   real prompts answered with keystrokes on stdin, the one way every prompt is answered;
 * - a real pseudo-terminal: the built CLI under `script`, typed into;
 * - rotating this machine's key with a real Secret Service (gnome-keyring).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { createContext, type Context } from '../../src/context.js';
import { closeHttp } from '../../src/core/http.js';
import { UserError } from '../../src/core/errors.js';
import { stripAnsi } from '../../src/core/output.js';
import { CLI_BIN, cliEnv } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { keyringMissing, startKeyring, type Keyring } from '../helpers/keyring.js';
import { DAY_MS, startHarness, type Harness, type Key, type SignedInUser } from './keys-harness.js';

const DOWN = '\u001b[B';
const UP = '\u001b[A';
const ENTER = '\r';
const CTRL_C = '\u0003';

class Capture extends Writable {
  text = '';
  private waiters: Array<() => void> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void) {
    this.text += chunk.toString();
    this.waiters.forEach((fn) => fn());
    done();
  }
  /** Resolves once the captured text matches (prompts render asynchronously). */
  waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${this.text}`)), timeoutMs);
      const check = () => {
        if (pattern.test(this.text)) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((fn) => fn !== check);
          resolve();
        }
      };
      this.waiters.push(check);
      check();
    });
  }
}

interface Tty {
  ctx: Context;
  stdin: PassThrough;
  stdout: Capture;
  stderr: Capture;
}

/** A context for `user`'s HOME whose io says stdin and stdout are terminals. */
function ttyContext(user: SignedInUser, opts: { columns?: number; env?: Record<string, string>; stdoutIsTTY?: boolean } = {}): Tty {
  const stdin = new PassThrough();
  const stdout = new Capture();
  const stderr = new Capture();
  const env = { HOME: user.home, XDG_CONFIG_HOME: join(user.home, '.config'), PATH: process.env.PATH, ...opts.env };
  const ctx = createContext(
    { profile: 'default' },
    {
      env,
      homedir: user.home,
      hostname: 'testbox',
      io: { stdin, stdout, stderr, stdinIsTTY: true, stdoutIsTTY: opts.stdoutIsTTY ?? true, stderrIsTTY: false, columns: opts.columns ?? 200 },
    },
  );
  return { ctx, stdin, stdout, stderr };
}

async function runCommand(verb: string, ctx: Context, options: Record<string, unknown> = {}): Promise<void> {
  const mod = (await import(`../../src/commands/keys/${verb}.ts`)) as { run(ctx: Context, options: unknown): Promise<void> };
  await mod.run(ctx, options);
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await closeHttp();
  await h?.stop();
});
describe('create on a terminal (in-process, real prompts)', () => {
  test('asks for the name and the expiry; arrow keys pick 180 days', async () => {
    const u = await h.signedInUser();
    const t = ttyContext(u);
    const done = runCommand('create', t.ctx, {});
    await t.stderr.waitFor(/Key name/);
    t.stdin.write('desk');
    t.stdin.write(ENTER);
    await t.stderr.waitFor(/Expires in/);
    expect(t.stderr.text).toMatch(/90 days \(recommended\)/);
    t.stdin.write(DOWN);
    t.stdin.write(ENTER);
    await done;
    const id = /API key ID\s+(tlk_\w+)/.exec(t.stdout.text)![1]!;
    expect(stripAnsi(t.stdout.text)).toMatch(/Secret key\s+tls_\w+/);
    const key = (await h.listFor(u.key.credential)).keys.find((k) => k.id === id)!;
    expect(key.name).toBe('desk');
    expect(Date.parse(key.expires_at) - Date.parse(key.created_at)).toBe(180 * DAY_MS);
  });

  test('Enter twice takes the defaults: the machine-and-date name and 90 days (preselected)', async () => {
    const u = await h.signedInUser();
    const t = ttyContext(u);
    const done = runCommand('create', t.ctx, {});
    await t.stderr.waitFor(/Key name/);
    t.stdin.write(ENTER);
    await t.stderr.waitFor(/Expires in/);
    t.stdin.write(ENTER);
    await done;
    const id = /API key ID\s+(tlk_\w+)/.exec(t.stdout.text)![1]!;
    const key = (await h.listFor(u.key.credential)).keys.find((k) => k.id === id)!;
    expect(key.name).toMatch(/^testbox \(\d{4}-\d{2}-\d{2}\)$/);
    expect(Date.parse(key.expires_at) - Date.parse(key.created_at)).toBe(90 * DAY_MS);
  });

  test('only what is missing is asked: --name given → one question; both flags → none', async () => {
    const u = await h.signedInUser();
    const t = ttyContext(u);
    const done = runCommand('create', t.ctx, { name: 'ci' });
    await t.stderr.waitFor(/Expires in/);
    t.stdin.write(UP);
    t.stdin.write(UP); // from 90 (preselected) to 30
    t.stdin.write(ENTER);
    await done;
    expect(t.stderr.text).not.toMatch(/Key name/);
    const keys = (await h.listFor(u.key.credential)).keys;
    const ci = keys.find((k) => k.name === 'ci')!;
    expect(Date.parse(ci.expires_at) - Date.parse(ci.created_at)).toBe(30 * DAY_MS);
    // Both flags given: nothing asked at all (another user: this one is at the limit now).
    const v = await h.signedInUser();
    const both = ttyContext(v);
    await runCommand('create', both.ctx, { name: 'flags', expires: 60 });
    expect(both.stderr.text).not.toMatch(/Key name|Expires in/);
    expect((await h.listFor(v.key.credential)).keys.map((k) => k.name)).toContain('flags');
  });

  test('cancelling (Ctrl+C) creates nothing; an empty name is refused on the spot and asked again', async () => {
    const u = await h.signedInUser();
    const t = ttyContext(u);
    const cancelled = runCommand('create', t.ctx, {}).catch((e: unknown) => e);
    await t.stderr.waitFor(/Key name/);
    t.stdin.write(CTRL_C);
    const error = await cancelled;
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe('Cancelled.');
    expect((error as UserError).exitCode).toBe(1);
    expect(t.stderr.text).not.toMatch(/Expires in/);

    const empty = ttyContext(u);
    const refused = runCommand('create', empty.ctx, {}).catch((e: unknown) => e);
    await empty.stderr.waitFor(/Key name/);
    empty.stdin.write('   '); // typed over the suggested name
    empty.stdin.write(ENTER);
    await empty.stderr.waitFor(/The key name must not be empty\./);
    empty.stdin.write(CTRL_C);
    expect(((await refused) as UserError).message).toBe('Cancelled.');
    expect((await h.listFor(u.key.credential)).keys).toHaveLength(1);
  });
});

describe('confirmations on a terminal (in-process, real prompts)', () => {
  test('delete asks with the key’s name; "n" keeps it, "y" deletes it', async () => {
    const u = await h.signedInUser();
    const created = await u.cli(['keys', 'create', '--name', 'old laptop', '--json']);
    const victim = (JSON.parse(created.stdout) as { key: Key }).key;

    const no = ttyContext(u);
    const refused = runCommand('delete', no.ctx, { id: 'old laptop' }).catch((e: unknown) => e);
    await no.stderr.waitFor(/Delete "old laptop" \(tlk_\w+\) permanently\? This cannot be undone\./);
    no.stdin.write('n');
    expect(((await refused) as UserError).message).toBe('Cancelled.');
    expect((await h.listFor(u.key.credential)).keys.map((k) => k.id)).toContain(victim.id);

    const yes = ttyContext(u);
    const done = runCommand('delete', yes.ctx, { id: victim.id });
    await yes.stderr.waitFor(/Delete "old laptop"/);
    yes.stdin.write('y');
    await done;
    expect(yes.stderr.text).toMatch(/Deleted "old laptop"/);
    expect((await h.listFor(u.key.credential)).keys.map((k) => k.id)).not.toContain(victim.id);
  });

  test('disabling this machine’s key warns and asks; "n" leaves it active', async () => {
    const u = await h.signedInUser('this one');
    const t = ttyContext(u);
    const refused = runCommand('disable', t.ctx, { id: 'this one' }).catch((e: unknown) => e);
    await t.stderr.waitFor(/Disable "this one" .* lose access on this machine\?/);
    expect(t.stderr.text).toMatch(/is the key this machine uses/);
    t.stdin.write('n');
    expect(await refused).toBeInstanceOf(UserError);
    expect((await h.listFor(u.key.credential)).keys[0]?.status).toBe('active');
  });

  test('rotate asks with the key’s name', async () => {
    const u = await h.signedInUser();
    await u.cli(['keys', 'create', '--name', 'ci box']);
    const t = ttyContext(u);
    const done = runCommand('rotate', t.ctx, { id: 'ci box' });
    await t.stderr.waitFor(/Rotate "ci box" \(tlk_\w+\)\? Its secret stops working at once\./);
    t.stdin.write('y');
    await done;
    expect(stripAnsi(t.stdout.text)).toMatch(/Secret key\s+tls_\w+/);
  });
});

describe('list on a terminal', () => {
  test('narrow terminal: cards; colours on a TTY; none with NO_COLOR', async () => {
    const u = await h.signedInUser('laptop');
    const c = await u.cli(['keys', 'create', '--name', 'parked']);
    expect(c.exitCode).toBe(0);
    expect((await u.cli(['keys', 'disable', 'parked'])).exitCode).toBe(0);

    const colour = ttyContext(u, { columns: 50 });
    await runCommand('list', colour.ctx);
    expect(colour.stdout.text).toContain('\u001b[32mActive');
    expect(colour.stdout.text).toContain('\u001b[33mSuspended');
    expect(colour.stdout.text).not.toMatch(/NAME\s+ID/); // cards, not a table

    const plain = ttyContext(u, { columns: 50, env: { NO_COLOR: '1' } });
    await runCommand('list', plain.ctx);
    expect(plain.stdout.text).not.toContain('\u001b');
    expect(plain.stdout.text).toMatch(/^Name\s+laptop \(this machine\)$/m);
    expect(plain.stdout.text).toMatch(/^Status\s+Suspended$/m);
    expect(plain.stdout.text).toMatch(/^Expires\s+\d{4}-\d{2}-\d{2} \(in 90 days\)$/m);

    const wide = ttyContext(u, { columns: 200, env: { NO_COLOR: '1' } });
    await runCommand('list', wide.ctx);
    expect(wide.stdout.text).toMatch(/^NAME\s+ID\s+STATUS/m);
  });
});

describe.skipIf(needs('script'))('create in a real pseudo-terminal', () => {
  test('the built CLI under `script` prompts, takes typed answers, and shows the secret once', async () => {
    const u = await h.signedInUser();
    // `script` gives the CLI a real pty for stdin/stdout/stderr; we type into script's stdin.
    const child = spawn('script', ['-qefc', `${process.execPath} ${CLI_BIN} keys create`, '/dev/null'], {
      cwd: u.home,
      env: { ...cliEnv(u.home), TERM: 'xterm', COLUMNS: '100', LINES: '30' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}:\n${out}`)), 15_000);
        const check = () => {
          if (pattern.test(out)) {
            clearTimeout(timer);
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        check();
      });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));

    await seen(/Key name/);
    child.stdin.write('pty key');
    await seen(/pty key/);
    child.stdin.write(ENTER);
    await seen(/Expires in/);
    child.stdin.write(DOWN);
    child.stdin.write(DOWN);
    child.stdin.write(ENTER);
    await seen(/Credential/);
    child.stdin.end();
    expect(await exited).toBe(0);

    const plain = out.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    const id = /API key ID\s+(tlk_\w+)/.exec(plain)![1]!;
    expect(plain).toMatch(/will not be shown again/);
    const key = (await h.listFor(u.key.credential)).keys.find((k) => k.id === id)!;
    expect(key.name).toBe('pty key');
    expect(Date.parse(key.expires_at) - Date.parse(key.created_at)).toBe(365 * DAY_MS);
    // A terminal gets colours (no NO_COLOR here).
    expect(out).toContain('\u001b[');
  });
});

describe.skipIf(keyringMissing())('rotating this machine’s key with the OS keychain', () => {
  let keyring: Keyring;
  beforeAll(async () => {
    keyring = await startKeyring();
  });
  afterAll(async () => {
    await keyring?.stop();
  });

  test('the new secret replaces the old one in the keychain and in the env file setup wrote', async () => {
    const u = await h.signedInUser('keychain box', keyring.env);
    const configDir = join(u.home, '.config', 'thirdloop');
    expect(await keyring.lookup('default')).toBe(u.key.credential);
    expect(existsSync(join(configDir, 'credentials.json'))).toBe(false);
    const setup = await u.cli(['setup', 'claude', '--shell', 'bash', '--yes'], { SHELL: '/bin/bash' });
    expect(setup.exitCode, setup.stderr).toBe(0);

    const r = await u.cli(['keys', 'rotate', 'keychain box', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Stored the new secret in the system keychain/);
    const fresh = await keyring.lookup('default');
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(u.key.credential);
    expect(r.stdout + r.stderr).not.toContain(fresh!.split(';')[1]);
    expect(existsSync(join(configDir, 'credentials.json'))).toBe(false);
    const env = readFileSync(join(configDir, 'env.sh'), 'utf8');
    expect(env).toContain(fresh);
    expect(r.stderr).toContain(join(configDir, 'env.sh'));
    const list = await h.listFor(fresh!);
    expect(list.keys).toEqual([expect.objectContaining({ id: fresh!.split(';')[0], name: 'keychain box', status: 'active' })]);
    expect((await h.api(u.key.credential)).status).toBe(401);
  });
});
