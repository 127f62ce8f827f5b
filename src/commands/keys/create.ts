/**
 * `thirdloop keys create [--name NAME] [--expires DAYS] [--json]`: asks for
 * what was not given when on a terminal (never otherwise), refuses at the
 * limit before asking the server, and shows the secret once.
 */
import type { Context } from '../../context.js';
import { DEFAULT_EXPIRY_DAYS, EXPIRY_DAYS, type ExpiryDays, type KeyList, type NewKey } from '../../core/api.js';
import { ApiError } from '../../core/http.js';
import { Cancelled, UserError } from '../../core/errors.js';
import { describeKey, listKeys, withSpinner } from '../../core/key-commands.js';
import { atLimit, expiresIn, limitError, validateExpiry, validateKeyName } from '../../core/key-actions.js';
import { createOutput, isoDate, type Output } from '../../core/output.js';
import { askChoice, askText } from '../../core/prompt.js';
import { requireSession } from '../../core/session.js';

export interface CreateOptions {
  name?: string;
  expires?: number | string;
}

export const defaultKeyName = (hostname: string, now: Date) => `${hostname || 'this machine'} (${isoDate(now)})`;

/** Asks for what is missing on a terminal: the name, then the expiry. */
async function ask(ctx: Context, need: { name: boolean; expires: boolean }, defaultName: string): Promise<{ name?: string; expires?: number }> {
  const cancelled = () => new Cancelled();
  const answers: { name?: string; expires?: number } = {};
  if (need.name) {
    answers.name = await askText(ctx, {
      message: 'Key name',
      initial: defaultName,
      validate: (value: string) => {
        try {
          validateKeyName(value);
          return true;
        } catch (error) {
          return (error as Error).message;
        }
      },
    });
    if (answers.name === undefined) throw cancelled();
  }
  if (need.expires) {
    answers.expires = await askChoice(ctx, {
      message: 'Expires in',
      choices: EXPIRY_DAYS.map((d) => ({ title: `${d} days${d === DEFAULT_EXPIRY_DAYS ? ' (recommended)' : ''}`, value: d })),
      initial: EXPIRY_DAYS.indexOf(DEFAULT_EXPIRY_DAYS),
    });
    if (answers.expires === undefined) throw cancelled();
  }
  return answers;
}

export async function run(ctx: Context, options: CreateOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  // Local checks first: a bad flag costs no request.
  let name = options.name === undefined ? undefined : validateKeyName(options.name, 'The key name (--name)');
  let expires: ExpiryDays | undefined = validateExpiry(options.expires);

  const session = await requireSession(ctx);
  const list = await listKeys(ctx, out, session);
  if (atLimit(list)) throw limitError(list, 'create a key', session.credential.id);

  if (ctx.io.stdinIsTTY && (name === undefined || expires === undefined)) {
    const answers = await ask(ctx, { name: name === undefined, expires: expires === undefined }, defaultKeyName(ctx.hostname, ctx.clock.now()));
    if (name === undefined) name = validateKeyName(answers.name ?? '');
    if (expires === undefined) expires = validateExpiry(answers.expires);
  }
  name ??= defaultKeyName(ctx.hostname, ctx.clock.now());
  expires ??= DEFAULT_EXPIRY_DAYS;

  let minted: NewKey;
  try {
    minted = await withSpinner(ctx, out, 'Creating the key…', () => session.api.createKey({ name: name!, expires_in_days: expires }));
  } catch (error) {
    // Another machine took the last slot between our list and the create.
    if (error instanceof ApiError && error.status === 409) throw limitError(await freshList(ctx, out, session, list), 'create a key', session.credential.id);
    throw error;
  }
  if (!minted?.key?.id || typeof minted.secret_key !== 'string' || typeof minted.credential !== 'string') {
    throw new UserError(`${session.baseUrl} answered without the new key's secret; check the key with \`thirdloop keys list\`.`);
  }
  showNewKey(ctx, out, minted);
}

async function freshList(ctx: Context, out: Output, session: Awaited<ReturnType<typeof requireSession>>, fallback: KeyList): Promise<KeyList> {
  return listKeys(ctx, out, session).catch(() => ({ ...fallback, active_count: fallback.active_limit }));
}

function showNewKey(ctx: Context, out: Output, minted: NewKey): void {
  const { key } = minted;
  if (ctx.globals.json) {
    out.json({ key: minted.key, secret_key: minted.secret_key, credential: minted.credential });
    out.warn('The secret key is in this output only: it will not be shown again.');
    return;
  }
  const c = out.c;
  out.success(`Created key ${describeKey(key)}, expiring ${isoDate(key.expires_at)} (${expiresIn(key.expires_at, ctx.clock.now())}).`);
  out.out(`API key ID   ${key.id}`);
  out.out(`Secret key   ${c.bold(minted.secret_key)}`);
  out.out(`Credential   ${c.bold(minted.credential)}`);
  out.warn('Copy the secret now: it will not be shown again. Clients take the credential as ANTHROPIC_API_KEY.');
  out.next(`\`thirdloop keys list\` to see it, or use it elsewhere: ANTHROPIC_API_KEY='<credential>' with ANTHROPIC_BASE_URL pointing at this instance.`);
}
