/**
 * The Anthropic-compatible surface that Claude Code and opencode talk to (`ANTHROPIC_BASE_URL`):
 * `/v1/*`, plus the unauthenticated probes clients send at start-up (`HEAD /`, `/api/hello`,
 * telemetry) and `/healthz` for load balancers. `/v1` itself is served below the framework
 * (gateway/v1.ts); this plugin mounts it, owns its lifetime, and serves the probes.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/store.js';
import { Gateway, type GatewayServerConfig } from '../gateway/gateway.js';
import { errorCode } from '../gateway/upstreams.js';
import { V1Handler } from '../gateway/v1.js';
import type { RawHandler } from '../http/front.js';
import type { OperatorLog } from '../operator-log.js';

export interface GatewayPluginOptions {
  store: Store;
  config: GatewayServerConfig;
  /** Wall clock for key expiry and audit times (tests move it). */
  clock?: () => Date;
  /** Where the HTTP server takes the /v1 handler from (it runs before the framework). */
  mountV1: (handler: RawHandler) => void;
  /** Errors the operator must see (a provider it cannot reach); default: the request log. */
  errorLog?: OperatorLog;
  /** The request log is on (THIRDLOOP_SERVER_LOG=1): /v1 requests get their lines too. */
  requestLog?: boolean;
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

/** Claude Code's telemetry batches are small; more than this from a caller without a key is refused. */
const TELEMETRY_BODY_LIMIT = 1024 * 1024;

const gatewayRoutes: FastifyPluginAsync<GatewayPluginOptions> = async (app, options) => {
  const { store, config } = options;
  const clock = options.clock ?? (() => new Date());
  const errorLog: OperatorLog = options.errorLog ?? ((fields, message) => app.log.error(fields, message));
  const gateway = new Gateway(
    store,
    config,
    (error) => errorLog({ err: error }, 'gateway error'),
    (sentence, error) => errorLog({ upstream: config.upstream, code: errorCode(error) }, sentence),
  );
  const handle = new V1Handler(gateway, clock).handle;
  options.mountV1(options.requestLog ? logRequests(app, handle) : handle);
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

};

/**
 * With the request log on (THIRDLOOP_SERVER_LOG=1), /v1 requests get the lines Fastify writes for
 * its own routes (they do not pass through it): method, URL and address in, status and time out;
 * never headers or bodies.
 */
function logRequests(app: FastifyInstance, handle: RawHandler): RawHandler {
  let next = 0;
  return (req, res) => {
    const started = performance.now();
    const log = app.log.child({ reqId: `v1-${(++next).toString(36)}` });
    log.info({ req: { method: req.method, url: req.url, remoteAddress: req.socket.remoteAddress } }, 'incoming request');
    res.once('close', () => {
      log.info({ res: { statusCode: res.statusCode }, responseTime: performance.now() - started }, res.writableFinished ? 'request completed' : 'request aborted');
    });
    handle(req, res);
  };
}

export default gatewayRoutes;
