/**
 * Can `thirdloop run` work here? Judged by doing what it does: a broker on 127.0.0.1 with a fresh
 * run token, one GET /v1/models through it with that token (as a child would send it), then the
 * broker closed. That exercises reading the key, the loopback listener, the instance's origin
 * rule, the proxy settings and the instance's answer to the key, in one request.
 */
import { request } from 'node:http';
import { startBroker } from '../broker/broker.js';
import { createRunToken } from '../broker/token.js';
import { result, type CheckResult } from './types.js';

export interface RunCheckInput {
  instance: string;
  credential: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

function get(url: string, token: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01' }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The message of an Anthropic-shaped error body, if it is one. */
function said(body: string): string {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? ` ${message.replace(/\s+/g, ' ').slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

export async function checkRun(input: RunCheckInput): Promise<CheckResult> {
  const token = createRunToken();
  let broker;
  try {
    broker = await startBroker({ instance: input.instance, credential: input.credential, token, env: input.env, connectTimeoutMs: 5_000 });
  } catch (error) {
    return result('run', 'fail', `\`thirdloop run\` cannot start its broker: ${(error as Error).message}.`, 'It needs to listen on 127.0.0.1 (the loopback interface).');
  }
  try {
    const answer = await get(`${broker.url}/v1/models`, token.value, input.timeoutMs ?? 10_000);
    if (answer.status === 200) {
      return result('run', 'ok', `\`thirdloop run\` works: a request through its broker on 127.0.0.1 reached ${input.instance}/v1/models.`);
    }
    const why = answer.status === 401 ? 'refused the key (401)' : `answered ${answer.status}`;
    return result('run', 'fail', `\`thirdloop run\` starts, but through its broker ${input.instance}/v1/models ${why}.${said(answer.body)}`, answer.status === 401 ? 'thirdloop auth --force' : 'thirdloop status');
  } catch (error) {
    return result('run', 'fail', `A request through \`thirdloop run\`'s broker failed: ${(error as Error).message}.`, 'Check the instance URL and your network (HTTPS_PROXY, NO_PROXY).');
  } finally {
    await broker.close();
  }
}
