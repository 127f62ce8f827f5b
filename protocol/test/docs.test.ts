/**
 * docs/api.md states the contract in prose and tables; the package states it
 * in code. Each table and figure of the document is read here and compared
 * with the package, so neither can change without the other.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  ACTIVE_KEY_LIMIT,
  ALLOWED_ACTIONS,
  API_BODY_LIMIT,
  CHECKSUM_LENGTH,
  CODE_CHALLENGE_SHAPE,
  CODE_TTL_MINUTES,
  CODE_VERIFIER_SHAPE,
  CONSENT_PARAMS,
  DEFAULT_EXPIRY_DAYS,
  ERROR_TYPE_BY_STATUS,
  EXPIRY_DAYS,
  KEY_ACTIONS,
  KEY_ID_PREFIX,
  KEY_ID_RANDOM_LENGTH,
  KEY_STATUSES,
  NAME_MAX_LENGTH,
  SECRET_PREFIX,
  SECRET_RANDOM_LENGTH,
  STATE_MAX_LENGTH,
  isWellFormedKeyId,
  isWellFormedSecret,
  isNoOp,
  refusal,
} from 'thirdloop-protocol';

const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

/** The rows of the Markdown table whose header row starts with `headers`, as trimmed cells, header first. */
function table(...headers: string[]): string[][] {
  const cells = (line: string) => line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((c) => c.trim());
  const lines = doc.split('\n').map((l) => l.trim());
  const start = lines.findIndex((l) => l.startsWith('|') && headers.every((h, i) => cells(l)[i] === h));
  if (start < 0) throw new Error(`docs/api.md has no table headed "${headers.join(' | ')}"`);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start, end < 0 ? undefined : end).map(cells).filter((_, i) => i !== 1); // not the |---| line
}

/** The one match of `pattern` in the document (its first group). */
function figure(pattern: RegExp): string {
  const m = pattern.exec(doc);
  if (!m) throw new Error(`docs/api.md no longer says ${pattern}`);
  return m[1]!;
}

