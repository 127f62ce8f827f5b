/**
 * The CLI's browser sign-in (RFC 8252 loopback redirect + RFC 7636 PKCE,
 * docs/api.md "CLI sign-in"): the consent page's parameters, the PKCE and
 * one-time code rules, and the token exchange. The CLI builds the request
 * from these and the server parses it with them.
 */
import { randomString } from './credential.js';

/** The consent page: `GET /cli-auth?…`, and its form `POST /cli-auth`. */
export const CLI_AUTH_PATH = '/cli-auth';
/** The exchange of a one-time code for a key: `POST /api/cli-auth/token`. */
export const CLI_AUTH_TOKEN_PATH = '/api/cli-auth/token';

/** PKCE is required, with this method only. */
export const CODE_CHALLENGE_METHOD = 'S256';
/** `mode=code`: headless; no redirect URI, the page shows the code for the user to type. */
export const CODE_MODE = 'code';

/** The consent page's query, as the CLI sends it (numbers travel as text). */
export interface ConsentQuery {
  /** Loopback only: http://127.0.0.1:<port>/…, http://[::1]:<port>/… or http://localhost:<port>/…; absent in code mode. */
  redirect_uri?: string;
  state: string;
  code_challenge: string;
  code_challenge_method: typeof CODE_CHALLENGE_METHOD;
  key_name: string;
  expires_in_days: string;
  /** A key of the user's that the new key replaces atomically. */
  replaces?: string;
  /** Shown on the consent page. */
  machine?: string;
  mode?: typeof CODE_MODE;
}

/** Every consent parameter, in the order the CLI writes them. */
export const CONSENT_PARAMS = [
  'redirect_uri',
  'state',
  'code_challenge',
  'code_challenge_method',
  'key_name',
  'expires_in_days',
  'replaces',
  'machine',
  'mode',
] as const satisfies readonly (keyof ConsentQuery)[];

export const STATE_MAX_LENGTH = 1024;
export const MACHINE_MAX_LENGTH = 255;

/** RFC 7636 §4.1: 43–128 characters of A-Z a-z 0-9 - . _ ~ */
export const CODE_VERIFIER_SHAPE = /^[A-Za-z0-9\-._~]{43,128}$/;
/** base64url(SHA-256(verifier)) without padding is exactly 43 characters. */
export const CODE_CHALLENGE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The one-time code approval mints, valid this long and once. The loopback
 * flow carries a long random code in the redirect to the CLI (makeCode).
 */
export const CODE_TTL_MINUTES = 5;
export const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export const CODE_LENGTH = 43;
/** The longest code the token endpoint reads. */
export const CODE_MAX_LENGTH = 256;

export function makeCode(randomBytes: (n: number) => Uint8Array): string {
  return randomString(CODE_ALPHABET, CODE_LENGTH, randomBytes);
}

/**
 * Code mode's code is typed by a person, possibly from another device, so it
 * is short and hard to misread, as the OAuth device flow's user codes are:
 * 8 symbols with no look-alikes (no 0/O, 1/I/L) and no vowels (no words),
 * shown as XXXX-XXXX, accepted in any case with or without the dash. About
 * 38 bits: enough with PKCE, the 5-minute life, single use and USER_CODE_ATTEMPTS.
 */
export const USER_CODE_ALPHABET = '23456789BCDFGHJKMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;
/** Wrong codes one pending sign-in survives; the next wrong one ends it. */
export const USER_CODE_ATTEMPTS = 5;

export function makeUserCode(randomBytes: (n: number) => Uint8Array): string {
  return randomString(USER_CODE_ALPHABET, USER_CODE_LENGTH, randomBytes);
}

/** How the page shows a user code: `XXXX-XXXX`. */
export const displayUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

/**
 * The code as the server looks it up, from what arrived: the callback's
 * `code`, or what the user typed or pasted (a user code in any case, with or
 * without its dash or spaces). The CLI sends it in this form and the server
 * applies it again, so either side may be the older.
 */
export function normalizeCode(code: string): string {
  const trimmed = code.trim();
  const compact = trimmed.toUpperCase().replace(/[\s-]/g, '');
  const isUserCode = compact.length === USER_CODE_LENGTH && [...compact].every((ch) => USER_CODE_ALPHABET.includes(ch));
  return isUserCode ? compact : trimmed;
}

/** The callback's `error` when the user pressed Deny. */
export const ACCESS_DENIED = 'access_denied';

/** `POST /api/cli-auth/token`; `redirect_uri` must equal the consent request's (omitted in code mode). */
export interface CliTokenRequest {
  code: string;
  code_verifier: string;
  redirect_uri?: string;
}
