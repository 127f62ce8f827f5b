/**
 * The Anthropic-compatible API under `/v1`, served on the raw HTTP request below the framework: it
 * is the hot path and needs none of the framework's routing, hooks or body parsing, so what a
 * request costs here is what this file does. Every answer, errors included, is in Anthropic's shape.
 *
 * Per request: route by path, one pass over the raw headers, the key from the cache (no await on a
 * hit), the member's rate limit, then the endpoint. Authentication and the limit come before any of
 * the body is read: a stranger cannot make us read it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authFailure, checkKey, type AuthFailure } from '../auth/credential.js';
import { parseCredential } from '../domain/token.js';
import { GatewayError, sendGatewayError, sendJson } from './errors.js';
import type { Gateway } from './gateway.js';
import type { CachedKey } from './key-cache.js';
import { MessagesExchange, type MessagesEndpoint } from './messages.js';
import { listModels, modelNotOffered, modelView } from './models.js';
import { readRequestHeaders, type RequestHeaders } from './request-headers.js';
import { clientAddress } from '../http/client-address.js';
import { BAD_PERCENT_ENCODING } from '../http/error-shapes.js';
import type { LimitDecision } from '../store/store.js';
import { RequestRecord } from './request-record.js';

type Route =
  | { kind: 'messages'; endpoint: MessagesEndpoint }
  | { kind: 'models' }
  | { kind: 'model'; id: string }
  | { kind: 'not_found' };

const MESSAGES: Route = { kind: 'messages', endpoint: '/v1/messages' };
const COUNT_TOKENS: Route = { kind: 'messages', endpoint: '/v1/messages/count_tokens' };
const MODELS: Route = { kind: 'models' };
const NOT_FOUND: Route = { kind: 'not_found' };

/** The endpoint a (decoded) path and method name; unknown ones are 404 after authentication. */
function routeOf(path: string, method: string): Route {
  if (method === 'POST') {
    if (path === '/v1/messages') return MESSAGES;
    if (path === '/v1/messages/count_tokens') return COUNT_TOKENS;
  } else if (method === 'GET' || method === 'HEAD') {
    if (path === '/v1/models') return MODELS;
    if (path.startsWith('/v1/models/')) {
      const id = path.slice(11);
      if (id !== '' && !id.includes('/')) return { kind: 'model', id };
    }
  }
  return NOT_FOUND;
}

/** The action recorded in the audit log, and the path: the endpoint as routed, or as sent (cut) when unknown. */
function auditOf(route: Route, rawPath: string): [action: string, path: string] {
  switch (route.kind) {
    case 'messages':
      return [route.endpoint === '/v1/messages' ? 'messages' : 'count_tokens', route.endpoint];
    case 'models':
      return ['models', '/v1/models'];
    case 'model':
      return ['models', rawPath.slice(0, 200)];
    default:
      return ['not_found', rawPath.slice(0, 200)];
  }
}

/** Refused before its body was read: a small declared body is read and dropped (the connection stays), anything else closes it. */
function closeUnlessSmall(headers: RequestHeaders): Record<string, string> | undefined {
  if (!headers.chunked && (headers.contentLength === undefined || headers.contentLength <= 64 * 1024)) return undefined;
  return { connection: 'close' };
}

