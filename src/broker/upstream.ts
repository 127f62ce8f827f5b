/**
 * One exchange with the instance, streamed both ways: the client's body is piped to the instance
 * as it arrives (a 2 MB prompt starts reaching the instance before the broker has read it all), and
 * the answer is piped back chunk by chunk (each SSE event leaves when it arrives). The instance is
 * reached the way every CLI request reaches it (core/http.ts): the shared keep-alive agents for a
 * direct connection, undici's EnvHttpProxyAgent when HTTPS_PROXY/HTTP_PROXY apply after NO_PROXY.
 *
 * No read timeout: a model may think for minutes before its first byte, and the client (Claude
 * Code, an SDK) has its own; when it gives up and hangs up, the upstream request is aborted.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { connectDeadline, directAgent, networkError, proxyDispatcher, proxyUrlFor } from '../core/http.js';
import { clientResponseHeaders, rawFromObject } from './headers.js';
import { sendError } from './errors.js';

export interface Exchange {
  method: string;
  /** Path and query on the instance (its base path included). */
  path: string;
  headers: string[];
  /** The client's request: its body is streamed upstream. */
  body: IncomingMessage;
  res: ServerResponse;
  /** Called once when the exchange ends, with the status the client got (0: the connection was cut). */
  done?: (status: number) => void;
}

export interface UpstreamOptions {
  /** The instance's base URL, as stored for the profile (origin plus an optional path prefix). */
  instance: string;
  env: NodeJS.ProcessEnv;
  connectTimeoutMs: number;
}

const NO_BODY = new Set(['GET', 'HEAD']);

export interface Upstream {
  forward(exchange: Exchange): void;
}

export async function createUpstream(options: UpstreamOptions): Promise<Upstream> {
  const base = new URL(options.instance);
  const origin = base.origin;
  const proxy = proxyUrlFor(base, options.env);
  const proxied = proxy !== undefined;
  const fail = (exchange: Exchange, error: unknown) => {
    const ended = sendError(exchange.res, failureStatus(error), failureType(error), networkError(error, origin + exchange.path, options.instance, proxy).message);
    exchange.done?.(ended);
  };

  if (proxied) {
    const { dispatcher } = await proxyDispatcher(options.env, { connectTimeoutMs: options.connectTimeoutMs, readTimeoutMs: 0 });
    return {
      forward(exchange) {
        const { res } = exchange;
        const abort = new AbortController();
        res.once('close', () => {
          if (!res.writableFinished) abort.abort();
        });
        dispatcher
          .request({
            origin,
            path: exchange.path,
            method: exchange.method as 'POST',
            headers: exchange.headers,
            body: NO_BODY.has(exchange.method) ? undefined : (exchange.body as Readable),
            signal: abort.signal,
          })
          .then(
            (answer) => relay(answer.statusCode, rawFromObject(answer.headers as Record<string, string | string[]>), answer.body, exchange),
            (error: unknown) => (abort.signal.aborted ? exchange.done?.(0) : fail(exchange, error)),
          );
      },
    };
  }

  const { agent, request } = await directAgent(base.protocol);
  const secure = base.protocol === 'https:';
  // node:http wants an IPv6 literal without its brackets.
  const hostname = base.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    forward(exchange) {
      const { res, body } = exchange;
      const upstream: ClientRequest = request({
        protocol: base.protocol,
        hostname,
        port: base.port,
        method: exchange.method,
        path: exchange.path,
        // Given as a raw list, headers get no Host from node:http: it is the instance's.
        headers: ['host', base.host, ...exchange.headers],
        agent,
      });
      const connected = connectDeadline(upstream, secure, options.connectTimeoutMs);
      upstream.on('error', (error) => {
        connected();
        body.unpipe(upstream);
        if (res.headersSent || res.destroyed) {
          res.destroy();
          exchange.done?.(0);
        } else fail(exchange, error);
      });
      upstream.on('response', (answer: IncomingMessage) => {
        connected();
        relay(answer.statusCode ?? 502, answer.rawHeaders, answer, exchange);
      });
      // The client hung up (mid-upload or mid-answer): the instance stops too.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      body.pipe(upstream);
    },
  };
}

/** Streams the instance's answer to the client; a cut answer is a cut connection, never a short 200. */
function relay(status: number, rawHeaders: string[], answer: Readable, exchange: Exchange): void {
  const { res, done } = exchange;
  if (res.destroyed) {
    answer.destroy();
    return;
  }
  res.writeHead(status, clientResponseHeaders(rawHeaders));
  answer.on('error', () => res.destroy());
  answer.on('close', () => {
    if (!answer.readableEnded) res.destroy();
  });
  res.once('close', () => done?.(res.writableFinished ? status : 0));
  answer.pipe(res);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

function failureStatus(error: unknown): number {
  const code = codeOf(error);
  return code === 'THIRDLOOP_CONNECT_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 504 : 502;
}

const failureType = (error: unknown) => (failureStatus(error) === 504 ? 'timeout_error' : 'api_error') as 'timeout_error' | 'api_error';
