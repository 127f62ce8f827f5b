import { afterEach, describe, expect, test } from 'vitest';
import { request } from 'node:http';
import { LoginDenied, startCallbackServer, type CallbackServer } from '../../src/login/callback-server.js';
import { UserError, WaitEnded } from '../../src/core/errors.js';

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('loopback callback server', () => {
  let server: CallbackServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test('listens on 127.0.0.1 on a random port with /callback as redirect URI', async () => {
    server = await startCallbackServer({ state: 'abc' });
    expect(server.port).toBeGreaterThan(0);
    expect(server.redirectUri).toBe(`http://127.0.0.1:${server.port}/callback`);
  });

  test('rejects wrong state, wrong Host, other origins, other methods and paths with 4xx, then accepts the real callback', async () => {
    server = await startCallbackServer({ state: 'the-state' });
    const waiting = server.wait({ timeoutMs: 5000 });
    const port = server.port;
    expect((await get(port, '/callback?code=x&state=wrong')).status).toBe(400);
    expect((await get(port, '/callback?code=x')).status).toBe(400);
    expect((await get(port, '/callback?code=x&state=the-state', { host: 'evil.example' })).status).toBe(400);
    expect((await get(port, '/callback?code=x&state=the-state', { host: `localhost:${port}` })).status).toBe(400);
    expect((await get(port, '/callback?code=x&state=the-state', { origin: 'https://evil.example' })).status).toBe(400);
    expect((await get(port, '/callback?code=x&state=the-state', {}, 'POST')).status).toBe(405);
    expect((await get(port, '/other?code=x&state=the-state')).status).toBe(404);
    expect((await get(port, '/callback?state=the-state')).status).toBe(400); // no code

    const answer = get(port, '/callback?code=the-code&state=the-state');
    const result = await waiting;
    expect(result.code).toBe('the-code');
    result.respond({ ok: true, message: 'You can close <this> tab.' });
    const page = await answer;
    expect(page.status).toBe(200);
    expect(page.body).toContain('thirdloop is signed in');
    expect(page.body).toContain('You can close &#60;this&#62; tab.');

    // A second callback after completion is not accepted again.
    expect((await get(port, '/callback?code=again&state=the-state')).status).toBe(409);
  });

  test('a callback that arrives before wait() is kept', async () => {
    server = await startCallbackServer({ state: 's' });
    const answer = get(server.port, '/callback?code=early&state=s');
    await new Promise((r) => setTimeout(r, 50));
    const result = await server.wait({ timeoutMs: 2000 });
    expect(result.code).toBe('early');
    result.respond({ ok: false, message: 'exchange failed' });
    expect((await answer).body).toContain('sign-in failed');
  });

  test('denial rejects with LoginDenied and tells the browser', async () => {
    server = await startCallbackServer({ state: 's' });
    const waiting = server.wait({ timeoutMs: 2000 }).catch((e: unknown) => e);
    const page = await get(server.port, '/callback?error=access_denied&state=s');
    const error = await waiting;
    expect(error).toBeInstanceOf(LoginDenied);
    expect((error as Error).message).toBe('The request was denied in the browser; nothing was stored.');
    expect(page.body).toContain('denied');
  });

  test('a denial with the wrong state is ignored', async () => {
    server = await startCallbackServer({ state: 's' });
    const waiting = server.wait({ timeoutMs: 300 }).catch((e: unknown) => e);
    expect((await get(server.port, '/callback?error=access_denied&state=nope')).status).toBe(400);
    expect(await waiting).toEqual(new WaitEnded('timeout'));
  });

  test('times out with a sentence and can be aborted (Ctrl+C)', async () => {
    server = await startCallbackServer({ state: 's' });
    // The command says what the end of the wait means (tested end to end in test/e2e/auth.test.ts).
    await expect(server.wait({ timeoutMs: 100 })).rejects.toMatchObject({ name: 'WaitEnded', reason: 'timeout' });
    await server.close();

    server = await startCallbackServer({ state: 's' });
    const controller = new AbortController();
    const waiting = server.wait({ timeoutMs: 5000, signal: controller.signal });
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitEnded);
    expect((error as WaitEnded).reason).toBe('cancelled');
  });

  test('a port that cannot be opened is a sentence pointing at --no-browser', async () => {
    // 192.0.2.1 (TEST-NET-1) is never an address of this machine: listen fails with EADDRNOTAVAIL.
    const error = await startCallbackServer({ state: 's', host: '192.0.2.1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe("Could not listen on 192.0.2.1 for the browser's answer (EADDRNOTAVAIL).");
    expect((error as UserError).hint).toContain('thirdloop auth --no-browser');
  });

  test('close() frees the port', async () => {
    server = await startCallbackServer({ state: 's' });
    const port = server.port;
    await server.close();
    server = undefined;
    await expect(get(port, '/callback')).rejects.toThrow();
  });
});
