/**
 * The real CLI (`node bin/thirdloop.js`, built into dist/) against the real
 * reference server: `auth --with-key`, then `setup opencode` in a temp
 * project, then a request shaped like opencode's through the gateway with the
 * written config and the plugin's header, then `--undo`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin/thirdloop.js');
const schema = JSON.parse(readFileSync(path.join(root, 'test/fixtures/opencode/config.schema.json'), 'utf8'));
const validate = new Ajv2020({ strict: false }).compile(schema);

let server: ReferenceServer;
let credential: string;
let base: string;
let home: string;
let project: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { cwd?: string; input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      SHELL: '/bin/bash',
      NO_COLOR: '1',
      // No Secret Service from the developer's session: the test uses the 0600 file store.
      DBUS_SESSION_BUS_ADDRESS: 'disabled:',
    };
    const child = execFile(process.execPath, [bin, ...args], { cwd: options.cwd ?? project, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/commands/setup/opencode.js'))) {
    throw new Error('dist/ is not built: run `npx tsup` (npm test builds first)');
  }
  server = await startReferenceServer();
  const { email } = await server.addUser('grace@example.com');
  ({ credential } = await server.createKey(email, { name: 'cli e2e' }));
  base = await mkdtemp(path.join(tmpdir(), 'thirdloop-opencode-cli-'));
  home = path.join(base, 'home');
  project = path.join(base, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
});

afterAll(async () => {
  await server?.stop();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('thirdloop setup opencode (real CLI)', () => {
  it('refuses before sign-in with exit 4', async () => {
    const r = await cli(['setup', 'opencode']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/thirdloop auth/);
    expect(await readdir(project)).toEqual([]);
  });

  it('after auth --with-key, writes a working config and the plugin', async () => {
    const auth = await cli(['auth', '--with-key', '--api-url', server.url, '--insecure-storage'], { input: `${credential}\n` });
    expect(auth.code, auth.stderr).toBe(0);

    const r = await cli(['setup', 'opencode', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.modelsSource).toBe('instance');

    const configText = await readFile(path.join(project, 'opencode.json'), 'utf8');
    const config = JSON.parse(configText);
    expect(validate(config)).toBe(true);
    expect(config.provider.thirdloop.options.baseURL).toBe(`${server.url}/v1`);
    expect(configText).not.toContain(credential.split(';')[1]);
    expect(existsSync(path.join(project, '.opencode/plugins/thirdloop-session.ts'))).toBe(true);

    // What opencode will send with this config: @ai-sdk/anthropic posts to `${baseURL}/messages`
    // with x-api-key from ANTHROPIC_API_KEY and the configured headers, plus what the written
    // plugin's chat.headers hook adds for an opencode session.
    const plugin = await import(path.join(project, '.opencode/plugins/thirdloop-session.ts'));
    const hooks = await plugin.ThirdloopSession({});
    const pluginOutput = { headers: {} as Record<string, string> };
    await hooks['chat.headers']({ sessionID: 'ses_e2e_0001', provider: { info: { id: 'thirdloop' } } }, pluginOutput);
    const sessionUuid = pluginOutput.headers['x-claude-code-session-id'];
    expect(sessionUuid).toMatch(/^[0-9a-f-]{36}$/);

    const model = config.model.slice('thirdloop/'.length);
    const res = await fetch(`${config.provider.thirdloop.options.baseURL}/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': credential,
        ...config.provider.thirdloop.options.headers,
        ...pluginOutput.headers,
      },
      body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    const message = (await res.json()) as { type: string };
    expect(message.type).toBe('message');

    // The instance's audit log has the request under the plugin's session UUID (written behind; poll briefly).
    let found = false;
    for (let i = 0; i < 30 && !found; i++) {
      const audit = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [path.join(root, 'server/bin/thirdloop-server.js'), 'audit', '--json', '--data-dir', server.dataDir], (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        ),
      );
      const entries = (JSON.parse(audit) as { entries: Array<{ session_id: string | null; path: string | null }> }).entries;
      found = entries.some((e) => e.session_id === sessionUuid && e.path?.startsWith('/v1/messages'));
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toBe(true);
  });

  it('--dry-run --undo shows what would go, then --undo removes it all', async () => {
    const dry = await cli(['setup', 'opencode', '--undo', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('--- opencode.json');
    expect(existsSync(path.join(project, 'opencode.json'))).toBe(true);

    const r = await cli(['setup', 'opencode', '--undo']);
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(project)).toEqual([]);
  });

  it('an unparseable opencode.json: exit 1, line and column, file untouched', async () => {
    const { writeFile } = await import('node:fs/promises');
    const file = path.join(project, 'opencode.json');
    await writeFile(file, '{\n  "a": 1,,\n}\n');
    const r = await cli(['setup', 'opencode']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 2, column 10/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
    expect(await readFile(file, 'utf8')).toBe('{\n  "a": 1,,\n}\n');
    await rm(file);
  });
});
