/** /api over HTTP against the real app and a real SQLite file: the key rules end to end. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestServer, type TestServer } from './helpers/app.js';
import { flagCompromised } from '../src/store/key-actions.js';

const DAY = 86_400_000;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** A user with one long-lived active key to call the API with. */
async function caller() {
  const user = await server.addUser();
  const key = await server.mintKey(user.id, { name: 'caller', expires: 365 });
  return { user, key, call: api(server.url, key.credential) };
}

type Status = 'active' | 'suspended' | 'expired' | 'compromised';

/** A key in the given status, made through the API (expired: 30 days, the clock moves later). */
async function keyIn(c: Awaited<ReturnType<typeof caller>>, status: Status) {
  const res = await c.call('POST', '/api/keys', { name: `target ${status}`, expires_in_days: 30 });
  expect(res.status).toBe(201);
  const id = res.json.key.id as string;
  if (status === 'suspended') expect((await c.call('POST', `/api/keys/${id}/disable`)).status).toBe(200);
  if (status === 'compromised') await flagCompromised(server.store, id, server.now());
  return { id, credential: res.json.credential as string };
}

async function withClockMoved<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  server.advance(ms);
  try {
    return await fn();
  } finally {
    server.advance(-ms);
  }
}

describe('the status/action table', () => {
  type Action = 'disable' | 'enable' | 'delete' | 'rotate' | 'rename';
  const expected: Record<Status, Record<Action, number>> = {
    // Enabling an Active key and disabling a Suspended one are no-ops that succeed (idempotent, as gh's).
    active: { disable: 200, enable: 200, delete: 204, rotate: 201, rename: 200 },
    suspended: { disable: 200, enable: 200, delete: 204, rotate: 409, rename: 200 },
    expired: { disable: 409, enable: 409, delete: 204, rotate: 409, rename: 409 },
    compromised: { disable: 409, enable: 409, delete: 204, rotate: 409, rename: 409 },
  };
  const request = (action: Action, id: string): [string, string, unknown?] =>
    action === 'delete'
      ? ['DELETE', `/api/keys/${id}`]
      : action === 'rename'
        ? ['PATCH', `/api/keys/${id}`, { name: 'renamed' }]
        : ['POST', `/api/keys/${id}/${action}`];

  for (const status of Object.keys(expected) as Status[]) {
    for (const action of Object.keys(expected[status]) as Action[]) {
      const want = expected[status][action];
      it(`${status} + ${action} → ${want}`, async () => {
        const c = await caller();
        const target = await keyIn(c, status);
        const shift = status === 'expired' ? 30 * DAY + 1000 : 0;
        await withClockMoved(shift, async () => {
          const before = await c.call('GET', '/api/keys');
          expect(before.json.keys.find((k: any) => k.id === target.id).status).toBe(status);
          const [method, path, body] = request(action, target.id);
          const res = await c.call(method, path, body);
          expect(res.status).toBe(want);
          const after = await c.call('GET', '/api/keys');
          const now = after.json.keys.find((k: any) => k.id === target.id);
          if (want === 409) {
            expect(res.json.error.type).toBe('conflict_error');
            if (status === 'expired') expect(res.json.error.message).toBe('Expired keys can only be deleted.');
            if (status === 'compromised') expect(res.json.error.message).toBe('Compromised keys can only be deleted.');
            if (status === 'suspended' && action === 'rotate') expect(res.json.error.message).toMatch(/Suspended keys can only be enabled, deleted or renamed/);
            expect(now.status).toBe(status); // a refused request changes nothing
            return;
          }
          if (action === 'delete') {
            expect(res.text).toBe('');
            expect(now).toBeUndefined();
          } else if (action === 'disable') {
            expect(res.json.key).toMatchObject({ id: target.id, status: 'suspended' });
            expect(now.status).toBe('suspended');
            expect(now).toEqual({ ...before.json.keys.find((k: any) => k.id === target.id), status: 'suspended' });
          } else if (action === 'enable') {
            expect(res.json.key).toMatchObject({ id: target.id, status: 'active' });
            expect(now.status).toBe('active');
            expect(now).toEqual({ ...before.json.keys.find((k: any) => k.id === target.id), status: 'active' });
          } else if (action === 'rename') {
            expect(res.json.key).toMatchObject({ id: target.id, name: 'renamed', status });
          } else if (action === 'rotate') {
            expect(now).toBeUndefined();
            expect(res.json.key).toMatchObject({ name: `target ${status}`, status: 'active' });
            expect(res.json.key.id).not.toBe(target.id);
            expect(res.json.credential).toBe(`${res.json.key.id};${res.json.secret_key}`);
          }
        });
      });
    }
  }
});

