/**
 * The Anthropic-compatible surface that Claude Code and opencode talk to (`ANTHROPIC_BASE_URL`):
 * `/v1/*`, plus the unauthenticated probes clients send at start-up (`HEAD /`, `/api/hello`,
 * telemetry) and `/healthz` for load balancers. Thin: auth, limits and audit here; the work in gateway/.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { authenticateCredential, credentialFromHeaders, type AuthFailureReason } from '../auth/credential.js';
import { parseCredential } from '../domain/token.js';
import type { Store } from '../store/store.js';
import { DEFAULT_AUTH_FAILURES_PER_MINUTE } from '../config.js';
import { anthropicError, errorTypeForStatus, GatewayError } from '../gateway/errors.js';
import { Gateway, type GatewayServerConfig } from '../gateway/gateway.js';
import { listModels, modelNotOffered, modelView } from '../gateway/models.js';
import { SSE_HEADERS, type Usage } from '../gateway/sse.js';
import { errorCode } from '../gateway/upstreams.js';
import type { OperatorLog } from '../operator-log.js';

export interface GatewayPluginOptions {
  store: Store;
  config: GatewayServerConfig;
  /** Wall clock for key expiry and audit times (tests move it). */
  clock?: () => Date;
  /** Errors the operator must see (a provider it cannot reach); default: the request log. */
  errorLog?: OperatorLog;
}

/** What one /v1 request carries through its hooks. */
interface GatewayState {
  started: number;
  at: Date;
  action: string;
  userId: string | null;
  keyId: string | null;
  sessionId: string | null;
  model: string | null;
  usage: Usage | null;
  /** Set when the handler writes the response itself and records the row once usage is known. */
  manual: boolean;
  audited: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    gateway: GatewayState | null;
  }
}

/** How long /healthz waits for the database before calling it unreachable. */
const HEALTH_TIMEOUT_MS = 2000;

