/**
 * The write-behind's loss window, measured the hard way: the real server process under load is
 * killed with SIGKILL, then its database is read. Every request whose answer arrived more than the
 * documented 250 ms before the kill must have its audit row and have moved last_used_at.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databasePath, openSqliteStore } from '../src/store/sqlite.js';
import { messageBody, sendJson, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';
import { ensureServerBuilt } from '../../test/helpers/reference-server.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'thirdloop-server.js');
const LOSS_WINDOW_MS = 250;

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream();
  upstream.handle((_req, res) => sendJson(res, 200, messageBody()));
});
afterAll(() => upstream?.close());

interface Answered {
  sessionId: string;
  sentAt: number;
  answeredAt: number;
}

/**
 * One round: load the server from `connections` loops until `answers` answers have arrived (a busy
 * machine takes longer; the load is what matters), kill it mid-load, read what it stored.
 */
async function crashRound(connections: number, answers: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'thirdloop-crash-'));
  try {
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], { encoding: 'utf8' });
    expect(cli('users', 'add', '--email', 'crash@example.com').status).toBe(0);
    const created = cli('keys', 'create', '--user', 'crash@example.com', '--json');
    const { credential, key } = JSON.parse(created.stdout) as { credential: string; key: { id: string } };

    const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--data-dir', dataDir, '--upstream', upstream.url], {
      env: { ...process.env, THIRDLOOP_UPSTREAM_API_KEY: 'sk-ant-api03-FAKE-crash', THIRDLOOP_RATE_LIMIT_PER_MINUTE: '100000000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((done) => child.once('exit', done));
    const base = await new Promise<string>((done, fail) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /listening on (\S+)/.exec(String(d));
        if (m) done(m[1]!);
      });
      child.once('exit', (code) => fail(new Error(`server exited ${code}`)));
    });

    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const answered: Answered[] = [];
    let killed = false;
    const one = (sessionId: string) =>
      new Promise<boolean>((done) => {
        const sentAt = Date.now();
        request(`${base}/v1/messages`, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'x-api-key': credential, 'x-claude-code-session-id': sessionId },
        }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) answered.push({ sessionId, sentAt, answeredAt: Date.now() });
            done(true);
          });
          res.on('error', () => done(false));
        })
          .on('error', () => done(false))
          .end(body);
      });
    const loops = Array.from({ length: connections }, async () => {
      while (!killed && (await one(randomUUID())));
    });
    const deadline = Date.now() + 30_000;
    while (answered.length < answers && Date.now() < deadline) await new Promise((next) => setTimeout(next, 5));
    const killedAt = Date.now();
    child.kill('SIGKILL');
    killed = true;
    await exited;
    await Promise.all(loops);
    agent.destroy();

    const store = openSqliteStore(databasePath(dataDir));
    try {
      const stored = new Set((await store.audit.list({ limit: 100_000 })).map((r) => r.session_id));
      const lost = answered.filter((a) => !stored.has(a.sessionId));
      const oldest = lost.length ? Math.max(...lost.map((a) => killedAt - a.answeredAt)) : 0;
      // last_used_at is the arrival time of the newest request written; it must cover every request
      // answered before the window.
      const lastUsed = (await store.keys.findById(key.id))!.lastUsedAt?.getTime() ?? 0;
      const mustCover = answered.filter((a) => killedAt - a.answeredAt > LOSS_WINDOW_MS);
      const newestCovered = mustCover.length ? Math.max(...mustCover.map((a) => a.sentAt)) : 0;
      return { answered: answered.length, lost: lost.length, oldestLostMs: oldest, lastUsed, newestCovered };
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('a crash loses at most the last 250 ms of audit rows and last-used times', () => {
  it('SIGKILL under load, three times', async () => {
    ensureServerBuilt();
    for (let round = 0; round < 3; round++) {
      const result = await crashRound(16, 300 + round * 150);
      console.log(
        `crash round ${round + 1}: ${result.answered} answered, ${result.lost} rows lost, ` +
          `oldest lost answer ${result.oldestLostMs} ms before the kill (bound ${LOSS_WINDOW_MS} ms)`,
      );
      expect(result.answered).toBeGreaterThanOrEqual(300);
      expect(result.oldestLostMs).toBeLessThanOrEqual(LOSS_WINDOW_MS);
      expect(result.lastUsed).toBeGreaterThanOrEqual(result.newestCovered);
    }
  }, 120_000);
});
