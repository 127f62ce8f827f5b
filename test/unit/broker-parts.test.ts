/**
 * The pure parts of `thirdloop run`'s broker: the run token, what is forwarded where, which
 * headers cross, the command's environment, and the signal rules.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { childEnvironment } from '../../src/broker/child-env.js';
import { clientResponseHeaders, upstreamRequestHeaders, VIA } from '../../src/broker/headers.js';
import { route } from '../../src/broker/routes.js';
import { exitStatus, forwardSignals, terminalDelivered, type GroupInfo } from '../../src/broker/signals.js';
import { credentialFromHeaders } from 'thirdloop-protocol';
import { createRunToken, isRunToken, RUN_TOKEN_TAIL } from '../../src/broker/token.js';
import { checksum as secretChecksum } from 'thirdloop-protocol';

const secretFrom = (random: string) => `tls_${random}${secretChecksum(random)}`;
const SECRET = secretFrom('A'.repeat(16) + 'b'.repeat(16));
const OTHER_SECRET = secretFrom('Z'.repeat(32));
const CREDENTIAL = `tlk_${'x'.repeat(24)};${SECRET}`;

describe('run token', () => {
  it('is 256 random bits with a fixed 20-character tail, different every run', () => {
    const a = createRunToken();
    const b = createRunToken();
    expect(a.value).not.toBe(b.value);
    expect(isRunToken(a.value)).toBe(true);
    expect(a.value.endsWith(RUN_TOKEN_TAIL)).toBe(true);
    expect(RUN_TOKEN_TAIL).toHaveLength(20);
    // Claude Code remembers approved keys by their last 20 characters: the same for every run.
    expect(a.value.slice(-20)).toBe(b.value.slice(-20));
    const random = a.value.slice('tlr_'.length, -RUN_TOKEN_TAIL.length);
    expect(Buffer.from(random, 'base64url')).toHaveLength(32);
  });

  it('matches only itself, whatever the length of what is presented', () => {
    const token = createRunToken();
    expect(token.matches(token.value)).toBe(true);
    expect(token.matches(`${token.value}x`)).toBe(false);
    expect(token.matches(token.value.slice(0, -1))).toBe(false);
    expect(token.matches(token.value.replace(/^tlr_./, 'tlr_!'))).toBe(false);
    expect(token.matches(createRunToken().value)).toBe(false);
    expect(token.matches('')).toBe(false);
    expect(token.matches(undefined)).toBe(false);
    expect(token.matches(null)).toBe(false);
    expect(token.matches(CREDENTIAL)).toBe(false);
  });

  it('is read from x-api-key or Authorization: Bearer; two different values are refused', () => {
    expect(credentialFromHeaders(['X-Api-Key', ' t '])).toBe('t');
    expect(credentialFromHeaders(['Authorization', 'Bearer t'])).toBe('t');
    expect(credentialFromHeaders(['authorization', 'bearer   t'])).toBe('t');
    expect(credentialFromHeaders(['Authorization', 'Basic dDp0'])).toBeUndefined();
    expect(credentialFromHeaders(['x-api-key', 't', 'Authorization', 'Bearer t'])).toBe('t');
    expect(credentialFromHeaders(['x-api-key', 't', 'Authorization', 'Bearer u'])).toBeNull();
    // Either header twice: a proxy and the broker could each read another one.
    expect(credentialFromHeaders(['x-api-key', 't', 'x-api-key', 't'])).toBeNull();
    expect(credentialFromHeaders([])).toBeUndefined();
  });
});

describe('what the broker forwards', () => {
  const cases: Array<[string, string, string]> = [
    ['POST', '/v1/messages?beta=true', 'model /v1/messages?beta=true'],
    ['POST', '/v1/messages/count_tokens', 'model /v1/messages/count_tokens'],
    ['GET', '/v1/models', 'model /v1/models'],
    ['GET', '/v1', 'model /v1'],
    ['POST', '/v1/./messages', 'model /v1/messages'],
    ['HEAD', '/', 'probe /'],
    ['GET', '/', 'probe /'],
    ['HEAD', '/api/hello', 'probe /api/hello'],
    ['GET', '/healthz', 'probe /healthz'],
    ['POST', '/api/event_logging/batch', 'probe /api/event_logging/batch'],
    ['POST', '/api/event_logging/v2/batch', 'probe /api/event_logging/v2/batch'],
    // The key API, the console and the sign-in flow are not the run token's business.
    ['GET', '/api/keys', 'refused 404'],
    ['DELETE', '/api/keys/tlk_x', 'refused 404'],
    ['GET', '/api/me', 'refused 404'],
    ['GET', '/settings/api-keys', 'refused 404'],
    ['POST', '/', 'refused 404'],
    ['GET', '/v1x', 'refused 404'],
    // Dot segments are resolved before the decision, and the resolved path is what would be sent.
    ['GET', '/v1/../api/keys', 'refused 404'],
    ['GET', '/v1/%2e%2e/api/keys', 'refused 404'],
    ['GET', '/v1/.%2E/api/keys', 'refused 404'],
    ['GET', '/v1/%2E%2E%2Fapi/keys', 'refused 400'],
    ['GET', '/v1/..%2fapi/keys', 'refused 400'],
    ['GET', '/v1/..\\api', 'refused 400'],
    ['GET', 'http://elsewhere.example/v1/messages', 'refused 400'],
    ['GET', '//elsewhere.example/v1/messages', 'refused 400'],
  ];
  it.each(cases)('%s %s → %s', (method, target, expected) => {
    const r = route(method, target);
    expect(r.kind === 'refused' ? `refused ${r.status}` : `${r.kind} ${r.path}`).toBe(expected);
  });
});

describe('headers across the broker (RFC 9110 §7.6)', () => {
  const pairs = (raw: string[]) => Array.from({ length: raw.length / 2 }, (_, i) => `${raw[2 * i]}: ${raw[2 * i + 1]}`);

  it('upstream: end-to-end fields pass in order, hop-by-hop and credentials do not, Via and the key are added', () => {
    const token = createRunToken().value;
    const raw = [
      'Host', '127.0.0.1:4000',
      'Connection', 'keep-alive, X-Hop',
      'X-Hop', 'dropped because Connection names it',
      'Keep-Alive', 'timeout=5',
      'TE', 'trailers',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'h2c',
      'Proxy-Authorization', 'Basic eDp5',
      'Expect', '100-continue',
      'x-api-key', token,
      'Authorization', `Bearer ${token}`,
      'anthropic-version', '2023-06-01',
      'anthropic-beta', 'a',
      'anthropic-beta', 'b',
      'Content-Length', '17',
      'x-claude-code-session-id', 'abc',
      'Via', '1.0 corporate',
    ];
    const out = upstreamRequestHeaders(raw, CREDENTIAL);
    expect(pairs(out)).toEqual([
      'anthropic-version: 2023-06-01',
      'anthropic-beta: a',
      'anthropic-beta: b',
      'Content-Length: 17',
      'x-claude-code-session-id: abc',
      'Via: 1.0 corporate',
      `via: ${VIA}`,
      `x-api-key: ${CREDENTIAL}`,
    ]);
    expect(out.join('\n')).not.toContain(token);
  });

  it('probes go upstream without any credential', () => {
    const out = upstreamRequestHeaders(['x-api-key', 'whatever', 'authorization', 'Bearer whatever', 'accept', '*/*'], undefined);
    expect(pairs(out)).toEqual(['accept: */*', `via: ${VIA}`]);
  });

  it('back to the client: every end-to-end field of the instance, no hop-by-hop one', () => {
    const raw = ['Content-Type', 'text/event-stream', 'Connection', 'close, X-Internal', 'X-Internal', '1', 'Transfer-Encoding', 'chunked', 'Keep-Alive', 'timeout=72', 'request-id', 'req_1', 'anthropic-ratelimit-requests-remaining', '9', 'retry-after', '3'];
    expect(pairs(clientResponseHeaders(raw))).toEqual(['Content-Type: text/event-stream', 'request-id: req_1', 'anthropic-ratelimit-requests-remaining: 9', 'retry-after: 3']);
  });
});

