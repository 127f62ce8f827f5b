/**
 * Which config files opencode reads in a folder and whether it then loads
 * the `thirdloop` provider, as `setup opencode` and `doctor` model it
 * (src/clients/opencode-effective.ts), against the real opencode started in
 * the same folder with the same HOME. Each fixture is a whole project: a git
 * repository, its parent folders, a global config under the HOME, the
 * managed folder.
 *
 * Folders holding a `.opencode/` directory are left out here: opencode runs
 * an npm install in each of them before it answers (tens of seconds on the
 * network); the layers they add are covered by the unit tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configLayers, effectiveConfig, providerLoaded } from '../../src/clients/opencode-effective.js';
import { checkOpencode } from '../../src/doctor/opencode.js';
import { needsOpencode, opencodeLoadsThirdloop } from '../helpers/opencode.js';
import { pool } from '../robustness/tree.js';

const URL_ = 'https://thirdloop.example.com';
const ours = (extra: Record<string, unknown> = {}) => ({
  provider: {
    thirdloop: {
      npm: '@ai-sdk/anthropic',
      name: 'Third Loop',
      options: { baseURL: `${URL_}/v1`, apiKey: '{env:ANTHROPIC_API_KEY}' },
      models: { 'claude-sonnet-4-5': { name: 'Claude Sonnet 4.5' } },
    },
  },
  model: 'thirdloop/claude-sonnet-4-5',
  ...extra,
});
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

interface Fixture {
  name: string;
  /** Relative to the fixture root: `home/…`, `repo/…`, `managed/…`. The repository is `repo/` (git init). */
  files: Record<string, string>;
  /** Where opencode starts, relative to the root (default `repo`). */
  cwd?: string;
  /** Environment for both (paths relative to the root are made absolute). */
  env?: Record<string, string>;
  loaded: boolean;
}

const fixtures: Fixture[] = [
  { name: 'our provider in the project', files: { 'repo/opencode.json': json(ours()) }, loaded: true },
  { name: 'disabled_providers lists us', files: { 'repo/opencode.json': json(ours({ disabled_providers: ['thirdloop'] })) }, loaded: false },
  { name: 'listed in both enabled and disabled: disabled wins', files: { 'repo/opencode.json': json(ours({ enabled_providers: ['thirdloop'], disabled_providers: ['thirdloop'] })) }, loaded: false },
  { name: 'global allowlist without us applies to the project', files: { 'home/.config/opencode/opencode.json': json({ enabled_providers: ['anthropic'] }), 'repo/opencode.json': json(ours()) }, loaded: false },
  { name: 'the project list replaces the global one', files: { 'home/.config/opencode/opencode.json': json({ enabled_providers: ['anthropic'] }), 'repo/opencode.json': json(ours({ enabled_providers: ['thirdloop'] })) }, loaded: true },
  { name: 'global disabled list applies where the project has none', files: { 'home/.config/opencode/opencode.jsonc': `// global\n${json({ disabled_providers: ['thirdloop'] })}`, 'repo/opencode.json': json(ours()) }, loaded: false },
  { name: 'an empty project disabled list replaces the global one', files: { 'home/.config/opencode/opencode.json': json({ disabled_providers: ['thirdloop'] }), 'repo/opencode.json': json(ours({ disabled_providers: [] })) }, loaded: true },
  { name: 'the .jsonc wins over the .json in one folder', files: { 'repo/opencode.json': json(ours({ enabled_providers: ['thirdloop'] })), 'repo/opencode.jsonc': json({ enabled_providers: ['anthropic'] }) }, loaded: false },
  { name: 'the .jsonc wins over the .json (the other way)', files: { 'repo/opencode.json': json(ours({ enabled_providers: ['anthropic'] })), 'repo/opencode.jsonc': json({ enabled_providers: ['thirdloop'] }) }, loaded: true },
  { name: 'the repository root is read from a subfolder', files: { 'repo/opencode.json': json({ disabled_providers: ['thirdloop'] }), 'repo/packages/app/opencode.json': json(ours()) }, cwd: 'repo/packages/app', loaded: false },
  { name: 'the nearer folder overrides the repository root', files: { 'repo/opencode.json': json({ disabled_providers: ['thirdloop'] }), 'repo/packages/app/opencode.json': json(ours({ disabled_providers: [] })) }, cwd: 'repo/packages/app', loaded: true },
  { name: 'a folder above the repository is not read', files: { 'opencode.json': json({ disabled_providers: ['thirdloop'] }), 'repo/opencode.json': json(ours()) }, loaded: true },
  { name: 'the provider only in the global config', files: { 'home/.config/opencode/opencode.json': json(ours()), 'repo/opencode.json': json({ theme: 'tokyonight' }) }, loaded: true },
  { name: 'the managed folder overrides everything', files: { 'managed/opencode.json': json({ disabled_providers: ['thirdloop'] }), 'repo/opencode.json': json(ours()) }, env: { OPENCODE_TEST_MANAGED_CONFIG_DIR: 'managed' }, loaded: false },
  { name: 'OPENCODE_CONFIG is read before the project', files: { 'custom.json': json({ enabled_providers: ['anthropic'] }), 'repo/opencode.json': json(ours()) }, env: { OPENCODE_CONFIG: 'custom.json' }, loaded: false },
  { name: 'a whitelist that leaves no model', files: { 'repo/opencode.json': json({ ...ours(), provider: { thirdloop: { ...ours().provider.thirdloop, whitelist: ['claude-opus-9'] } } }) }, loaded: false },
  { name: 'a provider with no models', files: { 'repo/opencode.json': json({ ...ours(), provider: { thirdloop: { ...ours().provider.thirdloop, models: {} } } }) }, loaded: false },
  { name: 'only deprecated models', files: { 'repo/opencode.json': json({ ...ours(), provider: { thirdloop: { ...ours().provider.thirdloop, models: { old: { name: 'Old', status: 'deprecated' } } } } }) }, loaded: false },
];

