/**
 * One-shot messages for the POST → 303 → GET step of the web console (the new key's secret, a
 * notice), kept in the store so the GET may reach any replica, and read once. They are sealed with
 * AES-256-GCM under a key derived from the session cookie's value, which only the browser holds
 * (the store keeps its SHA-256): whoever reads the database cannot read a secret in passing, and a
 * message can be opened only by the session it was made for.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';

const TTL_MS = 2 * 60 * 1000;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const keyFor = (sessionToken: string) => createHmac('sha256', sessionToken).update('thirdloop web flash v1').digest();

export function seal(sessionToken: string, value: unknown): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(sessionToken), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** The sealed value, or undefined when it was not sealed for this session (or was altered). */
export function open<T>(sessionToken: string, sealed: Buffer): T | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(sessionToken), sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export class FlashStore<T> {
  constructor(private readonly store: Store) {}

  async put(session: { idHash: string; token: string }, value: T, now: Date): Promise<void> {
    await this.store.flashes.put(session.idHash, seal(session.token, value), new Date(now.getTime() + TTL_MS), now);
  }

  async take(session: { idHash: string; token: string }, now: Date): Promise<T | undefined> {
    const sealed = await this.store.flashes.take(session.idHash, now);
    return sealed && open<T>(session.token, sealed);
  }
}
