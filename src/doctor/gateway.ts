/**
 * A real request through the gateway, as Claude Code and opencode make it
 * (GET /v1/models with x-api-key), then "Last used" compared before and
 * after, so the user sees that traffic is recorded against this key.
 */
import type { Api, Me } from '../core/api.js';
import { result, type CheckResult } from './types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function checkGateway(api: Api, before: Me, options: { settleMs?: number; attempts?: number } = {}): Promise<CheckResult[]> {
  let count: number;
  try {
    const list = await api.listModels();
    count = Array.isArray(list?.data) ? list.data.length : 0;
  } catch (error) {
    return [
      result('gateway', 'fail', `A test request to ${api.baseUrl}/v1/models failed: ${(error as Error).message}`, 'Ask the instance administrators; `thirdloop status` shows whether the key itself is fine.'),
      result('last-used', 'skip', 'Not checked: the test request failed.'),
    ];
  }
  const gateway =
    count > 0
      ? result('gateway', 'ok', `${api.baseUrl}/v1/models answered with ${count} model${count === 1 ? '' : 's'}.`)
      : result('gateway', 'warn', `${api.baseUrl}/v1/models answered, but offers no models.`, 'Ask the instance administrators which models are enabled.');

  const previous = before.key.last_used_at ? Date.parse(before.key.last_used_at) : -Infinity;
  // The instance records use a moment after answering (write-behind), so allow it a short while.
  const attempts = options.attempts ?? 4;
  let latest: string | null = before.key.last_used_at;
  for (let i = 0; i < attempts; i++) {
    try {
      latest = (await api.me()).key.last_used_at;
    } catch (error) {
      return [gateway, result('last-used', 'fail', `Could not read "Last used" after the test request: ${(error as Error).message}`, 'thirdloop status')];
    }
    if (latest && Date.parse(latest) > previous) {
      return [gateway, result('last-used', 'ok', `"Last used" moved to ${latest} after the test request.`)];
    }
    await sleep(options.settleMs ?? 250);
  }
  return [
    gateway,
    result('last-used', 'warn', `"Last used" did not move after the test request (still ${latest ?? 'never'}).`, 'Tell the instance administrators: usage is not being recorded.'),
  ];
}
