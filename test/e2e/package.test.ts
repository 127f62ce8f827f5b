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

  test('the tarball: a manifest without scripts, dev dependencies or workspaces; LICENSE, README, the help and the keychain addon for every platform', () => {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    for (const file of ['package/package.json', 'package/LICENSE', 'package/README.md', 'package/bin/thirdloop.js', 'package/dist/main.js', 'package/dist/help.txt', 'package/dist/keytar/LICENSE.md']) {
      expect(list).toContain(file);
    }
    for (const platform of ['linux-x64', 'linux-arm64', 'linuxmusl-x64', 'darwin-arm64', 'darwin-x64', 'win32-x64']) {
      expect(list).toContain(`package/dist/keytar/${platform}/keytar.node`);
    }
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    for (const field of ['scripts', 'devDependencies', 'workspaces', 'allowScripts', 'dependencies', 'optionalDependencies']) {
      expect(manifest, field).not.toHaveProperty(field);
    }
    expect(manifest).toMatchObject({ name: 'thirdloop', version, license: 'MIT', bin: { thirdloop: 'bin/thirdloop.js' } });
  });

  test('npm install <tarball> into an empty folder prints no warning, brings one package, and the CLI and its keychain addon run', () => {
    const project = mkdtempSync(join(tmpdir(), 'thirdloop-empty-'));
    try {
      const install = npm(['install', tarball], project, join(work, 'cache'));
      expect(install.status, install.output).toBe(0);
      expect(install.output).not.toMatch(/warn/i);
      expect(install.output).toMatch(/added 1 package/);
      expect(readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['thirdloop']);
      const bin = join(project, 'node_modules', '.bin', 'thirdloop');
      expect(execFileSync(bin, ['--version'], { encoding: 'utf8' })).toBe(`${version}\n`);
      const addon = join(project, 'node_modules', 'thirdloop', 'dist', 'keytar', `${process.platform}-${process.arch}`, 'keytar.node');
      const loaded = spawnSync(process.execPath, ['-e', `const k = require(${JSON.stringify(addon)}); process.stdout.write(typeof k.getPassword)`], { encoding: 'utf8' });
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
