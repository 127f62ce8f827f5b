/**
 * `thirdloop auth`: sign in through the browser (RFC 8252 loopback redirect
 * + PKCE S256), or with a one-time code (--no-browser), or with an existing
 * credential on stdin (--with-key); store the secret in the keychain and the
 * rest in config. Nothing is stored unless every step succeeded.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { normalizeCode } from 'thirdloop-protocol';
import type { Context, ProfileConfig, StoredSecret } from '../../context.js';
import type { Api, ApiKey, NewKey } from '../../core/api.js';
import { DEFAULT_EXPIRY_DAYS } from '../../core/api.js';
import { checkProfileName } from '../../core/profile-name.js';
import { parseCredential } from '../../core/credential.js';
import { validateKeyName } from '../../core/key-actions.js';
import { Cancelled, ExitCode, SIGINT_EXIT, UserError, WaitEnded, usageError } from '../../core/errors.js';
import { ApiError } from '../../core/http.js';
import { createOutput, daysUntil, isoDate, type Output } from '../../core/output.js';
import { confirm, openLineReader, readStdin } from '../../core/prompt.js';
import { describeStorage } from '../../core/secrets.js';
import { apiFor, debugWriter, resolveApiUrl } from '../../core/session.js';
import { createPkce } from '../../login/pkce.js';
import { consentUrl, defaultKeyName, type ConsentRequest } from '../../login/consent-url.js';
import { LoginDenied, startCallbackServer } from '../../login/callback-server.js';
import { ENV_FILE_NAMES, rewriteEnvFiles } from '../../shells/env-files.js';

export interface LoginOptions {
  name?: string;
  expires?: number;
  rotate?: boolean;
  force?: boolean;
  /** false with --no-browser */
  browser?: boolean;
  withKey?: boolean;
  /** seconds */
  timeout?: number;
  insecureStorage?: boolean;
}