async function databaseAnswers(store: Store, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([store.health().then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Claude Code's session id is a UUID; anything odd is not stored. */
function sessionIdFrom(request: FastifyRequest): string | null {
  const value = request.headers['x-claude-code-session-id'];
  return typeof value === 'string' && /^[\w.:-]{1,128}$/.test(value) ? value : null;
}

/** The action recorded in the audit log for a /v1 path. */
function actionFor(path: string, method: string): string {
  if (path === '/v1/messages' && method === 'POST') return 'messages';
  if (path === '/v1/messages/count_tokens' && method === 'POST') return 'count_tokens';
  if ((path === '/v1/models' || path.startsWith('/v1/models/')) && (method === 'GET' || method === 'HEAD')) return 'models';
  return 'not_found';
}

const pathOf = (url: string) => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/** The endpoint as routed (`/v1/messages` however it was spelled); unknown paths as sent, cut short. */
function auditPath(request: FastifyRequest): string {
  const routed = request.routeOptions.url;
  if (routed && !routed.includes('*') && !routed.includes(':')) return routed;
  return pathOf(request.url).slice(0, 200);
}

/** Claude Code's telemetry batches are small; more than this from a caller without a key is refused. */
const TELEMETRY_BODY_LIMIT = 1024 * 1024;

const sendError = (reply: FastifyReply, error: GatewayError) =>
  reply.code(error.status).headers(error.headers).send(error.body());

const gatewayRoutes: FastifyPluginAsync<GatewayPluginOptions> = async (app, options) => {
  const { store, config } = options;
  const clock = options.clock ?? (() => new Date());
  const errorLog: OperatorLog = options.errorLog ?? ((fields, message) => app.log.error(fields, message));
  const gateway = new Gateway(
    store,
    config,
    (error) => errorLog({ err: error }, 'gateway write failed'),
    (sentence, error) => errorLog({ upstream: config.upstream, code: errorCode(error) }, sentence),
  );
  // Fastify closes the HTTP server (waiting for every connection) before onClose runs, so the grace
  // period has to start here, or one long stream would hold the shutdown for as long as it lasts.
  app.addHook('preClose', async () => {
    gateway.beginClose(() => app.server.closeAllConnections());
  });
  app.addHook('onClose', async () => {
    await gateway.close();
  });

  // Start-up and liveness probes: no key, never a 5xx (but /healthz, below). Claude Code sends `HEAD /` on its base URL
  // and `HEAD /api/hello` to warm the connection.
  const hello = { name: 'Third Loop', status: 'ok', api: '/v1' };
  app.get('/', async (request, reply) => {
    // A person opening the instance's address lands on the console; clients get the JSON.
    if (String(request.headers.accept ?? '').includes('text/html')) return reply.redirect('/settings/api-keys');
    return hello;
  });
  app.get('/api/hello', async () => hello);
  // The load balancer's probe: 503 while the database does not answer, so traffic goes to a
  // replica that can serve it.
  app.get('/healthz', async (_request, reply) => {
    const healthy = await databaseAnswers(store, HEALTH_TIMEOUT_MS);
    if (!healthy) return reply.code(503).send({ status: 'unavailable', database: 'unreachable' });
    return { status: 'ok', database: 'ok' };
  });
  // Claude Code posts its telemetry to the base URL; it is accepted and dropped unread (never
  // forwarded, never stored), whatever its encoding. Counted as it passes, not buffered: past the
  // cap reading stops and the answer is 413 (Fastify then closes the connection).
  await app.register(async (telemetry: FastifyInstance) => {
    telemetry.removeAllContentTypeParsers();
    telemetry.addContentTypeParser('*', (request, payload, done) => {
      const tooLarge = () => Object.assign(new Error('Request body is too large'), { statusCode: 413 });
      if (Number(request.headers['content-length']) > TELEMETRY_BODY_LIMIT) return done(tooLarge(), undefined);
      let received = 0;
      const stop = (error: Error | null) => {
        payload.off('data', onData).off('end', onEnd).off('error', stop).pause();
        done(error, undefined);
      };
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        if (received > TELEMETRY_BODY_LIMIT) stop(tooLarge());
      };
      const onEnd = () => stop(null);
      payload.on('data', onData).once('end', onEnd).once('error', stop);
    });
    for (const path of ['/api/event_logging/batch', '/api/event_logging/v2/batch']) {
      telemetry.post(path, { bodyLimit: TELEMETRY_BODY_LIMIT }, async (_request, reply) => reply.code(200).send({}));
    }
  });

  await app.register(async (v1: FastifyInstance) => registerV1(v1, gateway, store, clock, errorLog), { prefix: '/v1' });
};

async function registerV1(v1: FastifyInstance, gateway: Gateway, store: Store, clock: () => Date, errorLog: OperatorLog): Promise<void> {
  const { config } = gateway;

  // Bodies arrive as bytes: forwarded unchanged when possible, parsed once here for the model.
  v1.removeAllContentTypeParsers();
  v1.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.bodyLimitBytes }, (_request, body, done) => {
    done(null, body);
  });
  v1.decorateRequest('gateway', null);

  const audit = (request: FastifyRequest, status: number) => {
    const state = request.gateway;
    if (!state || state.audited) return;
    state.audited = true;
    gateway.writes.record({
      at: state.at,
      kind: 'gateway',
      action: state.action,
      user_id: state.userId,
      key_id: state.keyId,
      session_id: state.sessionId,
      method: request.method,
      path: auditPath(request),
      model: state.model,
      status,
      latency_ms: Math.round((performance.now() - state.started) * 100) / 100,
      input_tokens: state.usage?.input_tokens ?? null,
      output_tokens: state.usage?.output_tokens ?? null,
    });
  };

  // Authentication and the rate limit come before the body is read: a stranger cannot make us buffer it.
  v1.addHook('onRequest', async (request, reply) => {
    const at = clock();
    const path = pathOf(request.url);
    const state: GatewayState = {
      started: performance.now(),
      at,
      action: actionFor(path, request.method),
      userId: null,
      keyId: null,
      sessionId: sessionIdFrom(request),
      model: null,
      usage: null,
      manual: false,
      audited: false,
    };
    request.gateway = state;

    const credential = credentialFromHeaders(request.headers);
    const result = await authenticateCredential(store, credential, at);
    if (!result.ok) {
      // Counted per client address, after the check so a valid key from the same address still
      // works. Past the limit the refusal is not audited: one row per attempt is what an attacker
      // would use to grow the log.
      const failures = gateway.authFailures.take(request.ip);
      if (!failures.allowed) {
        state.audited = true;
        return sendError(
          reply,
          new GatewayError(
            429,
            'rate_limit_error',
            `Too many failed authentications from this address (limit ${config.authFailuresPerMinute ?? DEFAULT_AUTH_FAILURES_PER_MINUTE} per minute). Retry in ${failures.retryAfterSeconds} s.`,
            { 'retry-after': String(failures.retryAfterSeconds) },
          ),
        );
      }
      state.action = `denied:${result.reason satisfies AuthFailureReason}`;
      // The ID is recorded only for a well-formed credential, so the log shows attempts on real keys.
      state.keyId = (credential && parseCredential(credential)?.keyId) ?? null;
      return sendError(reply, new GatewayError(401, 'authentication_error', result.message));
    }
    state.userId = result.user.id;
    state.keyId = result.key.id;
    const decision = gateway.limiter.take(result.key.id);
    if (!decision.allowed) {
      state.action = 'rate_limited';
      return sendError(
        reply,
        new GatewayError(
          429,
          'rate_limit_error',
          `This API key is limited to ${config.rateLimitPerMinute} requests per minute. Retry in ${decision.retryAfterSeconds} s.`,
          { 'retry-after': String(decision.retryAfterSeconds) },
        ),
      );
    }
    gateway.writes.touch(result.key.id, at);
  });

  v1.addHook('onResponse', async (request, reply) => {
    // Fastify runs this for taken-over replies too, before the stream's usage is in.
    if (!request.gateway?.manual) audit(request, reply.statusCode);
  });

  v1.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (error instanceof GatewayError) return sendError(reply, error);
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      errorLog({ err: error, method: request.method, url: pathOf(request.url) }, 'gateway request failed');
      return reply.code(500).send(anthropicError('api_error', 'Internal error in the Third Loop gateway.'));
    }
    const message =
      status === 413
        ? `The request body is larger than this instance accepts (${config.bodyLimitBytes} bytes).`
        : error.message;
    return reply.code(status).send(anthropicError(errorTypeForStatus(status), message));
  });

  /** The request body as JSON, with the model checked against what this instance offers. */
  const readBody = (request: FastifyRequest): { json: Record<string, unknown>; forward: Buffer } => {
    const raw = request.body;
    if (!Buffer.isBuffer(raw) || raw.length === 0) {
      throw new GatewayError(400, 'invalid_request_error', 'The request body must be a JSON object.');
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new GatewayError(400, 'invalid_request_error', 'The request body is not valid JSON.');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new GatewayError(400, 'invalid_request_error', 'The request body must be a JSON object.');
    }
    const body = json as Record<string, unknown>;
    if (typeof body.model !== 'string' || body.model === '') {
      throw new GatewayError(400, 'invalid_request_error', 'model: Field required');
    }
    // Model ids are short; a long one is junk and is not worth storing.
    request.gateway!.model = body.model.slice(0, 128);
    const found = gateway.findModel(body.model);
    if (found === undefined) throw modelNotOffered(body.model, config.models);
    if (found.upstreamId === body.model) return { json: body, forward: raw };
    // An alias: the provider gets the offered model; the audit keeps what the client asked for.
    body.model = found.upstreamId;
    return { json: body, forward: Buffer.from(JSON.stringify(body)) };
  };

  /** Forwards to the same endpoint upstream; the path is ours, only the query string is the client's. */
  const forward = async (request: FastifyRequest, reply: FastifyReply, body: Buffer, path: string) => {
    request.gateway!.manual = true;
    reply.hijack();
    const q = request.url.indexOf('?');
    const result = await gateway.upstream!.forward(
      { method: 'POST', url: q === -1 ? path : path + request.url.slice(q), headers: request.headers, body },
      reply.raw,
    );
    request.gateway!.usage = result.usage;
    audit(request, result.status);
  };

  v1.post('/messages', async (request, reply) => {
    const { json, forward: body } = readBody(request);
    if (!gateway.isMock) return forward(request, reply, body, '/v1/messages');

    const answer = gateway.mockMessages(json);
    request.gateway!.usage = { input_tokens: answer.input_tokens, output_tokens: answer.output_tokens };
    if (answer.json) return reply.send(answer.json);
    request.gateway!.manual = true;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, SSE_HEADERS);
    for (const event of answer.events!) {
      if (res.destroyed) break;
      res.write(event);
      // One event at a time on the wire, as a real model streams.
      await nextTurn();
    }
    res.end();
    audit(request, res.destroyed && !res.writableFinished ? 499 : 200);
  });

  v1.post('/messages/count_tokens', async (request, reply) => {
    const { json, forward: body } = readBody(request);
    if (!gateway.isMock) return forward(request, reply, body, '/v1/messages/count_tokens');
    const answer = gateway.mockCountTokens(json);
    request.gateway!.usage = { input_tokens: answer.input_tokens, output_tokens: null };
    return answer;
  });

  // Answered per caller (after authentication): no shared cache may keep it.
  v1.get('/models', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    return listModels(config.models, request.query as Record<string, unknown>);
  });
  v1.get('/models/:id', async (request) => {
    const { id } = request.params as { id: string };
    const found = gateway.findModel(id);
    if (!found) throw modelNotOffered(id, config.models);
    return modelView(found.model);
  });

  const notFound = async (request: FastifyRequest) => {
    throw new GatewayError(404, 'not_found_error', `${request.method} ${pathOf(request.url)} is not part of this API.`);
  };
  v1.all('/', notFound);
  v1.all('/*', notFound);
}

export default gatewayRoutes;
