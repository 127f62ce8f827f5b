/**
 * In-process server for server tests: buildApp on a loopback port, a real database (a SQLite file
 * in a temp dir, or a PostgreSQL database in the `postgres` run: helpers/stores.ts), and a clock
 * the test moves.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildApp } from '../../src/app.js';
import { makeConfig, type ServerConfig } from '../../src/config.js';
import { hashPassword } from '../../src/auth/hashing.js';
import { createKey } from '../../src/store/key-actions.js';
import type { Store } from '../../src/store/store.js';
import { testDatabase, type TestDatabase } from './stores.js';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  store: Store;
  config: ServerConfig;
  dataDir: string;
  database: TestDatabase;
  now(): Date;
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  addUser(email?: string, password?: string): Promise<{ id: string; email: string; password: string }>;
  /** A key made the way the operator command makes it. */
  mintKey(userId: string, options?: { name?: string; expires?: number }): Promise<{ id: string; secret: string; credential: string }>;
  close(): Promise<void>;
}

let counter = 0;

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const database = await testDatabase('server');
  const dataDir = database.where.dataDir;
  const store = await database.open();
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const config = makeConfig({ dataDir, port: 0, upstream: 'mock', ...overrides }, {});
  const app = await buildApp({ store, config, clock: now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  config.port = port;
  if (!overrides.publicUrl) config.publicUrl = url;

  return {
    url,
    app,
    store,
    config,
    dataDir,
    database,
    now,
    advance(ms) {
      offset += ms;
    },
    async addUser(email, password) {
      const e = email ?? `user${++counter}-${randomBytes(3).toString('hex')}@example.com`;
      const pw = password ?? randomBytes(12).toString('base64url');
      const id = `usr_${randomBytes(9).toString('base64url')}`;
      const user = await store.users.create({ id, email: e, passwordHash: await hashPassword(pw), createdAt: now() });
      if (!user) throw new Error(`user ${e} exists`);
      return { id, email: e, password: pw };
    },
    async mintKey(userId, options = {}) {
      const minted = await createKey({ store, now: now(), userId }, { name: options.name ?? 'test key', expiresInDays: options.expires });
      return { id: minted.key.id, secret: minted.secret, credential: minted.credential };
    },
    async close() {
      await app.close();
      await database.close();
    },
  };
}

export interface BrowserOptions {
  /** Connect from this loopback address (127.0.0.2, …): another client as the server sees it. */
  localAddress?: string;
  /** Sent with every request (e.g. X-Forwarded-For, for a server that trusts this hop). */
  headers?: Record<string, string>;
}

/** A tiny cookie jar over fetch, for the HTML flows. */
export class Browser {
  private readonly cookies = new Map<string, string>();
  private readonly agent: Agent | undefined;

  constructor(
    readonly base: string,
    private readonly options: BrowserOptions = {},
  ) {
    if (options.localAddress) this.agent = new Agent({ localAddress: options.localAddress });
  }

  /** Sets or replaces a cookie by hand (forgeries, copies between browsers). */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  deleteCookie(name: string): void {
    this.cookies.delete(name);
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: RequestInit & { form?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers({ ...this.options.headers, ...Object.fromEntries(new Headers(init.headers)) });
    if (this.cookies.size) headers.set('cookie', this.cookieHeader());
    let body = init.body;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const url = path.startsWith('http') ? path : this.base + path;
    const res = this.agent
      ? ((await undiciFetch(url, { ...(init as object), headers: Object.fromEntries(headers), body: body as string | undefined, redirect: 'manual', dispatcher: this.agent })) as unknown as Response)
      : await fetch(url, { ...init, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (attrs.some((a) => /max-age=0$/i.test(a.trim())) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  async get(path: string): Promise<{ res: Response; html: string }> {
    const res = await this.request(path);
    return { res, html: await res.text() };
  }

  /** The CSRF token in the first form of a page. */
  static csrf(html: string): string {
    const m = /name="csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error('no csrf token on the page');
    return m[1]!;
  }

  async signIn(email: string, password: string, next = '/'): Promise<Response> {
    const { html } = await this.get(`/login?next=${encodeURIComponent(next)}`);
    return this.request('/login', { method: 'POST', form: { csrf: Browser.csrf(html), email, password, next } });
  }
}

/** JSON API calls with a credential. */
export function api(base: string, credential: string) {
  return async (method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}) => {
    const headers: Record<string, string> = { 'x-api-key': credential, ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
}
