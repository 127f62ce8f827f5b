/**
 * A request body must arrive within a deadline, counted from when reading it starts: a client
 * that trickles one byte every few seconds is answered 408 (in its route family's shape, through
 * the error handlers) and the connection closed, instead of holding a socket open indefinitely.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export const BODY_TIMEOUT_CODE = 'TL_BODY_TIMEOUT';

export function enforceBodyDeadline(app: FastifyInstance, deadlineFor: (request: FastifyRequest) => number): void {
  app.addHook('preParsing', (request, reply, payload, done) => {
    const length = request.headers['content-length'];
    const hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || request.raw.complete) return done(null, payload);
    const ms = deadlineFor(request);
    const timer = setTimeout(() => {
      if (request.raw.complete || reply.sent) return;
      const seconds = ms / 1000;
      const error = Object.assign(new Error(`The request body did not arrive within ${seconds} second${seconds === 1 ? '' : 's'}.`), {
        statusCode: 408,
        code: BODY_TIMEOUT_CODE,
      });
      // The body parser listens for errors on the payload and answers through the error handler
      // (with Connection: close). Nobody reading the body: nothing to answer with, so close.
      if (payload.listenerCount('error') > 0) payload.emit('error', error);
      else request.raw.socket?.destroy();
    }, ms);
    const clear = () => clearTimeout(timer);
    request.raw.once('end', clear);
    reply.raw.once('close', clear);
    done(null, payload);
  });
}
