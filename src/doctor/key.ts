/** Does the instance accept the stored key, and for how long still? (GET /api/me) */
import type { Api, Me } from '../core/api.js';
import { ApiError } from '../core/http.js';
import { EXPIRY_WARNING_DAYS } from '../core/key-actions.js';
import { daysUntil, isoDate } from '../core/output.js';
import { result, type CheckResult } from './types.js';


export interface KeyCheck {
  result: CheckResult;
  /** The instance's view of the key, when it answered. */
  me?: Me;
}

export async function checkKey(api: Api, storedKeyId: string, now: Date): Promise<KeyCheck> {
  let me: Me;
  try {
    me = await api.me();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      return {
        result: result(
          'key',
          'fail',
          `${api.baseUrl} does not accept key ${storedKeyId}: it was disabled, deleted, has expired or belongs to another instance.`,
          'thirdloop auth --force',
        ),
      };
    }
    return { result: result('key', 'fail', `Could not check key ${storedKeyId}: ${(error as Error).message}`, 'Run `thirdloop doctor` again; see the instance check.') };
  }
  const key = me.key;
  const who = me.user?.email ? ` of ${me.user.email}` : '';
  if (key.status !== 'active') {
    const fix = key.status === 'suspended' ? `thirdloop keys enable ${key.id}` : 'thirdloop auth --rotate';
    return { me, result: result('key', 'fail', `Key "${key.name}" (${key.id}) is ${key.status} and cannot be used.`, fix) };
  }
  const days = daysUntil(key.expires_at, now);
  if (days < EXPIRY_WARNING_DAYS) {
    const when = days <= 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`;
    return {
      me,
      result: result('key', 'warn', `Key "${key.name}" (${key.id}) expires ${when} (${isoDate(key.expires_at)}).`, 'thirdloop auth --rotate'),
    };
  }
  return { me, result: result('key', 'ok', `Key "${key.name}" (${key.id})${who} is active until ${isoDate(key.expires_at)} (${days} days).`) };
}
