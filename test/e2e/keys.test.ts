/**
 * `thirdloop keys …` end to end: the built CLI as a child process (stdin and
 * stdout are pipes, so no TTY), a temporary HOME signed in with
 * `thirdloop auth --with-key`, and the real reference server. Every cell of
 * the status/action table, the limit, resolution by name and prefix, --json
 * against GET /api/keys, non-TTY refusals and colour rules.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CliResult } from '../helpers/cli.js';
import { makeHome } from '../helpers/cli.js';
import { DAY_MS, runCli, startHarness, type Harness, type Key, type KeyList } from './keys-harness.js';

const ESC = '\u001b[';
/** A request that changes something, in --debug output. */
const WRITE_REQUEST = /\[debug\] (POST|PATCH|DELETE) /;

let h: Harness;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
  cleanups.forEach((fn) => fn());
});

const signedInUser = (name?: string) => h.signedInUser(name);
const api = (credential: string, path: string, init?: RequestInit) => h.api(credential, path, init);
const listFor = (credential: string) => h.listFor(credential);
const createExpiredKey = (email: string, name: string) => h.createExpiredKey(email, name);

const noWrites = (r: CliResult) => expect(r.stderr).not.toMatch(WRITE_REQUEST);

describe.concurrent('keys list', () => {
  test('header, rows, this machine marked, Never used, no colour on a pipe', async () => {
    const u = await signedInUser('laptop');
    const created = await u.cli(['keys', 'create', '--name', 'ci runner', '--expires', '30']);
    expect(created.exitCode, created.stderr).toBe(0);

    const r = await u.cli(['keys', 'list']);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('2 / 2 active keys');
    const laptop = lines.find((l) => l.includes(u.key.id))!;
    expect(laptop).toMatch(/^laptop \(this machine\)\s+tlk_\w{24}\s+Active\s+\d{4}-\d{2}-\d{2}\s+in 90 days\s+Never used$/);
    const ci = lines.find((l) => l.startsWith('ci runner'))!;
    expect(ci).toMatch(/Active\s+\d{4}-\d{2}-\d{2}\s+in 30 days\s+Never used$/);
    expect(ci).not.toContain('this machine');
    // stdout is a pipe here: no escape codes even without NO_COLOR.
    expect(r.stdout).not.toContain(ESC);
    expect(r.stderr).toMatch(/Next: .*thirdloop keys (disable|rotate)/);
    // The secret is shown once, at creation, and never by list.
    const secret = /Secret key\s+(tls_\w+)/.exec(created.stdout)![1]!;
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  test('--json is the server list, field by field, plus this machine’s key ID', async () => {
    const u = await signedInUser();
    expect((await u.cli(['keys', 'create', '--name', 'other', '--expires', '180'])).exitCode).toBe(0);
    const r = await u.cli(['keys', 'list', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as KeyList & { this_machine_key_id: string };
    const server = await listFor(u.key.credential);
    expect(Object.keys(doc)).toEqual(['keys', 'active_count', 'active_limit', 'this_machine_key_id']);
    expect(doc.active_count).toBe(server.active_count);
    expect(doc.active_limit).toBe(2);
    expect(doc.this_machine_key_id).toBe(u.key.id);
    expect(doc.keys.map((k) => k.id)).toEqual(server.keys.map((k) => k.id));
    for (const [i, key] of doc.keys.entries()) {
      const s = server.keys[i]!;
      expect(Object.keys(key)).toEqual(['id', 'name', 'status', 'created_at', 'expires_at', 'last_used_at']);
      // last_used_at too: listing keys is not using them (only /v1 requests move it).
      for (const field of ['id', 'name', 'status', 'created_at', 'expires_at', 'last_used_at'] as const) expect(key[field]).toBe(s[field]);
    }
  });

  test('NO_COLOR: no escape codes on stdout or stderr; not signed in exits 4', async () => {
    const u = await signedInUser();
    const r = await u.cli(['keys', 'list'], { NO_COLOR: '1' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(ESC);
    const { home, cleanup } = makeHome();
    cleanups.push(cleanup);
    const anon = await runCli(['keys', 'list'], { home });
    expect(anon.exitCode).toBe(4);
    expect(anon.stderr).toContain('thirdloop auth');
  });
});

describe.concurrent('keys create', () => {
  test('flags on a non-TTY: no prompt, one --json object whose credential works once shown', async () => {
    const u = await signedInUser();
    const r = await u.cli(['keys', 'create', '--name', '  build box  ', '--expires', '60', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { key: Key; secret_key: string; credential: string };
    expect(doc.key.name).toBe('build box');
    expect(doc.key.status).toBe('active');
    expect(Date.parse(doc.key.expires_at) - Date.parse(doc.key.created_at)).toBe(60 * DAY_MS);
    expect(doc.credential).toBe(`${doc.key.id};${doc.secret_key}`);
    expect(r.stderr).toMatch(/not be shown again/);
    const me = await api(doc.credential, '/api/me');
    expect(me.status).toBe(200);
    const server = await listFor(u.key.credential);
    // The new credential works; asking /api/me with it is not a use of the key ("Last used" is /v1's).
    expect(server.keys.find((k) => k.id === doc.key.id)).toEqual({ ...doc.key, last_used_at: null });
  });

  test('defaults without flags on a non-TTY: 90 days and a generated name; human output shows ID, secret and credential', async () => {
    const u = await signedInUser();
    const r = await u.cli(['keys', 'create']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Key name|Expires in/); // no prompt
    const id = /API key ID\s+(tlk_\w+)/.exec(r.stdout)![1]!;
    const secret = /Secret key\s+(tls_\w+)/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`Credential   ${id};${secret}`);
    expect(r.stderr).toMatch(/will not be shown again/);
    expect(r.stderr).toMatch(/Next: /);
    const key = (await listFor(u.key.credential)).keys.find((k) => k.id === id)!;
    expect(Date.parse(key.expires_at) - Date.parse(key.created_at)).toBe(90 * DAY_MS);
    expect(key.name).toMatch(/\(\d{4}-\d{2}-\d{2}\)$/);
  });

  test.each([
    [['--expires', '45'], /30, 60, 90, 180|Expiry/],
    [['--name', '   '], /must not be empty/],
    [['--name', 'x'.repeat(65)], /at most 64/],
    [['--name', 'tab\there'], /control character/],
  ])('invalid input %j exits 2 with a sentence and creates nothing', async (args, message) => {
    const u = await signedInUser();
    const r = await u.cli(['keys', 'create', ...args, '--debug']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\[debug\]/); // refused before any request
    expect((await listFor(u.key.credential)).keys).toHaveLength(1);
  });
});

describe.concurrent('the limit', () => {
  test('create and enable at 2 active keys explain the rule and name the commands that free a slot; rotate still works', async () => {
    const u = await signedInUser('laptop');
    expect((await u.cli(['keys', 'create', '--name', 'spare'])).exitCode).toBe(0);
    expect((await u.cli(['keys', 'create', '--name', 'parked'])).exitCode).toBe(1); // third active: refused
    // Suspend "spare", create "second", then try to enable "spare" again.
    expect((await u.cli(['keys', 'disable', 'spare'])).exitCode).toBe(0);
    expect((await u.cli(['keys', 'create', '--name', 'second'])).exitCode).toBe(0);

    const create = await u.cli(['keys', 'create', '--name', 'third', '--debug']);
    expect(create.exitCode).toBe(1);
    expect(create.stderr).toMatch(/you already have 2 active keys .* at most 2 can be active/);
    expect(create.stderr).toMatch(/thirdloop keys disable tlk_\w+/);
    expect(create.stderr).toMatch(/thirdloop keys delete tlk_\w+/);
    expect(create.stderr).toContain('the key this machine uses');
    noWrites(create);

    const enable = await u.cli(['keys', 'enable', 'spare', '--debug']);
    expect(enable.exitCode).toBe(1);
    expect(enable.stderr).toMatch(/Cannot enable "spare" .*at most 2/);
    noWrites(enable);

    // A Suspended key cannot be rotated at all (enable or delete it); an Active one rotates even at the limit.
    const rotSuspended = await u.cli(['keys', 'rotate', 'spare', '--yes', '--debug']);
    expect(rotSuspended.exitCode).toBe(1);
    expect(rotSuspended.stderr).toMatch(/Suspended keys can only be enabled, deleted or renamed/);
    noWrites(rotSuspended);

    const before = await listFor(u.key.credential);
    const second = before.keys.find((k) => k.name === 'second')!;
    const rot = await u.cli(['keys', 'rotate', 'second', '--yes', '--json']);
    expect(rot.exitCode, rot.stderr).toBe(0);
    const doc = JSON.parse(rot.stdout) as { key: Key; credential: string; replaced_key_id: string; this_machine: boolean };
    expect(doc.replaced_key_id).toBe(second.id);
    expect(doc.this_machine).toBe(false);
    expect(doc.key.name).toBe('second');
    expect(Date.parse(doc.key.expires_at) - Date.parse(doc.key.created_at)).toBe(Date.parse(second.expires_at) - Date.parse(second.created_at));
    const after = await listFor(u.key.credential);
    expect(after.active_count).toBe(2);
    expect(after.keys.map((k) => k.id)).not.toContain(second.id);
    expect((await api(doc.credential, '/api/me')).status).toBe(200);
  });
});

describe('every status × every action', () => {
  let u: Awaited<ReturnType<typeof signedInUser>>;
  const ids: Record<'active' | 'suspended' | 'expired' | 'compromised', string> = { active: '', suspended: '', expired: '', compromised: '' };

  beforeAll(async () => {
    u = await signedInUser();
    // compromised: flagged by the operator; expired: made in the past; active: a second active key; suspended: created then disabled.
    const c = await h.server.createKey(u.email, { name: 'comp' });
    await h.server.flagCompromised(c.id);
    ids.compromised = c.id;
    ids.expired = (await createExpiredKey(u.email, 'old')).id;
    const a = await u.cli(['keys', 'create', '--name', 'act', '--json']);
    ids.active = (JSON.parse(a.stdout) as { key: Key }).key.id;
    const s = await u.cli(['keys', 'create', '--name', 'sus', '--json']);
    expect(s.exitCode).toBe(1); // at the limit already (machine + act)
    expect((await u.cli(['keys', 'disable', 'act'])).exitCode).toBe(0);
    const s2 = await u.cli(['keys', 'create', '--name', 'sus', '--json']);
    ids.suspended = (JSON.parse(s2.stdout) as { key: Key }).key.id;
    expect((await u.cli(['keys', 'disable', 'sus'])).exitCode).toBe(0);
    expect((await u.cli(['keys', 'enable', 'act'])).exitCode).toBe(0);
    const list = await listFor(u.key.credential);
    const status = Object.fromEntries(list.keys.map((k) => [k.name, k.status]));
    expect(status).toEqual({ machine: 'active', act: 'active', sus: 'suspended', comp: 'compromised', old: 'expired' });
  });

  test('list shows every status', async () => {
    const r = await u.cli(['keys', 'list']);
    expect(r.stdout.split('\n')[0]).toBe('2 / 2 active keys');
    for (const [name, label] of [['act', 'Active'], ['sus', 'Suspended'], ['comp', 'Compromised'], ['old', 'Expired']]) {
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s+tlk_\\w+\\s+${label}\\s`, 'm'));
    }
    expect(r.stdout).toMatch(/^old .* (1|2) days? ago\s+Never used$/m);
  });

  const refused: Array<[keyof typeof ids, string[], RegExp]> = [
    ['suspended', ['rotate', '--yes'], /Suspended keys can only be enabled, deleted or renamed\./],
    ['expired', ['disable'], /Expired keys can only be deleted\./],
    ['expired', ['enable'], /Expired keys can only be deleted\./],
    ['expired', ['rotate', '--yes'], /Expired keys can only be deleted\./],
    ['expired', ['rename', 'new name'], /Expired keys can only be deleted\./],
    ['compromised', ['disable'], /Compromised keys can only be deleted\./],
    ['compromised', ['enable'], /Compromised keys can only be deleted\./],
    ['compromised', ['rotate', '--yes'], /Compromised keys can only be deleted\./],
    ['compromised', ['rename', 'new name'], /Compromised keys can only be deleted\./],
  ];
  // Refused cells change nothing, so they can run side by side.
  test.concurrent.each(refused)('%s: %j is refused locally with the allowed actions', async (status, verb, message) => {
    const id = ids[status];
    const r = await u.cli(['keys', verb[0]!, id, ...verb.slice(1), '--debug']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Allowed: .*`thirdloop keys delete tlk_\w+`/);
    noWrites(r);
    expect((await listFor(u.key.credential)).keys.find((k) => k.id === id)?.status).toBe(status);
  });

  test.concurrent.each([
    ['active', 'enable'],
    ['suspended', 'disable'],
  ] as const)('%s: %s is a no-op that says so and exits 0, without a change request', async (status, verb) => {
    const id = ids[status];
    const r = await u.cli(['keys', verb, id, '--debug']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`"\\w+" \\(${id}\\) is already ${status}; nothing to do\\.`));
    expect(r.stderr).not.toContain('Error');
    noWrites(r);
    const json = await u.cli(['keys', verb, id, '--json']);
    expect(json.exitCode).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ key: { id, status }, changed: false });
    expect((await listFor(u.key.credential)).keys.find((k) => k.id === id)?.status).toBe(status);
  });

  test('allowed cells: rename on Active and Suspended, disable/rotate on Active, enable on Suspended, delete on every status', async () => {
    const cred = u.key.credential;
    const statusOf = async (id: string) => (await listFor(cred)).keys.find((k) => k.id === id);

    // Active: rename, disable (→ Suspended), enable (→ Active).
    const ren = await u.cli(['keys', 'rename', ids.active, 'act renamed', '--json']);
    expect(ren.exitCode, ren.stderr).toBe(0);
    expect((JSON.parse(ren.stdout) as { key: Key }).key.name).toBe('act renamed');
    expect((await statusOf(ids.active))?.name).toBe('act renamed');
    const dis = await u.cli(['keys', 'disable', 'act renamed']);
    expect(dis.exitCode, dis.stderr).toBe(0);
    expect(dis.stderr).toMatch(/Disabled "act renamed"/);
    expect(dis.stderr).toMatch(/Next: `thirdloop keys enable tlk_/);
    expect((await statusOf(ids.active))?.status).toBe('suspended');

    // Suspended: rename, enable (room: "act" is suspended now), then delete it.
    expect((await u.cli(['keys', 'rename', ids.suspended, 'sus2'])).exitCode).toBe(0);
    const enS = await u.cli(['keys', 'enable', 'sus2']);
    expect(enS.exitCode, enS.stderr).toBe(0);
    expect(await statusOf(ids.suspended)).toMatchObject({ name: 'sus2', status: 'active' });
    const del = await u.cli(['keys', 'delete', ids.suspended, '--yes']);
    expect(del.exitCode, del.stderr).toBe(0);
    expect(del.stderr).toMatch(/Deleted "sus2"/);
    expect(await statusOf(ids.suspended)).toBeUndefined();

    // "act" back to Active, then rotate it (the secret shown once) and delete the replacement.
    const en = await u.cli(['keys', 'enable', ids.active]);
    expect(en.exitCode, en.stderr).toBe(0);
    expect((await statusOf(ids.active))?.status).toBe('active');
    // Active: rotate, then delete.
    const rotA = await u.cli(['keys', 'rotate', ids.active, '--yes', '--json']);
    expect(rotA.exitCode, rotA.stderr).toBe(0);
    expect(rotA.stdout).toMatch(/"secret_key": ?"tls_\w+"/);
    const rotatedA = (JSON.parse(rotA.stdout) as { key: Key }).key;
    expect(rotatedA).toMatchObject({ name: 'act renamed', status: 'active' });
    expect((await u.cli(['keys', 'delete', rotatedA.id, '--yes'])).exitCode).toBe(0);

    // Expired and Compromised: delete only (confirmed with --yes).
    for (const id of [ids.expired, ids.compromised]) {
      const r = await u.cli(['keys', 'delete', id, '--yes', '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ deleted: true, key: { id } });
      expect(await statusOf(id)).toBeUndefined();
    }
    expect((await listFor(cred)).keys.map((k) => k.id)).toEqual([u.key.id]);
  });
});

describe.concurrent('resolving <id>', () => {
  test('exact ID, unique name, unique prefix; ambiguous prefix and duplicate names list the candidates', async () => {
    const u = await signedInUser('alpha');
    const c = await u.cli(['keys', 'create', '--name', 'beta', '--json']);
    const beta = (JSON.parse(c.stdout) as { key: Key }).key;
    expect((await u.cli(['keys', 'disable', 'beta'])).exitCode).toBe(0);
    const byName = await listFor(u.key.credential);
    expect(byName.keys.find((k) => k.id === beta.id)?.status).toBe('suspended');

    // A unique prefix: the shortest prefix of beta's ID that alpha's does not share.
    let n = 5;
    while (u.key.id.startsWith(beta.id.slice(0, n))) n++;
    expect((await u.cli(['keys', 'rename', beta.id.slice(0, n), 'gamma'])).exitCode).toBe(0);
    expect((await listFor(u.key.credential)).keys.find((k) => k.id === beta.id)?.name).toBe('gamma');
    // Case-insensitive name when unique.
    expect((await u.cli(['keys', 'rename', 'GAMMA', 'alpha'])).exitCode).toBe(0);

    // Two keys named "alpha" now: ambiguous by name.
    const dup = await u.cli(['keys', 'enable', 'alpha', '--debug']);
    expect(dup.exitCode).toBe(2);
    expect(dup.stderr).toContain('"alpha" is the name of 2 keys:');
    expect(dup.stderr).toContain(u.key.id);
    expect(dup.stderr).toContain(beta.id);
    expect(dup.stderr).toMatch(/Give the key ID/);
    noWrites(dup);

    // "tlk_" is the start of every ID.
    const amb = await u.cli(['keys', 'enable', 'tlk_']);
    expect(amb.exitCode).toBe(2);
    expect(amb.stderr).toContain('"tlk_" is the start of 2 keys:');

    // The exact ID always wins.
    expect((await u.cli(['keys', 'enable', beta.id])).exitCode).toBe(0);

    const none = await u.cli(['keys', 'disable', 'nope']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/No key of yours matches "nope"/);
    expect(none.stderr).toContain('thirdloop keys list');

    // A malformed ID is refused before any request, even before signing in.
    const bad = await u.cli(['keys', 'delete', 'tlk_not-an-id!', '--yes', '--debug']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/is not a key ID/);
    expect(bad.stderr).not.toContain('[debug]');
    const long = await u.cli(['keys', 'rename', beta.id, 'y'.repeat(65), '--debug']);
    expect(long.exitCode).toBe(2);
    expect(long.stderr).not.toContain('[debug]');
  });
});

describe.concurrent('confirmations and this machine’s key', () => {
  test('delete and rotate without a TTY and without --yes refuse naming --yes, and change nothing', async () => {
    const u = await signedInUser();
    const c = await u.cli(['keys', 'create', '--name', 'victim', '--json']);
    const victim = (JSON.parse(c.stdout) as { key: Key }).key;
    for (const verb of ['delete', 'rotate']) {
      const r = await u.cli(['keys', verb, 'victim', '--debug']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`Not ${verb === 'delete' ? 'deleting' : 'rotating'} "victim" \\(${victim.id}\\) without confirmation`));
      expect(r.stderr).toContain('Pass --yes');
      noWrites(r);
    }
    expect((await listFor(u.key.credential)).keys.find((k) => k.id === victim.id)?.status).toBe('active');
  });

  test('disabling this machine’s key warns and asks (non-TTY: needs --yes); deleting it with --yes signs this machine out', async () => {
    const u = await signedInUser();
    const dis = await u.cli(['keys', 'disable', u.key.id, '--debug']);
    expect(dis.exitCode, dis.stderr).toBe(2);
    expect(dis.stderr).toMatch(/is the key this machine uses.*lose access/);
    expect(dis.stderr).toContain('Pass --yes');
    noWrites(dis);
    expect((await listFor(u.key.credential)).keys[0]?.status).toBe('active');

    const del = await u.cli(['keys', 'delete', 'machine', '--yes']);
    expect(del.exitCode, del.stderr).toBe(0);
    expect(del.stderr).toMatch(/is the key this machine uses.*lose access/);
    expect(del.stderr).toMatch(/Next: .*thirdloop auth/);
    expect((await u.cli(['keys', 'list'])).exitCode).toBe(4);
  });

  test('rotating this machine’s key stores the new secret, updates config and the env files setup wrote', async () => {
    const u = await signedInUser('workstation');
    const setup = await u.cli(['setup', 'claude', '--shell', 'bash', '--yes'], { SHELL: '/bin/bash' });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const configDir = join(u.home, '.config', 'thirdloop');
    const envFile = join(configDir, 'env.sh');
    expect(readFileSync(envFile, 'utf8')).toContain(u.key.credential);

    const r = await u.cli(['keys', 'rotate', 'workstation', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    const token = await u.cli(['token']);
    const fresh = token.stdout.trim();
    expect(fresh).not.toBe(u.key.credential);
    const [freshId] = fresh.split(';');
    // The old key is gone, the new one works and carries the same name.
    expect((await api(u.key.credential, '/api/keys')).status).toBe(401);
    const list = await listFor(fresh);
    expect(list.keys).toHaveLength(1);
    expect(list.keys[0]).toMatchObject({ id: freshId, name: 'workstation', status: 'active' });
    // Secret not echoed (it went to the store), files reported, env file rewritten 0600.
    expect(r.stdout + r.stderr).not.toContain(fresh.split(';')[1]);
    expect(r.stderr).toContain(`Updated the shell environment files with the new key: ${envFile}`);
    const env = readFileSync(envFile, 'utf8');
    expect(env).toContain(fresh);
    expect(env).not.toContain(u.key.credential);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const config = readFileSync(join(configDir, 'config.json'), 'utf8');
    expect(JSON.parse(config).profiles.default.keyId).toBe(freshId);
    expect(config).not.toContain(fresh.split(';')[1]);
    // The shell sees the new key.
    const status = await u.cli(['status', '--json']);
    expect(JSON.parse(status.stdout).key.id).toBe(freshId);
    expect(existsSync(join(configDir, 'credentials.json'))).toBe(true);

    // Renaming this machine's key keeps the local copy of its name current.
    expect((await u.cli(['keys', 'rename', freshId!, 'workstation 2'])).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')).profiles.default.keyName).toBe('workstation 2');
  }, 90_000); // setup claude starts bash three ways to check its work

  test('with THIRDLOOP_API_KEY (CI), rotating that key prints the new credential once and says to update the variable', async () => {
    const email = `ci-${process.pid}@example.com`;
    await h.server.addUser(email);
    const key = await h.server.createKey(email, { name: 'pipeline' });
    const { home, cleanup } = makeHome();
    cleanups.push(cleanup);
    const env = { THIRDLOOP_API_KEY: key.credential, THIRDLOOP_API_URL: h.server.url };
    const r = await runCli(['keys', 'rotate', 'pipeline', '--yes'], { home, env });
    expect(r.exitCode, r.stderr).toBe(0);
    const credential = /Credential\s+(tlk_\w+;tls_\w+)/.exec(r.stdout)![1]!;
    expect(r.stderr).toMatch(/THIRDLOOP_API_KEY, which still holds the old one/);
    expect((await listFor(credential)).keys).toEqual([expect.objectContaining({ name: 'pipeline', status: 'active' })]);
    // Nothing was written on this machine.
    expect(existsSync(join(home, '.config', 'thirdloop', 'credentials.json'))).toBe(false);
  });
});
