/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * signed in to an account successfully gets a signed cookie naming that account. On later
 * sign-ins to the same account it is a known device: it has its own small failure budget and is
 * not subject to the account's lockout for unknown devices, so an attacker guessing the password
 * elsewhere cannot lock the owner out. Signed with the store's key, nothing stored: any replica
 * recognises it; a device that fails too often is throttled by its nonce.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config.js';
import { cookieName, parseCookies, setCookie } from './cookies.js';
import { randomToken } from './hashing.js';
import type { Signer } from './signing.js';

const PURPOSE = 'device-cookie';
export const DEVICE_COOKIE_TTL_MS = 365 * 24 * 60 * 60 * 1000;

export interface KnownDevice {
  userId: string;
  /** Identifies this device's cookie in the throttle. */
  nonce: string;
}

export const deviceCookie = (config: ServerConfig) => cookieName('tl_device', config);

/** Issued (or renewed) after each successful sign-in. */
export function issueDeviceCookie(reply: FastifyReply, config: ServerConfig, signer: Signer, userId: string, now: Date): void {
  const user = Buffer.from(userId).toString('base64url');
  const nonce = randomToken(16);
  const issued = now.getTime().toString(36);
  const value = [user, nonce, issued, signer.sign(PURPOSE, user, nonce, issued)].join('.');
  setCookie(reply, config, deviceCookie(config), value, DEVICE_COOKIE_TTL_MS / 1000);
}

/** The device this browser proved it is, or undefined (no cookie, forged, or too old). */
export function knownDevice(request: FastifyRequest, config: ServerConfig, signer: Signer, now: Date): KnownDevice | undefined {
  const value = parseCookies(request.headers.cookie)[deviceCookie(config)];
  if (!value || value.length > 512) return undefined;
  const [user, nonce, issued, signature, extra] = value.split('.');
  if (!user || !nonce || !issued || !signature || extra !== undefined) return undefined;
  const age = now.getTime() - parseInt(issued, 36);
  if (!/^[0-9a-z]{1,12}$/.test(issued) || !(age >= -60_000 && age <= DEVICE_COOKIE_TTL_MS)) return undefined;
  if (!signer.verify(signature, PURPOSE, user, nonce, issued)) return undefined;
  return { userId: Buffer.from(user, 'base64url').toString(), nonce };
}
