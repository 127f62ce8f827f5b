import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

async function renderTopLevelHelp(): Promise<void> {
  const help = execFileSync(process.execPath, ['dist/main.js', '--help'], {
    env: { ...process.env, THIRDLOOP_RENDER_HELP: '1', COLUMNS: '80' },
    encoding: 'utf8',
  });
  const temp = `dist/help.txt.${process.pid}.tmp`; // builds may run side by side
  writeFileSync(temp, help);
  renameSync(temp, 'dist/help.txt');
}

// The published CLI bundles every pure-JavaScript dependency, so `npx thirdloop`
// installs one package (plus the optional keychain addon) and starts fast.
// Each command is its own entry point, loaded lazily by src/main.ts.
export default defineConfig({
  entry: ['src/main.ts', 'src/commands/**/*.ts'],
  outDir: 'dist',
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
  // `thirdloop --help` prints dist/help.txt instead of loading commander (src/main.ts).
  onSuccess: renderTopLevelHelp,
  banner: {
    // Bundled CommonJS dependencies (commander, prompts) still call require().
    js: "import { createRequire as __thirdloopCreateRequire } from 'node:module'; const require = __thirdloopCreateRequire(import.meta.url);",
  },
});