describe("the command's environment", () => {
  const run = { baseUrl: 'http://127.0.0.1:5555', token: createRunToken().value, secret: SECRET };

  it('points Anthropic clients at the broker with the token, and holds no Third Loop key', () => {
    const parent = {
      PATH: '/usr/bin',
      HOME: '/home/ada',
      ANTHROPIC_BASE_URL: 'https://tl.example.com',
      ANTHROPIC_API_KEY: CREDENTIAL,
      THIRDLOOP_API_KEY: CREDENTIAL,
      ANTHROPIC_AUTH_TOKEN: 'sk-something-else',
      ANTHROPIC_CUSTOM_HEADERS: `x-api-key: ${CREDENTIAL}`,
      OLD_KEY: `tlk_${'y'.repeat(24)};${OTHER_SECRET}`,
      LOOKS_LIKE_ONE: 'tls_' + 'Q'.repeat(38),
      ANTHROPIC_MODEL: 'claude-sonnet-4-5',
    };
    const { env, withSecret, dropped } = childEnvironment(parent, run, 'linux');
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/ada',
      LOOKS_LIKE_ONE: 'tls_' + 'Q'.repeat(38),
      ANTHROPIC_MODEL: 'claude-sonnet-4-5',
      ANTHROPIC_BASE_URL: run.baseUrl,
      ANTHROPIC_API_KEY: run.token,
      OPENCODE_CONFIG_CONTENT: opencodeAt(run.baseUrl),
    });
    expect(withSecret.sort()).toEqual(['ANTHROPIC_CUSTOM_HEADERS', 'OLD_KEY']);
    expect(dropped).toEqual(['ANTHROPIC_AUTH_TOKEN']);
    expect(JSON.stringify(env)).not.toContain(SECRET);
  });

  it('ANTHROPIC_AUTH_TOKEN holding the key is reported as a key', () => {
    const { env, withSecret, dropped } = childEnvironment({ ANTHROPIC_AUTH_TOKEN: CREDENTIAL }, run, 'linux');
    expect(env.ANTHROPIC_AUTH_TOKEN).toBeUndefined();
    expect(withSecret).toEqual(['ANTHROPIC_AUTH_TOKEN']);
    expect(dropped).toEqual([]);
  });

  it('on Windows, names are matched whatever their case', () => {
    const { env } = childEnvironment({ Path: 'C:\\bin', thirdloop_api_key: CREDENTIAL, anthropic_api_key: 'x', Anthropic_Base_Url: 'y' }, run, 'win32');
    expect(env).toEqual({ Path: 'C:\\bin', ANTHROPIC_BASE_URL: run.baseUrl, ANTHROPIC_API_KEY: run.token, OPENCODE_CONFIG_CONTENT: opencodeAt(run.baseUrl) });
    // Elsewhere a lower-case name is another variable, and is left alone.
    expect(childEnvironment({ anthropic_api_key: 'x' }, run, 'linux').env.anthropic_api_key).toBe('x');
  });

  it("opencode's thirdloop provider is pointed at the broker through its inline config, keeping the user's own", () => {
    expect(JSON.parse(childEnvironment({}, run, 'linux').env.OPENCODE_CONFIG_CONTENT!)).toEqual({
      provider: { thirdloop: { options: { baseURL: `${run.baseUrl}/v1` } } },
    });
    const own = JSON.stringify({ model: 'thirdloop/claude-x', provider: { thirdloop: { options: { timeout: 5 } }, other: { name: 'O' } } });
    expect(JSON.parse(childEnvironment({ OPENCODE_CONFIG_CONTENT: own }, run, 'linux').env.OPENCODE_CONFIG_CONTENT!)).toEqual({
      model: 'thirdloop/claude-x',
      provider: { thirdloop: { options: { timeout: 5, baseURL: `${run.baseUrl}/v1` } }, other: { name: 'O' } },
    });
    // A value that is not a JSON object is the user's to fix; opencode names it, we leave it.
    expect(childEnvironment({ OPENCODE_CONFIG_CONTENT: '[1' }, run, 'linux').env.OPENCODE_CONFIG_CONTENT).toBe('[1');
    expect(childEnvironment({ opencode_config_content: '[1' }, run, 'win32').env.opencode_config_content).toBe('[1');
  });

  it('with a proxy configured, loopback joins NO_PROXY so requests for the broker stay on this machine', () => {
    expect(childEnvironment({ HTTPS_PROXY: 'http://proxy:3128' }, run, 'linux').env).toMatchObject({ NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
    expect(childEnvironment({ http_proxy: 'http://proxy:3128', no_proxy: '.corp.example,localhost' }, run, 'linux').env).toMatchObject({ no_proxy: '.corp.example,localhost,127.0.0.1' });
    expect(childEnvironment({ HTTP_PROXY: 'http://proxy:3128', NO_PROXY: '*' }, run, 'linux').env.NO_PROXY).toBe('*');
    const none = childEnvironment({ PATH: '/bin' }, run, 'linux').env;
    expect(none.NO_PROXY).toBeUndefined();
    expect(none.no_proxy).toBeUndefined();
  });
});

