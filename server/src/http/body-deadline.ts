/**
 * A request body must arrive within a deadline, counted from when reading it starts: a client
 * that trickles one byte every few seconds is answered 408 (in its route family's shape) and the
 * connection closed, instead of holding a socket open indefinitely.
 *
 * One mechanism for every route family: the framework's routes through `enforceBodyDeadline`, and
 * /v1, served below the framework (http/front.ts), by registering its bodies itself. A
 * `BodyDeadlines` checks all the bodies it watches from one timer instead of a timer per request,
 * so a deadline may be overrun by a quarter of itself, at most 1 s.
 */
import type { FastifyInstance } from 'fastify';

export const BODY_TIMEOUT_CODE = 'TL_BODY_TIMEOUT';

/** A body still arriving, as the deadline check sees it. */
export interface ArrivingBody {
  /** `performance.now()` when reading it started. */
  readonly bodyStartedAt: number;
  /** The body did not arrive in time: refuse it (once; it is no longer watched). */
  bodyTimedOut(): void;
}

/** The client's sentence for a body past its deadline, whatever the route family. */
export function bodyTimeoutMessage(timeoutMs: number): string {
  const seconds = timeoutMs / 1000;
  return `The request body did not arrive within ${seconds} second${seconds === 1 ? '' : 's'}.`;
}

export class BodyDeadlines {
  private readonly waiting = new Set<ArrivingBody>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly timeoutMs: number) {}

  watch(body: ArrivingBody): void {
    this.waiting.add(body);
    if (this.timer) return;
    this.timer = setInterval(this.check, Math.min(1_000, Math.max(10, this.timeoutMs / 4)));
    // Watching must not keep a finished process alive.
    this.timer.unref();
  }

  /** The body arrived (or its request ended otherwise): no longer watched. */
  arrived(body: ArrivingBody): void {
    this.waiting.delete(body);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.waiting.clear();
  }

  private readonly check = (): void => {
    const now = performance.now();
    for (const body of this.waiting) {
      if (now - body.bodyStartedAt < this.timeoutMs) continue;
      this.waiting.delete(body);
      body.bodyTimedOut();
    }
    // Stopped when idle; the next body starts it again (at most once per period, not per request).
    if (this.waiting.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}

/** The framework's routes: every request with a body is watched from the start of its parsing. */
export function enforceBodyDeadline(app: FastifyInstance, deadlines: BodyDeadlines): void {
  app.addHook('preParsing', (request, reply, payload, done) => {
    const length = request.headers['content-length'];
    const hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || request.raw.complete) return done(null, payload);
    const body: ArrivingBody = {
      bodyStartedAt: performance.now(),
      bodyTimedOut: () => {
        if (request.raw.complete || reply.sent) return;
        const error = Object.assign(new Error(bodyTimeoutMessage(deadlines.timeoutMs)), { statusCode: 408, code: BODY_TIMEOUT_CODE });
        // The body parser listens for errors on the payload and answers through the error handler
        // (with Connection: close). Nobody reading the body: nothing to answer with, so close.
        if (payload.listenerCount('error') > 0) payload.emit('error', error);
        else request.raw.socket?.destroy();
      },
    };
    deadlines.watch(body);
    const arrived = () => deadlines.arrived(body);
    request.raw.once('end', arrived);
    reply.raw.once('close', arrived);
    done(null, payload);
  });
  app.addHook('onClose', async () => deadlines.close());
}
