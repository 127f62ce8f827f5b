/**
 * The web console: Settings > API Keys, About and Audit log. Thin: every key
 * action goes through store/key-actions (the same rules and audit rows as
 * /api); pages come from web/. Every change is a POST carrying the session's
 * CSRF token and works without JavaScript.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { csrfValid, currentSession, requireSignIn, sessionToken, type SignedIn } from '../auth/session.js';
import { DomainError } from '../domain/errors.js';
import { ACTIVE_KEY_LIMIT, activeCount, expiryDaysFromText, keyStatus, type KeyRecord } from '../domain/keys.js';
import { createKey, transitionKey, type Actor } from '../store/key-actions.js';
import { aboutPage } from '../web/about.js';
import { apiKeysPage, confirmDeletePage, newKeyPage, type CreatedKey, type KeyCardView } from '../web/api-keys.js';
import { auditPage } from '../web/audit.js';
import { FlashStore } from '../web/flash.js';
import { errorPage, securityHeaders } from '../web/layout.js';
import { sessionsPage } from '../web/sessions.js';
import { FORM_BODY_LIMIT } from './session.js';
import { isPlainObject, pathOf, type RouteContext } from './shared.js';

const KEYS_PATH = '/settings/api-keys';
const AUDIT_ROWS = 200;

/** What one redirect carries to the next page view: read once, then gone. */
interface Flash {
  created?: CreatedKey;
  notice?: string;
}

const PAST = { disable: 'Disabled', enable: 'Enabled', delete: 'Deleted' } as const;

