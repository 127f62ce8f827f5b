/**
 * thirdloop-server: start the instance, and the operator commands that work
 * on its data directory directly (users add, keys create, keys
 * flag-compromised, audit). Exit codes: 0 ok, 1 failure, 2 usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDataDir, makeConfig, urlFor } from './config.js';
import { DomainError } from './domain/errors.js';
import { parseTrustProxy, TrustProxyError } from './http/client-address.js';
import { expiryDaysFromText, toKeyView } from './domain/keys.js';
import { hashPassword } from './auth/hashing.js';
import { createKey, flagCompromised } from './store/key-actions.js';
import { DatabaseOpenError, DatabaseUrlError, databaseUrlFrom, openStore as openStoreAt } from './store/open.js';
import { SchemaError } from './store/schema-error.js';
import type { Store } from './store/store.js';

const HELP = `thirdloop-server: the reference Third Loop instance

Usage:
  thirdloop-server start [--host 127.0.0.1] [--port 8787] [--data-dir DIR] [--upstream URL|mock] [--upstream-ca FILE]
                         [--public-url URL] [--trust-proxy CIDR[,CIDR…]] [--database URL] [--demo]
  thirdloop-server users add --email E [--password-stdin]
  thirdloop-server keys create --user E [--name N] [--expires DAYS] [--json]
  thirdloop-server keys flag-compromised <key id>
  thirdloop-server audit [--since ISO|DURATION] [--limit N] [--json]

Every command takes --data-dir (default: ${defaultDataDir()}, or $THIRDLOOP_SERVER_DATA_DIR),
which holds the SQLite database, and --database postgres://USER@HOST:PORT/DB (or
$THIRDLOOP_DATABASE_URL) to use a PostgreSQL database instead, shared by several replicas; a
password belongs in $THIRDLOOP_DATABASE_URL or $PGPASSWORD, not on the command line.
The organization's provider credential comes from $THIRDLOOP_UPSTREAM_API_KEY.
The provider is reached through $HTTPS_PROXY when set ($NO_PROXY for exceptions); --upstream-ca
(or $THIRDLOOP_UPSTREAM_CA) adds a certificate authority to trust for it. Errors are logged on
stderr; THIRDLOOP_SERVER_LOG=1 also logs one line per request.
--trust-proxy (or $THIRDLOOP_TRUST_PROXY) names the reverse proxies in front of the server:
client addresses, which every limit counts by, then come from X-Forwarded-For through them.

Examples:
  thirdloop-server start --port 0 --upstream mock --demo
  thirdloop-server start --public-url https://thirdloop.example.com --trust-proxy 10.0.0.0/8
  THIRDLOOP_DATABASE_URL=postgres://thirdloop@db.internal:5432/thirdloop thirdloop-server start --host 0.0.0.0
  printf '%s' "$PASSWORD" | thirdloop-server users add --email ada@example.com --password-stdin
  thirdloop-server keys create --user ada@example.com --name laptop --expires 30
  thirdloop-server audit --since 1h
`;

class UsageError extends Error {}
class CommandError extends Error {}

const common = { 'data-dir': { type: 'string' }, database: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = 0) {
  try {
    const result = parseArgs({ args, options: { ...common, ...options }, allowPositionals: positionals > 0, strict: true });
    if (result.positionals.length > positionals) throw new UsageError(`unexpected argument: ${result.positionals[positionals]}`);
    return result;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

/**
 * The machine's clock. There is deliberately no way to shift it from the environment or the
 * command line: tests that need time to pass run the server under a test-only preload that moves
 * the process's clock (test/helpers/shifted-clock.mjs), which the shipped package does not contain.
 */
function systemClock(): () => Date {
  return () => new Date();
}

/** The store named by --database / THIRDLOOP_DATABASE_URL, else the SQLite file in the data dir. */
function openStore(values: { 'data-dir'?: string | undefined; database?: string | undefined }): Promise<Store> {
  return openStoreAt({ dataDir: values['data-dir'] ?? defaultDataDir(), databaseUrl: databaseUrlFrom(values.database) });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

async function addUser(store: Store, email: string, password: string, now: Date) {
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 254) throw new UsageError(`not an email address: ${email}`);
  if (password.length < 8) throw new CommandError('The password must be at least 8 characters.');
  const user = await store.users.create({ id: `usr_${randomBytes(12).toString('base64url')}`, email, passwordHash: await hashPassword(password), createdAt: now });
  if (!user) throw new CommandError(`A user with email ${email} already exists.`);
  return user;
}

