/**
 * The CLI's browser sign-in (RFC 8252 loopback redirect + RFC 7636 PKCE):
 * GET/POST /cli-auth (consent), POST /cli-auth/keys/:id/:action (make room at
 * the limit), POST /api/cli-auth/token (code → key).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ACCESS_DENIED, CODE_CHALLENGE_METHOD, CODE_MAX_LENGTH, CODE_MODE, CODE_TTL_MINUTES, CONSENT_PARAMS, FORMAT_CHARACTERS, MACHINE_MAX_LENGTH, STATE_MAX_LENGTH, USER_CODE_ATTEMPTS, displayUserCode, makeCode, makeUserCode, normalizeCode } from 'thirdloop-protocol';
import { randomBytesFn, sha256Hex } from '../auth/hashing.js';
import { CHALLENGE_RE, isValidVerifier, loopbackRedirectUri, s256, verifierMatches } from '../auth/pkce.js';
import { csrfValid, currentSession, requireSignIn, type SignedIn } from '../auth/session.js';
import { DomainError } from '../domain/errors.js';
import { activeCount, countsTowardLimit, expiryDaysFromText, expiryFrom, keyStatus, validateExpiryDays, validateName, ACTIVE_KEY_LIMIT, NAME_MAX_LENGTH } from '../domain/keys.js';
import { isWellFormedKeyId } from '../domain/token.js';
import { createKey, transitionKey } from '../store/key-actions.js';
import { codePage, consentErrorPage, consentPage, deniedPage } from '../web/consent.js';
import { errorPage, securityHeaders } from '../web/layout.js';
import { API_BODY_LIMIT, mintedBody } from './api-keys.js';
import { FORM_BODY_LIMIT } from './session.js';
import { apiError, isPlainObject, pathOf, type RouteContext } from './shared.js';

/** One-time codes live this long. */
export const CODE_TTL_MS = CODE_TTL_MINUTES * 60 * 1000;

interface ConsentParams {
  mode: 'redirect' | 'code';
  /** Normalized loopback URI; null in code mode. */
  redirectUri: string | null;
  state: string | null;
  codeChallenge: string;
  keyName: string;
  expiresInDays: number;
  replaces: string | null;
  machine: string | null;
}

type ParseResult =
  | { ok: true; params: ConsentParams }
  /** Never redirect: show the message on the page. */
  | { ok: false; page: string }
  /** The redirect URI is sound: report the error to the CLI through it. */
  | { ok: false; redirectUri: string; state: string | null; error: string; description: string };

const PARAM_NAMES = CONSENT_PARAMS;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f]*$/;

function parseConsent(input: Record<string, unknown>): ParseResult {
  const mode = str(input.mode);
  if (mode !== undefined && mode !== CODE_MODE) return { ok: false, page: 'mode must be "code" or absent.' };
  let redirectUri: string | null = null;
  if (mode !== CODE_MODE) {
    const raw = str(input.redirect_uri);
    if (!raw) return { ok: false, page: 'The request has no redirect_uri (or mode=code for a one-time code).' };
    const normalized = loopbackRedirectUri(raw);
    if (!normalized) {
      return {
        ok: false,
        page: 'The redirect_uri is not a loopback address on this computer (http://127.0.0.1, http://[::1] or http://localhost). Refusing to send a code there.',
      };
    }
    redirectUri = normalized;
  }
  const state = str(input.state) ?? null;
  const fail = (description: string): ParseResult =>
    redirectUri ? { ok: false, redirectUri, state, error: 'invalid_request', description } : { ok: false, page: description };
  if (state !== null && (state.length > STATE_MAX_LENGTH || !PRINTABLE.test(state))) return fail(`state must be at most ${STATE_MAX_LENGTH} printable characters.`);
  if (str(input.code_challenge_method) !== CODE_CHALLENGE_METHOD) return fail('PKCE is required: code_challenge_method must be S256.');
  const codeChallenge = str(input.code_challenge);
  if (!codeChallenge || !CHALLENGE_RE.test(codeChallenge)) return fail('code_challenge must be base64url(SHA-256(code_verifier)), 43 characters.');
  const machineRaw = str(input.machine)?.trim();
  if (machineRaw !== undefined && (machineRaw.length > MACHINE_MAX_LENGTH || !PRINTABLE.test(machineRaw) || FORMAT_CHARACTERS.test(machineRaw))) {
    return fail(`machine must be at most ${MACHINE_MAX_LENGTH} printable characters, without invisible formatting characters.`);
  }
  const machine = machineRaw || null;
  let keyName: string;
  let expiresInDays: number;
  try {
    const rawName = str(input.key_name);
    keyName = validateName(rawName === undefined || rawName.trim() === '' ? `thirdloop CLI${machine ? ` on ${machine}` : ''}`.slice(0, NAME_MAX_LENGTH) : rawName);
    expiresInDays = validateExpiryDays(expiryDaysFromText(str(input.expires_in_days)));
  } catch (err) {
    if (err instanceof DomainError) return fail(err.message.replace(/^name/, 'key_name'));
    throw err;
  }
  const replaces = str(input.replaces) || null;
  if (replaces !== null && !isWellFormedKeyId(replaces)) return fail('replaces must be a key ID (tlk_…).');
  return { ok: true, params: { mode: mode === CODE_MODE ? 'code' : 'redirect', redirectUri, state, codeChallenge, keyName, expiresInDays, replaces, machine } };
}

