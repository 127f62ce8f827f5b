import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/main.ts'],
  outDir: 'dist',
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // No clean: tests and engineers build concurrently while spawned servers load dist/.
  clean: false,
  // The server is installed with its dependencies; only our code is compiled,
  // the shared contract (protocol/, a workspace package with no build) included.
  external: ['better-sqlite3', 'fastify'],
  noExternal: ['thirdloop-protocol'],
});
