/**
 * `setup opencode` on lived-in projects: whole project folders (a git
 * repository with opencode.json(c) and `.opencode/`, a HOME with a global
 * config), each through setup → setup again → undo, judged by the bytes,
 * owners and modes on disk (and, where it is installed, by the real opencode
 * loading the provider). Each defect of issue 14 item 13 has its case here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsoncObject } from '../../src/files/jsonc-edit.js';
import { run } from '../../src/commands/setup/opencode.js';
import { checkOpencode } from '../../src/doctor/opencode.js';
import { corpusFiles } from '../helpers/corpus.js';
import { needs } from '../helpers/components.js';
import { startOpencodeHarness, type Harness, type OpencodeHarness } from '../helpers/opencode-harness.js';
import { needsOpencode, opencodeLoadsThirdloop } from '../helpers/opencode.js';
import { canChattr, clearImmutable, makeImmutable } from '../robustness/tree.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const template = readFileSync(path.join(root, 'templates/thirdloop-session.ts'));
const corpus = corpusFiles('opencode', /\.jsonc?$/);
const isRoot = process.getuid?.() === 0;
const PLUGIN = '.opencode/plugins/thirdloop-session.ts';

let h0: OpencodeHarness;
beforeAll(async () => {
  h0 = await startOpencodeHarness();
});
afterAll(async () => {
  await h0?.stop();
});

/** Every file under `dir` with its bytes, mode and owner (the state a run must give back). */
function tree(dir: string): Map<string, { bytes?: Buffer; mode: number; uid: number; gid: number; kind: string }> {
  const out = new Map<string, { bytes?: Buffer; mode: number; uid: number; gid: number; kind: string }>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const r = path.join(rel, name);
      const st = lstatSync(path.join(dir, r));
      const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
      out.set(r, { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, ...(kind === 'file' ? { bytes: readFileSync(path.join(dir, r)) } : {}) });
      if (kind === 'dir' && name !== '.git') walk(r);
    }
  };
  walk('');
  return out;
}

const expectSameTree = (a: ReturnType<typeof tree>, b: ReturnType<typeof tree>) => {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, before] of a) {
    const after = b.get(name)!;
    expect({ name, mode: after.mode, uid: after.uid, gid: after.gid, kind: after.kind }).toEqual({ name, mode: before.mode, uid: before.uid, gid: before.gid, kind: before.kind });
    if (before.bytes) expect(after.bytes!.equals(before.bytes), `${name} bytes`).toBe(true);
  }
};

/** A project folder shaped like a real one: a git repository with a README and source. */
async function project(files: Record<string, string | Buffer> = {}, options: { homeFiles?: Record<string, string | Buffer> } = {}): Promise<Harness> {
  const h = await h0.harness();
  execFileSync('git', ['init', '-q', h.project]);
  writeFileSync(path.join(h.project, 'README.md'), '# app\n');
  mkdirSync(path.join(h.project, 'src'));
  writeFileSync(path.join(h.project, 'src', 'index.ts'), 'export {}\n');
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(h.project, rel)), { recursive: true });
    writeFileSync(path.join(h.project, rel), data);
  }
  for (const [rel, data] of Object.entries(options.homeFiles ?? {})) {
    mkdirSync(path.dirname(path.join(h.home, rel)), { recursive: true });
    writeFileSync(path.join(h.home, rel), data);
  }
  return h;
}

const parse = (file: string) => parseJsoncObject(readFileSync(file, 'latin1'), file).value as Record<string, any>;

/** The corpus file as the user might have it: as is, with CRLF line ends, or in Latin-1 (not UTF-8). */
function variant(text: string, kind: 'as-is' | 'crlf' | 'latin1'): Buffer {
  if (kind === 'as-is') return Buffer.from(text, 'utf8');
  if (kind === 'crlf') return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
  // A comment in Latin-1 on top (opencode reads comments in .json too), and the body in Latin-1 where it can be.
  const latin = [...text].every((c) => c.charCodeAt(0) <= 0xff);
  return Buffer.concat([Buffer.from('// Réglages de l’équipe: ne pas toucher (café) \u00e9\n'.replace('’', "'"), 'latin1'), Buffer.from(text, latin ? 'latin1' : 'utf8')]);
}