describe('authentication', () => {
  it('accepts x-api-key, Bearer, or both when equal', async () => {
    const c = await caller();
    expect((await c.call('GET', '/api/me')).status).toBe(200);
    const bearer = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${c.key.credential}` } });
    expect(bearer.status).toBe(200);
    const both = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${c.key.credential}`, 'x-api-key': c.key.credential } });
    expect(both.status).toBe(200);
    const me = (await both.json()) as any;
    expect(me.user.email).toBe(c.user.email);
    expect(me.key.id).toBe(c.key.id);
  });

  it('"last used" means a model request: /api calls, successful or refused, never move last_used_at; a /v1 request does', async () => {
    const c = await caller();
    expect((await c.call('POST', '/api/keys', { name: 'two' })).status).toBe(201);
    for (const [method, path, body] of [
      ['GET', '/api/me'],
      ['GET', '/api/keys'],
      ['GET', `/api/keys/${c.key.id}`],
      ['PATCH', `/api/keys/${c.key.id}`, { name: 'renamed' }],
      ['POST', '/api/keys', { name: 'three' }], // 409 at the limit
      ['GET', '/api/keys/tlk_nope'], // 404
    ] as Array<[string, string, unknown?]>) {
      await c.call(method, path, body);
    }
    expect((await server.store.keys.findById(c.key.id))!.lastUsedAt).toBeNull();
    const me = await c.call('GET', '/api/me');
    expect(me.json.key.last_used_at).toBeNull();
    expect((await c.call('GET', '/api/keys')).json.keys.every((k: any) => k.last_used_at === null)).toBe(true);

    const model = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': c.key.credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(model.status).toBe(200);
    await model.text();
    // Written behind the request (batched, within about 200 ms).
    let used: string | null = null;
    for (let i = 0; i < 100 && !used; i++) {
      used = (await c.call('GET', '/api/me')).json.key.last_used_at;
      if (!used) await new Promise((r) => setTimeout(r, 50));
    }
    expect(Date.parse(used!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('missing, malformed, disagreeing headers → 401 with the reason', async () => {
    const c = await caller();
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /No API key/],
      [{ 'x-api-key': 'sk-ant-api03-whatever' }, /malformed/],
      [{ 'x-api-key': c.key.id }, /malformed/],
      [{ 'x-api-key': `${c.key.id};${c.key.secret.slice(0, -1)}X` }, /malformed/], // checksum no longer matches
      [{ 'x-api-key': c.key.credential, authorization: 'Bearer tlk_x;tls_y' }, /malformed/],
    ];
    for (const [headers, message] of cases) {
      const res = await fetch(`${server.url}/api/keys`, { headers });
      expect(res.status).toBe(401);
      const body = (await res.json()) as any;
      expect(body.error.type).toBe('authentication_error');
      expect(body.error.message).toMatch(message);
    }
  });

  it('an unknown ID and a wrong secret get the same answer', async () => {
    const c = await caller();
    const other = await caller();
    const wrongSecret = await api(server.url, `${c.key.id};${other.key.secret}`)('GET', '/api/keys');
    const unknownId = await api(server.url, `tlk_${'A'.repeat(24)};${other.key.secret}`)('GET', '/api/keys');
    expect(wrongSecret.status).toBe(401);
    expect(unknownId.status).toBe(401);
    expect(wrongSecret.json).toEqual(unknownId.json);
    expect(wrongSecret.json.error.message).toBe('Invalid API key.');
  });

  it('suspended, expired, compromised and deleted keys authenticate nowhere; the holder learns why', async () => {
    const c = await caller();
    const deleted = await keyIn(c, 'suspended');
    expect((await c.call('DELETE', `/api/keys/${deleted.id}`)).status).toBe(204);
    const gone = await api(server.url, deleted.credential)('GET', '/api/me');
    expect(gone.status).toBe(401);
    expect(gone.json.error.message).toBe('Invalid API key.');
    const suspended = await keyIn(c, 'suspended');
    expect((await api(server.url, suspended.credential)('GET', '/api/me')).json.error.message).toMatch(/suspended/);
    const compromised = await keyIn(c, 'compromised');
    expect((await api(server.url, compromised.credential)('GET', '/api/me')).json.error.message).toMatch(/compromised/);
    const expiring = await keyIn(c, 'active');
    await withClockMoved(30 * DAY + 1000, async () => {
      const res = await api(server.url, expiring.credential)('GET', '/api/me');
      expect(res.status).toBe(401);
      expect(res.json.error.message).toMatch(/expired/);
    });
  });

  it('with a wrong secret, a suspended key reads as "invalid", not "suspended"', async () => {
    const c = await caller();
    const suspended = await keyIn(c, 'suspended');
    const res = await api(server.url, `${suspended.id};${c.key.secret}`)('GET', '/api/me');
    expect(res.json.error.message).toBe('Invalid API key.');
  });
});

