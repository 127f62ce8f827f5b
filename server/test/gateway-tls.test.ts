/**
 * The gateway's upstream leg as it is in production: the provider is reached
 * over https. The fake provider serves TLS with a certificate from a test CA
 * (openssl); the real server binary trusts that CA through NODE_EXTRA_CA_CERTS
 * (read by Node at start) or `--upstream-ca FILE`, keeps one connection alive
 * across requests, streams as the provider streams, answers an untrusted
 * certificate with a 502 in Anthropic's shape and one clear log line (never a
 * hang), and goes through the operator's forward proxy (tinyproxy) when the
 * server's environment sets HTTPS_PROXY.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needs } from '../../test/helpers/components.js';
import { SERVER_BIN, ensureServerBuilt, startReferenceServer, type ReferenceServer } from '../../test/helpers/reference-server.js';
import { makeTestCa, type TestCa } from '../../test/helpers/tls.js';
import { startTinyproxy, type Tinyproxy } from '../../test/helpers/tinyproxy.js';
import { messageBody, sendJson, startFakeUpstream, streamEvents, type FakeUpstream } from './helpers/fake-upstream.js';

const missing = needs('openssl', 'tinyproxy');
const ORG_KEY = 'sk-ant-api03-FAKE-tls-test-key';

/** The server's JSON log lines (pino, on stderr). */
function logLines(server: ReferenceServer): Array<{ level: number; msg: string; [k: string]: unknown }> {
  return server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

describe.skipIf(missing)('the gateway to an https provider', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let upstream: FakeUpstream;
  let proxy: Tinyproxy;
  const servers: ReferenceServer[] = [];

  beforeAll(async () => {
    ensureServerBuilt();
    ca = makeTestCa('provider CA');
    otherCa = makeTestCa('someone else');
    const cert = ca.issue();
    upstream = await startFakeUpstream({ tls: { key: cert.key, cert: cert.cert } });
    proxy = await startTinyproxy();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all([upstream?.close(), proxy?.stop()]);
    ca?.cleanup();
    otherCa?.cleanup();
  });

  /** The real server on `--upstream <https fake>`, with a member's key. */
  async function gatewayTo(upstreamUrl: string, options: { env?: Record<string, string>; args?: string[] } = {}) {
    const server = await startReferenceServer({
      upstream: upstreamUrl,
      env: { THIRDLOOP_UPSTREAM_API_KEY: ORG_KEY, ...options.env },
      args: options.args,
    });
    servers.push(server);
    const { email } = await server.addUser(`member${servers.length}@example.com`);
    const { credential } = await server.createKey(email, { name: 'tls' });
    const send = (body: Record<string, unknown>) =>
      fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...body }),
        signal: AbortSignal.timeout(20_000),
      });
    return { server, send };
  }

  test('NODE_EXTRA_CA_CERTS: answers pass through, with the organization key, over one kept-alive TLS connection', async () => {
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('over tls')));
    const connectionsBefore = upstream.connections();
    const receivedBefore = upstream.received.length;
    const { send } = await gatewayTo(upstream.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile } });
    for (let i = 0; i < 5; i++) {
      const res = await send({});
      expect(res.status).toBe(200);
      expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]!.text).toBe('over tls');
    }
    const received = upstream.received.slice(receivedBefore);
    expect(received).toHaveLength(5);
    for (const r of received) {
      expect(r.headers['x-api-key']).toBe(ORG_KEY);
      expect(r.url).toBe('/v1/messages');
    }
    expect(upstream.connections() - connectionsBefore).toBe(1);
  }, 90_000);

  test('streams: the first event reaches the client while the provider is still sending', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const events = streamEvents(['one ', 'two ', 'three']);
    // The provider sends message_start…ping, then waits until the client has read them.
    upstream.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      for (const [name, data] of events.slice(0, 3)) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      await released;
      for (const [name, data] of events.slice(3)) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      res.end();
    });
    const { send } = await gatewayTo(upstream.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile } });
    const res = await send({ stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('event: ping')) {
      const { value, done } = await reader.read();
      expect(done, 'the stream ended before the provider finished').toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    expect(text).not.toContain('message_stop');
    release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(names).toEqual(events.map(([name]) => name));
  }, 90_000);

  test('--upstream-ca FILE: trusted without NODE_EXTRA_CA_CERTS; with both, both authorities are trusted', async () => {
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('explicit ca')));
    const { send } = await gatewayTo(upstream.url, { args: ['--upstream-ca', ca.certFile] });
    const res = await send({});
    expect(res.status).toBe(200);
    expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]!.text).toBe('explicit ca');
    // The flag adds to what Node trusts (its own list and NODE_EXTRA_CA_CERTS), it does not replace it.
    const both = await gatewayTo(upstream.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile }, args: ['--upstream-ca', otherCa.certFile] });
    expect((await both.send({})).status).toBe(200);
  }, 90_000);

  test('an untrusted provider certificate: 502 in Anthropic\'s shape, one clear log line, nothing sent', async () => {
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('must not arrive')));
    const receivedBefore = upstream.received.length;
    // Trusting another CA only: the provider's certificate is not signed by it.
    const { server, send } = await gatewayTo(upstream.url, { args: ['--upstream-ca', otherCa.certFile] });
    const res = await send({});
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'api_error', message: "This instance does not trust the model provider's TLS certificate. Ask your Third Loop administrator to check it." },
    });
    expect(upstream.received.length).toBe(receivedBefore);
    // The log line leaves the server before the answer, but comes over another pipe.
    await expect.poll(() => logLines(server).filter((l) => l.msg.includes('TLS certificate')).length, { timeout: 20_000 }).toBe(1);
    const lines = logLines(server).filter((l) => l.msg.includes('TLS certificate'));
    expect(lines[0]).toMatchObject({ level: 50, upstream: upstream.url });
    expect(lines[0]!.msg).toMatch(
      new RegExp(`^The model provider at ${upstream.url} presented a TLS certificate this server does not trust \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\): give the certificate authority that signed it with --upstream-ca FILE \\(or NODE_EXTRA_CA_CERTS=FILE\\), or fix the provider URL\\.$`),
    );
    expect(server.stderr()).not.toContain(ORG_KEY);
  }, 90_000);

  test('a certificate for another host name: 502, and the log line says so', async () => {
    const wrongName = ca.issue({ names: ['provider.example'] });
    const other = await startFakeUpstream({ tls: { key: wrongName.key, cert: wrongName.cert } });
    try {
      const { server, send } = await gatewayTo(other.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile } });
      const res = await send({});
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('api_error');
      await expect.poll(() => logLines(server).map((l) => l.msg), { timeout: 20_000 }).toContain(
        `The model provider at ${other.url} presented a TLS certificate for another host name (ERR_TLS_CERT_ALTNAME_INVALID); check the provider URL (--upstream).`,
      );
    } finally {
      await other.close();
    }
  }, 90_000);

  test('HTTPS_PROXY for the server: the provider is reached through a CONNECT tunnel, kept alive; NO_PROXY goes direct', async () => {
    upstream.handle((_req, res) => sendJson(res, 200, messageBody('via proxy')));
    const target = new URL(upstream.url).host;
    const tunnelsBefore = proxy.tunnels().length;
    const { send } = await gatewayTo(upstream.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile, HTTPS_PROXY: proxy.url, NO_PROXY: '' } });
    for (let i = 0; i < 3; i++) {
      const res = await send({});
      expect(res.status).toBe(200);
      expect(((await res.json()) as { content: Array<{ text: string }> }).content[0]!.text).toBe('via proxy');
    }
    expect(proxy.tunnels().slice(tunnelsBefore)).toEqual([target]);

    const direct = await gatewayTo(upstream.url, { env: { NODE_EXTRA_CA_CERTS: ca.certFile, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    const requestsBefore = proxy.connectRequests().length;
    expect((await direct.send({})).status).toBe(200);
    expect(proxy.connectRequests().length).toBe(requestsBefore);
  }, 90_000);

  test('--upstream-ca naming a missing file or one without a certificate: exit 2, one sentence', () => {
    for (const [file, says] of [
      ['/nonexistent/ca.pem', '--upstream-ca /nonexistent/ca.pem cannot be read (ENOENT).'],
      [SERVER_BIN, `--upstream-ca ${SERVER_BIN} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`],
    ] as const) {
      const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-upstream-ca-'));
      const run = spawnSync(process.execPath, [SERVER_BIN, 'start', '--port', '0', '--data-dir', dataDir, '--upstream', upstream.url, '--upstream-ca', file], { encoding: 'utf8', timeout: 20_000 });
      rmSync(dataDir, { recursive: true, force: true });
      expect(run.status).toBe(2);
      expect(run.stderr).toBe(`error: ${says}\nRun thirdloop-server --help for usage.\n`);
      expect(run.stdout).toBe('');
    }
  }, 60_000);
});