interface Outcome {
  real: { loaded: boolean; answered: boolean; output: string };
  modelled: boolean;
  doctor: { status: string; message: string };
}

/** Lays the fixture out under `base`; returns where opencode starts and what our model is given. */
function build(base: string, fixture: Fixture) {
  const root = path.join(base, fixture.name.replace(/[^a-z0-9]+/gi, '-'));
  for (const dir of ['home', 'repo']) mkdirSync(path.join(root, dir), { recursive: true });
  execFileSync('git', ['init', '-q', path.join(root, 'repo')]);
  for (const [rel, text] of Object.entries(fixture.files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  const env = Object.fromEntries(Object.entries(fixture.env ?? {}).map(([k, v]) => [k, path.join(root, v)]));
  const cwd = path.join(root, fixture.cwd ?? 'repo');
  const home = path.join(root, 'home');
  const managed = env.OPENCODE_TEST_MANAGED_CONFIG_DIR ?? path.join(root, 'no-managed');
  const where = { cwd, homedir: home, env: { ...env, OPENCODE_TEST_MANAGED_CONFIG_DIR: managed }, platform: 'linux' as const };
  return { cwd, home, env, where };
}

async function judge(base: string, fixture: Fixture): Promise<Outcome> {
  const { cwd, home, env, where } = build(base, fixture);
  const real = await opencodeLoadsThirdloop(cwd, home, env);
  const modelled = providerLoaded(await effectiveConfig(configLayers(where))).loaded;
  const [verdict] = await checkOpencode(where, URL_);
  return { real, modelled, doctor: { status: verdict!.status, message: verdict!.message } };
}

/** The fixtures run against the real opencode (each start costs seconds); the others are checked against our model only. */
const REAL = new Set(['our provider in the project', 'disabled_providers lists us', 'global allowlist without us applies to the project', 'the project list replaces the global one', 'the .jsonc wins over the .json in one folder', 'the repository root is read from a subfolder', 'the managed folder overrides everything', 'a provider with no models']);

describe.skipIf(needsOpencode())('what opencode loads: our model of it against the real opencode', () => {
  let base: string;
  const outcomes = new Map<string, Outcome>();
  beforeAll(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'opencode-judge-'));
    // Two at a time: each opencode start is a 185 MB binary.
    const real = fixtures.filter((f) => REAL.has(f.name));
    const results = await pool(2, real.map((f) => () => judge(base, f)));
    real.forEach((f, i) => outcomes.set(f.name, results[i]!));
  }, 900_000);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.each(fixtures.filter((f) => REAL.has(f.name)))('$name', (fixture) => {
    const { real, modelled, doctor } = outcomes.get(fixture.name)!;
    expect(real.answered, real.output).toBe(true);
    expect(real.loaded, real.output).toBe(fixture.loaded);
    expect(modelled).toBe(real.loaded);
    // doctor's verdict for this folder agrees: ✗ exactly when opencode does not load the provider.
    expect(doctor.status === 'fail', doctor.message).toBe(!real.loaded);
  });
});

describe('what opencode loads: our model of it on every fixture', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(tmpdir(), 'opencode-model-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.each(fixtures)('$name', async (fixture) => {
    const { where } = build(base, fixture);
    expect(providerLoaded(await effectiveConfig(configLayers(where))).loaded).toBe(fixture.loaded);
    const [verdict] = await checkOpencode(where, URL_);
    expect(verdict!.status === 'fail', verdict!.message).toBe(!fixture.loaded);
  });
});
