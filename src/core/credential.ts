/**
 * The client credential `<api_key_id>;<api_secret_key>`, checked offline so a
 * typo or a truncated paste is caught before any request. The format and its
 * checksum are thirdloop-protocol's, shared with the server; here: the CLI's
 * sentences, which never echo the secret.
 */
import { KEY_ID_PREFIX, SECRET_PREFIX, checkCredential, type CredentialProblem } from 'thirdloop-protocol';
import { UserError, ExitCode } from './errors.js';

export { KEY_ID_PREFIX, SECRET_PREFIX } from 'thirdloop-protocol';

export interface Credential {
  id: string;
  secret: string;
}

const PROBLEM: Record<CredentialProblem, string> = {
  no_separator: 'is not in the form <api_key_id>;<api_secret_key>.',
  bad_key_id: `does not start with a Third Loop key ID (${KEY_ID_PREFIX}…).`,
  bad_secret: `does not contain a Third Loop secret key (${SECRET_PREFIX}…) after the ";".`,
  bad_checksum: 'has a secret key whose checksum does not match: it was probably cut or mistyped.',
};

/** Parses `<id>;<secret>`; throws a UserError that never echoes the secret. */
export function parseCredential(text: string, origin = 'The credential'): Credential {
  const check = checkCredential(text);
  if (!check.ok) throw new UserError(`${origin} ${PROBLEM[check.problem]}`, { exitCode: ExitCode.usage });
  return { id: check.keyId, secret: check.secret };
}

const SECRET_LIKE = new RegExp(`${SECRET_PREFIX}[A-Za-z0-9]+`, 'g');

/** Redacts anything that looks like a secret key in a string (for --debug and errors). */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_LIKE, `${SECRET_PREFIX}***`);
}