export async function run(ctx: Context, options: LoginOptions = {}): Promise<void> {
  const out = createOutput(ctx);
  const profileName = checkProfileName(ctx.globals.profile);
  const config = await ctx.config();
  const existing = config.getProfile(profileName);
  const signedIn = Boolean(existing?.keyId);

  if (options.withKey && options.rotate) throw usageError('--with-key and --rotate cannot be used together.');
  if (options.withKey && options.browser === false) throw usageError('--with-key and --no-browser cannot be used together.');
  const baseUrl = resolveApiUrl(ctx, existing);
  if (!baseUrl) {
    throw usageError('Which Third Loop instance? No URL is stored for this profile.', 'Pass --api-url https://<your instance> (or set THIRDLOOP_API_URL).');
  }
  if (options.rotate) {
    if (!signedIn) throw new UserError('Nothing to rotate: this profile is not signed in.', { exitCode: ExitCode.notAuthenticated, hint: 'Run `thirdloop auth` without --rotate.' });
    if (existing?.apiUrl && existing.apiUrl !== baseUrl) {
      throw usageError(`--rotate replaces a key on ${existing.apiUrl}, but --api-url is ${baseUrl}.`, 'Drop --api-url, or use another --profile for the other instance.');
    }
  } else if (signedIn && !options.force) {
    const what = `Already signed in to ${existing?.apiUrl ?? baseUrl} with key "${existing?.keyName ?? existing?.keyId}" (${existing?.keyId})`;
    if (!ctx.io.stdinIsTTY) {
      throw new UserError(`${what}.`, { hint: 'Pass --rotate to replace that key with a new one, or --force to sign in with an additional key.' });
    }
    out.info(`${what}.`);
    const ok = await confirm(ctx, 'Sign in again with a new key? (the current key stays active; --rotate replaces it)', '--force');
    if (!ok) throw new Cancelled();
  }
  if (ctx.env.THIRDLOOP_API_KEY) out.warn('THIRDLOOP_API_KEY is set: it overrides the stored key until you unset it.');

  if (options.withKey) return withKey(ctx, out, { baseUrl, profileName, existing, insecure: options.insecureStorage });

  const now = ctx.clock.now();
  const keyName = validateKeyName(options.name ?? defaultKeyName(ctx.hostname, now), 'The key name (--name)');
  const expiresInDays = options.expires ?? DEFAULT_EXPIRY_DAYS;
  const replaces = options.rotate ? existing?.keyId : undefined;
  const flow: Flow = {
    api: apiFor(ctx, { baseUrl }),
    pkce: createPkce(),
    consent: { baseUrl, keyName, expiresInDays, replaces, machine: ctx.hostname },
    timeoutSeconds: options.timeout ?? 300,
    deadline: Date.now() + (options.timeout ?? 300) * 1000,
    keeps: signedIn ? `the key this machine uses (${existing?.keyId}) is unchanged` : 'nothing was stored',
  };

  // One Ctrl+C cancels the wait cleanly (listener closed, nothing stored). Once the
  // browser has answered, the last steps take a moment and are not interrupted.
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    let minted: Minted;
    try {
      minted = options.browser === false ? await withCode(ctx, out, flow, controller.signal) : await withBrowser(ctx, out, flow, controller.signal);
    } catch (error) {
      throw explain(error, flow, options.browser === false ? 'the one-time code' : 'approval in the browser');
    }
    const stored = await store(ctx, { profileName, baseUrl, key: minted.key, credential: minted.credential, insecure: options.insecureStorage, minted: true });
    if (minted.callbackAt !== undefined) debugWriter(ctx)?.(`login round trip: callback received → secret stored in ${Math.round(performance.now() - minted.callbackAt)} ms`);
    report(ctx, out, { baseUrl, profileName, key: minted.key, stored, replaced: replaces, email: minted.user?.email });
    await afterSignIn(ctx, out, { existing, keyId: minted.key.id, credential: minted.credential, baseUrl, rotated: Boolean(options.rotate) });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** What both sign-in flows share. */
interface Flow {
  api: Api;
  pkce: ReturnType<typeof createPkce>;
  consent: Omit<ConsentRequest, 'state' | 'codeChallenge' | 'redirectUri'>;
  /** --timeout, and when the wait ends as Date.now() milliseconds. */
  timeoutSeconds: number;
  deadline: number;
  /** What a sign-in that does not complete leaves behind, for the sentence that ends it. */
  keeps: string;
}

type Minted = NewKey & { callbackAt?: number };

/** The loopback flow: the browser comes back to 127.0.0.1 with the code. */
async function withBrowser(ctx: Context, out: Output, flow: Flow, signal: AbortSignal): Promise<Minted> {
  const server = await startCallbackServer({ state: flow.pkce.state });
  try {
    const url = consentUrl({ ...flow.consent, state: flow.pkce.state, codeChallenge: flow.pkce.challenge, redirectUri: server.redirectUri });
    // The URL first, always: whatever happens to the browser, the user can carry on with it.
    out.info(`Sign in and approve in your browser at:`);
    out.info(`  ${url}`);
    const waiting = server.wait({ timeoutMs: flow.deadline - Date.now(), signal });
    waiting.catch(() => {}); // handled below; the opener may still be starting
    const spinner = out.spinner('Waiting for approval in the browser… (Ctrl+C to cancel)');
    let answered = false;
    // Never wait for the opener: the timeout and Ctrl+C already run.
    void ctx.openBrowser(url).then((outcome) => {
      if (answered) return;
      if (outcome.status === 'failed') {
        spinner.note(`Could not open a browser: ${outcome.command} ${outcome.reason}; open the URL above in any browser.`, 'warn');
      } else if (outcome.status === 'launched') {
        void outcome.exited.then((code) => {
          if (!answered && code !== 0 && code !== null) {
            spinner.note(`Could not open a browser: ${outcome.command} exited with status ${code}; open the URL above in any browser.`, 'warn');
          }
        });
      }
    });
    // Load the keychain module while the user is busy in the browser, not after the callback.
    void ctx.secrets().then((secrets) => secrets.prepare?.(), () => {});
    let callback;
    try {
      callback = await waiting;
    } finally {
      answered = true;
      spinner.stop();
    }
    const callbackAt = performance.now();
    let minted: NewKey;
    try {
      minted = await exchange(flow.api, { code: callback.code, code_verifier: flow.pkce.verifier, redirect_uri: server.redirectUri });
    } catch (error) {
      callback.respond({ ok: false, message: `${(error as Error).message} Nothing was stored; run thirdloop auth again.` });
      throw error;
    }
    callback.respond({ ok: true, message: 'You can close this tab and return to the terminal.' });
    return { ...minted, callbackAt };
  } finally {
    await server.close();
  }
}

/** How many codes a person may type before the flow ends (the instance allows a few more). */
const CODE_TRIES = 3;

/** --no-browser: the user approves on any device and types the one-time code shown there. */
async function withCode(ctx: Context, out: Output, flow: Flow, signal: AbortSignal): Promise<Minted> {
  const url = consentUrl({ ...flow.consent, state: flow.pkce.state, codeChallenge: flow.pkce.challenge });
  out.info('Open this URL in a browser on any device, sign in and approve:');
  out.info(`  ${url}`);
  out.info('Then type the one-time code shown on the page.');
  const reader = await openLineReader(ctx);
  try {
    for (let attempt = 1; ; attempt++) {
      // Sent as the instance looks it up (any case, dash or not): the protocol's form.
      const code = normalizeCode(await reader.ask('One-time code: ', { timeoutMs: flow.deadline - Date.now(), signal }));
      const last = attempt >= CODE_TRIES;
      if (!code) {
        if (last) throw usageError(`No code was entered; ${flow.keeps}.`, 'Run `thirdloop auth --no-browser` again.');
        out.warn('Type the code the page shows after you approve: 8 characters, like K7MB-Q2XD.');
        continue;
      }
      try {
        return await exchange(flow.api, { code, code_verifier: flow.pkce.verifier });
      } catch (error) {
        const left = error instanceof ApiError && error.type === 'invalid_grant' ? error.details?.attempts_left : undefined;
        if (typeof left !== 'number' || left <= 0) throw error;
        if (last) throw new UserError(`No code was accepted after ${CODE_TRIES} tries; ${flow.keeps}.`, { hint: 'Run `thirdloop auth --no-browser` again, and type the code exactly as the page shows it.' });
        out.warn(`That code was not accepted. Check it on the page and type it again (${CODE_TRIES - attempt} ${CODE_TRIES - attempt === 1 ? 'try' : 'tries'} left).`);
      }
    }
  } finally {
    reader.close();
  }
}

/** The sentence that ends a sign-in that did not complete: what happened, and what it left. */
function explain(error: unknown, flow: Flow, waitingFor: string): unknown {
  if (error instanceof WaitEnded) {
    if (error.reason === 'cancelled') return new Cancelled(`Sign-in cancelled; ${flow.keeps}.`, SIGINT_EXIT);
    if (error.reason === 'ended') return new UserError(`The input ended before a code was entered; ${flow.keeps}.`, { hint: 'Run `thirdloop auth --no-browser` on a terminal, or pipe the code in.' });
    return new UserError(`Timed out after ${describeSeconds(flow.timeoutSeconds)} waiting for ${waitingFor}; ${flow.keeps}.`, {
      hint: 'Run `thirdloop auth` again (or pass --timeout SECONDS).',
    });
  }
  if (error instanceof LoginDenied) return new UserError(`${error.what}; ${flow.keeps}.`, { hint: error.hint });
  return error;
}

function describeSeconds(seconds: number): string {
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? '' : 's'}`;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** Notes on the previous key, and the shell env files brought up to date. */
async function afterSignIn(
  ctx: Context,
  out: Output,
  args: { existing?: ProfileConfig; keyId: string; credential: string; baseUrl: string; rotated: boolean },
): Promise<void> {
  const previous = args.existing?.keyId && args.existing.keyId !== args.keyId ? args.existing.keyId : undefined;
  if (previous && !args.rotated) {
    out.info(`The previous key ${previous} is still active on the instance; delete it with \`thirdloop keys delete ${previous}\` if you no longer need it.`);
  }
  // The shell env files (setup claude) follow the key they were written with: when that
  // was this profile's previous key, they get the new one (the old may no longer work).
  const changed =
    previous && (await envFilesHoldKey(ctx, previous)) ? await rewriteEnvFiles(ctx, { apiUrl: args.baseUrl, credential: args.credential }) : [];
  if (changed.length > 0) {
    out.success(`Updated the shell environment files with the new key: ${changed.join(', ')}.`);
    out.next('open a new terminal so the shells pick up the new key.');
  } else if (!args.rotated) {
    out.next('run `thirdloop setup claude` to point Claude Code at this instance.');
  }
}

