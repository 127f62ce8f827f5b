/**
 * The loopback broker of `thirdloop run`: an HTTP server on 127.0.0.1 (never another interface) on
 * a port the system picks, that accepts only this run's token and forwards to the profile's
 * instance with the stored key. It writes no files and keeps nothing but the token and the key in
 * memory; closing it closes every connection, after which the port refuses connections and the
 * token is worth nothing.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendError, type BrokerErrorType } from './errors.js';
import { upstreamRequestHeaders } from './headers.js';
import { route } from './routes.js';
import { credentialFromHeaders } from 'thirdloop-protocol';
import type { RunToken } from './token.js';
import { createUpstream } from './upstream.js';

export interface BrokerOptions {
  /** The profile's instance URL (normalized): where the stored key may go, and nowhere else. */
  instance: string;
  /** `<id>;<secret>`, sent as x-api-key on /v1 requests. */
  credential: string;
  token: RunToken;
  /** For the proxy settings (HTTPS_PROXY, NO_PROXY…), as every CLI request reads them. */
  env: NodeJS.ProcessEnv;
  /** `--debug`: one line per request (method, path, status, time), never a header. */
  debug?: (line: string) => void;
  connectTimeoutMs?: number;
}

export interface Broker {
  /** `http://127.0.0.1:<port>`: the child's ANTHROPIC_BASE_URL. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const LOOPBACK = '127.0.0.1';

const MISSING_TOKEN = 'No run token. Inside `thirdloop run`, send the ANTHROPIC_API_KEY it set, as x-api-key or Authorization: Bearer.';
const WRONG_TOKEN =
  'This is not the run token of this `thirdloop run`. Send the ANTHROPIC_API_KEY it set; a key from an apiKeyHelper, ANTHROPIC_AUTH_TOKEN or a settings file is not accepted here.';

export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const { token, credential, debug } = options;
  const upstream = await createUpstream({ instance: options.instance, env: options.env, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
  const basePath = new URL(options.instance).pathname.replace(/\/+$/, '');
  let hosts: Set<string> = new Set();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const started = debug ? performance.now() : 0;
    let logged = false;
    const done = debug
      ? (status: number) => {
          if (logged) return;
          logged = true;
          debug(`run broker: ${method} ${(req.url ?? '').replace(/\?.*$/, '').slice(0, 200)} -> ${status || 'cut'} (${Math.round(performance.now() - started)} ms)`);
        }
      : undefined;
    const refuse = (status: number, type: BrokerErrorType, message: string) => {
      const sent = sendError(res, status, type, message);
      done?.(sent);
    };
    // A page that rebinds its own name to 127.0.0.1 sends its own Host: it gets nothing here.
    const host = req.headers.host;
    if (host !== undefined && !hosts.has(host.toLowerCase())) {
      refuse(403, 'permission_error', `This is the \`thirdloop run\` broker; it answers only requests for ${LOOPBACK}.`);
      return;
    }
    const target = route(method, req.url ?? '/');
    if (target.kind === 'refused') {
      refuse(target.status, target.status === 404 ? 'not_found_error' : 'invalid_request_error', target.message);
      return;
    }
    let key: string | undefined;
    if (target.kind === 'model') {
      const presented = credentialFromHeaders(req.rawHeaders);
      if (!token.matches(presented)) {
        refuse(401, 'authentication_error', presented === undefined ? MISSING_TOKEN : WRONG_TOKEN);
        return;
      }
      key = credential;
    }
    upstream.forward({ method, path: basePath + target.path, headers: upstreamRequestHeaders(req.rawHeaders, key), body: req, res, done });
  };

  const server = createServer({ noDelay: true }, handle);
  // Longer than clients keep an idle connection (the SDKs: a few seconds), so it is the client that
  // closes it: a request never lands on a connection the broker is closing at that moment.
  server.keepAliveTimeout = 65_000;
  server.listen({ host: LOOPBACK, port: 0, exclusive: true });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error))]);
  const { port } = server.address() as AddressInfo;
  hosts = new Set([`${LOOPBACK}:${port}`, `localhost:${port}`]);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${LOOPBACK}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        const closed = once(server, 'close');
        server.close();
        // Streams still open belong to a command that has exited: cut them, so the port is free now.
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