async function cmdStart(args: string[]): Promise<void> {
  const { values } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string' },
    upstream: { type: 'string' },
    'upstream-ca': { type: 'string' },
    'public-url': { type: 'string' },
    'trust-proxy': { type: 'string' },
    demo: { type: 'boolean' },
  });
  if (values.help) return void process.stdout.write(HELP);
  const port = values.port === undefined ? 8787 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0–65535, not ${values.port}`);
  const upstream = values.upstream ?? process.env.THIRDLOOP_UPSTREAM ?? 'mock';
  if (upstream !== 'mock' && !/^https?:\/\//.test(upstream)) throw new UsageError('--upstream must be "mock" or an http(s) URL');
  const config = makeConfig({
    host: values.host ?? '127.0.0.1',
    port,
    dataDir: values['data-dir'] ?? defaultDataDir(),
    upstream,
    ...(values['public-url'] ? { publicUrl: values['public-url'].replace(/\/+$/, '') } : {}),
    ...(values['upstream-ca'] ? { upstreamCaFile: values['upstream-ca'] } : {}),
    ...(values['trust-proxy'] !== undefined ? { trustProxy: parseTrustProxy(values['trust-proxy']) } : {}),
  });
  if (config.upstreamCaFile) {
    const { checkUpstreamCaFile } = await import('./gateway/upstream-dispatcher.js');
    try {
      checkUpstreamCaFile(config.upstreamCaFile, values['upstream-ca'] ? '--upstream-ca' : 'THIRDLOOP_UPSTREAM_CA');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const explicitPublicUrl = Boolean(values['public-url'] ?? process.env.THIRDLOOP_PUBLIC_URL);
  const clock = systemClock();
  const store = await openStore(values);

  let demo: { email: string; password: string } | undefined;
  if (values.demo) demo = await ensureDemoUser(store, config.dataDir, clock());

  const { buildApp } = await import('./app.js');
  // Errors always reach stderr; THIRDLOOP_SERVER_LOG=1 adds a line per request (Fastify's logger, off otherwise).
  const { stderrLog } = await import('./operator-log.js');
  const app = await buildApp({ store, config, clock, logger: process.env.THIRDLOOP_SERVER_LOG === '1', errorLog: stderrLog() });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : config.port;
  config.port = actualPort;
  const url = urlFor(config.host, actualPort);
  if (!explicitPublicUrl) config.publicUrl = url;

  if (config.upstream !== 'mock' && !config.upstreamApiKey) {
    // Not fatal (a proxy in front of the provider may add the credential), but usually a mistake.
    // Written before the first stdout line, so whoever reads that line has the warning too.
    process.stderr.write(
      'warning: THIRDLOOP_UPSTREAM_API_KEY is not set, so no credential is sent to the provider; it will likely refuse every request (502). Set THIRDLOOP_UPSTREAM_API_KEY to the organization\'s key.\n',
    );
  }
  process.stdout.write(`listening on ${url}\n`);
  if (config.publicUrl !== url) process.stdout.write(`public URL (ANTHROPIC_BASE_URL): ${config.publicUrl}\n`);
  process.stdout.write(`upstream: ${config.upstream === 'mock' ? 'mock (built-in offline model)' : config.upstream}\n`);
  if (demo) {
    // Behind a reverse proxy the public URL is where a browser can sign in (its cookies are Secure there).
    process.stdout.write(`demo sign-in: ${config.publicUrl}/login  email: ${demo.email}  password: ${demo.password}\n`);
  }

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    try {
      await app.close();
    } finally {
      await store.close();
      process.exit(0);
    }
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

const DEMO_EMAIL = 'demo@example.com';

/** The demo password is generated once per data dir and kept there (0600), so restarts keep it. */
async function ensureDemoUser(store: Store, dataDir: string, now: Date) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'demo-password');
  let password = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (!password) {
    password = generatePassword();
    writeFileSync(file, password + '\n', { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  const existing = await store.users.findByEmail(DEMO_EMAIL);
  if (!existing) await addUser(store, DEMO_EMAIL, password, now);
  return { email: DEMO_EMAIL, password };
}

async function cmdUsersAdd(args: string[]): Promise<void> {
  const { values } = parse(args, { email: { type: 'string' }, 'password-stdin': { type: 'boolean' } });
  if (values.help) return void process.stdout.write(HELP);
  if (!values.email) throw new UsageError('users add needs --email');
  const password = values['password-stdin'] ? await readStdin() : generatePassword();
  const store = await openStore(values);
  try {
    const user = await addUser(store, values.email.trim(), password, systemClock()());
    process.stderr.write(`Added user ${user.email}.\n`);
    if (!values['password-stdin']) process.stdout.write(`password: ${password}\n`);
  } finally {
    await store.close();
  }
}

async function cmdKeysCreate(args: string[]): Promise<void> {
  const { values } = parse(args, {
    user: { type: 'string' },
    name: { type: 'string' },
    expires: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) return void process.stdout.write(HELP);
  if (!values.user) throw new UsageError('keys create needs --user EMAIL');
  const store = await openStore(values);
  try {
    const user = await store.users.findByEmail(values.user);
    if (!user) throw new CommandError(`No user ${values.user}. Add one with: thirdloop-server users add --email ${values.user}`);
    const now = systemClock()();
    const minted = await createKey({ store, now, userId: user.id }, { name: values.name ?? 'operator key', expiresInDays: expiryDaysFromText(values.expires) });
    if (values.json) {
      process.stdout.write(JSON.stringify({ key: toKeyView(minted.key, now), secret_key: minted.secret, credential: minted.credential }) + '\n');
    } else {
      process.stdout.write(minted.credential + '\n');
      process.stderr.write(`Created key ${minted.key.id} (${minted.key.name}) for ${user.email}, expires ${minted.key.expiresAt.toISOString()}. The secret is shown only this once.\n`);
    }
  } finally {
    await store.close();
  }
}

async function cmdKeysFlagCompromised(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1);
  if (values.help) return void process.stdout.write(HELP);
  const id = positionals[0];
  if (!id) throw new UsageError('keys flag-compromised needs a key id');
  const store = await openStore(values);
  try {
    const now = systemClock()();
    const key = await flagCompromised(store, id, now);
    if (values.json) process.stdout.write(JSON.stringify({ key: toKeyView(key, now) }) + '\n');
    else process.stderr.write(`Key ${id} is now compromised: it authenticates nowhere and can only be deleted.\n`);
  } finally {
    await store.close();
  }
}

/** ISO time, or a duration back from now: 30s, 15m, 2h, 7d. */
function parseSince(value: string, now: Date): Date {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(value.trim());
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--since takes an ISO time or a duration like 15m, 2h, 7d; not ${value}`);
  return new Date(t);
}

