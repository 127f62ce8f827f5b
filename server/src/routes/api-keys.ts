/** /api: the key-management API the CLI uses. Thin: parse, call store/key-actions, shape. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_BODY_LIMIT, type KeyList, type Me, type NewKey } from 'thirdloop-protocol';
import { authenticateCredential, credentialFromHeaders } from '../auth/credential.js';
import { DEFAULT_AUTH_FAILURES_PER_MINUTE } from '../config.js';
import { limiterAddress } from '../http/client-address.js';
import { ACTIVE_KEY_LIMIT, activeCount, toKeyView, type KeyRecord } from '../domain/keys.js';
import { createKey, renameKey, rotateKey, transitionKey, type Actor, type MintedKey } from '../store/key-actions.js';
import type { User } from '../store/store.js';
import { apiError, isPlainObject, pathOf, sendDomainError, type RouteContext } from './shared.js';

// Small: key-management bodies are a name and a number.
export { API_BODY_LIMIT };

export function mintedBody(minted: MintedKey, now: Date): NewKey {
  return { key: toKeyView(minted.key, now), secret_key: minted.secret, credential: minted.credential };
}

export default async function apiKeysRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, clock, config } = ctx;
  const callers = new WeakMap<FastifyRequest, { user: User; key: KeyRecord; now: Date }>();
  const failuresPerMinute = config.authFailuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE;

  // Keys and who holds them: no cache may keep any of it.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('cache-control', 'no-store');
    done();
  });

  app.addHook('preHandler', async (request, reply) => {
    const now = clock();
    const result = await authenticateCredential(store, credentialFromHeaders(request.raw.rawHeaders), now);
    if (!result.ok) {
      // Failed authentications per client address, as on /v1: counted after the check, so a valid
      // key from the same address always works; kept in the store, so replicas share the count.
      const decision = await store.limits.take(
        [{ key: `api-auth-failures:${limiterAddress(request.clientAddress)}`, limit: failuresPerMinute, windowMs: 60_000 }],
        now,
      );
      if (!decision.allowed) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        reply.header('retry-after', String(seconds));
        return apiError(reply, 429, `Too many failed authentications from this address (limit ${failuresPerMinute} per minute). Retry in ${seconds} s.`);
      }
      reply.header('www-authenticate', 'Bearer realm="thirdloop"');
      return apiError(reply, 401, result.message);
    }
    // "Last used" is not touched here: it means a model request (/v1), which is what tells a
    // member their client is routed through the instance; managing keys is not using them.
    callers.set(request, { user: result.user, key: result.key, now });
  });

  const caller = (request: FastifyRequest) => callers.get(request)!;
  const actor = (request: FastifyRequest): Actor => {
    const c = caller(request);
    return { store, now: c.now, userId: c.user.id, request: { method: request.method, path: pathOf(request) } };
  };
  const idParam = (request: FastifyRequest) => (request.params as { id: string }).id;
  const objectBody = (request: FastifyRequest): Record<string, unknown> | undefined =>
    request.body === undefined || request.body === null ? {} : isPlainObject(request.body) ? request.body : undefined;

  const opts = { bodyLimit: API_BODY_LIMIT };

  app.get('/api/me', opts, async (request) => {
    const c = caller(request);
    return { user: { email: c.user.email }, key: toKeyView(c.key, c.now) } satisfies Me;
  });

  app.get('/api/keys', opts, async (request) => {
    const c = caller(request);
    const keys = await store.keys.listForUser(c.user.id);
    return {
      keys: keys.map((k) => toKeyView(k, c.now)),
      active_count: activeCount(keys, c.now),
      active_limit: ACTIVE_KEY_LIMIT,
    } satisfies KeyList;
  });

  app.get('/api/keys/:id', opts, async (request, reply) => {
    const c = caller(request);
    const key = await store.keys.findById(idParam(request));
    if (!key || key.userId !== c.user.id) return apiError(reply, 404, `No key ${idParam(request)}.`);
    return { key: toKeyView(key, c.now) };
  });

  app.post('/api/keys', opts, async (request, reply) => {
    const body = objectBody(request);
    if (!body) return apiError(reply, 400, 'Expected a JSON object: {"name": "...", "expires_in_days": 90}.');
    if (body.name === undefined) return apiError(reply, 400, 'name is required.');
    try {
      const minted = await createKey(actor(request), { name: body.name, expiresInDays: body.expires_in_days });
      return reply.code(201).header('cache-control', 'no-store').send(mintedBody(minted, caller(request).now));
    } catch (err) {
      return sendDomainError(reply, err);
    }
  });

  for (const action of ['disable', 'enable'] as const) {
    app.post(`/api/keys/:id/${action}`, opts, async (request, reply) => {
      try {
        const key = await transitionKey(actor(request), idParam(request), action);
        return { key: toKeyView(key, caller(request).now) };
      } catch (err) {
        return sendDomainError(reply, err);
      }
    });
  }

  app.post('/api/keys/:id/rotate', opts, async (request, reply) => {
    try {
      const minted = await rotateKey(actor(request), idParam(request));
      return reply.code(201).header('cache-control', 'no-store').send(mintedBody(minted, caller(request).now));
    } catch (err) {
      return sendDomainError(reply, err);
    }
  });

  app.patch('/api/keys/:id', opts, async (request, reply) => {
    const body = objectBody(request);
    if (!body || body.name === undefined) return apiError(reply, 400, 'Expected a JSON object: {"name": "..."}.');
    try {
      const key = await renameKey(actor(request), idParam(request), body.name);
      return { key: toKeyView(key, caller(request).now) };
    } catch (err) {
      return sendDomainError(reply, err);
    }
  });

  app.delete('/api/keys/:id', opts, async (request, reply) => {
    try {
      await transitionKey(actor(request), idParam(request), 'delete');
      return reply.code(204).send();
    } catch (err) {
      return sendDomainError(reply, err);
    }
  });
}