/** Whether any env file that setup wrote in the config directory carries this key ID. */
async function envFilesHoldKey(ctx: Context, keyId: string): Promise<boolean> {
  const config = await ctx.config();
  for (const name of ENV_FILE_NAMES) {
    const text = await readFile(path.join(config.dir, name), 'utf8').catch(() => '');
    if (text.includes(keyId)) return true;
  }
  return false;
}

async function exchange(api: Api, input: { code: string; code_verifier: string; redirect_uri?: string }): Promise<NewKey> {
  const minted = await api.exchangeCliCode(input);
  if (!minted || typeof minted.credential !== 'string' || !minted.key?.id) {
    throw new UserError(`${api.baseUrl} answered the sign-in without a key; is it a Third Loop instance?`);
  }
  parseCredential(minted.credential, 'The credential the instance returned');
  return minted;
}

async function withKey(
  ctx: Context,
  out: Output,
  args: { baseUrl: string; profileName: string; existing?: ProfileConfig; insecure?: boolean },
): Promise<void> {
  if (ctx.io.stdinIsTTY) {
    throw usageError('--with-key reads the credential from stdin.', 'Pipe it in: `echo "$CREDENTIAL" | thirdloop auth --with-key`.');
  }
  const text = await readStdin(ctx);
  if (!text.trim()) throw usageError('--with-key read nothing from stdin.', 'Pipe `<api_key_id>;<api_secret_key>` into it.');
  const credential = parseCredential(text, 'The credential on stdin');
  const joined = `${credential.id};${credential.secret}`;
  let me;
  try {
    me = await apiFor(ctx, { baseUrl: args.baseUrl, credential: joined }).me();
  } catch (error) {
    if ((error as { status?: number }).status === 401) {
      throw new UserError(`${args.baseUrl} did not accept this key (it may be disabled, expired, deleted or for another instance); nothing was stored.`, {
        exitCode: ExitCode.notAuthenticated,
        hint: 'Check the key with `thirdloop keys list` on a signed-in machine, or run `thirdloop auth` in a browser.',
      });
    }
    throw error;
  }
  if (me.key.id !== credential.id) throw new UserError(`${args.baseUrl} answered for a different key than the one given; nothing was stored.`);
  const stored = await store(ctx, { profileName: args.profileName, baseUrl: args.baseUrl, key: me.key, credential: joined, insecure: args.insecure });
  report(ctx, out, { baseUrl: args.baseUrl, profileName: args.profileName, key: me.key, stored, email: me.user?.email });
  await afterSignIn(ctx, out, { existing: args.existing, keyId: me.key.id, credential: joined, baseUrl: args.baseUrl, rotated: false });
}