describe.skipIf(corpus.length === 0)('real-world configs in whole projects: setup, setup again, undo', () => {
  const cases = corpus.flatMap((file) => (['as-is', 'crlf', 'latin1'] as const).map((kind) => [path.basename(file), kind, file] as const));

  it.each(cases)('%s (%s): exact bytes, mode and owner back after undo', async (name, kind, file) => {
    const target = name.endsWith('.jsonc') ? 'opencode.jsonc' : 'opencode.json';
    const original = variant(readFileSync(file, 'utf8'), kind);
    const h = await project({ [target]: original });
    chmodSync(path.join(h.project, target), 0o640);
    const before = tree(h.project);
    const config = path.join(h.project, target);

    await run(h.ctx, {});
    const first = readFileSync(config);
    expect(parse(config).provider.thirdloop.options.baseURL).toBe(`${h0.server.url}/v1`);
    expect(statSync(config).mode & 0o777).toBe(0o640);
    // The backup is the original, byte for byte; the user's bytes are all still there.
    expect(readFileSync(`${config}.thirdloop-backup`).equals(original)).toBe(true);
    if (kind === 'latin1') {
      expect(first.includes(original.subarray(0, original.indexOf(0x0a)))).toBe(true);
      expect(first.includes(Buffer.from('\uFFFD', 'utf8'))).toBe(false);
    }

    await run(h.ctx, {});
    expect(readFileSync(config).equals(first)).toBe(true);

    await run(h.ctx, { undo: true });
    expectSameTree(before, tree(h.project));
  });
});

describe('defect: Latin-1 bytes in opencode.json', () => {
  it('survive setup byte for byte, what we insert is UTF-8, and undo gives back the exact file and keeps no stale backup', async () => {
    const original = Buffer.from('{\n  // Konfiguration für das Team: ändern nur nach Rücksprache\n  "theme": "système",\n  "username": "José"\n}\n', 'latin1');
    const h = await project({ 'opencode.json': original });
    const file = path.join(h.project, 'opencode.json');
    await run(h.ctx, { model: h0.offered[0] });
    const written = readFileSync(file);
    for (const word of ['für', 'ändern', 'Rücksprache', 'système', 'José']) expect(written.includes(Buffer.from(word, 'latin1')), word).toBe(true);
    expect(written.includes(Buffer.from('\uFFFD', 'utf8'))).toBe(false);
    expect(readFileSync(`${file}.thirdloop-backup`).equals(original)).toBe(true);

    await run(h.ctx, { undo: true });
    expect(readFileSync(file).equals(original)).toBe(true);
    expect(existsSync(`${file}.thirdloop-backup`)).toBe(false);
  });

  it('edited after setup: undo removes only ours, keeps the Latin-1 bytes, and keeps the backup (the only exact copy)', async () => {
    const original = Buffer.from('{\n  "username": "José"\n}\n', 'latin1');
    const h = await project({ 'opencode.json': original });
    const file = path.join(h.project, 'opencode.json');
    await run(h.ctx, {});
    writeFileSync(file, Buffer.concat([readFileSync(file).subarray(0, -2), Buffer.from(',\n  "theme": "café"\n}\n', 'latin1')]));
    await run(h.ctx, { undo: true });
    const after = readFileSync(file);
    expect(after.includes(Buffer.from('"José"', 'latin1'))).toBe(true);
    expect(after.includes(Buffer.from('"café"', 'latin1'))).toBe(true);
    expect(parse(file).provider).toBeUndefined();
    expect(readFileSync(`${file}.thirdloop-backup`).equals(original)).toBe(true);
  });

  it('the global opencode.jsonc under ~/.config/opencode, in Latin-1: setup --global, undo, exact bytes', async () => {
    const original = Buffer.from('// réglages\n{ "theme": "système", "autoupdate": false }\n', 'latin1');
    const h = await project({}, { homeFiles: { '.config/opencode/opencode.jsonc': original } });
    const before = tree(h.home);
    await run(h.ctx, { global: true });
    expect(parse(path.join(h.home, '.config/opencode/opencode.jsonc')).provider.thirdloop).toBeDefined();
    expect(existsSync(path.join(h.home, '.config/opencode/plugins/thirdloop-session.ts'))).toBe(true);
    await run(h.ctx, { global: true, undo: true });
    const after = tree(h.home);
    for (const name of [...after.keys()]) if (name.startsWith('.config/thirdloop')) after.delete(name);
    for (const name of [...before.keys()]) if (name.startsWith('.config/thirdloop')) before.delete(name);
    expectSameTree(before, after);
  });
});