export default async function webRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, config, clock } = ctx;
  const flashes = new FlashStore<Flash>(store);
  // The session's id hash and the cookie value its messages are sealed with (web/flash.ts).
  const flashSession = (s: SignedIn, request: FastifyRequest) => ({ idHash: s.session.idHash, token: sessionToken(request) ?? '' });

  const send = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').headers(securityHeaders()).send(body);
  const frame = (s: SignedIn) => ({ user: s.user, csrfToken: s.session.csrfToken });
  const cardOf = (k: KeyRecord, now: Date): KeyCardView => ({
    id: k.id,
    name: k.name,
    status: keyStatus(k, now),
    createdAt: k.createdAt,
    expiresAt: k.expiresAt,
    lastUsedAt: k.lastUsedAt,
  });
  const actorFor = (s: SignedIn, request: FastifyRequest, now: Date): Actor => ({
    store,
    now,
    userId: s.user.id,
    request: { method: request.method, path: pathOf(request) },
  });

  async function renderKeys(reply: FastifyReply, s: SignedIn, status: number, extra: { created?: CreatedKey; notice?: string; error?: string }) {
    const now = clock();
    const keys = await store.keys.listForUser(s.user.id);
    return send(
      reply,
      status,
      apiKeysPage({
        ...frame(s),
        keys: keys.map((k) => cardOf(k, now)),
        activeCount: activeCount(keys, now),
        baseUrl: config.publicUrl,
        ...extra,
      }),
    );
  }

  /** For POSTs: the signed-in user with a valid CSRF token, or the reply already sent. */
  async function formCaller(request: FastifyRequest, reply: FastifyReply): Promise<{ s: SignedIn; form: Record<string, unknown> } | undefined> {
    const form = isPlainObject(request.body) ? request.body : {};
    const s = await currentSession(store, request, clock());
    if (!s) {
      await reply.redirect(`/login?next=${encodeURIComponent(KEYS_PATH)}`, 303);
      return undefined;
    }
    if (!csrfValid(request, form.csrf, s)) {
      await send(reply, 403, errorPage(403, 'This form expired or did not come from this site. Reload the page and try again.'));
      return undefined;
    }
    return { s, form };
  }

  app.get('/settings', async (_request, reply) => reply.redirect(KEYS_PATH, 302));

  app.get(KEYS_PATH, async (request, reply) => {
    const s = await requireSignIn(store, request, reply, clock());
    if (!s) return reply;
    const flash = (await flashes.take(flashSession(s, request), clock())) ?? {};
    return renderKeys(reply, s, 200, flash);
  });

  app.get(`${KEYS_PATH}/new`, async (request, reply) => {
    const s = await requireSignIn(store, request, reply, clock());
    if (!s) return reply;
    const now = clock();
    const keys = await store.keys.listForUser(s.user.id);
    return send(reply, 200, newKeyPage({ ...frame(s), activeCount: activeCount(keys, now) }));
  });

  app.post(KEYS_PATH, { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const caller = await formCaller(request, reply);
    if (!caller) return reply;
    const { s, form } = caller;
    const now = clock();
    const name = typeof form.name === 'string' ? form.name : '';
    const days = expiryDaysFromText(typeof form.expires_in_days === 'string' ? form.expires_in_days : undefined);
    try {
      const minted = await createKey(actorFor(s, request, now), { name, expiresInDays: days });
      await flashes.put(
        flashSession(s, request),
        { created: { id: minted.key.id, name: minted.key.name, secret: minted.secret, credential: minted.credential } },
        now,
      );
      return reply.redirect(KEYS_PATH, 303);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const keys = await store.keys.listForUser(s.user.id);
      const message =
        err.kind === 'conflict'
          ? `You already have ${ACTIVE_KEY_LIMIT} active keys, the limit. Disable or delete a key to create another.`
          : `The key was not created: ${err.message.replace(/^name/, 'the name').replace(/^expires_in_days/, 'the expiry')}`;
      const expires = Number(days);
      return send(
        reply,
        err.kind === 'conflict' ? 409 : 400,
        newKeyPage({
          ...frame(s),
          activeCount: activeCount(keys, now),
          name,
          ...(Number.isFinite(expires) ? { expiresInDays: expires } : {}),
          error: message,
        }),
      );
    }
  });

  app.get(`${KEYS_PATH}/:id/delete`, async (request, reply) => {
    const s = await requireSignIn(store, request, reply, clock());
    if (!s) return reply;
    const { id } = request.params as { id: string };
    const key = await store.keys.findById(id);
    // Another user's key and a missing key look the same.
    if (!key || key.userId !== s.user.id) return send(reply, 404, errorPage(404, 'There is no such key (it may have been deleted already).'));
    return send(reply, 200, confirmDeletePage({ ...frame(s), key: cardOf(key, clock()) }));
  });

  app.post(`${KEYS_PATH}/:id/:action`, { bodyLimit: FORM_BODY_LIMIT }, async (request, reply) => {
    const { id, action } = request.params as { id: string; action: string };
    const caller = await formCaller(request, reply);
    if (!caller) return reply;
    const { s } = caller;
    if (action !== 'disable' && action !== 'enable' && action !== 'delete') return send(reply, 404, errorPage(404, 'Unknown action.'));
    const now = clock();
    try {
      const key = await transitionKey(actorFor(s, request, now), id, action);
      await flashes.put(flashSession(s, request), { notice: `${PAST[action]} “${key.name}”.` }, now);
      return reply.redirect(KEYS_PATH, 303);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return renderKeys(reply, s, err.kind === 'not_found' ? 404 : 409, { error: err.message });
    }
  });

  app.get('/settings/about', async (request, reply) => {
    const s = await requireSignIn(store, request, reply, clock());
    if (!s) return reply;
    return send(reply, 200, aboutPage({ ...frame(s), baseUrl: config.publicUrl }));
  });

  app.get('/settings/sessions', async (request, reply) => {
    const now = clock();
    const s = await requireSignIn(store, request, reply, now);
    if (!s) return reply;
    const sessions = await store.sessions.listForUser(s.user.id, now);
    return send(
      reply,
      200,
      sessionsPage({
        ...frame(s),
        idleMs: config.sessionIdleMs,
        lifetimeMs: config.sessionTtlMs,
        sessions: sessions.map((x) => ({
          createdAt: x.createdAt,
          lastSeenAt: x.lastSeenAt,
          endsAt: new Date(Math.min(x.expiresAt.getTime(), x.lastSeenAt.getTime() + x.idleTimeoutMs)),
          current: x.idHash === s.session.idHash,
        })),
      }),
    );
  });

  app.get('/settings/audit', async (request, reply) => {
    const s = await requireSignIn(store, request, reply, clock());
    if (!s) return reply;
    const [rows, keys] = await Promise.all([store.audit.list({ userId: s.user.id, limit: AUDIT_ROWS }), store.keys.listForUser(s.user.id)]);
    return send(reply, 200, auditPage({ ...frame(s), rows, keyNames: new Map(keys.map((k) => [k.id, k.name])), limit: AUDIT_ROWS }));
  });
}
