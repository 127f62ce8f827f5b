/** Runs the built thirdloop-server binary once (an operator command) and collects what it said. */
import { spawn } from 'node:child_process';
import { ensureServerBuilt, SERVER_BIN } from '../../../test/helpers/reference-server.js';

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `env` is the whole environment beyond PATH and HOME: none of the developer's THIRDLOOP_* settings
 * leak in. `execArgv` goes to node (a test-only preload).
 */
export function runServer(args: string[], options: { env?: Record<string, string>; stdin?: string; execArgv?: string[] } = {}): Promise<Ran> {
  ensureServerBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.execArgv ?? []), SERVER_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}