describe('docs/api.md agrees with thirdloop-protocol', () => {
  test('the status/action table', () => {
    const [header, ...rows] = table('status', 'disable');
    expect(header!.slice(1)).toEqual([...KEY_ACTIONS]);
    expect(rows.map((r) => r[0])).toEqual([...KEY_STATUSES]);
    const documented = Object.fromEntries(
      rows.map(([status, ...cells]) => [status, KEY_ACTIONS.filter((_, i) => cells[i] === 'yes')]),
    );
    const cells = rows.flatMap(([, ...c]) => c);
    expect(new Set(cells)).toEqual(new Set(['yes', '—', 'no-op']));
    const ordered = (actions: readonly string[]) => [...actions].sort();
    for (const status of KEY_STATUSES) expect(ordered(documented[status]!), status).toEqual(ordered(ALLOWED_ACTIONS[status]));
    // The idempotent cells (200, nothing changed) are the package's no-ops.
    const noOps = rows.flatMap(([status, ...c]) => KEY_ACTIONS.filter((_, i) => c[i] === 'no-op').map((a) => `${status}×${a}`));
    expect(noOps).toEqual(KEY_STATUSES.flatMap((s) => KEY_ACTIONS.filter((a) => isNoOp(s, a)).map((a) => `${s}×${a}`)));
  });

  test('the 409 examples are the sentences the package makes', () => {
    const block = figure(/409 messages, for example:\s*```\n([\s\S]*?)```/);
    const sentences = new Set(KEY_STATUSES.flatMap((s) => KEY_ACTIONS.map((a) => refusal(s, a))).filter(Boolean));
    const examples = block.split('\n').filter((l) => l.includes('keys can only be'));
    // Every sentence the package can make is shown (no-ops make none).
    expect(new Set(examples)).toEqual(sentences);
    for (const line of examples) expect(sentences, line).toContain(line);
    expect(block).toContain(`You already have ${ACTIVE_KEY_LIMIT} active keys, the limit.`);
  });

  test('the limit, the expiry periods and their default, names, the body limit', () => {
    expect(Number(figure(/At most \*\*(\d+) active keys\*\* per user/))).toBe(ACTIVE_KEY_LIMIT);
    const periods = figure(/`expires_in_days` is one of ([^.]+)\./);
    expect(periods.match(/\d+/g)!.map(Number)).toEqual([...EXPIRY_DAYS]);
    expect(Number(figure(/\*\*(\d+) \(default\)\*\*/))).toBe(DEFAULT_EXPIRY_DAYS);
    expect(Number(figure(/`name`: 1–(\d+) printable characters/))).toBe(NAME_MAX_LENGTH);
    expect(Number(figure(/Request bodies on `\/api` are capped at (\d+) KiB/)) * 1024).toBe(API_BODY_LIMIT);
  });

  test('the error table: each status with its type', () => {
    const [, ...errors] = table('status', '`type`');
    for (const [status, type] of errors) {
      const name = type!.replace(/`/g, '');
      // A route may name a more precise type than its status's (the token exchange's invalid_grant).
      if (name === 'invalid_grant') expect(status).toBe('400');
      else expect(ERROR_TYPE_BY_STATUS[Number(status)], `${status} ${name}`).toBe(name);
    }
    const documented = new Set(errors.map(([status]) => Number(status)));
    // Only the gateway answers 403; every other status the API can send is in the table.
    for (const status of Object.keys(ERROR_TYPE_BY_STATUS).map(Number).filter((s) => s !== 403)) expect(documented).toContain(status);
  });

  test('the token format table, and every example ID and secret in the document is well formed', () => {
    const rows = table('part', 'format');
    const format = Object.fromEntries(rows.slice(1).map(([part, f]) => [part, f]));
    expect(format['key ID']).toBe(`\`${KEY_ID_PREFIX}\` + ${KEY_ID_RANDOM_LENGTH} base62 characters`);
    expect(format['secret']).toBe(`\`${SECRET_PREFIX}\` + ${SECRET_RANDOM_LENGTH} base62 random + ${CHECKSUM_LENGTH} base62 checksum`);
    const ids = doc.match(new RegExp(`${KEY_ID_PREFIX}[0-9A-Za-z]{${KEY_ID_RANDOM_LENGTH}}(?![0-9A-Za-z])`, 'g')) ?? [];
    const secrets = doc.match(new RegExp(`${SECRET_PREFIX}[0-9A-Za-z]{${SECRET_RANDOM_LENGTH + CHECKSUM_LENGTH}}(?![0-9A-Za-z])`, 'g')) ?? [];
    expect(ids.length).toBeGreaterThan(0);
    expect(secrets.length).toBeGreaterThan(0);
    for (const id of ids) expect(isWellFormedKeyId(id), id).toBe(true);
    for (const secret of secrets) expect(isWellFormedSecret(secret), secret).toBe(true);
  });

  test('the CLI sign-in parameters, the PKCE example and the code lifetime', () => {
    const rows = table('parameter', 'required');
    expect(rows.slice(1).map(([name]) => name!.replace(/`/g, ''))).toEqual([...CONSENT_PARAMS]);
    expect(Number(figure(/`state`\s*\|[^|]*\|\s*returned unchanged; up to (\d+) printable characters/))).toBe(STATE_MAX_LENGTH);
    expect(CODE_CHALLENGE_SHAPE.test(figure(/code_challenge=([A-Za-z0-9_-]+)/))).toBe(true);
    expect(CODE_VERIFIER_SHAPE.test(figure(/"code_verifier": "([^"]+)"/))).toBe(true);
    expect(Number(figure(/mints a one-time code \(valid (\d+) minutes/))).toBe(CODE_TTL_MINUTES);
  });
});
