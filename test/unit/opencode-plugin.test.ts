import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const template = path.join(root, 'templates/thirdloop-session.ts');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

/** An independent UUIDv5 (RFC 4122 §4.3), checked against the RFC's own example below. */
function uuidV5(namespace: string, name: string): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
}

async function namespaceOfTemplate(): Promise<string> {
  const source = await readFile(template, 'utf8');
  const match = /const NAMESPACE = "([0-9a-f-]{36})"/.exec(source);
  if (!match) throw new Error('namespace constant not found');
  return match[1]!;
}

type Headers = Record<string, string>;
type ChatHeaders = (input: unknown, output: { headers: Headers }) => Promise<void>;

async function loadHooks(): Promise<{ exports: string[]; chatHeaders: ChatHeaders }> {
  const mod: Record<string, unknown> = await import(template);
  const plugin = mod.ThirdloopSession as (input: unknown) => Promise<Record<string, unknown>>;
  const hooks = await plugin({ directory: '/tmp', worktree: '/tmp' });
  return { exports: Object.keys(mod), chatHeaders: hooks['chat.headers'] as ChatHeaders };
}

const chatInput = (sessionID: string, providerID = 'thirdloop') => ({
  sessionID,
  agent: 'build',
  model: { id: 'claude-sonnet-4-5', providerID },
  provider: { source: 'config', info: { id: providerID }, options: {} },
  message: {},
});

describe('the opencode session plugin', () => {
  it('the reference UUIDv5 matches RFC 4122 (DNS namespace, www.example.com)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('sets x-claude-code-session-id to the UUID derived from the session ID', async () => {
    const { chatHeaders } = await loadHooks();
    const namespace = await namespaceOfTemplate();
    const output = { headers: { 'x-other': 'kept' } as Headers };
    await chatHeaders(chatInput('ses_5f3a1c9e0ffeABCDEF012345'), output);
    expect(output.headers['x-claude-code-session-id']).toBe(uuidV5(namespace, 'ses_5f3a1c9e0ffeABCDEF012345'));
    expect(output.headers['x-claude-code-session-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(output.headers['x-other']).toBe('kept');
  });

  it('is stable within a session and differs between sessions', async () => {
    const { chatHeaders } = await loadHooks();
    const a1 = { headers: {} as Headers };
    const a2 = { headers: {} as Headers };
    const b = { headers: {} as Headers };
    await chatHeaders(chatInput('ses_a'), a1);
    await chatHeaders(chatInput('ses_a'), a2);
    await chatHeaders(chatInput('ses_b'), b);
    expect(a1.headers['x-claude-code-session-id']).toBe(a2.headers['x-claude-code-session-id']);
    expect(a1.headers['x-claude-code-session-id']).not.toBe(b.headers['x-claude-code-session-id']);
  });

  it('leaves other providers alone', async () => {
    const { chatHeaders } = await loadHooks();
    const output = { headers: {} as Headers };
    await chatHeaders(chatInput('ses_a', 'openai'), output);
    expect(output.headers).toEqual({});
  });

  it('exports only the plugin (opencode calls every export as a plugin)', async () => {
    const { exports } = await loadHooks();
    expect(exports).toEqual(['ThirdloopSession']);
  });

  it('imports nothing at run time but node:crypto', async () => {
    const source = await readFile(template, 'utf8');
    const imports = [...source.matchAll(/^import (type )?.* from "([^"]+)"/gm)].map((m) => ({ type: Boolean(m[1]), from: m[2] }));
    expect(imports.filter((i) => !i.type).map((i) => i.from)).toEqual(['node:crypto']);
  });

  it('type-checks with tsc against @opencode-ai/plugin', async () => {
    const result = await run(process.execPath, [tsc, '-p', path.join(root, 'test/fixtures/opencode/tsconfig.plugin.json')]).then(
      () => ({ code: 0, out: '' }),
      (error: { code: number; stdout: string }) => ({ code: error.code, out: error.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });

  it('and tsc does reject a plugin that breaks the hook types (the check is real)', async () => {
    const dir = await mkdtemp(path.join(root, 'test/fixtures/opencode/.tmp-'));
    try {
      const source = await readFile(template, 'utf8');
      const broken = source.replace('output.headers[HEADER] = sessionUuid(input.sessionID)', 'output.headers[HEADER] = 42');
      expect(broken).not.toBe(source);
      await writeFile(path.join(dir, 'broken.ts'), broken);
      await writeFile(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({ extends: '../tsconfig.plugin.json', files: ['broken.ts'] }),
      );
      const failure = await run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')]).then(
        () => undefined,
        (error: { stdout: string }) => error.stdout,
      );
      expect(failure).toMatch(/TS2322/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
