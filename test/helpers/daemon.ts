/**
 * A system daemon a test runs in the foreground (nginx, tinyproxy): its own
 * temp directory, a free loopback port (another one if something takes it
 * first), its output kept for the failure message, and a stop that waits for
 * it to exit and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './free-port.js';

export interface Daemon {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export interface DaemonSpec {
  /** Names the temp directory and the error messages. */
  name: string;
  command: string;
  /** Writes the config into `dir` for `port`, and returns the arguments to run with. */
  configure(dir: string, port: number): string[];
  /** A port chosen beforehand; default: a free one (retried when taken meanwhile). */
  port?: number;
  /** Extra text for a start-up failure (the daemon's own log). */
  logs?(dir: string): string;
  /** What the daemon says when its port is taken, to try another. */
  portTaken: RegExp;
}

export async function startDaemon(spec: DaemonSpec): Promise<Daemon> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(spec);
    } catch (error) {
      // Another process took the free port between the probe and the daemon's bind: try another.
      lastError = error;
      if (spec.port || !spec.portTaken.test(String((error as Error).message))) throw error;
    }
  }
  throw lastError;
}

async function startOnce(spec: DaemonSpec): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), `thirdloop-${spec.name}-`));
  const port = spec.port ?? (await freePort());
  const child: ChildProcess = spawn(spec.command, spec.configure(dir, port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // nginx: fast shutdown, the master stops its workers first
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, {
      failed: () =>
        child.exitCode !== null || child.signalCode !== null
          ? `${spec.name} exited (${child.exitCode ?? child.signalCode}): ${output}${spec.logs?.(dir) ?? ''}`
          : undefined,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, dir, stop };
}
