/**
 * Web sign-in sessions and the CSRF check of signed-in forms, for every page (login, consent,
 * the web console). The cookie holds a random token; the store keeps its SHA-256. A session ends
 * at its absolute lifetime, after its idle timeout, at sign-out, when the same browser signs in
 * again, or when its user signs out everywhere. (The login form's CSRF, before any session, is
 * in login-csrf.ts.)
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type { ServerConfig } from '../config.js';
import type { Session, Store, User } from '../store/store.js';
import { clearCookie, parseCookies, setCookie } from './cookies.js';
import { randomToken, sha256Hex } from './hashing.js';

export { parseCookies } from './cookies.js';

export const SESSION_COOKIE = 'tl_session';

/** Activity is written at most this often per session, so browsing costs reads, not writes. */
const TOUCH_EVERY_MS = 60_000;

export interface SignedIn {
  user: User;
  session: Session;
}

const cache = new WeakMap<FastifyRequest, SignedIn | null>();

export function sessionLive(session: Session, now: Date): boolean {
  const t = now.getTime();
  return session.expiresAt.getTime() > t && session.lastSeenAt.getTime() + session.idleTimeoutMs > t;
}

/** The session cookie's value as the browser sent it (what only the browser holds), or undefined. */
export function sessionToken(request: FastifyRequest): string | undefined {
  return parseCookies(request.headers.cookie)[SESSION_COOKIE];
}

/** The signed-in user, or undefined. Ended sessions (absolute or idle) count as none. */
export async function currentSession(store: Store, request: FastifyRequest, now: Date): Promise<SignedIn | undefined> {
  if (cache.has(request)) return cache.get(request) ?? undefined;
  let found: SignedIn | null = null;
  const token = parseCookies(request.headers.cookie)[SESSION_COOKIE];
  if (token) {
    const session = await store.sessions.find(sha256Hex(token));
    if (session && sessionLive(session, now)) {
      const user = await store.users.findById(session.userId);
      if (user) {
        found = { user, session };
        if (now.getTime() - session.lastSeenAt.getTime() >= Math.min(TOUCH_EVERY_MS, session.idleTimeoutMs / 4)) {
          await store.sessions.touch(session.idHash, now);
        }
      }
    }
  }
  cache.set(request, found);
  return found ?? undefined;
}

/**
 * A new session for this browser. The browser's previous session, whoever it belonged to, ends:
 * signing in again never leaves an old session cookie valid.
 */
export async function startSession(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  config: ServerConfig,
  userId: string,
  now: Date,
): Promise<Session> {
  const previous = parseCookies(request.headers.cookie)[SESSION_COOKIE];
  if (previous) await store.sessions.delete(sha256Hex(previous));
  const token = randomToken();
  const session: Session = {
    idHash: sha256Hex(token),
    userId,
    csrfToken: randomToken(),
    createdAt: now,
    expiresAt: new Date(now.getTime() + config.sessionTtlMs),
    lastSeenAt: now,
    idleTimeoutMs: config.sessionIdleMs,
  };
  await store.sessions.insert(session);
  cache.delete(request);
  setCookie(reply, config, SESSION_COOKIE, token, config.sessionTtlMs / 1000);
  return session;
}

export async function endSession(store: Store, request: FastifyRequest, reply: FastifyReply, config: ServerConfig): Promise<void> {
  const token = parseCookies(request.headers.cookie)[SESSION_COOKIE];
  if (token) await store.sessions.delete(sha256Hex(token));
  clearCookie(reply, config, SESSION_COOKIE);
  cache.delete(request);
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** True when a signed-in form carries its session's token. */
export function csrfValid(_request: FastifyRequest, formToken: unknown, signedIn: SignedIn): boolean {
  return typeof formToken === 'string' && sameToken(formToken, signedIn.session.csrfToken);
}

/** Only local paths: "/x?y", never "//host", "/\\host" or a scheme. */
export function safeNext(next: unknown, fallback = '/'): string {
  if (typeof next !== 'string' || next.length > 4096) return fallback;
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return fallback;
  return next;
}

/**
 * For protected pages: the signed-in user, or a redirect to /login?next=…
 * (the reply is sent and undefined returned).
 */
export async function requireSignIn(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  now: Date,
): Promise<SignedIn | undefined> {
  const signedIn = await currentSession(store, request, now);
  if (signedIn) return signedIn;
  const next = request.method === 'GET' ? request.url : '/';
  await reply.redirect(`/login?next=${encodeURIComponent(safeNext(next))}`, 302);
  return undefined;
}