async function cmdAudit(args: string[]): Promise<void> {
  const { values } = parse(args, { since: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) return void process.stdout.write(HELP);
  const now = systemClock()();
  const since = values.since ? parseSince(values.since, now) : undefined;
  const limit = values.limit ? Number(values.limit) : 1000;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
  const store = await openStore(values);
  try {
    const rows = (await store.audit.list({ ...(since ? { since } : {}), limit })).reverse();
    if (values.json) {
      process.stdout.write(JSON.stringify({ entries: rows.map((r) => ({ ...r, at: r.at.toISOString() })) }) + '\n');
      return;
    }
    if (rows.length === 0) {
      process.stderr.write('No audit entries' + (since ? ` since ${since.toISOString()}` : '') + '.\n');
      return;
    }
    const header = ['TIME', 'KIND', 'ACTION', 'USER', 'KEY', 'SESSION', 'REQUEST', 'MODEL', 'STATUS', 'MS', 'TOKENS IN/OUT', 'SOURCE'];
    const lines = rows.map((r) => [
      r.at.toISOString(),
      r.kind,
      r.action,
      r.user_id ?? '-',
      r.key_id ?? '-',
      r.session_id ?? '-',
      r.method ? `${r.method} ${r.path ?? ''}` : '-',
      r.model ?? '-',
      r.status === null ? '-' : String(r.status),
      r.latency_ms === null ? '-' : String(Math.round(r.latency_ms)),
      r.input_tokens === null && r.output_tokens === null ? '-' : `${r.input_tokens ?? '-'}/${r.output_tokens ?? '-'}`,
      r.source ?? '-',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    for (const l of [header, ...lines]) process.stdout.write(l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(HELP);
      return command ? 0 : 2;
    }
    if (command === 'start') await cmdStart(argv.slice(1));
    else if (command === 'users' && sub === 'add') await cmdUsersAdd(rest);
    else if (command === 'keys' && sub === 'create') await cmdKeysCreate(rest);
    else if (command === 'keys' && sub === 'flag-compromised') await cmdKeysFlagCompromised(rest);
    else if (command === 'audit') await cmdAudit(argv.slice(1));
    else throw new UsageError(`unknown command: ${argv.slice(0, 2).join(' ')}`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof TrustProxyError || err instanceof DatabaseUrlError) {
      process.stderr.write(`error: ${err.message}\nRun thirdloop-server --help for usage.\n`);
      return 2;
    }
    if (err instanceof CommandError || err instanceof DomainError || err instanceof DatabaseOpenError || err instanceof SchemaError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`error: the address is already in use. Pick another with --port (or --port 0 for any free one).\n`);
      return 1;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code !== 0) process.exit(code);
