/**
 * `setup opencode` run in-process (run(ctx)) against the real reference
 * server (its /v1/models), with a temp HOME, a temp project folder and a
 * real config store. The secret store is an in-memory stand-in; the CLI
 * tests go through the real one.
 */
import { PassThrough } from 'node:stream';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createContext, type Context, type SecretStore } from '../../src/context.js';
import { openConfig } from '../../src/core/config.js';
import { startReferenceServer, type ReferenceServer } from './reference-server.js';

export interface Harness {
  ctx: Context;
  home: string;
  project: string;
  stdout(): string;
  stderr(): string;
}

export interface HarnessOptions {
  json?: boolean;
  signedIn?: boolean;
  apiUrl?: string;
  key?: string;
  env?: NodeJS.ProcessEnv;
  tty?: boolean;
  stdin?: PassThrough;
  /** Use these folders instead of fresh ones (a fixture built beforehand). */
  home?: string;
  project?: string;
}

export interface OpencodeHarness {
  server: ReferenceServer;
  credential: string;
  offered: string[];
  scratch: string;
  harness(options?: HarnessOptions): Promise<Harness>;
  stop(): Promise<void>;
}

export async function startOpencodeHarness(): Promise<OpencodeHarness> {
  const server = await startReferenceServer();
  const { email } = await server.addUser('ada@example.com');
  const { credential } = await server.createKey(email, { name: 'opencode test' });
  const res = await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': credential, 'anthropic-version': '2023-06-01' } });
  const offered = ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
  const scratch = await mkdtemp(path.join(tmpdir(), 'thirdloop-opencode-'));
  let counter = 0;

  async function harness(options: HarnessOptions = {}): Promise<Harness> {
    const base = path.join(scratch, String(counter++));
    const home = options.home ?? path.join(base, 'home');
    const project = options.project ?? path.join(base, 'project');
    await mkdir(home, { recursive: true });
    await mkdir(project, { recursive: true });
    const out = new PassThrough();
    const err = new PassThrough();
    let o = '';
    let e = '';
    out.on('data', (d) => (o += d));
    err.on('data', (d) => (e += d));
    const store = openConfig(path.join(home, '.config', 'thirdloop'));
    const key = options.key ?? credential;
    // Signed in as `thirdloop auth` leaves a HOME: the profile names the instance and the key.
    if (options.signedIn !== false) store.setProfile('default', { apiUrl: options.apiUrl ?? server.url, keyId: key.split(';')[0], keyName: 'opencode test', storage: 'file' });
    const secrets: SecretStore = {
      get: async () => (options.signedIn === false ? undefined : { credential: key, source: 'file' }),
      set: async () => ({ credential: key, source: 'file' }),
      delete: async () => {},
    };
    const ctx = createContext(
      { apiUrl: options.apiUrl ?? server.url, json: options.json ?? false, profile: 'default', color: false },
      {
        env: { HOME: home, SHELL: '/bin/bash', PATH: process.env.PATH, ...options.env },
        homedir: home,
        cwd: project,
        platform: 'linux',
        io: {
          stdout: out,
          stderr: err,
          stdin: options.stdin ?? new PassThrough(),
          stdinIsTTY: options.tty ?? false,
          stdoutIsTTY: false,
          stderrIsTTY: options.tty ?? false,
        },
        config: async () => store,
        secrets: async () => secrets,
      },
    );
    return { ctx, home, project, stdout: () => o, stderr: () => e };
  }

  return {
    server,
    credential,
    offered,
    scratch,
    harness,
    stop: async () => {
      await server.stop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
