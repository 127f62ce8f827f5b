/**
 * Builds the HTTP app from its parts (not listening). Each route file is a
 * Fastify plugin receiving the same RouteContext.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { loadSigner } from './auth/signing.js';
import type { ServerConfig } from './config.js';
import { BodyDeadlines, enforceBodyDeadline } from './http/body-deadline.js';
import { clientAddress, trustedProxyMatcher } from './http/client-address.js';
import { guardIdleConnections, type ConnectionGuard } from './http/connection-guard.js';
import { describeClientError, rawErrorResponse, routeFamily, sendFamilyError, urlFromRawRequest } from './http/error-shapes.js';
import { HttpFront } from './http/front.js';
import apiKeysRoutes from './routes/api-keys.js';
import cliAuthRoutes from './routes/cli-auth.js';
import gatewayRoutes from './routes/gateway.js';
import sessionRoutes from './routes/session.js';
import webRoutes from './routes/web.js';
import { pathOf, type RouteContext } from './routes/shared.js';
import { silentLog, type OperatorLog } from './operator-log.js';
import type { Store } from './store/store.js';

export interface BuildAppOptions {
  store: Store;
  config: ServerConfig;
  clock?: () => Date;
  /** The request log: one JSON line per request on stderr (pino); THIRDLOOP_SERVER_LOG=1. */
  logger?: boolean;
  /** Where errors go while the request log is off (the server: stderr; tests: nowhere, or a capture). */
  errorLog?: OperatorLog;
}

declare module 'fastify' {
  interface FastifyInstance {
    connectionGuard: ConnectionGuard;
  }
  interface FastifyRequest {
    /** Who the client is, for limiters and audit rows: the socket's peer, or through trusted proxies X-Forwarded-For's (http/client-address.ts). */
    readonly clientAddress: string;
  }
}

/** Node's own deadline for a whole request, behind the per-route body deadlines (body-deadline.ts). */
const REQUEST_TIMEOUT_BACKSTOP_MS = 120_000;

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { store, config } = options;
  const clock = options.clock ?? (() => new Date());
  const isTrustedProxy = trustedProxyMatcher(config.trustProxy);
  /** The last request target seen on each connection, to shape a later parser error on it. */
  const lastUrl = new WeakMap<Socket, string>();

  const front = new HttpFront();
  const app = Fastify<Server>({
    // /v1 is served below the framework (http/front.ts); the rest is Fastify's.
    serverFactory: front.serverFactory,
    logger: options.logger
      ? {
          level: 'info',
          // stdout is the start-up lines a script reads (the address, the demo account); logs are diagnostics.
          stream: process.stderr,
          redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
        }
      : false,
    bodyLimit: config.bodyLimitBytes,
    // Closing must not wait for idle keep-alive sockets (the CLI's agent, browsers).
    forceCloseConnections: 'idle',
    // A request that reached a stopping replica is served, not refused with a 503 that a load balancer
    // would not retry for a POST: the store stays open until every answer is out (see the hooks below).
    return503OnClosing: false,
    requestTimeout: Math.max(REQUEST_TIMEOUT_BACKSTOP_MS, config.gatewayBodyTimeoutMs * 2),
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    frameworkErrors: (error, request, reply) => {
      const { status, message } = describeClientError(error);
      return sendFamilyError(reply, routeFamily(request.url), status, message);
    },
    clientErrorHandler: (error, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const { status, message } = describeClientError(error);
      const rawPacket = (error as { rawPacket?: unknown }).rawPacket;
      const family = routeFamily((Buffer.isBuffer(rawPacket) ? urlFromRawRequest(rawPacket) : undefined) ?? lastUrl.get(socket) ?? '/');
      const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !pending?.headersSent) socket.write(rawErrorResponse(family, status, message));
      socket.destroy();
    },
  });
  const errorLog: OperatorLog = options.logger ? (fields, message) => app.log.error(fields, message) : (options.errorLog ?? silentLog);

  app.decorate(
    'connectionGuard',
    guardIdleConnections(app.server, {
      maxIdlePerAddress: config.maxIdleConnectionsPerAddress,
      exempt: isTrustedProxy,
      // After Node's headersTimeout, which answers a request begun but not finished with 408 first.
      firstRequestTimeoutMs: config.headersTimeoutMs + 2000,
    }),
  );
  // The rule /v1 applies too (gateway/v1.ts), so one flag means the same everywhere.
  app.decorateRequest('clientAddress', {
    getter(this: { raw: IncomingMessage }) {
      return clientAddress(this.raw, isTrustedProxy);
    },
  });
  app.server.on('request', (request) => {
    if (request.url) lastUrl.set(request.socket, request.url);
  });

  // Every answer, JSON ones included, is read as what its content type says (on the raw response,
  // so the gateway's own writes carry it too).
  // While stopping, every answer ends its connection, so keep-alive clients (a load balancer's pool)
  // send their next request to a replica that stays.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    reply.raw.setHeader('x-content-type-options', 'nosniff');
    if (closing) reply.raw.setHeader('connection', 'close');
    done();
  });
  // /v1 never comes this way (http/front.ts): the gateway watches its bodies with gatewayBodyTimeoutMs.
  enforceBodyDeadline(app, new BodyDeadlines(config.bodyTimeoutMs));

  // JSON: an empty body is "no body" (POST /api/keys/:id/disable with a JSON content type).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      const err = new Error('The body is not valid JSON.') as FastifyError;
      err.statusCode = 400;
      done(err, undefined);
    }
  });
  // HTML forms, without a dependency; /api takes JSON only (docs/api.md), so a form there is a 415.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    if (routeFamily(request.url) !== 'web') {
      const err = new Error('Unsupported content type: send application/json.') as FastifyError;
      err.statusCode = 415;
      return done(err, undefined);
    }
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, message } = describeClientError(error, request.routeOptions.bodyLimit ?? config.bodyLimitBytes);
    if (status === 500) errorLog({ err: error, method: request.method, url: pathOf(request) }, 'request failed');
    return sendFamilyError(reply, routeFamily(request.url), status, message);
  });

  app.setNotFoundHandler((request, reply) => {
    const family = routeFamily(request.url);
    const message = family === 'web' ? 'There is no page at this address.' : `No route ${request.method} ${pathOf(request)}.`;
    return sendFamilyError(reply, family, 404, message);
  });

  const ctx: RouteContext = { store, config, clock, errorLog, signer: await loadSigner(store) };
  await app.register(apiKeysRoutes, ctx);
  await app.register(cliAuthRoutes, ctx);
  await app.register(sessionRoutes, ctx);
  await app.register(webRoutes, ctx);
  await app.register(gatewayRoutes, { ...ctx, mountV1: front.mountV1, requestLog: options.logger === true });
  return app;
}
