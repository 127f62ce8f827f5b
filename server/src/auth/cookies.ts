/** Reading the Cookie header and writing Set-Cookie, for every cookie the pages use. */
import type { FastifyReply } from 'fastify';
import type { ServerConfig } from '../config.js';

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

export const isHttps = (config: ServerConfig) => config.publicUrl.startsWith('https:');

/**
 * A cookie's name as sent: over https the `__Host-` prefix, so that no sibling domain or plain-http
 * page can plant it (browsers accept such a cookie only Secure, host-only, with Path=/).
 */
export function cookieName(base: string, config: ServerConfig): string {
  return isHttps(config) ? `__Host-${base}` : base;
}

/** HttpOnly, SameSite=Lax, Path=/, and Secure when the public URL is https. */
export function setCookie(reply: FastifyReply, config: ServerConfig, name: string, value: string, maxAgeSeconds: number): void {
  const secure = isHttps(config) ? '; Secure' : '';
  const line = `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}${secure}`;
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  // One Set-Cookie per name: a later decision in the same request replaces an earlier one.
  reply.header('set-cookie', [...list.filter((c) => !c.startsWith(`${name}=`)), line]);
}

export const clearCookie = (reply: FastifyReply, config: ServerConfig, name: string) => setCookie(reply, config, name, '', 0);
