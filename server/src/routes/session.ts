/** Sign-in, sign-out (here or everywhere) and the static assets. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { issueDeviceCookie, knownDevice } from '../auth/device-cookie.js';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../auth/hashing.js';
import { loginCsrfToken, loginCsrfValid } from '../auth/login-csrf.js';
import { csrfValid, currentSession, endSession, safeNext, startSession } from '../auth/session.js';
import { SignInThrottle } from '../auth/sign-in-throttle.js';
import { limiterAddress } from '../http/client-address.js';
import { ASSETS } from '../web/assets.js';
import { errorPage, securityHeaders } from '../web/layout.js';
import { loginPage } from '../web/login.js';
import { pathOf, type RouteContext } from './shared.js';

/** Where a sign-in lands without ?next= ("/" belongs to the gateway's start-up probe). */
export const HOME_PATH = '/settings/api-keys';

export const FORM_BODY_LIMIT = 16 * 1024;

export default async function sessionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, config, clock, signer } = ctx;
  const throttle = new SignInThrottle(store, config.signInMaxFailures, config.signInWindowMs);
  const htmlReply = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').headers(securityHeaders()).send(body);
  const formExpired = (reply: FastifyReply) =>
    htmlReply(reply, 403, errorPage(403, 'This form expired or did not come from this site. Reload the page and try again.'));

  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(path, async (_request, reply) =>
      reply.type(asset.type).header('cache-control', 'public, max-age=3600').header('x-content-type-options', 'nosniff').send(asset.body),
    );
  }

  app.get('/login', async (request, reply) => {
    const next = safeNext((request.query as Record<string, unknown>).next, HOME_PATH);
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    if (signedIn) return reply.redirect(next, 302);
    return htmlReply(reply, 200, loginPage({ csrfToken: loginCsrfToken(request, reply, config, signer, now), next }));
  });

  app.post('/login', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const next = safeNext(form.next, HOME_PATH);
    const email = typeof form.email === 'string' ? form.email.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const now = clock();
    const again = (status: number, error: string) =>
      htmlReply(reply, status, loginPage({ csrfToken: loginCsrfToken(request, reply, config, signer, now), next, email, error }));

    if (!loginCsrfValid(request, form.csrf, config, signer, now)) {
      return again(403, 'Your sign-in form expired. Please try again.');
    }
    const address = limiterAddress(request.clientAddress);
    const user = email ? await store.users.findByEmail(email) : undefined;
    const device = knownDevice(request, config, signer, now);
    const fromKnownDevice = device !== undefined && user !== undefined && device.userId === user.id;
    const audit = { at: now, kind: 'auth' as const, method: 'POST', path: pathOf(request), source: request.clientAddress };

    const reserved = await throttle.reserve({ email, address, ...(fromKnownDevice ? { device: device.nonce } : {}) }, now);
    if (!reserved.allowed) {
      reply.header('retry-after', String(Math.ceil(reserved.retryAfterMs / 1000)));
      // One row per source and window, not one per refusal: refusals are what an attacker can make
      // without limit, and each one written would grow the log for free.
      if (await store.limits.markOnce(`audit:sign-in-throttled:${address}`, now, new Date(now.getTime() + config.signInWindowMs))) {
        await store.audit.insert({ ...audit, action: 'sign-in-throttled', status: 429 });
      }
      return again(429, `Too many failed sign-ins. Try again in ${Math.ceil(reserved.retryAfterMs / 60_000)} minute(s).`);
    }
    // Unknown emails cost a full scrypt too, so timing does not reveal which emails exist.
    const ok = (await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH)) && user !== undefined;
    if (!ok || !user) {
      await store.audit.insert({ ...audit, action: 'sign-in-failed', user_id: user?.id ?? null, status: 401 });
      return again(401, 'Email or password is incorrect.');
    }
    await throttle.succeeded(reserved.buckets, now);
    await store.sessions.deleteExpired(now);
    await startSession(store, request, reply, config, user.id, now);
    // The pre-session cookie stays: a login form still open in another tab of this browser keeps working.
    issueDeviceCookie(reply, config, signer, user.id, now);
    await store.audit.insert({ ...audit, action: 'sign-in', user_id: user.id, status: 303 });
    return reply.redirect(next, 303);
  });

  app.post('/logout', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    const form = (request.body ?? {}) as Record<string, unknown>;
    if (signedIn && !csrfValid(request, form.csrf, signedIn)) return formExpired(reply);
    if (signedIn) {
      await store.audit.insert({ at: now, kind: 'auth', action: 'sign-out', user_id: signedIn.user.id, method: 'POST', path: pathOf(request), status: 303 });
    }
    await endSession(store, request, reply, config);
    return reply.redirect('/login', 303);
  });

  // Settings > Sessions: ends every session of the user, this one included (API keys are not touched).
  app.post('/logout/everywhere', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    if (!signedIn) return reply.redirect('/login', 303);
    const form = (request.body ?? {}) as Record<string, unknown>;
    if (!csrfValid(request, form.csrf, signedIn)) return formExpired(reply);
    await store.sessions.deleteForUser(signedIn.user.id);
    await store.audit.insert({ at: now, kind: 'auth', action: 'sign-out-everywhere', user_id: signedIn.user.id, method: 'POST', path: pathOf(request), status: 303 });
    await endSession(store, request, reply, config);
    return reply.redirect('/login', 303);
  });
}
