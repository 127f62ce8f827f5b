/**
 * Raw sockets for the hostile-traffic tests: requests that no HTTP client would send (bad
 * encodings, huge headers, bodies trickled a byte at a time, connections that say nothing),
 * optionally from another loopback address (127.0.0.2 …) so the server sees another client.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From connect to the server closing the connection (or to the answer, with keepOpen). */
  ms: number;
}

function parse(text: string, ms: number): RawAnswer {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: end < 0 ? '' : text.slice(end + 4), ms };
}

export interface RawOptions {
  localAddress?: string;
  /** Write this many bytes of `text` at once, then one byte every `trickleMs` (slow clients). */
  trickleAfter?: number;
  trickleMs?: number;
  /** Give up after this long (the test then fails on status 0). */
  timeoutMs?: number;
}

/** Sends `text` and reads until the server closes the connection (or sends a whole answer). */
export function rawRequest(url: string, text: string, options: RawOptions = {}): Promise<RawAnswer> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ port: Number(port), host: hostname, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let received = '';
    let trickle: NodeJS.Timeout | undefined;
    const done = () => {
      clearInterval(trickle);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(parse(received, performance.now() - started));
    };
    const giveUp = setTimeout(done, options.timeoutMs ?? 20_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const answer = parse(received, 0);
      const length = Number(answer.headers['content-length'] ?? NaN);
      if (Number.isFinite(length) && Buffer.byteLength(answer.body, 'latin1') >= length && received.includes('\r\n\r\n')) {
        // A whole answer: wait for the close only when the server says it will close.
        if (answer.headers.connection !== 'close') done();
      }
    });
    socket.on('close', done);
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (options.trickleAfter === undefined) return void socket.write(text, 'latin1');
      socket.write(text.slice(0, options.trickleAfter), 'latin1');
      let at = options.trickleAfter;
      trickle = setInterval(() => {
        if (at < text.length && !socket.destroyed) socket.write(text[at++]!, 'latin1');
      }, options.trickleMs ?? 1000);
    });
  });
}

/** Opens `count` connections that send nothing; resolves once all are connected. */
export async function silentSockets(url: string, count: number, localAddress?: string): Promise<Socket[]> {
  const { port, hostname } = new URL(url);
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect({ port: Number(port), host: hostname, ...(localAddress ? { localAddress } : {}) });
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
          // Read (and drop) whatever arrives, so that the server closing the connection is seen ('end', 'close').
          socket.resume();
        }),
    ),
  );
}

/** Runs `count` tasks with at most `concurrency` at once. */
export async function inPool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}
