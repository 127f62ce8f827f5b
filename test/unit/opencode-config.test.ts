import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { visit } from 'jsonc-parser';
import {
  FALLBACK_MODELS,
  applyOpencodeConfig,
  chooseConfigFile,
  globalConfigDir,
  locations,
  normalizeBaseURL,
  pickDefaultModel,
  pickSmallModel,
  providerBlock,
  removeOpencodeConfig,
  toOpencodeModels,
  upsertAgentsBlock,
  removeAgentsBlock,
  AGENTS_MARKERS,
  packageRoot,
  pluginTemplatePath,
  type InstanceModel,
} from '../../src/clients/opencode.js';
import { parseJsoncObject } from '../../src/files/jsonc-edit.js';
import { corpusFiles } from '../helpers/corpus.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const schema = JSON.parse(readFileSync(path.join(here, '../fixtures/opencode/config.schema.json'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validateConfig = ajv.compile(schema);
const validateProvider = ajv.getSchema('https://opencode.ai/config.json#/$defs/ProviderConfig')!;

const corpusPaths = corpusFiles('opencode', /\.jsonc?$/);
const corpusDir = corpusPaths.length ? path.dirname(corpusPaths[0]!) : '';
const corpus = corpusPaths.map((f) => path.basename(f));

const instanceModels: InstanceModel[] = [
  { id: 'claude-opus-4-5-20251101', display_name: 'Claude Opus 4.5', created_at: '2025-11-01T00:00:00Z' },
  { id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
  { id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-01T00:00:00Z' },
];
const block = providerBlock('https://tl.example.com/v1', toOpencodeModels(instanceModels));

function comments(text: string): string[] {
  const found: string[] = [];
  visit(text, { onComment: (offset, length) => found.push(text.slice(offset, offset + length)) });
  return found;
}

describe('generated opencode.json', () => {
  const { text, record } = applyOpencodeConfig(undefined, block, 'claude-sonnet-4-5-20250929', 'opencode.json');
  const config = JSON.parse(text);

  it("validates against opencode's schema", () => {
    expect(validateConfig(config), JSON.stringify(validateConfig.errors)).toBe(true);
  });

  it('has every field as specified', () => {
    expect(config.$schema).toBe('https://opencode.ai/config.json');
    expect(config.enabled_providers).toEqual(['thirdloop']);
    expect(config.model).toBe('thirdloop/claude-sonnet-4-5-20250929');
    const p = config.provider.thirdloop;
    expect(p.npm).toBe('@ai-sdk/anthropic');
    expect(p.name).toBe('Third Loop');
    expect(p.options).toEqual({
      baseURL: 'https://tl.example.com/v1',
      apiKey: '{env:ANTHROPIC_API_KEY}',
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(Object.keys(p.models)).toEqual(instanceModels.map((m) => m.id));
    expect(p.models['claude-opus-4-5-20251101']).toMatchObject({
      name: 'Claude Opus 4.5',
      tool_call: true,
      attachment: true,
      limit: { context: 200000, output: 64000 },
      release_date: '2025-11-01',
    });
    expect(Object.keys(config.provider)).toEqual(['thirdloop']);
    expect(record).toMatchObject({ createdFile: true, addedSchema: true, enabledProviders: 'created', previousModel: undefined });
  });

  it('ends with a newline and uses two-space indentation', () => {
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toMatch(/^\{\n {2}"\$schema"/);
  });

  it('falls back to Sonnet and Opus 4.5', () => {
    const models = toOpencodeModels(FALLBACK_MODELS);
    expect(Object.keys(models)).toEqual(['claude-sonnet-4-5', 'claude-opus-4-5']);
    expect(pickDefaultModel(FALLBACK_MODELS)).toBe('claude-sonnet-4-5');
    const out = JSON.parse(applyOpencodeConfig(undefined, providerBlock('http://x/v1', models), 'claude-sonnet-4-5', 'f').text);
    expect(validateConfig(out)).toBe(true);
  });
});

describe('default model', () => {
  it('prefers the newest Sonnet, honours --model, refuses an unknown one', () => {
    expect(pickDefaultModel(instanceModels)).toBe('claude-sonnet-4-5-20250929');
    expect(pickDefaultModel(instanceModels, 'claude-opus-4-5-20251101')).toBe('claude-opus-4-5-20251101');
    expect(pickDefaultModel(instanceModels, 'thirdloop/claude-haiku-4-5-20251001')).toBe('claude-haiku-4-5-20251001');
    expect(() => pickDefaultModel(instanceModels, 'gpt-5')).toThrow(/does not offer "gpt-5"/);
    expect(pickDefaultModel([{ id: 'claude-opus-4-1' }])).toBe('claude-opus-4-1');
  });
});

describe('normalizeBaseURL', () => {
  it.each([
    ['https://tl.example.com', 'https://tl.example.com/v1'],
    ['https://tl.example.com/', 'https://tl.example.com/v1'],
    ['  https://tl.example.com/v1/  ', 'https://tl.example.com/v1'],
    ['https://tl.example.com/v1/v1', 'https://tl.example.com/v1'],
    ['https://tl.example.com/gw/', 'https://tl.example.com/gw/v1'],
    ['http://127.0.0.1:8080/V1', 'http://127.0.0.1:8080/v1'],
    ['https://tl.example.com/v1?x=1#y', 'https://tl.example.com/v1'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeBaseURL(input)).toBe(expected);
  });

  it('refuses what is not an http(s) URL', () => {
    expect(() => normalizeBaseURL('tl.example.com')).toThrow(/not a URL/);
    expect(() => normalizeBaseURL('ftp://tl.example.com')).toThrow(/http/);
  });
});

describe('locations', () => {
  const linux = { cwd: '/home/u/proj', homedir: '/home/u', env: {}, platform: 'linux' as const };

  it('project scope: opencode.json in the project, plugin in .opencode/plugins', () => {
    const loc = locations('project', linux);
    expect(loc.candidates).toEqual(['/home/u/proj/opencode.json', '/home/u/proj/opencode.jsonc']);
    expect(loc.pluginFile).toBe('/home/u/proj/.opencode/plugins/thirdloop-session.ts');
    expect(loc.agentsFile).toBe('/home/u/proj/AGENTS.md');
    expect(loc.ignoredDotFile).toBe('/home/u/proj/.opencode.json');
  });

  it('global scope respects XDG_CONFIG_HOME', () => {
    expect(locations('global', linux).candidates[0]).toBe('/home/u/.config/opencode/opencode.json');
    const xdg = locations('global', { ...linux, env: { XDG_CONFIG_HOME: '/xdg' } });
    expect(xdg.candidates[0]).toBe('/xdg/opencode/opencode.json');
    expect(xdg.pluginFile).toBe('/xdg/opencode/plugins/thirdloop-session.ts');
    // A relative XDG_CONFIG_HOME is invalid per the spec: ignored.
    expect(globalConfigDir({ ...linux, env: { XDG_CONFIG_HOME: 'rel' } })).toBe('/home/u/.config/opencode');
  });

  it('Windows: %USERPROFILE%\\.config\\opencode, as opencode itself resolves it', () => {
    const win = { cwd: 'C:\\work\\proj', homedir: 'C:\\Users\\u', env: { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, platform: 'win32' as const };
    const g = locations('global', win);
    expect(g.candidates[0]).toBe('C:\\Users\\u\\.config\\opencode\\opencode.json');
    expect(g.pluginFile).toBe('C:\\Users\\u\\.config\\opencode\\plugins\\thirdloop-session.ts');
    const p = locations('project', win);
    expect(p.candidates[1]).toBe('C:\\work\\proj\\opencode.jsonc');
    expect(p.pluginFile).toBe('C:\\work\\proj\\.opencode\\plugins\\thirdloop-session.ts');
    expect(globalConfigDir({ ...win, env: { XDG_CONFIG_HOME: 'D:\\cfg' } })).toBe('D:\\cfg\\opencode');
  });

  it('edits the .jsonc when it exists, else the .json', () => {
    const loc = locations('project', linux);
    expect(chooseConfigFile(loc, () => false)).toBe(loc.candidates[0]);
    expect(chooseConfigFile(loc, (f) => f.endsWith('.jsonc'))).toBe(loc.candidates[1]);
    expect(chooseConfigFile(loc, () => true)).toBe(loc.candidates[1]);
  });
});

describe('merging into existing files', () => {
  it('refuses invalid JSON with line and column', () => {
    expect(() => applyOpencodeConfig('{\n  "a": 1\n  "b": 2\n}\n', block, 'm', 'opencode.json')).toThrow(
      /opencode\.json is not valid JSON: comma expected at line 3, column 3/,
    );
  });

  it('appends to an existing allowlist and keeps the user model for undo', () => {
    const original = '{\n  "model": "anthropic/claude-x",\n  "enabled_providers": ["openai"]\n}\n';
    const { text, record } = applyOpencodeConfig(original, block, 'claude-sonnet-4-5-20250929', 'f');
    const parsed = JSON.parse(text);
    expect(parsed.enabled_providers).toEqual(['openai', 'thirdloop']);
    expect(record).toMatchObject({ enabledProviders: 'appended', previousModel: 'anthropic/claude-x', createdFile: false });
    const undone = removeOpencodeConfig(text, 'f', record);
    expect(undone.text).toBe(original);
  });

  it('re-running replaces our block and keeps the first record', () => {
    const original = '{\n  "model": "openai/gpt"\n}\n';
    const first = applyOpencodeConfig(original, block, 'claude-sonnet-4-5-20250929', 'f');
    const second = applyOpencodeConfig(first.text, block, 'claude-opus-4-5-20251101', 'f', first.record);
    expect(JSON.parse(second.text).model).toBe('thirdloop/claude-opus-4-5-20251101');
    expect(second.record).toEqual(first.record);
    expect((second.text.match(/"thirdloop": \{/g) ?? []).length).toBe(1);
    expect(removeOpencodeConfig(second.text, 'f', second.record).text).toBe(original);
  });

  it('small_model: replaced only when the allowlist would switch its provider off; undo puts it back', () => {
    const off = '{\n  "small_model": "openai/gpt-5-nano"\n}\n';
    const a = applyOpencodeConfig(off, block, 'claude-sonnet-4-5-20250929', 'f', undefined, pickSmallModel(instanceModels, 'x'));
    expect(JSON.parse(a.text).small_model).toBe('thirdloop/claude-haiku-4-5-20251001');
    expect(a.record).toMatchObject({ changedSmallModel: true, previousSmallModel: 'openai/gpt-5-nano' });
    expect(removeOpencodeConfig(a.text, 'f', a.record).text).toBe(off);

    const allowed = '{\n  "small_model": "openai/gpt-5-nano",\n  "enabled_providers": ["openai"]\n}\n';
    const b = applyOpencodeConfig(allowed, block, 'claude-sonnet-4-5-20250929', 'f', undefined, 'claude-haiku-4-5-20251001');
    expect(JSON.parse(b.text).small_model).toBe('openai/gpt-5-nano');
    expect(b.record.changedSmallModel).toBeUndefined();

    expect(pickSmallModel([{ id: 'claude-opus-4-5' }], 'claude-opus-4-5')).toBe('claude-opus-4-5');
  });

  it('undo without a record removes only what is ours', () => {
    const original = '{\n  "theme": "x"\n}\n';
    const { text } = applyOpencodeConfig(original, block, 'claude-sonnet-4-5-20250929', 'f');
    const undone = parseJsoncObject(removeOpencodeConfig(text, 'f').text, 'f').value;
    expect(undone).toEqual({ theme: 'x', $schema: 'https://opencode.ai/config.json' });
  });

  it('undo of a file we created leaves nothing', () => {
    const { text, record } = applyOpencodeConfig(undefined, block, 'claude-sonnet-4-5-20250929', 'f');
    const undone = removeOpencodeConfig(text, 'f', record);
    expect(undone.empty).toBe(true);
  });

  // corpusFiles() fails under CI when the folder is empty or incomplete, so this never runs zero cases there.
  describe.skipIf(corpus.length === 0).each(corpus)('%s', (name) => {
    const original = readFileSync(path.join(corpusDir, name), 'utf8');
    const before = parseJsoncObject(original, name).value;
    const { text, record } = applyOpencodeConfig(original, block, 'claude-sonnet-4-5-20250929', name, undefined, 'claude-haiku-4-5-20251001');
    const after = parseJsoncObject(text, name).value;

    it('keeps every other key', () => {
      const rest = structuredClone(after) as Record<string, any>;
      delete rest.provider.thirdloop;
      if (before.provider === undefined) delete rest.provider;
      if (before.$schema === undefined) delete rest.$schema;
      if (before.model !== undefined) rest.model = before.model;
      else delete rest.model;
      if (Array.isArray(before.enabled_providers)) rest.enabled_providers = rest.enabled_providers.filter((p: string) => p !== 'thirdloop');
      else delete rest.enabled_providers;
      if (record.changedSmallModel) rest.small_model = before.small_model;
      expect(rest).toEqual(before);
    });

    it('sets ours', () => {
      const a = after as Record<string, any>;
      // A small_model on a provider the allowlist now excludes would break titles: it becomes ours.
      if (typeof before.small_model === 'string') {
        const provider = before.small_model.split('/')[0]!;
        expect(a.small_model).toBe(a.enabled_providers.includes(provider) ? before.small_model : 'thirdloop/claude-haiku-4-5-20251001');
      }
      expect(a.model).toBe('thirdloop/claude-sonnet-4-5-20250929');
      expect(a.enabled_providers).toContain('thirdloop');
      expect(a.provider.thirdloop).toEqual(block);
      expect(validateProvider(a.provider.thirdloop), JSON.stringify(validateProvider.errors)).toBe(true);
    });

    it('keeps every comment, in order, and the line endings', () => {
      const was = comments(original);
      const now = comments(text);
      let i = 0;
      for (const c of now) if (c === was[i]) i++;
      expect(i).toBe(was.length);
      expect(text.includes('\r\n')).toBe(original.includes('\r\n'));
      expect(text.endsWith('\n')).toBe(original.endsWith('\n'));
    });

    it('undo restores the original bytes', () => {
      const undone = removeOpencodeConfig(text, name, record);
      expect(parseJsoncObject(undone.text, name).value).toEqual(before);
      expect(undone.text).toBe(original);
    });

    it('CRLF copy: stays CRLF and undo restores it', () => {
      const crlf = original.replace(/\r?\n/g, '\r\n');
      const merged = applyOpencodeConfig(crlf, block, 'claude-sonnet-4-5-20250929', name, undefined, 'claude-haiku-4-5-20251001');
      expect(merged.text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
      expect(removeOpencodeConfig(merged.text, name, merged.record).text).toBe(crlf);
    });
  });
});

describe('AGENTS.md block', () => {
  it('adds once, replaces on re-run, removes cleanly', () => {
    const original = '# Project\n\nRules.\n';
    const once = upsertAgentsBlock(original);
    expect(once.startsWith(original)).toBe(true);
    expect(once).toContain('"Third Loop"');
    expect(once).toContain('Never commit');
    expect(upsertAgentsBlock(once)).toBe(once);
    expect(once.split(AGENTS_MARKERS.start).length).toBe(2);
    expect(removeAgentsBlock(once)).toBe(original);
    expect(removeAgentsBlock(upsertAgentsBlock(undefined))).toBeUndefined();
    const crlf = '# P\r\n';
    expect(upsertAgentsBlock(crlf).replace(/\r\n/g, '')).not.toContain('\n');
    expect(removeAgentsBlock(upsertAgentsBlock(crlf))).toBe(crlf);
  });
});

describe('template location', () => {
  it('finds the package root from src and from a dist chunk path', () => {
    const root = path.resolve(here, '../..');
    expect(packageRoot()).toBe(root);
    expect(packageRoot(path.join(root, 'dist/commands/setup/opencode.js'))).toBe(root);
    expect(packageRoot(path.join(root, 'dist/chunk-ABC.js'))).toBe(root);
    expect(pluginTemplatePath()).toBe(path.join(root, 'templates/thirdloop-session.ts'));
  });
});