/** Whole seconds for `retry-after` and the message, never 0. */
const retrySeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class V1Handler {
  constructor(
    private readonly gateway: Gateway,
    private readonly clock: () => Date,
  ) {}

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      this.begin(req, res);
    } catch (error) {
      sendGatewayError(res, this.gateway.internalError(error));
    }
  };

  private begin(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const { gateway } = this;
    const url = req.url!;
    // A request that reached a stopping server is served (within the grace period), not refused with a
    // 503 a load balancer would not retry for a POST; its connection ends with the answer, so keep-alive
    // clients send the next one to a replica that stays.
    if (gateway.closing) res.setHeader('connection', 'close');
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    let path = rawPath;
    if (rawPath.includes('%')) {
      try {
        path = decodeURIComponent(rawPath);
      } catch {
        sendGatewayError(res, new GatewayError(400, 'invalid_request_error', BAD_PERCENT_ENCODING), { connection: 'close' });
        return;
      }
    }
    const method = req.method!;
    const route = routeOf(path, method);
    const headers = readRequestHeaders(req.rawHeaders, gateway.upstreamAuth);
    const [action, auditPath] = auditOf(route, rawPath);
    const at = this.clock();
    const record = new RequestRecord(gateway.writes, started, at, method, auditPath, action, headers.sessionId);

    const { credential } = headers;
    if (credential === undefined || credential === '') return this.refuseAuth(req, res, headers, record, authFailure('missing'), null);
    const parsed = credential === null ? undefined : parseCredential(credential);
    if (!parsed) return this.refuseAuth(req, res, headers, record, authFailure('malformed'), null);
    const key = gateway.keys.get(parsed.keyId);
    if (!(key instanceof Promise)) return this.authenticated(req, res, headers, record, route, url, q, at, parsed, key);
    key.then(
      (found) => this.authenticated(req, res, headers, record, route, url, q, at, parsed, found),
      (error: unknown) => sendGatewayError(res, gateway.internalError(error)),
    );
  }

  private authenticated(
    req: IncomingMessage,
    res: ServerResponse,
    headers: RequestHeaders,
    record: RequestRecord,
    route: Route,
    url: string,
    q: number,
    at: Date,
    credential: { keyId: string; secret: string },
    cached: CachedKey | undefined,
  ): void {
    const { gateway } = this;
    const checked = checkKey(credential.secret, cached?.key, at, cached?.digest);
    // The ID is recorded only for a well-formed credential, so the log shows attempts on real keys.
    if (!checked.ok) return this.refuseAuth(req, res, headers, record, checked, credential.keyId);
    record.userId = checked.key.userId;
    record.keyId = checked.key.id;
    // Per member, not per key: rotating a key must not reset the allowance.
    const decision = gateway.takeRequest(checked.key.userId, at);
    if (!(decision instanceof Promise)) return this.admitted(req, res, headers, record, route, url, q, at, checked.key.id, decision);
    decision.then(
      (taken) => this.admitted(req, res, headers, record, route, url, q, at, checked.key.id, taken),
      (error: unknown) => sendGatewayError(res, gateway.internalError(error)),
    );
  }

  private admitted(
    req: IncomingMessage,
    res: ServerResponse,
    headers: RequestHeaders,
    record: RequestRecord,
    route: Route,
    url: string,
    q: number,
    at: Date,
    keyId: string,
    decision: LimitDecision,
  ): void {
    const { gateway } = this;
    if (!decision.allowed) {
      const seconds = retrySeconds(decision.retryAfterMs);
      record.action = 'rate_limited';
      record.finish(429);
      sendGatewayError(
        res,
        new GatewayError(
          429,
          'rate_limit_error',
          `Your keys are limited to ${gateway.config.rateLimitPerMinute} requests per minute together. Retry in ${seconds} s.`,
          { 'retry-after': String(seconds) },
        ),
        closeUnlessSmall(headers),
      );
      return;
    }
    gateway.writes.touch(keyId, at);

    try {
      switch (route.kind) {
        case 'messages':
          new MessagesExchange(gateway, req, res, headers, record, route.endpoint, q === -1 ? '' : url.slice(q)).start();
          return;
        case 'models': {
          const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
          const page = listModels(gateway.config.models, {
            limit: query.get('limit') ?? undefined,
            after_id: query.get('after_id') ?? undefined,
            before_id: query.get('before_id') ?? undefined,
          });
          return this.answer(req, res, record, 200, page);
        }
        case 'model': {
          const found = gateway.findModel(route.id);
          if (!found) throw modelNotOffered(route.id, gateway.config.models);
          return this.answer(req, res, record, 200, modelView(found.model));
        }
        default:
          throw new GatewayError(404, 'not_found_error', `${req.method} ${q === -1 ? url : url.slice(0, q)} is not part of this API.`);
      }
    } catch (error) {
      const refusal = error instanceof GatewayError ? error : gateway.internalError(error);
      record.finish(refusal.status);
      sendGatewayError(res, refusal, closeUnlessSmall(headers));
    }
  }

  /** A JSON answer of the gateway's own (the model list is per instance and never cached by the client). */
  private answer(req: IncomingMessage, res: ServerResponse, record: RequestRecord, status: number, body: unknown): void {
    record.finish(status);
    sendJson(res, status, body, { 'cache-control': 'no-store' }, req.method === 'HEAD');
  }

  private refuseAuth(
    req: IncomingMessage,
    res: ServerResponse,
    headers: RequestHeaders,
    record: RequestRecord,
    failure: AuthFailure,
    keyId: string | null,
  ): void {
    // Counted per client address, after the check, so a valid key from the same address still
    // works. Past the limit the refusal is not audited: one row per attempt is what an attacker
    // would use to grow the log.
    const { gateway } = this;
    gateway.takeAuthFailure(clientAddress(req, gateway.isTrustedProxy), record.at).then(
      (decision) => this.deny(res, headers, record, failure, keyId, decision),
      (error: unknown) => sendGatewayError(res, gateway.internalError(error)),
    );
  }

  private deny(res: ServerResponse, headers: RequestHeaders, record: RequestRecord, failure: AuthFailure, keyId: string | null, decision: LimitDecision): void {
    if (!decision.allowed) {
      const seconds = retrySeconds(decision.retryAfterMs);
      sendGatewayError(
        res,
        new GatewayError(
          429,
          'rate_limit_error',
          `Too many failed authentications from this address (limit ${this.gateway.authFailuresPerMinute} per minute). Retry in ${seconds} s.`,
          { 'retry-after': String(seconds) },
        ),
        closeUnlessSmall(headers),
      );
      return;
    }
    record.action = `denied:${failure.reason}`;
    record.keyId = keyId;
    record.finish(401);
    sendGatewayError(res, new GatewayError(401, 'authentication_error', failure.message), closeUnlessSmall(headers));
  }
}
