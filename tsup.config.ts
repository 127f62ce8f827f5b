import { defineConfig } from 'tsup';

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
  noExternal: [/.*/],
  external: ['@github/keytar'],
  treeshake: true,
  minify: false,
  sourcemap: false,
  clean: false, // several builds may run while tests read dist/
  shims: false,
  banner: {
    // Bundled CommonJS dependencies (commander, prompts) still call require().
    js: "import { createRequire as __thirdloopCreateRequire } from 'node:module'; const require = __thirdloopCreateRequire(import.meta.url);",
  },
});