/** The request's parameters as they came, to carry through the form and the sign-in. */
function rawFields(input: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PARAM_NAMES) {
    const v = input[name];
    if (typeof v === 'string' && v !== '') out[name] = v;
  }
  return out;
}

function withParams(base: string, params: Record<string, string | null>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
  return url.href;
}

export default async function cliAuthRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, clock } = ctx;
  const send = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').headers(securityHeaders()).send(body);

  async function renderConsent(
    request: FastifyRequest,
    reply: FastifyReply,
    signedIn: SignedIn,
    params: ConsentParams,
    fields: Record<string, string>,
    status = 200,
    error?: string,
  ) {
    const now = clock();
    const keys = await store.keys.listForUser(signedIn.user.id);
    const replaced = params.replaces ? keys.find((k) => k.id === params.replaces) : undefined;
    const count = activeCount(keys, now);
    const countAfter = keys.filter((k) => k.id !== replaced?.id && countsTowardLimit(k, now)).length;
    const returnTo = `/cli-auth?${new URLSearchParams(fields).toString()}`;
    return send(
      reply,
      status,
      consentPage({
        user: signedIn.user,
        csrfToken: signedIn.session.csrfToken,
        fields,
        returnTo,
        keyName: params.keyName,
        expiresInDays: params.expiresInDays,
        expiresOn: expiryFrom(now, params.expiresInDays).toISOString().slice(0, 10),
        machine: params.machine,
        activeCount: count,
        replaces: replaced ? { id: replaced.id, name: replaced.name } : null,
        replacesMissing: params.replaces && !replaced ? params.replaces : null,
        atLimit: countAfter >= ACTIVE_KEY_LIMIT,
        keys: keys.map((k) => ({ id: k.id, name: k.name, status: keyStatus(k, now), expiresAt: k.expiresAt.toISOString() })),
        ...(error ? { error } : {}),
      }),
    );
  }

  function refuse(reply: FastifyReply, result: Exclude<ParseResult, { ok: true }>, signedIn?: SignedIn) {
    if ('page' in result) return send(reply, 400, consentErrorPage(result.page, signedIn?.user, signedIn?.session.csrfToken));
    return reply.redirect(withParams(result.redirectUri, { error: result.error, error_description: result.description, state: result.state }), 302);
  }

  app.get('/cli-auth', async (request, reply) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const parsed = parseConsent(query);
    if (!parsed.ok) return refuse(reply, parsed, await currentSession(store, request, clock()));
    const signedIn = await requireSignIn(store, request, reply, clock());
    if (!signedIn) return reply;
    return renderConsent(request, reply, signedIn, parsed.params, rawFields(query));
  });

  app.post('/cli-auth', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const form = isPlainObject(request.body) ? request.body : {};
    const fields = rawFields(form);
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    if (!signedIn) return reply.redirect(`/login?next=${encodeURIComponent(`/cli-auth?${new URLSearchParams(fields)}`)}`, 303);
    if (!csrfValid(request, form.csrf, signedIn)) {
      return send(reply, 403, errorPage(403, 'This form expired or did not come from this site. Run thirdloop auth again.'));
    }
    const parsed = parseConsent(form);
    if (!parsed.ok) return refuse(reply, parsed, signedIn);
    const params = parsed.params;
    const decision = form.decision;
    const auditBase = { at: now, kind: 'auth' as const, user_id: signedIn.user.id, method: 'POST', path: pathOf(request) };

    if (decision === 'deny') {
      await store.audit.insert({ ...auditBase, action: 'cli-auth-deny', status: params.redirectUri ? 302 : 200 });
      if (!params.redirectUri) return send(reply, 200, deniedPage({ user: signedIn.user, csrfToken: signedIn.session.csrfToken }));
      return reply.redirect(withParams(params.redirectUri, { error: ACCESS_DENIED, state: params.state }), 302);
    }
    if (decision !== 'approve') return send(reply, 400, errorPage(400, 'Choose Approve or Deny.'));

    const keys = await store.keys.listForUser(signedIn.user.id);
    const replaced = params.replaces ? keys.find((k) => k.id === params.replaces) : undefined;
    const others = keys.filter((k) => k.id !== replaced?.id && countsTowardLimit(k, now));
    if (others.length >= ACTIVE_KEY_LIMIT) {
      return renderConsent(request, reply, signedIn, params, fields, 409, `You still have ${ACTIVE_KEY_LIMIT} active keys. Disable or delete one below, then approve.`);
    }
    // The loopback flow carries a long random code in the redirect; a person types the short one.
    const code = params.redirectUri ? makeCode(randomBytesFn) : makeUserCode(randomBytesFn);
    await store.authCodes.deleteExpired(now);
    await store.authCodes.insert({
      codeHash: sha256Hex(normalizeCode(code)), // stored as it will be looked up
      userId: signedIn.user.id,
      codeChallenge: params.codeChallenge,
      redirectUri: params.redirectUri,
      keyName: params.keyName,
      expiresInDays: params.expiresInDays,
      replaces: replaced?.id ?? null,
      machine: params.machine,
      expiresAt: new Date(now.getTime() + CODE_TTL_MS),
    });
    await store.audit.insert({ ...auditBase, action: 'cli-auth-approve', key_id: replaced?.id ?? null, status: params.redirectUri ? 302 : 200 });
    if (!params.redirectUri) {
      return send(reply, 200, codePage({ user: signedIn.user, csrfToken: signedIn.session.csrfToken, code: displayUserCode(code), minutes: CODE_TTL_MS / 60_000 }));
    }
    return reply.redirect(withParams(params.redirectUri, { code, state: params.state }), 302);
  });

  // Making room at the limit, from the consent page.
  app.post('/cli-auth/keys/:id/:action', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const { id, action } = request.params as { id: string; action: string };
    const form = isPlainObject(request.body) ? request.body : {};
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    if (!signedIn) return reply.redirect('/login', 303);
    if (!csrfValid(request, form.csrf, signedIn)) {
      return send(reply, 403, errorPage(403, 'This form expired or did not come from this site. Reload the page and try again.'));
    }
    if (action !== 'disable' && action !== 'delete') return send(reply, 404, errorPage(404, 'Unknown action.'));
    try {
      await transitionKey({ store, now, userId: signedIn.user.id, request: { method: 'POST', path: pathOf(request) } }, id, action);
    } catch (err) {
      if (err instanceof DomainError) return send(reply, err.kind === 'not_found' ? 404 : 409, errorPage(err.kind === 'not_found' ? 404 : 409, err.message));
      throw err;
    }
    const back = typeof form.return_to === 'string' && /^\/cli-auth\?[^\\]*$/.test(form.return_to) && !/[\u0000-\u001f]/.test(form.return_to) ? form.return_to : '/settings/api-keys';
    return reply.redirect(back, 303);
  });

  app.post('/api/cli-auth/token', { bodyLimit: API_BODY_LIMIT }, async (request, reply) => {
    const invalidGrant = (message: string, extra?: { attempts_left: number }) => apiError(reply, 400, message, 'invalid_grant', extra);
    const body = request.body;
    if (!isPlainObject(body)) return apiError(reply, 400, 'Expected a JSON object: {"code", "code_verifier", "redirect_uri"}.');
    const { code, code_verifier: verifier, redirect_uri: redirectUri } = body;
    if (typeof code !== 'string' || code === '' || code.length > CODE_MAX_LENGTH) return apiError(reply, 400, 'code must be a non-empty string.');
    if (!isValidVerifier(verifier)) return apiError(reply, 400, 'code_verifier must be 43–128 characters of A-Z a-z 0-9 - . _ ~.');
    if (redirectUri !== undefined && redirectUri !== null && typeof redirectUri !== 'string') {
      return apiError(reply, 400, 'redirect_uri must be a string.');
    }
    const now = clock();
    // Consumed before checking: a code is tried once, whatever the outcome.
    const grant = await store.authCodes.consume(sha256Hex(normalizeCode(code)));
    if (!grant) {
      // A wrong code from the CLI that holds the verifier counts against its pending sign-in:
      // a few typos are forgiven, guessing is not.
      const left = await store.authCodes.recordFailure(s256(verifier), now, USER_CODE_ATTEMPTS);
      if (left === 0) return invalidGrant('Too many wrong codes: this sign-in was cancelled. Run thirdloop auth again.', { attempts_left: 0 });
      if (left !== undefined) return invalidGrant(`The code is not right; ${left} ${left === 1 ? 'try' : 'tries'} left.`, { attempts_left: left });
    }
    if (!grant || grant.expiresAt.getTime() <= now.getTime()) {
      return invalidGrant('The code is invalid, expired or already used. Run thirdloop auth again.');
    }
    if (!verifierMatches(verifier, grant.codeChallenge)) return invalidGrant('The code_verifier does not match the code_challenge.');
    if (grant.redirectUri !== null && loopbackRedirectUri(redirectUri) !== grant.redirectUri) {
      return invalidGrant('redirect_uri does not match the one the code was issued for.');
    }
    const keys = await store.keys.listForUser(grant.userId);
    const replaces = grant.replaces && keys.some((k) => k.id === grant.replaces) ? grant.replaces : null;
    try {
      const minted = await createKey(
        { store, now, userId: grant.userId, request: { method: 'POST', path: pathOf(request) } },
        { name: grant.keyName, expiresInDays: grant.expiresInDays, replaces, action: 'cli-auth' },
      );
      // The account too, so the CLI can say whom it signed in as without another request.
      const user = await store.users.findById(grant.userId);
      return reply.code(201).header('cache-control', 'no-store').send({ ...mintedBody(minted, now), ...(user ? { user: { email: user.email } } : {}) });
    } catch (err) {
      if (err instanceof DomainError) return apiError(reply, err.kind === 'conflict' ? 409 : 400, err.message);
      throw err;
    }
  });
}
