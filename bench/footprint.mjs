// Install footprint of the published CLI: `npm pack` it as a clean publish would (a fresh build in a
// staging copy, because dist/ here is never cleaned and keeps stale chunks), then `npm install` the
// tarball into an empty project and count what lands in node_modules.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';
import { publishManifest } from '../scripts/publish-manifest.mjs';

function run(command, args, cwd, timeout = 120_000) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`);
  return r.stdout;
}

/** Bytes of every regular file under dir (what "unpacked size" means on npm). */
function treeSize(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeSize(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Installed packages: every directory under node_modules (nested too) that holds a package.json. */
function countPackages(nodeModules) {
  let count = 0;
  const names = [];
  const visit = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        visit(path);
        continue;
      }
      if (existsSync(join(path, 'package.json'))) {
        count++;
        names.push(path.slice(nodeModules.length + 1));
      }
      visit(join(path, 'node_modules'));
    }
  };
  visit(nodeModules);
  return { count, names };
}

export function measureFootprint({ log = () => {} } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'thirdloop-bench-pack-'));
  try {
    const stage = join(work, 'stage');
    mkdirSync(stage);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const entry of ['README.md', 'LICENSE', ...(pkg.files ?? [])]) {
      if (entry === 'dist' || !existsSync(join(ROOT, entry))) continue;
      cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
    }
    // The manifest as `npm pack` publishes it (scripts/publish-manifest.mjs).
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(publishManifest(pkg), null, 2)}\n`);
    log('  building a clean dist/ for the tarball…');
    run(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--out-dir', join(stage, 'dist'), '--silent'], ROOT);
    const packOut = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], stage));
    const info = packOut[0];
    const tarball = join(work, info.filename);
    const tarballSize = statSync(tarball).size;

    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{"name":"footprint-probe","version":"1.0.0","private":true}\n');
    log('  installing the tarball into an empty project…');
    let installNote = '';
    try {
      run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], project, 150_000);
    } catch (error) {
      // No registry reachable: the optional keychain addon cannot come; measure without it and say so.
      run('npm', ['install', tarball, '--no-audit', '--no-fund', '--offline', '--omit=optional', '--loglevel=error'], project, 60_000);
      installNote = `optional @napi-rs/keyring not installed (${error.message.slice(0, 80)})`;
    }
    const nodeModules = join(project, 'node_modules');
    const { count, names } = countPackages(nodeModules);
    return {
      tarballSize,
      packageUnpackedSize: info.unpackedSize,
      packageFiles: info.entryCount,
      installedPackages: count,
      installedNames: names,
      nodeModulesSize: treeSize(nodeModules),
      installNote,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
