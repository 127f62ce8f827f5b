/**
 * CSRF for the login form, before there is a session: a pre-session cookie holds a random ID,
 * and the form's token is the server's signature over that ID and the time it was issued. Only
 * the server can make a token that matches a pre-session, so a cookie and field made up together
 * (`tl_presession=x` with `csrf=x`) are refused; nothing is stored, so any replica can check it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config.js';
import { cookieName, parseCookies, setCookie } from './cookies.js';
import { randomToken } from './hashing.js';
import type { Signer } from './signing.js';

const PURPOSE = 'login-csrf';
/** A login form is good for this long (then "Your sign-in form expired"). */
export const LOGIN_FORM_TTL_MS = 2 * 60 * 60 * 1000;
const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export const presessionCookie = (config: ServerConfig) => cookieName('tl_presession', config);

/** The token for the login form on this response (the pre-session cookie is set if missing). */
export function loginCsrfToken(request: FastifyRequest, reply: FastifyReply, config: ServerConfig, signer: Signer, now: Date): string {
  const name = presessionCookie(config);
  let id = parseCookies(request.headers.cookie)[name];
  if (!id || !ID_RE.test(id)) id = randomToken(32);
  // Set again each time, so the cookie lives as long as the newest form's token.
  setCookie(reply, config, name, id, LOGIN_FORM_TTL_MS / 1000);
  const issued = now.getTime().toString(36);
  return `${issued}.${signer.sign(PURPOSE, id, issued)}`;
}

export function loginCsrfValid(request: FastifyRequest, token: unknown, config: ServerConfig, signer: Signer, now: Date): boolean {
  if (typeof token !== 'string' || token.length > 128) return false;
  const id = parseCookies(request.headers.cookie)[presessionCookie(config)];
  if (!id || !ID_RE.test(id)) return false;
  const dot = token.indexOf('.');
  if (dot <= 0) return false;
  const issued = token.slice(0, dot);
  const age = now.getTime() - parseInt(issued, 36);
  if (!/^[0-9a-z]{1,12}$/.test(issued) || !(age >= -60_000 && age <= LOGIN_FORM_TTL_MS)) return false;
  return signer.verify(token.slice(dot + 1), PURPOSE, id, issued);
}
