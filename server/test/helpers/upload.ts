/**
 * A client that sends a request body piece by piece, when the test says, so tests can see what the
 * gateway does while a body is still arriving (and when a client stops sending).
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface Upload {
  /** Sends one piece and waits until it has left. */
  write(piece: Buffer | string): Promise<void>;
  end(): void;
  /** Hangs up mid-body. */
  destroy(): void;
  /** The answer (status, headers, body), or `error` when the connection ended without one. */
  response: Promise<{ status: number; headers: IncomingHttpHeaders; text: string } | { error: Error }>;
}

export function startUpload(base: string, path: string, headers: Record<string, string>): Upload {
  const url = new URL(path, base);
  const req = request(url, { method: 'POST', headers, agent: false });
  const response = new Promise<{ status: number; headers: IncomingHttpHeaders; text: string } | { error: Error }>((resolve) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
  });
  // Headers go out at once, before any of the body.
  req.flushHeaders();
  return {
    // A server that answered early may close the connection: then the pieces still to come go nowhere.
    write: (piece) =>
      new Promise<void>((resolve) => {
        if (req.destroyed || req.write(piece)) return resolve();
        req.once('drain', resolve).once('close', resolve);
      }),
    end: () => req.end(),
    destroy: () => req.destroy(),
    response,
  };
}

/** Polls `check` until it holds (every few ms), or fails after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Sends `request` (the raw bytes of one HTTP/1.1 exchange, framing and all) over a new socket and
 * resolves with the status and body of the answer, once the server has closed the connection or
 * the answer's declared length has arrived. For what a well-behaved client cannot send: repeated
 * or oversized headers, broken framing.
 */
export function rawExchange(base: string, request: string | Buffer): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = Buffer.alloc(0);
    const done = () => {
      const text = data.toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`no answer: ${JSON.stringify(text.slice(0, 200))}`));
      socket.destroy();
      resolve({ status: Number(text.slice(9, 12)), head: text.slice(0, split).toLowerCase(), body: text.slice(split + 4) });
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (split !== -1 && length !== undefined && data.length >= split + 4 + Number(length)) done();
    });
    socket.on('error', () => undefined); // the server may reset after answering
    socket.on('close', done);
    socket.write(request);
  });
}
