/**
 * The real server (buildApp, real SQLite file in a temp dir) on a loopback port, with helpers to
 * make users and keys in every status for gateway tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { makeConfig } from '../../src/config.js';
import type { GatewayServerConfig } from '../../src/gateway/gateway.js';
import { createKey, flagCompromised, rotateKey, transitionKey, type MintedKey } from '../../src/store/key-actions.js';
import { databasePath, openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditRow, Store } from '../../src/store/store.js';

export interface GatewayServer {
  app: FastifyInstance;
  store: Store;
  url: string;
  /** Where its database file is (operator commands in other processes can open it). */
  dataDir: string;
  /** The server's clock; move it with `advance`. */
  now(): Date;
  advance(ms: number): void;
  /** Closes the app (flushing its writes), then the store, then removes the data dir. */
  close(): Promise<void>;
}

/** `dataDir`: another server's, as a second process on the same database would run (it is left for its owner to remove). */
export async function startGatewayServer(overrides: Partial<GatewayServerConfig> = {}, options: { dataDir?: string } = {}): Promise<GatewayServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'thirdloop-gateway-')));
  const store = openSqliteStore(databasePath(dataDir));
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const config: GatewayServerConfig = {
    ...makeConfig({ dataDir, port: 0, upstream: 'mock', upstreamApiKey: undefined }, {}),
    writeBehindMs: 10,
    ...overrides,
  };
  const app = await buildApp({ store, config, clock: now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  let closed = false;
  return {
    app,
    store,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    now,
    advance(ms) {
      offset += ms;
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await store.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

let users = 0;

/** A new user with one active key; more keys with `mint`. */
export async function makeUser(server: GatewayServer, email = `member${++users}@example.com`) {
  const id = `usr_test_${users}_${Math.random().toString(36).slice(2, 8)}`;
  await server.store.users.create({ id, email, passwordHash: 'not-used', createdAt: server.now() });
  const actor = () => ({ store: server.store, now: server.now(), userId: id });
  const mint = (name = 'laptop', expiresInDays = 90): Promise<MintedKey> => createKey(actor(), { name, expiresInDays });
  return {
    id,
    email,
    mint,
    disable: (keyId: string) => transitionKey(actor(), keyId, 'disable'),
    remove: (keyId: string) => transitionKey(actor(), keyId, 'delete'),
    enable: (keyId: string) => transitionKey(actor(), keyId, 'enable'),
    rotate: (keyId: string) => rotateKey(actor(), keyId),
    flagCompromised: (keyId: string) => flagCompromised(server.store, keyId, server.now()),
  };
}

/** Polls the audit log until `match` finds a row (writes are flushed a few ms behind). */
export async function waitForAudit(store: Store, match: (row: AuditRow) => boolean, timeoutMs = 3_000): Promise<AuditRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = (await store.audit.list({ limit: 1000 })).find(match);
    if (row) return row;
    if (Date.now() > deadline) throw new Error('no matching audit row');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
