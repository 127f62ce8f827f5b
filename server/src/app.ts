/**
 * Builds the HTTP app from its parts (not listening). Each route file is a
 * Fastify plugin receiving the same RouteContext.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { ServerConfig } from './config.js';
import apiKeysRoutes from './routes/api-keys.js';
import cliAuthRoutes from './routes/cli-auth.js';
import { clientErrorHandler } from './error-families.js';
import { HttpFront } from './http-front.js';
import gatewayRoutes, { V1_ERROR_FAMILY } from './routes/gateway.js';
import sessionRoutes from './routes/session.js';
import webRoutes from './routes/web.js';
import { apiError, pathOf, type RouteContext } from './routes/shared.js';
import type { Store } from './store/store.js';
import { errorPage, securityHeaders } from './web/layout.js';

export interface BuildAppOptions {
  store: Store;
  config: ServerConfig;
  clock?: () => Date;
  logger?: boolean;
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { store, config } = options;
  const clock = options.clock ?? (() => new Date());
  const front = new HttpFront();
  const app = Fastify<Server>({
    // /v1 is served below the framework (see http-front.ts); the rest is Fastify's.
    serverFactory: front.serverFactory,
    clientErrorHandler: clientErrorHandler([V1_ERROR_FAMILY]),
    logger: options.logger
      ? { level: 'info', redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'] }
      : false,
    bodyLimit: config.bodyLimitBytes,
    // Closing must not wait for idle keep-alive sockets (the CLI's agent, browsers).
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });

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
  // HTML forms, without a dependency.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    const message =
      status === 413
        ? `The request body is larger than ${request.routeOptions.bodyLimit ?? config.bodyLimitBytes} bytes.`
        : status === 415
          ? 'Unsupported content type: send application/json.'
          : status === 500
            ? 'Internal server error.'
            : error.message;
    if (pathOf(request).startsWith('/api/')) return apiError(reply, status, message);
    return reply.code(status).type('text/html; charset=utf-8').headers(securityHeaders()).send(errorPage(status, message));
  });

  app.setNotFoundHandler((request, reply) => {
    if (pathOf(request).startsWith('/api/')) return apiError(reply, 404, `No route ${request.method} ${pathOf(request)}.`);
    return reply
      .code(404)
      .type('text/html; charset=utf-8')
      .headers(securityHeaders())
      .send(errorPage(404, 'There is no page at this address.'));
  });

  const ctx: RouteContext = { store, config, clock };
  await app.register(apiKeysRoutes, ctx);
  await app.register(cliAuthRoutes, ctx);
  await app.register(sessionRoutes, ctx);
  await app.register(webRoutes, ctx);
  await app.register(gatewayRoutes, { ...ctx, mountV1: front.mountV1 });
  return app;
}
