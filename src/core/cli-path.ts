/** Where the running thirdloop is, for the commands other programs will start (apiKeyHelper, the --via-run functions). */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.js';

/** npx runs packages from a cache that npm may clean at any time: no place for a command to keep pointing at. */
export const isNpxCache = (file: string) => /[\\/]_npx[\\/]/.test(file);

/** The bin script of the running CLI, for apiKeyHelper and the --via-run functions. */
export function cliScriptPath(): string {
  const argv1 = process.argv[1];
  if (argv1) {
    try {
      const real = realpathSync(argv1);
      if (/thirdloop(\.[cm]?js)?$/.test(path.basename(real))) return real;
    } catch {
      // fall through
    }
  }
  // Bundled: dist/…/x.js → the package's bin/thirdloop.js.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'bin', 'thirdloop.js');
    try {
      realpathSync(candidate);
      return candidate;
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new UserError('Cannot find the thirdloop program for Claude Code to start.', {
    hint: 'Install thirdloop (npm install -g thirdloop) and run this again.',
  });
}