describe('listing and the secret shown once', () => {
  it('lists id, name, status, times, active_count and active_limit', async () => {
    const c = await caller();
    await keyIn(c, 'suspended');
    const res = await c.call('GET', '/api/keys');
    expect(res.status).toBe(200);
    expect(res.json.active_count).toBe(1);
    expect(res.json.active_limit).toBe(2);
    expect(res.json.keys).toHaveLength(2);
    for (const k of res.json.keys) {
      expect(Object.keys(k).sort()).toEqual(['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'status']);
      expect(new Date(k.created_at).toISOString()).toBe(k.created_at);
    }
    const target = res.json.keys.find((k: any) => k.status === 'suspended');
    expect(target.last_used_at).toBeNull();
    expect(res.text).not.toMatch(/secret|tls_/);
  });

  it('create: 201 with the secret once; defaults to 90 days; never returned again; absent from the database file', async () => {
    const c = await caller();
    const res = await c.call('POST', '/api/keys', { name: '  spaced name  ' });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { key, secret_key: secret, credential } = res.json;
    expect(key.name).toBe('spaced name');
    expect((Date.parse(key.expires_at) - Date.parse(key.created_at)) / DAY).toBe(90);
    expect(secret).toMatch(/^tls_[0-9A-Za-z]{38}$/);
    expect(credential).toBe(`${key.id};${secret}`);
    for (const path of ['/api/keys', `/api/keys/${key.id}`, '/api/me']) {
      expect((await c.call('GET', path)).text).not.toContain(secret);
      expect((await api(server.url, credential)('GET', path)).text).not.toContain(secret);
    }
    const bytes = server.database.bytes();
    expect(bytes.includes(Buffer.from(key.id))).toBe(true); // we are looking at the right database
    expect(bytes.includes(Buffer.from(createHash('sha256').update(secret).digest('hex')))).toBe(true);
    expect(bytes.includes(Buffer.from(secret))).toBe(false);
    expect(bytes.includes(Buffer.from(secret.slice(4, 36)))).toBe(false);
  });

  it('accepts each expiry period and refuses others', async () => {
    for (const days of [30, 60, 90, 180, 365]) {
      const c = await caller();
      const res = await c.call('POST', '/api/keys', { name: `d${days}`, expires_in_days: days });
      expect(res.status).toBe(201);
      expect((Date.parse(res.json.key.expires_at) - Date.parse(res.json.key.created_at)) / DAY).toBe(days);
    }
    const c = await caller();
    // JSON has numbers: a digit string is the wrong type, as the contract says (forms and query strings convert).
    for (const bad of [0, 7, 91, 90.5, -30, '30 days', '90', true, [90], { d: 90 }]) {
      const res = await c.call('POST', '/api/keys', { name: 'x', expires_in_days: bad });
      expect(res.status).toBe(400);
      expect(res.json.error.message).toMatch(/30, 60, 90, 180, 365/);
    }
  });

  it('names: 1–64 printable characters after trimming', async () => {
    const c = await caller();
    for (const bad of ['', '   ', 'a'.repeat(65), 'tab\there', 'new\nline', 'nul\u0000', 42, null, ['a']]) {
      const res = await c.call('POST', '/api/keys', { name: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.json.error.type).toBe('invalid_request_error');
    }
    const ok = await c.call('POST', '/api/keys', { name: 'é'.repeat(63) + '🔑' });
    expect(ok.status).toBe(201);
    const rename = await c.call('PATCH', `/api/keys/${ok.json.key.id}`, { name: 'b'.repeat(65) });
    expect(rename.status).toBe(400);
  });
});

describe('the limit of 2 active keys', () => {
  it('a third create → 409 that says what to do', async () => {
    const c = await caller();
    expect((await c.call('POST', '/api/keys', { name: 'two' })).status).toBe(201);
    const third = await c.call('POST', '/api/keys', { name: 'three' });
    expect(third.status).toBe(409);
    expect(third.json.error.message).toMatch(/Disable or delete a key first: thirdloop keys disable tlk_/);
  });

  it('enable at the limit → 409; suspended, expired and compromised keys do not count', async () => {
    const c = await caller();
    const s = await keyIn(c, 'suspended');
    await keyIn(c, 'compromised');
    await keyIn(c, 'active');
    const list = await c.call('GET', '/api/keys');
    expect(list.json.active_count).toBe(2);
    const enable = await c.call('POST', `/api/keys/${s.id}/enable`);
    expect(enable.status).toBe(409);
    expect(enable.json.error.message).toMatch(/Disable or delete a key first/);
  });

  it('expired keys stop counting once the clock passes expires_at', async () => {
    const c = await caller();
    await keyIn(c, 'active'); // 30 days
    expect((await c.call('POST', '/api/keys', { name: 'refused' })).status).toBe(409);
    await withClockMoved(30 * DAY + 1000, async () => {
      const list = await c.call('GET', '/api/keys');
      expect(list.json.active_count).toBe(1);
      const res = await c.call('POST', '/api/keys', { name: 'now fits' });
      expect(res.status).toBe(201);
    });
  });

  it('rotate works at the limit', async () => {
    const c = await caller();
    const other = await keyIn(c, 'active');
    const res = await c.call('POST', `/api/keys/${other.id}/rotate`);
    expect(res.status).toBe(201);
    expect((await api(server.url, other.credential)('GET', '/api/me')).status).toBe(401);
    expect((await api(server.url, res.json.credential)('GET', '/api/me')).status).toBe(200);
    expect((Date.parse(res.json.key.expires_at) - Date.parse(res.json.key.created_at)) / DAY).toBe(30);
    expect((await c.call('GET', '/api/keys')).json.active_count).toBe(2);
  });

  it('rotating a suspended key at the limit is refused (the new key would be active)', async () => {
    const c = await caller();
    const s = await keyIn(c, 'suspended');
    await keyIn(c, 'active');
    const res = await c.call('POST', `/api/keys/${s.id}/rotate`);
    expect(res.status).toBe(409);
  });

  it('50 parallel creates: exactly one succeeds, never more than 2 active, never 5xx', async () => {
    const c = await caller();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call('POST', '/api/keys', { name: `race ${i}` })));
    const codes = results.map((r) => r.status);
    expect(codes.filter((s) => s >= 500)).toEqual([]);
    expect(codes.filter((s) => s === 201)).toHaveLength(1);
    expect(codes.filter((s) => s === 409)).toHaveLength(49);
    const list = await c.call('GET', '/api/keys');
    expect(list.json.active_count).toBe(2);
    expect(list.json.keys).toHaveLength(2);
  });

  it('50 parallel enables over 5 suspended keys: exactly one key is enabled (repeats of that one are no-ops), the rest 409', async () => {
    const c = await caller();
    const suspended: Array<{ id: string }> = [];
    for (let i = 0; i < 5; i++) suspended.push(await keyIn(c, 'suspended'));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call('POST', `/api/keys/${suspended[i % 5]!.id}/enable`)));
    const codes = results.map((r) => r.status);
    expect(codes.filter((s) => s >= 500)).toEqual([]);
    expect(codes.filter((s) => s !== 200 && s !== 409)).toEqual([]);
    const enabled = new Set(results.filter((r) => r.status === 200).map((r) => r.json.key.id));
    expect(enabled.size).toBe(1);
    const list = await c.call('GET', '/api/keys');
    expect(list.json.active_count).toBe(2);
  });
});

