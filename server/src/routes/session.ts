/** Sign-in, sign-out, the home page and the static assets. */
import type { FastifyInstance } from 'fastify';
import { DUMMY_PASSWORD_HASH, verifyPassword } from '../auth/hashing.js';
import { csrfTokenFor, csrfValid, currentSession, endSession, safeNext, startSession } from '../auth/session.js';
import { SignInLimiter } from '../auth/sign-in-limiter.js';
import { ASSETS } from '../web/assets.js';
import { errorPage, securityHeaders } from '../web/layout.js';
import { loginPage } from '../web/login.js';
import { pathOf, type RouteContext } from './shared.js';

/** Where a sign-in lands without ?next= ("/" belongs to the gateway's start-up probe). */
export const HOME_PATH = '/settings/api-keys';

export const FORM_BODY_LIMIT = 16 * 1024;

export default async function sessionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, config, clock } = ctx;
  const limiter = new SignInLimiter(config.signInMaxFailures, config.signInWindowMs);
  const htmlReply = (reply: import('fastify').FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').headers(securityHeaders()).send(body);

  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(path, async (_request, reply) =>
      reply.type(asset.type).header('cache-control', 'public, max-age=3600').header('x-content-type-options', 'nosniff').send(asset.body),
    );
  }

  app.get('/login', async (request, reply) => {
    const next = safeNext((request.query as Record<string, unknown>).next, HOME_PATH);
    const signedIn = await currentSession(store, request, clock());
    if (signedIn) return reply.redirect(next, 302);
    return htmlReply(reply, 200, loginPage({ csrfToken: csrfTokenFor(request, reply, config), next }));
  });

  app.post('/login', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const next = safeNext(form.next, HOME_PATH);
    const email = typeof form.email === 'string' ? form.email.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const again = (status: number, error: string) =>
      htmlReply(reply, status, loginPage({ csrfToken: csrfTokenFor(request, reply, config), next, email, error }));

    if (!csrfValid(request, form.csrf)) {
      return again(403, 'Your sign-in form expired. Please try again.');
    }
    const now = clock();
    const wait = limiter.reserve(email, request.ip, now.getTime());
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      await store.audit.insert({ at: now, kind: 'auth', action: 'sign-in-throttled', method: 'POST', path: pathOf(request), status: 429 });
      return again(429, `Too many failed sign-ins. Try again in ${Math.ceil(wait / 60_000)} minute(s).`);
    }
    const user = email ? await store.users.findByEmail(email) : undefined;
    // Unknown emails cost a full scrypt too, so timing does not reveal which emails exist.
    const ok = (await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH)) && user !== undefined;
    if (!ok || !user) {
      await store.audit.insert({
        at: now,
        kind: 'auth',
        action: 'sign-in-failed',
        user_id: user?.id ?? null,
        method: 'POST',
        path: pathOf(request),
        status: 401,
      });
      return again(401, 'Email or password is incorrect.');
    }
    limiter.recordSuccess(email, request.ip, now.getTime());
    await store.sessions.deleteExpired(now);
    await startSession(store, reply, config, user.id, now);
    await store.audit.insert({ at: now, kind: 'auth', action: 'sign-in', user_id: user.id, method: 'POST', path: pathOf(request), status: 303 });
    return reply.redirect(next, 303);
  });

  app.post('/logout', { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const now = clock();
    const signedIn = await currentSession(store, request, now);
    const form = (request.body ?? {}) as Record<string, unknown>;
    if (signedIn && !csrfValid(request, form.csrf, signedIn)) {
      return htmlReply(reply, 403, errorPage(403, 'This form expired or did not come from this site. Reload the page and try again.'));
    }
    if (signedIn) {
      await store.audit.insert({ at: now, kind: 'auth', action: 'sign-out', user_id: signedIn.user.id, method: 'POST', path: pathOf(request), status: 303 });
    }
    await endSession(store, request, reply, config);
    return reply.redirect('/login', 303);
  });
}
