/**
 * `thirdloop keys list [--json]`: the header `N / 2 active keys`, then one row
 * per key (one card per key when the terminal is too narrow for the table).
 * The key this machine uses is marked. `--json` is the server's list as is,
 * plus which key is this machine's.
 */
import type { Context } from '../../context.js';
import type { ApiKey, KeyList } from '../../core/api.js';
import { listKeys } from '../../core/key-commands.js';
import { activeKeys, expiresIn, paintStatus } from '../../core/key-actions.js';
import { createOutput, isoDate, relativeTime, renderCards, renderTable, tableWidth, type Colors } from '../../core/output.js';
import { requireSession } from '../../core/session.js';

const THIS_MACHINE = '(this machine)';

/** The document `--json` prints: stable field order, the server's values. */
export function listDocument(list: KeyList, thisMachineKeyId: string) {
  return {
    keys: list.keys.map((k) => ({
      id: k.id,
      name: k.name,
      status: k.status,
      created_at: k.created_at,
      expires_at: k.expires_at,
      last_used_at: k.last_used_at,
    })),
    active_count: list.active_count,
    active_limit: list.active_limit,
    this_machine_key_id: list.keys.some((k) => k.id === thisMachineKeyId) ? thisMachineKeyId : null,
  };
}

export const lastUsed = (key: ApiKey, now: Date) => (key.last_used_at ? relativeTime(key.last_used_at, now) : 'Never used');

export function renderList(list: KeyList, opts: { now: Date; c: Colors; thisMachineKeyId: string; columns: number; tty: boolean }): string {
  const { now, c } = opts;
  const header = `${c.bold(`${list.active_count} / ${list.active_limit} active keys`)}`;
  if (list.keys.length === 0) return header;
  const mark = (k: ApiKey) => (k.id === opts.thisMachineKeyId ? ` ${c.cyan(THIS_MACHINE)}` : '');
  const headers = ['NAME', 'ID', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'];
  const rows = list.keys.map((k) => [
    `${k.name}${mark(k)}`,
    k.id,
    paintStatus(k.status, c),
    isoDate(k.created_at),
    expiresIn(k.expires_at, now),
    lastUsed(k, now),
  ]);
  // A pipe gets rows always (one line per key is what scripts grep); a narrow terminal gets cards.
  if (!opts.tty || tableWidth(rows, headers) <= opts.columns) return `${header}\n\n${renderTable(rows, headers.map((h) => c.bold(h)))}`;
  const cards = list.keys.map((k): Array<[string, string]> => [
    ['Name', `${c.bold(k.name)}${mark(k)}`],
    ['ID', k.id],
    ['Status', paintStatus(k.status, c)],
    ['Created', `${isoDate(k.created_at)} (${relativeTime(k.created_at, now)})`],
    ['Expires', `${isoDate(k.expires_at)} (${expiresIn(k.expires_at, now)})`],
    ['Last used', lastUsed(k, now)],
  ]);
  return `${header}\n\n${renderCards(cards, c)}`;
}

export async function run(ctx: Context): Promise<void> {
  const out = createOutput(ctx);
  const session = await requireSession(ctx);
  const list = await listKeys(ctx, out, session);
  const thisMachineKeyId = session.credential.id;
  if (ctx.globals.json) {
    out.json(listDocument(list, thisMachineKeyId));
    return;
  }
  out.out(renderList(list, { now: ctx.clock.now(), c: out.c, thisMachineKeyId, columns: ctx.io.columns, tty: ctx.io.stdoutIsTTY }));

  if (list.keys.length === 0) {
    out.next('create one with `thirdloop keys create`.');
  } else if (list.active_count < list.active_limit) {
    out.next('`thirdloop keys create` for another key, or `thirdloop keys rotate <id>` to replace one.');
  } else {
    const example = activeKeys(list).find((k) => k.id !== thisMachineKeyId) ?? activeKeys(list)[0];
    out.next(`at the limit: \`thirdloop keys disable ${example?.id ?? '<id>'}\` frees a slot; \`thirdloop keys rotate <id>\` replaces a key in place.`);
  }
}
