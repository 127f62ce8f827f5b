/**
 * HMAC signatures for what the server hands out and must recognise later without storing it
 * (login-form CSRF tokens, device cookies). The key is a secret kept in the store, so every
 * replica signs and verifies alike; each use has its own purpose string, so a signature made
 * for one can never pass for another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';

export class Signer {
  constructor(private readonly key: Buffer) {}

  /** base64url HMAC-SHA256 of the purpose and the parts (43 characters). */
  sign(purpose: string, ...parts: string[]): string {
    const mac = createHmac('sha256', this.key).update(purpose);
    for (const part of parts) mac.update('\0').update(part);
    return mac.digest('base64url');
  }

  verify(signature: string, purpose: string, ...parts: string[]): boolean {
    const expected = Buffer.from(this.sign(purpose, ...parts));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

export async function loadSigner(store: Store): Promise<Signer> {
  return new Signer(await store.secrets.get('signing-key'));
}
