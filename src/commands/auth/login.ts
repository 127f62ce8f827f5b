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
import { ExitCode, UserError, usageError } from '../../core/errors.js';
import { createOutput, daysUntil, isoDate, type Output } from '../../core/output.js';
import { confirm, readLine, readStdin } from '../../core/prompt.js';
import { describeStorage } from '../../core/secrets.js';
import { apiFor, debugWriter, resolveApiUrl } from '../../core/session.js';
import { createPkce } from '../../login/pkce.js';
import { consentUrl, defaultKeyName } from '../../login/consent-url.js';
import { startCallbackServer } from '../../login/callback-server.js';
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
    if (!ok) throw new UserError('Nothing changed.');
  }
  if (ctx.env.THIRDLOOP_API_KEY) out.warn('THIRDLOOP_API_KEY is set: it overrides the stored key until you unset it.');

  if (options.withKey) return withKey(ctx, out, { baseUrl, profileName, existing, insecure: options.insecureStorage });

  const now = ctx.clock.now();
  const keyName = validateKeyName(options.name ?? defaultKeyName(ctx.hostname, now), 'The key name (--name)');
  const expiresInDays = options.expires ?? DEFAULT_EXPIRY_DAYS;
  const timeoutMs = (options.timeout ?? 300) * 1000;
  const replaces = options.rotate ? existing?.keyId : undefined;
  const api = apiFor(ctx, { baseUrl });
  const pkce = createPkce();

  // For the login round-trip figure (browser callback → secret stored), shown with --debug.
  let callbackAt: number | undefined;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let minted: NewKey;
  try {
    if (options.browser === false) {
      const url = consentUrl({ baseUrl, state: pkce.state, codeChallenge: pkce.challenge, keyName, expiresInDays, replaces, machine: ctx.hostname });
      out.info('Open this URL in a browser on any device, sign in and approve:');
      out.info(`  ${url}`);
      out.info('Then paste the one-time code shown on the page.');
      const code = normalizeCode(await readLine(ctx, 'One-time code: ', { timeoutMs, signal: controller.signal }));
      if (!code) throw usageError('No code was entered; nothing was stored.', 'Run `thirdloop auth --no-browser` again.');
      minted = await exchange(api, { code, code_verifier: pkce.verifier });
    } else {
      const server = await startCallbackServer({ state: pkce.state });
      try {
        const url = consentUrl({
          baseUrl,
          state: pkce.state,
          codeChallenge: pkce.challenge,
          keyName,
          expiresInDays,
          replaces,
          machine: ctx.hostname,
          redirectUri: server.redirectUri,
        });
        const opened = await ctx.openBrowser(url);
        out.info(opened ? 'Opened your browser. If it did not open, visit:' : 'Open this URL in your browser to sign in:');
        out.info(`  ${url}`);
        const spinner = out.spinner('Waiting for approval in your browser… (Ctrl+C to cancel)');
        // Load the keychain module while the user is busy in the browser, not after the callback.
        (await ctx.secrets()).prepare?.();
        let callback;
        try {
          callback = await server.wait({ timeoutMs, signal: controller.signal });
        } catch (error) {
          spinner.fail('Not signed in.');
          throw error;
        }
        spinner.stop();
        callbackAt = performance.now();
        try {
          minted = await exchange(api, { code: callback.code, code_verifier: pkce.verifier, redirect_uri: server.redirectUri });
        } catch (error) {
          callback.respond({ ok: false, message: `${(error as Error).message} Nothing was stored; run thirdloop auth again.` });
          throw error;
        }
        callback.respond({ ok: true, message: 'You can close this tab and return to the terminal.' });
      } finally {
        await server.close();
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }

  const stored = await store(ctx, { profileName, baseUrl, key: minted.key, credential: minted.credential, insecure: options.insecureStorage, minted: true });
  if (callbackAt !== undefined) debugWriter(ctx)?.(`login round trip: callback received → secret stored in ${Math.round(performance.now() - callbackAt)} ms`);
  report(ctx, out, { baseUrl, profileName, key: minted.key, stored, replaced: replaces });
  await afterSignIn(ctx, out, { existing, keyId: minted.key.id, credential: minted.credential, baseUrl, rotated: Boolean(options.rotate) });
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
