import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReferenceServer, type ReferenceServer } from '../../test/helpers/reference-server.js';

describe('test/helpers/reference-server', () => {
  let server: ReferenceServer;
  beforeAll(async () => {
    server = await startReferenceServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('starts the built server and drives its operator commands', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { email } = await server.addUser('helper@example.com');
    const key = await server.createKey(email, { name: 'from helper', expires: 30 });
    expect(key.credential).toBe(`${key.id};${key.secret}`);
    const me = await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': key.credential } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { email }, key: { id: key.id, name: 'from helper', status: 'active' } });

    await server.flagCompromised(key.id);
    const after = await fetch(`${server.url}/api/me`, { headers: { 'x-api-key': key.credential } });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toMatch(/compromised/);
  });

  it('signs in with the password the helper set', async () => {
    const { email, password } = await server.addUser('signin@example.com', 'correct horse battery');
    expect(password).toBe('correct horse battery');
    const page = await fetch(`${server.url}/login`);
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const res = await fetch(`${server.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf, email, password, next: '/cli-auth' }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/cli-auth');
    expect(res.headers.getSetCookie().join()).toMatch(/tl_session=.*HttpOnly; SameSite=Lax/);
  });
});
