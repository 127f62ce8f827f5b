/**
 * `setup opencode` driven through run(ctx) against the real reference server
 * (its /v1/models), with a temp HOME, temp project dirs and a real config
 * store. The secret store is an in-memory stand-in here; the CLI e2e test
 * (setup-opencode-cli.test.ts) goes through the real one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { UserError } from '../../src/core/errors.js';
import { detectFormat, parseJsoncObject, setJsoncValue } from '../../src/files/jsonc-edit.js';
import { run } from '../../src/commands/setup/opencode.js';
import { corpusFiles } from '../helpers/corpus.js';
import { type ReferenceServer } from '../helpers/reference-server.js';
import { startOpencodeHarness, type Harness, type HarnessOptions, type OpencodeHarness } from '../helpers/opencode-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const schema = JSON.parse(readFileSync(path.join(root, 'test/fixtures/opencode/config.schema.json'), 'utf8'));
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
const corpusPaths = corpusFiles('opencode', /\.jsonc?$/);
const corpusDir = corpusPaths.length ? path.dirname(corpusPaths[0]!) : '';
const corpus = corpusPaths.map((f) => path.basename(f));
const template = readFileSync(path.join(root, 'templates/thirdloop-session.ts'), 'utf8');

let server: ReferenceServer;
let credential: string;
let offered: string[];
let scratch: string;
let h0: OpencodeHarness;

beforeAll(async () => {
  h0 = await startOpencodeHarness();
  ({ server, credential, offered, scratch } = h0);
});

afterAll(async () => {
  await h0?.stop();
});

const harness = (options?: HarnessOptions): Promise<Harness> => h0.harness(options);

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

const secretOf = (cred: string) => cred.split(';')[1]!;

describe('setup opencode (project)', () => {
  it('writes a schema-valid opencode.json with the instance models and the plugin, and no secret', async () => {
    const h = await harness();
    await run(h.ctx, {});
    const text = await readFile(path.join(h.project, 'opencode.json'), 'utf8');
    const config = JSON.parse(text);
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(config.$schema).toBe('https://opencode.ai/config.json');
    expect(config.enabled_providers).toEqual(['thirdloop']);
    const p = config.provider.thirdloop;
    expect(p.npm).toBe('@ai-sdk/anthropic');
    expect(p.name).toBe('Third Loop');
    expect(p.options.baseURL).toBe(`${server.url}/v1`);
    expect(p.options.apiKey).toBe('{env:ANTHROPIC_API_KEY}');
    expect(p.options.headers).toEqual({ 'anthropic-version': '2023-06-01' });
    expect(offered.length).toBeGreaterThan(0);
    expect(Object.keys(p.models).sort()).toEqual([...offered].sort());
    expect(config.model.startsWith('thirdloop/')).toBe(true);
    expect(offered).toContain(config.model.slice('thirdloop/'.length));

    const plugin = path.join(h.project, '.opencode', 'plugins', 'thirdloop-session.ts');
    expect(await readFile(plugin, 'utf8')).toBe(template);

    for (const file of await allFiles(h.project)) expect(await readFile(file, 'utf8')).not.toContain(secretOf(credential));
    expect(h.stderr()).toContain('opencode.json');
    // Not configured shells, no TTY: says what to run instead of asking.
    expect(h.stderr()).toContain('thirdloop setup claude');
  });

  it('the base URL has exactly one /v1 even when the instance URL has one and a slash', async () => {
    const h = await harness({ apiUrl: `  ${server.url}/v1/ ` });
    await run(h.ctx, {});
    const config = JSON.parse(await readFile(path.join(h.project, 'opencode.json'), 'utf8'));
    expect(config.provider.thirdloop.options.baseURL).toBe(`${server.url}/v1`);
  });

  it('--model picks the default; an unknown one is a usage error and writes nothing', async () => {
    const h = await harness();
    const last = offered[offered.length - 1]!;
    await run(h.ctx, { model: last });
    expect(JSON.parse(await readFile(path.join(h.project, 'opencode.json'), 'utf8')).model).toBe(`thirdloop/${last}`);

    const h2 = await harness();
    const error = await run(h2.ctx, { model: 'no-such-model' }).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('no-such-model');
    expect(await readdir(h2.project)).toEqual([]);
  });

  it('not signed in: exit 4, nothing written', async () => {
    const h = await harness({ signedIn: false });
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error.exitCode).toBe(4);
    expect(await readdir(h.project)).toEqual([]);
  });

  it('a key the instance refuses: exit 4, nothing written', async () => {
    const [id, secret] = credential.split(';') as [string, string];
    const wrong = `${id};${secret.slice(0, -6)}${secret.slice(-6).split('').reverse().join('')}`;
    const h = await harness({ key: wrong });
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error.exitCode).toBe(4);
    expect(await readdir(h.project)).toEqual([]);
  });

  it('falls back to Sonnet 4.5 and Opus 4.5 when the list cannot be had, and says so', async () => {
    const bare: Server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"nope"}}');
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    try {
      const port = (bare.address() as { port: number }).port;
      const h = await harness({ apiUrl: `http://127.0.0.1:${port}` });
      await run(h.ctx, {});
      const config = JSON.parse(await readFile(path.join(h.project, 'opencode.json'), 'utf8'));
      expect(Object.keys(config.provider.thirdloop.models)).toEqual(['claude-sonnet-4-5', 'claude-opus-4-5']);
      expect(config.model).toBe('thirdloop/claude-sonnet-4-5');
      expect(h.stderr()).toMatch(/Could not read the instance's model list/);
    } finally {
      await new Promise((resolve) => bare.close(resolve));
    }
  });

  it('refuses an unparseable opencode.json with line and column and changes nothing', async () => {
    const h = await harness();
    const bad = '{\n  "theme": "x",\n  "model" "y"\n}\n';
    const file = path.join(h.project, 'opencode.json');
    await writeFile(file, bad);
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/line 3, column 11/);
    expect(await readFile(file, 'utf8')).toBe(bad);
    expect(await readdir(h.project)).toEqual(['opencode.json']);
  });

  it('a blocked plugin path (.opencode is a file) is refused before anything is written', async () => {
    const h = await harness();
    await writeFile(path.join(h.project, '.opencode'), 'not a directory');
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/thirdloop-session\.ts.*not a (directory|folder).*Nothing was changed/);
    expect((await readdir(h.project)).sort()).toEqual(['.opencode']);
  });

  it('edits opencode.jsonc when that is the file, and warns about .opencode.json', async () => {
    const h = await harness();
    const jsonc = '{\n  // mine\n  "theme": "tokyonight",\n}\n';
    await writeFile(path.join(h.project, 'opencode.jsonc'), jsonc);
    await writeFile(path.join(h.project, '.opencode.json'), '{}');
    await run(h.ctx, {});
    expect(existsSync(path.join(h.project, 'opencode.json'))).toBe(false);
    const text = await readFile(path.join(h.project, 'opencode.jsonc'), 'utf8');
    expect(text).toContain('// mine');
    expect(parseJsoncObject(text, 'x').value.theme).toBe('tokyonight');
    expect(h.stderr()).toMatch(/opencode ignores \.opencode\.json/);
  });

  it('--dry-run prints a diff and writes nothing', async () => {
    const h = await harness();
    await run(h.ctx, { dryRun: true, agentsMd: true });
    expect(await readdir(h.project)).toEqual([]);
    expect(h.stdout()).toContain('+++ opencode.json');
    expect(h.stdout()).toMatch(/^\+ {2}"model": "thirdloop\//m);
    expect(h.stdout()).toContain('+++ .opencode/plugins/thirdloop-session.ts');
    expect(h.stdout()).toContain('+++ AGENTS.md');
    expect(h.stdout()).not.toContain(secretOf(credential));
  });

  it('--json reports the files and the model on stdout', async () => {
    const h = await harness({ json: true });
    await run(h.ctx, {});
    const report = JSON.parse(h.stdout());
    expect(report).toMatchObject({ scope: 'project', provider: 'thirdloop', baseURL: `${server.url}/v1`, modelsSource: 'instance' });
    expect(report.models.sort()).toEqual([...offered].sort());
    expect(report.files.map((f: { kind: string; action: string }) => `${f.kind}:${f.action}`)).toEqual(['config:create', 'plugin:create']);
    expect(report.env).toMatchObject({ configured: false, command: 'thirdloop setup claude' });
  });

  it('is idempotent, and --undo of a file it created removes everything it added', async () => {
    const h = await harness();
    await writeFile(path.join(h.project, 'AGENTS.md'), '# Rules\n\nBe nice.\n');
    await run(h.ctx, { agentsMd: true });
    const first = await readFile(path.join(h.project, 'opencode.json'), 'utf8');
    const agents = await readFile(path.join(h.project, 'AGENTS.md'), 'utf8');
    expect(agents).toContain('"Third Loop"');
    await run(h.ctx, { agentsMd: true });
    expect(await readFile(path.join(h.project, 'opencode.json'), 'utf8')).toBe(first);
    expect(await readFile(path.join(h.project, 'AGENTS.md'), 'utf8')).toBe(agents);

    await run(h.ctx, { undo: true });
    expect(await readdir(h.project)).toEqual(['AGENTS.md']);
    expect(await readFile(path.join(h.project, 'AGENTS.md'), 'utf8')).toBe('# Rules\n\nBe nice.\n');
  });

  it('--undo leaves a plugin file it did not write', async () => {
    const h = await harness();
    await run(h.ctx, {});
    const plugin = path.join(h.project, '.opencode', 'plugins', 'thirdloop-session.ts');
    await writeFile(plugin, 'export const Mine = async () => ({})\n');
    await run(h.ctx, { undo: true });
    expect(await readFile(plugin, 'utf8')).toBe('export const Mine = async () => ({})\n');
    expect(h.stderr()).toMatch(/not the plugin thirdloop wrote.*left alone/);
  });
});

describe.skipIf(corpus.length === 0)('merging into real-world opencode configs', () => {
  it.each(corpus)('%s: keeps every other key and comment; --undo restores it byte for byte', async (name) => {
    const h = await harness();
    const target = path.join(h.project, name.endsWith('.jsonc') ? 'opencode.jsonc' : 'opencode.json');
    await copyFile(path.join(corpusDir, name), target);
    await chmod(target, 0o644); // the corpus is read-only; a user's config is not
    const original = await readFile(target, 'utf8');
    const before = parseJsoncObject(original, name).value;

    await run(h.ctx, {});
    const merged = parseJsoncObject(await readFile(target, 'utf8'), name).value as Record<string, any>;
    expect(merged.provider.thirdloop.options.baseURL).toBe(`${server.url}/v1`);
    for (const [key, value] of Object.entries(before)) {
      if (key === 'model' || key === 'enabled_providers' || key === 'provider') continue;
      if (key === 'small_model' && !merged.enabled_providers.includes(String(value).split('/')[0])) {
        // Its provider is now switched off by the allowlist, so opencode's titles go through ours.
        expect(merged.small_model).toMatch(/^thirdloop\//);
        expect(offered).toContain(merged.small_model.slice('thirdloop/'.length));
        continue;
      }
      expect(merged[key], key).toEqual(value);
    }
    for (const [id, provider] of Object.entries((before.provider ?? {}) as Record<string, unknown>)) {
      expect(merged.provider[id]).toEqual(provider);
    }
    expect(existsSync(`${target}.thirdloop-backup`)).toBe(true);
    expect(await readFile(`${target}.thirdloop-backup`, 'utf8')).toBe(original);

    await run(h.ctx, { undo: true });
    expect(await readFile(target, 'utf8')).toBe(original);
    expect(existsSync(`${target}.thirdloop-backup`)).toBe(false);
    expect(await readdir(h.project)).toEqual([path.basename(target)]);
  });

  it('a file edited after setup: --undo removes only ours and keeps the edit', async () => {
    const name = corpus.find((f) => f.endsWith('.jsonc')) ?? corpus[0]!;
    const h = await harness();
    const target = path.join(h.project, 'opencode.jsonc');
    await copyFile(path.join(corpusDir, name), target);
    await chmod(target, 0o644); // the corpus is read-only; a user's config is not
    const before = parseJsoncObject(await readFile(target, 'utf8'), name).value;
    await run(h.ctx, {});
    const text = await readFile(target, 'utf8');
    await writeFile(target, setJsoncValue(text, ['username'], 'added later', detectFormat(text)));
    await run(h.ctx, { undo: true });
    const after = parseJsoncObject(await readFile(target, 'utf8'), name).value;
    expect(after).toEqual({ ...before, username: 'added later' });
  });
});

describe('setup opencode --global', () => {
  it('writes under $XDG_CONFIG_HOME/opencode, plugin in plugins/', async () => {
    const xdg = await mkdtemp(path.join(scratch, 'xdg-'));
    const h = await harness({ env: { XDG_CONFIG_HOME: xdg } });
    await run(h.ctx, { global: true, agentsMd: true });
    const config = JSON.parse(await readFile(path.join(xdg, 'opencode', 'opencode.json'), 'utf8'));
    expect(validate(config)).toBe(true);
    expect(await readFile(path.join(xdg, 'opencode', 'plugins', 'thirdloop-session.ts'), 'utf8')).toBe(template);
    expect(existsSync(path.join(xdg, 'opencode', 'AGENTS.md'))).toBe(true);
    expect(await readdir(h.project)).toEqual([]);
    await run(h.ctx, { global: true, undo: true });
    expect(await allFiles(xdg)).toEqual([]);
  });

  it('defaults to ~/.config/opencode', async () => {
    const h = await harness();
    await run(h.ctx, { global: true });
    expect(statSync(path.join(h.home, '.config', 'opencode', 'opencode.json')).isFile()).toBe(true);
  });
});

describe('--with-env', () => {
  it('configures the shells through setup claude’s module when they are not yet', async () => {
    const h = await harness();
    await run(h.ctx, { withEnv: true });
    const bashrc = await readFile(path.join(h.home, '.bashrc'), 'utf8');
    expect(bashrc).toContain('# >>> thirdloop >>>');
    expect(bashrc).not.toContain(secretOf(credential));
    expect(h.stderr()).toMatch(/Configured the shells/);
    // A second run sees them configured: no warning, no offer, shells untouched.
    await run(h.ctx, {});
    expect(h.stderr()).not.toMatch(/not set up in your shells/);
    expect(await readFile(path.join(h.home, '.bashrc'), 'utf8')).toBe(bashrc);
  });
});

describe('the shell offer on a terminal', () => {
  it('asks, and a "y" configures the shells', async () => {
    const stdin = new PassThrough();
    const h = await harness({ tty: true, stdin });
    const running = run(h.ctx, {});
    // Answer once the question is on screen.
    for (let i = 0; i < 100 && !h.stderr().includes('ANTHROPIC_API_KEY in your terminals'); i++) await new Promise((r) => setTimeout(r, 20));
    stdin.write('y');
    await running;
    expect(h.stderr()).toContain('Set it (and ANTHROPIC_BASE_URL) in your shell profiles now?');
    expect(await readFile(path.join(h.home, '.bashrc'), 'utf8')).toContain('# >>> thirdloop >>>');
  });

  it('a "n" leaves the shells alone and says what to run', async () => {
    const stdin = new PassThrough();
    const h = await harness({ tty: true, stdin });
    const running = run(h.ctx, {});
    for (let i = 0; i < 100 && !h.stderr().includes('ANTHROPIC_API_KEY in your terminals'); i++) await new Promise((r) => setTimeout(r, 20));
    stdin.write('n');
    await running;
    expect(existsSync(path.join(h.home, '.bashrc'))).toBe(false);
    expect(h.stderr()).toContain('thirdloop setup claude');
  });

  it('--yes accepts the offer without asking', async () => {
    const h = await harness({ tty: true });
    await run(h.ctx, { yes: true });
    expect(h.stderr()).not.toContain('in your shell profiles now?');
    expect(await readFile(path.join(h.home, '.bashrc'), 'utf8')).toContain('# >>> thirdloop >>>');
  });
});
