/**
 * The HTTP server under Fastify. Requests under `/v1` go straight to the gateway's handler (the
 * Anthropic-compatible API is the hot path and needs none of the framework's routing, hooks or body
 * parsing); everything else goes to Fastify. The timeouts Fastify would set on its own server are
 * set here from the same options.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { routeFamily } from './error-shapes.js';

export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

export class HttpFront {
  private v1: RawHandler | undefined;

  /** The gateway plugin hands its handler over when it is registered. */
  readonly mountV1 = (handler: RawHandler): void => {
    this.v1 = handler;
  };

  /** Fastify's `serverFactory`. */
  readonly serverFactory = (fastify: RawHandler, options: Record<string, unknown>): Server => {
    // Fastify's own server would get `options.http` (headersTimeout and the like): so does this one.
    const server = createServer((options.http ?? {}) as ServerOptions, (req, res) => {
      if (this.v1 && routeFamily(req.url!) === 'v1') this.v1(req, res);
      else fastify(req, res);
    });
    const { keepAliveTimeout, requestTimeout, connectionTimeout } = options;
    if (typeof keepAliveTimeout === 'number') server.keepAliveTimeout = keepAliveTimeout;
    if (typeof requestTimeout === 'number') server.requestTimeout = requestTimeout;
    if (typeof connectionTimeout === 'number') server.setTimeout(connectionTimeout);
    return server;
  };
}
