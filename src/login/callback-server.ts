/**
 * The loopback redirect target of RFC 8252: an HTTP server on 127.0.0.1, on
 * a random port, alive only during the login. It accepts exactly one
 * `GET /callback` whose `state` matches and whose Host is our own loopback
 * address (so DNS-rebinding pages and other origins get 400), and keeps
 * waiting after anything else.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ACCESS_DENIED } from 'thirdloop-protocol';
import { UserError, WaitEnded } from '../core/errors.js';

export const CALLBACK_PATH = '/callback';

export interface CallbackResult {
  code: string;
  /** Answers the waiting browser tab (after the token exchange, so the page tells the truth). */
  respond(outcome: { ok: boolean; message: string }): void;
}

export interface CallbackServer {
  port: number;
  redirectUri: string;
  /** Resolves with the code; rejects with LoginDenied, or WaitEnded on timeout or abort. */
  wait(options: { timeoutMs: number; signal?: AbortSignal }): Promise<CallbackResult>;
  close(): Promise<void>;
}

/** The browser came back with a refusal; `what` says which, without saying what that means locally. */
export class LoginDenied extends UserError {
  constructor(readonly what: string) {
    super(`${what}; nothing was stored.`, { hint: 'Run `thirdloop auth` to try again.' });
  }
}

const sameString = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function page(ok: boolean, message: string): string {
  const title = ok ? 'thirdloop is signed in' : 'thirdloop sign-in failed';
  const escaped = message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}.ok{color:#1a7f37}.err{color:#c62828}</style>
</head><body><h1 class="${ok ? 'ok' : 'err'}" id="result" data-ok="${ok}">${title}</h1><p>${escaped}</p></body></html>
`;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    connection: 'close',
  });
  res.end(body);
}

export async function startCallbackServer(options: { state: string; host?: string }): Promise<CallbackServer> {
  const host = options.host ?? '127.0.0.1';
  let settle: { resolve(r: CallbackResult): void; reject(e: Error): void } | undefined;
  let done = false;
  let early: { result?: CallbackResult; error?: Error } | undefined;

  const finish = (outcome: { result?: CallbackResult; error?: Error }) => {
    if (done) return;
    done = true;
    if (settle) {
      if (outcome.error) settle.reject(outcome.error);
      else settle.resolve(outcome.result!);
    } else {
      early = outcome;
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const port = (server.address() as AddressInfo).port;
    if (req.method !== 'GET') return send(res, 405, 'Method not allowed.\n');
    if (req.headers.host !== `${host}:${port}`) return send(res, 400, 'Bad Host header.\n');
    // Navigations carry no Origin on GET; a script on another site does.
    if (req.headers.origin !== undefined) return send(res, 400, 'Cross-origin requests are not accepted.\n');
    const url = new URL(req.url ?? '/', `http://${host}:${port}`);
    if (url.pathname !== CALLBACK_PATH) return send(res, 404, 'Not found.\n');
    const state = url.searchParams.get('state') ?? '';
    if (!state || !sameString(state, options.state)) {
      return send(res, 400, page(false, 'This sign-in link does not belong to the running thirdloop command (state mismatch). Start again with `thirdloop auth`.'), 'text/html; charset=utf-8');
    }
    if (done) return send(res, 409, page(false, 'This sign-in was already completed.'), 'text/html; charset=utf-8');
    const error = url.searchParams.get('error');
    if (error) {
      const denied = error === ACCESS_DENIED;
      const description = url.searchParams.get('error_description');
      const refusal = new LoginDenied(
        denied ? 'The request was denied in the browser' : `The instance reported an error (${error}${description ? `: ${description.slice(0, 200)}` : ''})`,
      );
      send(res, 200, page(false, refusal.message), 'text/html; charset=utf-8');
      return finish({ error: refusal });
    }
    const code = url.searchParams.get('code');
    if (!code) return send(res, 400, page(false, 'The callback carried no code.'), 'text/html; charset=utf-8');

    let answered = false;
    const respond = ({ ok, message }: { ok: boolean; message: string }) => {
      if (answered) return;
      answered = true;
      send(res, 200, page(ok, message), 'text/html; charset=utf-8');
    };
    finish({ result: { code, respond } });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new UserError(`Could not listen on ${host} for the browser's answer (${error.code ?? error.message}).`, {
          hint: 'Run `thirdloop auth --no-browser` to sign in with a one-time code instead.',
          cause: error,
        }),
      ),
    );
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    port,
    redirectUri: `http://${host}:${port}${CALLBACK_PATH}`,
    close,
    wait({ timeoutMs, signal }) {
      return new Promise<CallbackResult>((resolve, reject) => {
        const timer = setTimeout(() => finish({ error: new WaitEnded('timeout') }), timeoutMs);
        const onAbort = () => finish({ error: new WaitEnded('cancelled') });
        signal?.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        settle = {
          resolve: (r) => (cleanup(), resolve(r)),
          reject: (e) => (cleanup(), reject(e)),
        };
        if (signal?.aborted) onAbort();
        if (early) {
          const outcome = early;
          early = undefined;
          done = false;
          finish(outcome);
        }
      });
    },
  };
}
