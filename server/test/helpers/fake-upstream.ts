/**
 * A stand-in for the model provider on loopback: records every request it receives (headers and
 * body) and answers with whatever the test sets, including slow, broken and endless streams.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Resolves when the exchange ends: `finished` true when the whole answer was sent. */
  ended: Promise<{ finished: boolean }>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => void | Promise<void>;

/** A request as it arrives, before its body has ended. */
export interface Arriving {
  headers: IncomingHttpHeaders;
  /** Body bytes received so far. */
  bytes(): number;
  /** Resolves with true when the body ended, false when the gateway hung up first. */
  complete: Promise<boolean>;
}

export interface FakeUpstream {
  url: string;
  /** Connections accepted so far (TLS handshakes completed, over TLS): keep-alive keeps this at 1. */
  connections(): number;
  received: Received[];
  /** Every request from the moment its headers arrive. */
  arriving: Arriving[];
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** `tls`: serve https with this key and certificate (a test CA's), as the real provider does. */
export async function startFakeUpstream(options: { tls?: { key: string; cert: string } } = {}): Promise<FakeUpstream> {
  let handler: Handler = (_req, res) => sendJson(res, 200, messageBody());
  const received: Received[] = [];
  const arriving: Arriving[] = [];
  let connections = 0;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    arriving.push({
      headers: req.headers,
      bytes: () => bytes,
      complete: new Promise<boolean>((resolve) => {
        req.once('end', () => resolve(true));
        req.once('close', () => resolve(req.complete));
      }),
    });
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      const ended = new Promise<{ finished: boolean }>((resolve) => {
        res.once('close', () => resolve({ finished: res.writableFinished }));
      });
      const entry: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        ended,
      };
      received.push(entry);
      void Promise.resolve(handler(req, res, entry)).catch(() => res.destroy());
    });
  };
  const server: Server = options.tls ? createTlsServer(options.tls, onRequest) : createServer(onRequest);
  server.on(options.tls ? 'secureConnection' : 'connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    connections: () => connections,
    received,
    arriving,
    handle(next) {
      handler = next;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function messageBody(text = 'Hi from upstream', usage = { input_tokens: 11, output_tokens: 7 }) {
  return {
    id: 'msg_upstream_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage,
  };
}

/** The events of a streamed answer, in Anthropic's order, as [name, data] pairs. */
export function streamEvents(words: string[], usage = { input_tokens: 21, output_tokens: words.length }): Array<[string, unknown]> {
  return [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_upstream_2',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-5',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ...words.map(
      (word): [string, unknown] => [
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } },
      ],
    ),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    [
      'message_delta',
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    ],
    ['message_stop', { type: 'message_stop' }],
  ];
}

export const sseText = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** Streams `events` with `delayMs` between them; stops early if the gateway hangs up. */
export async function sendStream(res: ServerResponse, events: Array<[string, unknown]>, delayMs = 0): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_fake_1' });
  res.flushHeaders();
  for (const [name, data] of events) {
    if (res.destroyed) return;
    res.write(sseText(name, data));
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  res.end();
}
