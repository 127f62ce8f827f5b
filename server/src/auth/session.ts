/**
 * Web sign-in sessions and CSRF, for every page (login, consent, the web
 * console). The cookie holds a random token; the store keeps its SHA-256.
 * CSRF: signed in, each form carries the session's token; signed out (the
 * login form), a double-submit cookie.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type { ServerConfig } from '../config.js';
import type { Session, Store, User } from '../store/store.js';
import { randomToken, sha256Hex } from './hashing.js';

export const SESSION_COOKIE = 'tl_session';
export const PRE_SESSION_CSRF_COOKIE = 'tl_csrf';

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    if (!name || name in out) continue;
    try {
      out[name] = decodeURIComponent(raw);
    } catch {
      out[name] = raw;
    }
  }
  return out;
}

function cookie(name: string, value: string, config: ServerConfig, maxAgeSeconds: number): string {
  const secure = config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
}

function appendCookie(reply: FastifyReply, value: string): void {
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  reply.header('set-cookie', [...list, value]);
}

export interface SignedIn {
  user: User;
  session: Session;
}

const cache = new WeakMap<FastifyRequest, SignedIn | null>();

/** The signed-in user, or undefined. Expired sessions count as none. */
export async function currentSession(store: Store, request: FastifyRequest, now: Date): Promise<SignedIn | undefined> {
  if (cache.has(request)) return cache.get(request) ?? undefined;
  let found: SignedIn | null = null;
  const token = parseCookies(request.headers.cookie)[SESSION_COOKIE];
  if (token) {
    const session = await store.sessions.find(sha256Hex(token));
    if (session && session.expiresAt.getTime() > now.getTime()) {
      const user = await store.users.findById(session.userId);
      if (user) found = { user, session };
    }
  }
  cache.set(request, found);
  return found ?? undefined;
}

export async function startSession(
  store: Store,
  reply: FastifyReply,
  config: ServerConfig,
  userId: string,
  now: Date,
): Promise<Session> {
  const token = randomToken();
  const session: Session = {
    idHash: sha256Hex(token),
    userId,
    csrfToken: randomToken(),
    createdAt: now,
    expiresAt: new Date(now.getTime() + config.sessionTtlMs),
  };
  await store.sessions.insert(session);
  appendCookie(reply, cookie(SESSION_COOKIE, token, config, Math.floor(config.sessionTtlMs / 1000)));
  return session;
}

export async function endSession(store: Store, request: FastifyRequest, reply: FastifyReply, config: ServerConfig): Promise<void> {
  const token = parseCookies(request.headers.cookie)[SESSION_COOKIE];
  if (token) await store.sessions.delete(sha256Hex(token));
  appendCookie(reply, cookie(SESSION_COOKIE, '', config, 0));
  cache.delete(request);
}

/** The CSRF token to put in a form on this response. */
export function csrfTokenFor(request: FastifyRequest, reply: FastifyReply, config: ServerConfig, signedIn?: SignedIn): string {
  if (signedIn) return signedIn.session.csrfToken;
  const existing = parseCookies(request.headers.cookie)[PRE_SESSION_CSRF_COOKIE];
  if (existing && existing.length >= 32) return existing;
  const token = randomToken();
  appendCookie(reply, cookie(PRE_SESSION_CSRF_COOKIE, token, config, 60 * 60));
  return token;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** True when the form's token matches the session's (signed in) or the double-submit cookie (signed out). */
export function csrfValid(request: FastifyRequest, formToken: unknown, signedIn?: SignedIn): boolean {
  if (typeof formToken !== 'string' || formToken === '') return false;
  if (signedIn) return sameToken(formToken, signedIn.session.csrfToken);
  const cookieToken = parseCookies(request.headers.cookie)[PRE_SESSION_CSRF_COOKIE];
  return cookieToken !== undefined && sameToken(formToken, cookieToken);
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