describe("other users' keys", () => {
  it('every action on another user\'s key → 404, the same as a key that does not exist', async () => {
    const mine = await caller();
    const theirs = await caller();
    const target = await keyIn(theirs, 'suspended');
    const missing = `tlk_${'B'.repeat(24)}`;
    for (const id of [target.id, missing]) {
      for (const [method, path, body] of [
        ['GET', `/api/keys/${id}`],
        ['POST', `/api/keys/${id}/disable`],
        ['POST', `/api/keys/${id}/enable`],
        ['POST', `/api/keys/${id}/rotate`],
        ['PATCH', `/api/keys/${id}`, { name: 'mine now' }],
        ['DELETE', `/api/keys/${id}`],
      ] as Array<[string, string, unknown?]>) {
        const res = await mine.call(method, path, body);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.json.error.type).toBe('not_found_error');
        expect(res.json.error.message).toBe(`No key ${id}.`);
      }
    }
    const still = await theirs.call('GET', `/api/keys/${target.id}`);
    expect(still.json.key).toMatchObject({ name: 'target suspended', status: 'suspended' });
  });
});

describe('bad requests → 4xx, never 500', () => {
  it('bad JSON, wrong shapes, huge bodies, wrong content types', async () => {
    const c = await caller();
    const raw = (body: string | Buffer, type = 'application/json') =>
      fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'x-api-key': c.key.credential, 'content-type': type }, body });
    const cases: Array<[string | Buffer, string, number]> = [
      ['{"name": "x"', 'application/json', 400],
      ['[1,2]', 'application/json', 400],
      ['"just a string"', 'application/json', 400],
      ['null', 'application/json', 400],
      ['{}', 'application/json', 400],
      [JSON.stringify({ name: 'x'.repeat(20_000) }), 'application/json', 413],
      [Buffer.alloc(12 * 1024 * 1024, 'a'), 'application/json', 413],
      ['name=x', 'text/plain', 400], // parsed as text: not a JSON object
      ['<xml/>', 'application/xml', 415],
    ];
    for (const [body, type, want] of cases) {
      const res = await raw(body, type);
      expect(res.status, `${type} ${String(body).slice(0, 20)}`).toBe(want);
      const json = (await res.json()) as any;
      expect(typeof json.error.type).toBe('string');
      expect(typeof json.error.message).toBe('string');
    }
    expect((await c.call('GET', '/api/keys')).json.keys).toHaveLength(1); // nothing was created
  });

  it('unknown /api routes → JSON 404', async () => {
    const c = await caller();
    const res = await c.call('GET', '/api/nope');
    expect(res.status).toBe(404);
    expect(res.json.error.type).toBe('not_found_error');
  });

  it('an empty JSON body is fine for actions without one', async () => {
    const c = await caller();
    const t = await keyIn(c, 'active');
    const res = await fetch(`${server.url}/api/keys/${t.id}/disable`, {
      method: 'POST',
      headers: { 'x-api-key': c.key.credential, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
  });
});

describe('audit rows for key management', () => {
  it('records create, disable, enable, rename, rotate and delete; the rows stay after delete; no secrets', async () => {
    const c = await caller();
    const created = await c.call('POST', '/api/keys', { name: 'audited' });
    const id = created.json.key.id;
    await c.call('POST', `/api/keys/${id}/disable`);
    await c.call('POST', `/api/keys/${id}/enable`);
    await c.call('PATCH', `/api/keys/${id}`, { name: 'audited 2' });
    const rotated = await c.call('POST', `/api/keys/${id}/rotate`);
    await c.call('DELETE', `/api/keys/${rotated.json.key.id}`);
    await c.call('POST', `/api/keys/${id}/enable`); // refused: gone → 404
    const rows = (await server.store.audit.list({ userId: c.user.id })).reverse().filter((r) => r.kind === 'key');
    expect(rows.map((r) => [r.action, r.key_id, r.status])).toEqual([
      ['create', c.key.id, null], // operator-made caller key
      ['create', id, 201],
      ['disable', id, 200],
      ['enable', id, 200],
      ['rename', id, 200],
      ['rotate', id, 201],
      ['create', rotated.json.key.id, 201],
      ['delete', rotated.json.key.id, 204],
      ['enable', id, 404],
    ]);
    expect(rows[1]).toMatchObject({ method: 'POST', path: '/api/keys', user_id: c.user.id });
    expect(JSON.stringify(rows)).not.toMatch(/tls_/);
  });
});
