import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

// The published CLI bundles every pure-JavaScript dependency, so `npx thirdloop`
// installs one package (plus the optional keychain binding) and starts fast.
// Each command is its own entry point, loaded lazily by src/main.ts.
export default defineConfig((cli) => {
  // --out-dir (the footprint benchmark builds into a staging copy): the help goes there too.
  const outDir = cli.outDir ?? 'dist';
  return {
    entry: ['src/main.ts', 'src/commands/**/*.ts'],
    outDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    splitting: true,
    bundle: true,
    // Everything but the native keychain binding, which must load from its own package.
    noExternal: [/^(?!@napi-rs\/keyring$)/],
    external: ['@napi-rs/keyring'],
    treeshake: true,
    // Minified: half the install size (the published package is what every `npx` downloads) and less to parse at start-up.
    minify: true,
    sourcemap: false,
    clean: false, // several builds may run while tests read dist/
    shims: false,
    // `thirdloop --help` prints <outDir>/help.txt instead of loading the CLI (bin/thirdloop.js).
    onSuccess: () => renderTopLevelHelp(outDir),
    banner: {
      // Bundled CommonJS dependencies (commander, prompts) still call require(). Made on first call and
      // without an import: every chunk gets this line, and an import is one more module to resolve at start.
      js: "let __thirdloopRequire; const require = (id) => (__thirdloopRequire ??= process.getBuiltinModule('node:module').createRequire(import.meta.url))(id);",
    },
  };
});
