/**
 * The key and secret formats are the protocol's (thirdloop-protocol, shared
 * with the CLI); the server mints them from its random source and reads
 * credentials with them.
 */
import { checkCredential } from 'thirdloop-protocol';

export { formatCredential, isWellFormedKeyId, makeKeyId, makeSecret } from 'thirdloop-protocol';

/** Splits a credential; undefined when it is not two well-formed parts (which part, the server never says). */
export function parseCredential(value: string): { keyId: string; secret: string } | undefined {
  const check = checkCredential(value);
  return check.ok ? { keyId: check.keyId, secret: check.secret } : undefined;
}