async function store(
  ctx: Context,
  args: { profileName: string; baseUrl: string; key: ApiKey; credential: string; insecure?: boolean; minted?: boolean },
): Promise<StoredSecret> {
  const secrets = await ctx.secrets();
  const config = await ctx.config();
  const failed = (error: unknown) =>
    new UserError(
      args.minted
        ? `Key ${args.key.id} was created but could not be stored on this machine: ${(error as Error).message}`
        : `The key could not be stored on this machine: ${(error as Error).message}`,
      {
        hint: args.minted
          ? `Delete it with \`thirdloop keys delete ${args.key.id}\` from a signed-in machine or the web console, then run \`thirdloop auth\` again.`
          : 'Fix the problem above and run the command again.',
        cause: error,
      },
    );
  let stored: StoredSecret;
  try {
    stored = await secrets.set(args.profileName, args.credential, { insecure: args.insecure });
  } catch (error) {
    throw failed(error);
  }
  try {
    config.setProfile(args.profileName, {
      apiUrl: args.baseUrl,
      keyId: args.key.id,
      keyName: args.key.name,
      expiresAt: args.key.expires_at,
      storage: stored.source === 'file' ? 'file' : 'keychain',
    });
  } catch (error) {
    // A secret without its profile would be found by `token` but not by `status`: take it back.
    await secrets.delete(args.profileName).catch(() => {});
    throw failed(error);
  }
  return stored;
}

function report(
  ctx: Context,
  out: Output,
  args: { baseUrl: string; profileName: string; key: ApiKey; stored: StoredSecret; replaced?: string; email?: string },
): void {
  const { key, stored } = args;
  if (stored.source === 'file') {
    out.warn(
      `${stored.fallbackReason && stored.fallbackReason !== '--insecure-storage was given' ? `The system keychain could not be used (${stored.fallbackReason}). ` : ''}The secret is stored in plain text at ${stored.location} (readable only by you).`,
    );
  }
  if (ctx.globals.json) {
    out.json({
      profile: args.profileName,
      api_url: args.baseUrl,
      key,
      replaced: args.replaced ?? null,
      storage: { source: stored.source, location: stored.location ?? null },
    });
    return;
  }
  const c = out.c;
  const days = daysUntil(key.expires_at, ctx.clock.now());
  out.success(`Signed in to ${args.baseUrl}${args.email ? ` as ${args.email}` : ''}${args.profileName === 'default' ? '' : ` (profile ${args.profileName})`}.`);
  if (args.replaced) out.info(`  Replaced key ${args.replaced}.`);
  out.info(`  Key      ${key.name} ${c.dim(`(${key.id})`)}`);
  out.info(`  Expires  ${isoDate(key.expires_at)} (in ${days} day${days === 1 ? '' : 's'})`);
  out.info(`  Secret   ${describeStorage(stored)}`);
}
