// The package.json that goes into the published tarball: the repository's own,
// without what only a checkout of this repository needs (the build and test
// scripts, the dev dependencies, the server workspace, the install-script
// policy). Installing the tarball then runs nothing and warns about nothing.
//
//   node scripts/publish-manifest.mjs prepack   (npm pack / publish): build dist/, write the published manifest
//   node scripts/publish-manifest.mjs postpack  put the repository's package.json back
//
// The repository's manifest waits in .tmp/ while npm packs; a pack that died
// half-way is repaired by the next prepack or postpack.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = join(ROOT, 'package.json');
const KEPT = join(ROOT, '.tmp', 'package.json.repository');

/** Fields a checkout needs and an installed package must not carry. */
const REPOSITORY_ONLY = ['scripts', 'devDependencies', 'workspaces', 'allowScripts'];

export function publishManifest(pkg) {
  const published = { ...pkg };
  for (const field of REPOSITORY_ONLY) delete published[field];
  return published;
}

function restore() {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST);
}

function prepack() {
  restore();
  // A clean dist/ (tests and earlier builds leave chunks of older builds in it).
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const text = readFileSync(MANIFEST, 'utf8');
  mkdirSync(dirname(KEPT), { recursive: true });
  writeFileSync(KEPT, text);
  const temp = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(publishManifest(JSON.parse(text)), null, 2)}\n`);
  renameSync(temp, MANIFEST);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const step = process.argv[2];
  if (step === 'prepack') prepack();
  else if (step === 'postpack') restore();
  else {
    console.error('usage: node scripts/publish-manifest.mjs prepack|postpack');
    process.exit(2);
  }
}