function opencodeAt(baseUrl: string): string {
  return JSON.stringify({ provider: { thirdloop: { options: { baseURL: `${baseUrl}/v1` } } } });
}

describe('signals', () => {
  const fg: GroupInfo = { pgrp: 100, tpgid: 100 };
  it('a Ctrl+C counts as delivered by the terminal only when run is in the foreground group and the command shares it', () => {
    expect(terminalDelivered(fg, { pgrp: 100, tpgid: 100 })).toBe(true);
    expect(terminalDelivered({ pgrp: 100, tpgid: 200 }, { pgrp: 100, tpgid: 200 })).toBe(false); // run in the background
    expect(terminalDelivered({ pgrp: 100, tpgid: -1 }, { pgrp: 100, tpgid: -1 })).toBe(false); // no terminal
    expect(terminalDelivered(fg, { pgrp: 300, tpgid: 100 })).toBe(false); // the command has its own group
    expect(terminalDelivered(undefined, fg)).toBe(false); // unknown: forward
  });

  function harness(groups: (pid: number) => GroupInfo | undefined, platform: NodeJS.Platform = 'linux') {
    const target = Object.assign(new EventEmitter(), { pid: 1 });
    const sent: string[] = [];
    const child = { pid: 2, exitCode: null as number | null, signalCode: null, kill: (s: NodeJS.Signals) => (sent.push(s), true) };
    const forwarding = forwardSignals(child, { platform, groups, target: target as unknown as NodeJS.Process });
    return { target, sent, child, forwarding };
  }

  it('SIGTERM and SIGHUP are always forwarded; SIGINT and SIGQUIT unless the terminal already sent them', () => {
    const inForeground = harness(() => fg);
    for (const s of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP']) inForeground.target.emit(s);
    expect(inForeground.sent).toEqual(['SIGTERM', 'SIGHUP']);

    const killedByName = harness((pid) => (pid === 1 ? { pgrp: 100, tpgid: 555 } : { pgrp: 100, tpgid: 555 }));
    for (const s of ['SIGINT', 'SIGQUIT', 'SIGTERM']) killedByName.target.emit(s);
    expect(killedByName.sent).toEqual(['SIGINT', 'SIGQUIT', 'SIGTERM']);
  });

  it('a module that re-raises the signal on itself (conf’s atomic writer does) does not make it arrive twice', () => {
    const target = Object.assign(new EventEmitter(), { pid: 1 });
    // when-exit: once(signal) → clean up → send the same signal to this process again.
    const reraise = () => target.emit('SIGTERM');
    target.once('SIGTERM', reraise);
    const sent: string[] = [];
    const child = { pid: 2, exitCode: null, signalCode: null, kill: (s: NodeJS.Signals) => (sent.push(s), true) };
    const forwarding = forwardSignals(child, { platform: 'linux', groups: () => undefined, target: target as unknown as NodeJS.Process });
    target.emit('SIGTERM');
    expect(sent).toEqual(['SIGTERM']);
    forwarding.stop();
    // Put back as it was.
    expect(target.listeners('SIGTERM')).toHaveLength(1);
  });

  it('nothing is forwarded to a command that has exited, or after stop(), or on Windows', () => {
    const h = harness(() => undefined);
    h.child.exitCode = 0;
    h.target.emit('SIGTERM');
    expect(h.sent).toEqual([]);
    h.child.exitCode = null;
    h.forwarding.stop();
    expect(h.target.listenerCount('SIGTERM')).toBe(0);
    const windows = harness(() => undefined, 'win32');
    windows.target.emit('SIGINT');
    expect(windows.sent).toEqual([]);
    // Still held, so run itself is not ended by the console's Ctrl+C while the command decides.
    expect(windows.target.listenerCount('SIGINT')).toBe(1);
  });

  it('the exit status is the code, or 128 + the signal number', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(7, null)).toBe(7);
    expect(exitStatus(null, 'SIGINT')).toBe(130);
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
  });
});
