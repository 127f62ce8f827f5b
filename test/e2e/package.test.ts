/**
 * `npx thirdloop` as a new user meets it: `npm pack` from a copy of this
 * repository (its prepack builds dist/ and writes the published manifest,
 * postpack puts the repository's back), then the tarball installed into an
 * empty folder, and run through npx, with npm's output checked for warnings.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers/cli.js';

const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

/** npm with its own empty cache, so runs do not share state with the machine's (or lock it). */
function npm(args: string[], cwd: string, cache: string) {
  const r = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: 'false', npm_config_fund: 'false' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

describe('the published package', () => {
  let work: string;
  let copy: string;
  let tarball: string;
  let pack: { status: number | null; output: string };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'thirdloop-package-'));
    // The repository as a clone has it (tracked and new files, nothing ignored), with its node_modules for the build.
    copy = join(work, 'repo');
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const file of files) {
      if (!existsSync(join(ROOT, file))) continue; // deleted in the work tree
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      cpSync(join(ROOT, file), join(copy, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    mkdirSync(join(work, 'out'));
    pack = npm(['pack', '--pack-destination', join(work, 'out')], copy, join(work, 'cache'));
    tarball = join(work, 'out', `thirdloop-${version}.tgz`);
  }, 300_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('npm pack from the repository works and leaves its package.json as it was', () => {
    expect(pack.status, pack.output).toBe(0);
    expect(existsSync(tarball)).toBe(true);
    expect(readFileSync(join(copy, 'package.json'), 'utf8')).toBe(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(existsSync(join(copy, '.tmp', 'package.json.repository'))).toBe(false);
  });

  test('the tarball: a manifest without scripts, dev dependencies or workspaces (the keychain binding its only dependency); LICENSE, README, the help', () => {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    for (const file of ['package/package.json', 'package/LICENSE', 'package/README.md', 'package/bin/thirdloop.js', 'package/dist/main.js', 'package/dist/help.txt']) {
      expect(list).toContain(file);
    }
    expect(list.filter((f) => !/^package\/(package\.json|LICENSE|README\.md|bin\/|dist\/|templates\/)/.test(f))).toEqual([]);
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    for (const field of ['scripts', 'devDependencies', 'workspaces', 'allowScripts', 'dependencies']) {
      expect(manifest, field).not.toHaveProperty(field);
    }
    expect(manifest).toMatchObject({ name: 'thirdloop', version, license: 'MIT', bin: { thirdloop: 'bin/thirdloop.js' } });
    expect(Object.keys(manifest.optionalDependencies)).toEqual(['@napi-rs/keyring']);
  });

  test('npm install <tarball> into an empty folder prints no warning, and the CLI and its keychain binding run', () => {
    const project = mkdtempSync(join(tmpdir(), 'thirdloop-empty-'));
    try {
      const install = npm(['install', tarball], project, join(work, 'cache'));
      expect(install.status, install.output).toBe(0);
      expect(install.output).not.toMatch(/warn/i);
      expect(install.output).toMatch(/added \d+ packages?/);
      expect(readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.')).sort()).toEqual(['@napi-rs', 'thirdloop']);
      const bin = join(project, 'node_modules', '.bin', 'thirdloop');
      expect(execFileSync(bin, ['--version'], { encoding: 'utf8' })).toBe(`${version}\n`);
      // The binding for this platform came with it and loads.
      const loaded = spawnSync(process.execPath, ['-e', `process.stdout.write(typeof require('@napi-rs/keyring').AsyncEntry)`], { cwd: project, encoding: 'utf8' });
      expect(loaded.stdout, loaded.stderr).toBe('function');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  test('npx thirdloop from the tarball runs, quietly', () => {
    const project = mkdtempSync(join(tmpdir(), 'thirdloop-npx-'));
    try {
      const run = npm(['exec', '--yes', `--package=${tarball}`, '--', 'thirdloop', '--version'], project, join(work, 'npx-cache'));
      expect(run.status, run.output).toBe(0);
      expect(run.stdout).toBe(`${version}\n`);
      expect(run.output).not.toMatch(/warn/i);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
