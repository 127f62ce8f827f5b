import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig } from 'tsup';

async function renderTopLevelHelp(outDir: string): Promise<void> {
  const help = execFileSync(process.execPath, [join(outDir, 'main.js'), '--help'], {
    env: { ...process.env, THIRDLOOP_RENDER_HELP: '1', COLUMNS: '80' },
    encoding: 'utf8',
  });
  const temp = join(outDir, `help.txt.${process.pid}.tmp`); // builds may run side by side
  writeFileSync(temp, help);
  renameSync(temp, join(outDir, 'help.txt'));
}

/**
 * The keychain addon ships inside the package, as its prebuilt N-API binaries
 * (one per platform, ABI-stable across Node versions) with their licence:
 * installing thirdloop then runs no install script and brings no dependency,
 * so npm has nothing to warn about. src/core/secrets.ts loads <outDir>/keytar/<platform>-<arch>/keytar.node.
 */
function vendorKeychainAddon(outDir: string): void {
  const pkg = dirname(createRequire(import.meta.url).resolve('@github/keytar/package.json'));
  const target = join(outDir, 'keytar');
  const temp = `${target}.${process.pid}.tmp`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  for (const platform of readdirSync(join(pkg, 'prebuilds'))) {
    cpSync(join(pkg, 'prebuilds', platform, 'keytar.node'), join(temp, platform, 'keytar.node'));
  }
  cpSync(join(pkg, 'LICENSE.md'), join(temp, 'LICENSE.md'));
  // Swap in whole, so a test reading dist/ meanwhile never sees half a directory.
  const old = `${target}.${process.pid}.old`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(temp, target);
  rmSync(old, { recursive: true, force: true });
}

// The published CLI bundles every pure-JavaScript dependency, so `npx thirdloop`
// installs one package and starts fast. Each command is its own entry point,
// loaded lazily by src/main.ts.
export default defineConfig((cli) => {
  const outDir = cli.outDir ?? 'dist';
  return {
    entry: ['src/main.ts', 'src/commands/**/*.ts'],
    outDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    splitting: true,
    bundle: true,
    // Everything but the native keychain addon, which is loaded from its own files (see above).
    noExternal: [/^(?!@github\/keytar$)/],
    external: ['@github/keytar'],
    treeshake: true,
    minify: false,
    sourcemap: false,
    clean: false, // several builds may run while tests read dist/
    shims: false,
    // `thirdloop --help` prints <outDir>/help.txt instead of loading commander (src/main.ts).
    onSuccess: async () => {
      vendorKeychainAddon(outDir);
      await renderTopLevelHelp(outDir);
    },
    banner: {
      // Bundled CommonJS dependencies (commander, prompts) still call require().
      js: "import { createRequire as __thirdloopCreateRequire } from 'node:module'; const require = __thirdloopCreateRequire(import.meta.url);",
    },
  };
});