describe('defect: disabled_providers lists thirdloop', () => {
  it('setup takes our ID out (and says so), opencode loads the provider, undo puts the list back byte for byte', async () => {
    const original = '{\n  "disabled_providers": ["thirdloop", "openai"],\n  "theme": "opencode"\n}\n';
    const h = await project({ 'opencode.json': original });
    const file = path.join(h.project, 'opencode.json');
    await run(h.ctx, {});
    expect(parse(file).disabled_providers).toEqual(['openai']);
    expect(h.stderr()).toMatch(/Took "thirdloop" out of disabled_providers in opencode\.json/);
    const [verdict] = await checkOpencode({ cwd: h.project, homedir: h.home, env: h.ctx.env, platform: 'linux' }, h0.server.url);
    expect(verdict).toMatchObject({ check: 'opencode:project', status: 'ok' });
    await run(h.ctx, { undo: true });
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('edited after setup: undo still puts our ID back into the user’s list', async () => {
    const h = await project({ 'opencode.json': '{\n  "disabled_providers": ["thirdloop"]\n}\n' });
    const file = path.join(h.project, 'opencode.json');
    await run(h.ctx, {});
    writeFileSync(file, readFileSync(file, 'utf8').replace('"$schema"', '"username": "ada",\n  "$schema"'));
    await run(h.ctx, { undo: true });
    expect(parse(file)).toEqual({ disabled_providers: ['thirdloop'], username: 'ada' });
  });

  it('a global config that disables us where the project sets no list: refused, nothing written, the file named', async () => {
    const h = await project({ 'opencode.json': '{ "theme": "opencode" }\n' }, { homeFiles: { '.config/opencode/opencode.json': '{ "disabled_providers": ["thirdloop"] }\n' } });
    const before = tree(h.project);
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error.message).toMatch(/opencode would still not load Third Loop here: ~\/\.config\/opencode\/opencode\.json lists "thirdloop" in disabled_providers.*Nothing was changed\./);
    expectSameTree(before, tree(h.project));
  });

  it.skipIf(needsOpencode())('the real opencode loads the provider after setup (checked on a copy without .opencode/)', async () => {
    const h = await project({ 'opencode.json': '{\n  "disabled_providers": ["thirdloop"]\n}\n' });
    await run(h.ctx, {});
    const copy = mkdtempSync(path.join(tmpdir(), 'opencode-copy-'));
    try {
      cpSync(h.project, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}.opencode`) });
      const real = await opencodeLoadsThirdloop(copy, h.home);
      expect(real.loaded, real.output).toBe(true);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('defect: a session plugin the user edited', () => {
  it('is kept by setup (with a word), replaced only with --force (backup kept), and put back by undo', async () => {
    const h = await project();
    const plugin = path.join(h.project, PLUGIN);
    await run(h.ctx, {});
    const mine = Buffer.concat([template, Buffer.from('// my tweak: also tag the agent name\n')]);
    writeFileSync(plugin, mine);

    await run(h.ctx, {});
    expect(readFileSync(plugin).equals(mine)).toBe(true);
    expect(h.stderr()).toMatch(/thirdloop-session\.ts is not the session plugin thirdloop writes.*--force/);

    await run(h.ctx, { force: true });
    expect(readFileSync(plugin).equals(template)).toBe(true);
    expect(readFileSync(`${plugin}.thirdloop-backup`).equals(mine)).toBe(true);

    await run(h.ctx, { undo: true });
    expect(readFileSync(plugin).equals(mine)).toBe(true);
    expect(existsSync(`${plugin}.thirdloop-backup`)).toBe(false);
  });

  it('a plugin someone else wrote before the first setup is not ours to delete', async () => {
    const theirs = Buffer.from('export const TeamPlugin = async () => ({})\n');
    const h = await project({ [PLUGIN]: theirs });
    await run(h.ctx, {});
    await run(h.ctx, { undo: true });
    expect(readFileSync(path.join(h.project, PLUGIN)).equals(theirs)).toBe(true);
  });
});

describe('not a regular file', () => {
  it('a FIFO opencode.json is refused at once (no hang) by setup, and skipped by undo', async () => {
    const h = await project();
    execFileSync('mkfifo', [path.join(h.project, 'opencode.json')]);
    const started = Date.now();
    const error = await Promise.race([run(h.ctx, {}).catch((e) => e), new Promise((r) => setTimeout(() => r(new Error('hung')), 10_000))]);
    expect((error as Error).message).toMatch(/opencode\.json: it is a FIFO \(named pipe\), not a regular file.*Nothing was changed/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(path.join(h.project, '.opencode'))).toBe(false);
    await run(h.ctx, { undo: true });
    expect(h.stderr()).toMatch(/opencode\.json is not a regular file; left alone/);
  });

  it.skipIf(!isRoot)('an opencode.json linked to a character device is refused and the device is untouched', async () => {
    const h = await project();
    // A device node of our own (the same as /dev/zero), so no system node is ever at stake.
    const device = path.join(h.home, 'zero');
    execFileSync('mknod', ['-m', '666', device, 'c', '1', '5']);
    symlinkSync(device, path.join(h.project, 'opencode.json'));
    const error = await run(h.ctx, {}).catch((e) => e);
    expect(error?.message).toMatch(/character device( \(it links to [^)]*\))?, not a regular file/);
    expect(statSync(device).isCharacterDevice()).toBe(true);
    expect(lstatSync(path.join(h.project, 'opencode.json')).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(h.project, '.opencode'))).toBe(false);
  });
});

describe('--keep-providers, and saying what enabled_providers does', () => {
  const config = '{\n  "provider": { "anthropic": { "options": { "apiKey": "{env:MY_ANTHROPIC_KEY}" } } }\n}\n';

  it('by default says plainly that the other providers are switched off', async () => {
    const h = await project({ 'opencode.json': config });
    await run(h.ctx, {});
    expect(parse(path.join(h.project, 'opencode.json')).enabled_providers).toEqual(['thirdloop']);
    expect(h.stderr()).toMatch(/opencode here uses only Third Loop, and every other provider .* is switched off\. To keep them on, run again with --keep-providers\./);
    const [verdict] = await checkOpencode({ cwd: h.project, homedir: h.home, env: h.ctx.env, platform: 'linux' }, h0.server.url);
    expect(verdict!.message).toMatch(/only Third Loop is enabled/);
  });

  it('--keep-providers adds ours without an allowlist; a re-run with it drops the list a first run made; doctor says which', async () => {
    const h = await project({ 'opencode.json': config });
    const file = path.join(h.project, 'opencode.json');
    await run(h.ctx, { keepProviders: true });
    expect(parse(file).enabled_providers).toBeUndefined();
    expect(h.stderr()).toMatch(/no enabled_providers list, so opencode keeps every other provider/);
    const where = { cwd: h.project, homedir: h.home, env: h.ctx.env, platform: 'linux' as const };
    expect((await checkOpencode(where, h0.server.url))[0]!.message).toMatch(/other providers stay on/);

    const h2 = await project({ 'opencode.json': config });
    await run(h2.ctx, {});
    await run(h2.ctx, { keepProviders: true });
    expect(parse(path.join(h2.project, 'opencode.json')).enabled_providers).toBeUndefined();
    await run(h2.ctx, { undo: true });
    expect(readFileSync(path.join(h2.project, 'opencode.json'), 'utf8')).toBe(config);
  });

  it('--keep-providers where the global config has an allowlist: ours is added next to it in the project', async () => {
    const h = await project({ 'opencode.json': config }, { homeFiles: { '.config/opencode/opencode.json': '{ "enabled_providers": ["anthropic"] }\n' } });
    await run(h.ctx, { keepProviders: true });
    expect(parse(path.join(h.project, 'opencode.json')).enabled_providers).toEqual(['anthropic', 'thirdloop']);
    await run(h.ctx, { undo: true });
    expect(readFileSync(path.join(h.project, 'opencode.json'), 'utf8')).toBe(config);
  });
});

describe.skipIf(!isRoot)('run as root', () => {
  it('defect: a read-only plugin makes setup refuse before opencode.json is touched ("Nothing was changed" is true)', async () => {
    const original = '{\n  "theme": "opencode"\n}\n';
    const h = await project({ 'opencode.json': original, [PLUGIN]: 'export const Old = async () => ({})\n' });
    chmodSync(path.join(h.project, PLUGIN), 0o444);
    const before = tree(h.project);
    const error = await run(h.ctx, { force: true }).catch((e) => e);
    expect(error.message).toMatch(/thirdloop-session\.ts: it is read-only \(mode 0444\)\. Nothing was changed\./);
    expectSameTree(before, tree(h.project));
  });

  it.skipIf(!canChattr())('a write that fails part-way (immutable plugin) is rolled back: opencode.json is exactly as before', async () => {
    const original = Buffer.from('{\n  "username": "José"\n}\n', 'latin1');
    const h = await project({ 'opencode.json': original, [PLUGIN]: 'export const Old = async () => ({})\n' });
    makeImmutable(path.join(h.project, PLUGIN));
    try {
      const before = tree(h.project);
      const error = await run(h.ctx, { force: true }).catch((e) => e);
      expect(error.message).toMatch(/Nothing was changed\./);
      expectSameTree(before, tree(h.project));
    } finally {
      clearImmutable(h.project);
    }
  });

  describe.skipIf(needs('setpriv'))('another user’s project', () => {
    it('keeps every owner and mode, new files belong to the project’s owner (who can still edit them), undo gives back all', async () => {
      const base = mkdtempSync(path.join(tmpdir(), 'thirdloop-other-uid-'));
      chmodSync(base, 0o755);
      const dir = path.join(base, 'project');
      const uid = 65534;
      const gid = 65534;
      try {
        const h = await h0.harness({ project: dir });
        execFileSync('git', ['init', '-q', dir]);
        const original = Buffer.from('{\n  // réglages\n  "theme": "opencode"\n}\n', 'latin1');
        writeFileSync(path.join(dir, 'opencode.json'), original);
        chmodSync(path.join(dir, 'opencode.json'), 0o664);
        execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
        const before = tree(dir);

        await run(h.ctx, { agentsMd: true });
        for (const rel of ['opencode.json', 'opencode.json.thirdloop-backup', '.opencode', '.opencode/plugins', PLUGIN, 'AGENTS.md']) {
          const st = statSync(path.join(dir, rel));
          expect({ rel, uid: st.uid, gid: st.gid }).toEqual({ rel, uid, gid });
        }
        expect(statSync(path.join(dir, 'opencode.json')).mode & 0o777).toBe(0o664);
        // The owner, as themselves, can still write everything setup left.
        const asOwner = execFileSync('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--clear-groups', '--', 'sh', '-c', `cd '${dir}' && test -w opencode.json && test -w ${PLUGIN} && test -w AGENTS.md && echo ok`], { encoding: 'utf8' });
        expect(asOwner.trim()).toBe('ok');

        await run(h.ctx, { undo: true });
        expectSameTree(before, tree(dir));
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    });
  });
});
