/**
 * Opens the consent page. `BROWSER` is honoured as gh and git do: "none"
 * (or empty) opens nothing, any other value is the program to run with the
 * URL as its one argument (no shell). Otherwise the `open` package picks the
 * platform's opener (`xdg-open` on Linux, `open` on macOS, `start` through
 * PowerShell on Windows).
 *
 * Nothing here waits for the browser: the outcome is known once the opener
 * has started (or failed to), and `exited` reports later whether the opener
 * itself gave up (xdg-open exits 3 when it finds no browser).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export type OpenOutcome =
  /** The opener started; `exited` resolves with its exit code (null when killed by a signal). */
  | { status: 'launched'; command: string; exited: Promise<number | null> }
  /** BROWSER=none: the user asked us not to open anything. */
  | { status: 'disabled' }
  /** The opener could not be started; `reason` completes "<command> …": "is not installed". */
  | { status: 'failed'; command: string; reason: string };

export async function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<OpenOutcome> {
  const browser = env.BROWSER;
  if (browser !== undefined) {
    if (browser.trim() === '' || browser.trim() === 'none') return { status: 'disabled' };
    return started(spawn(browser, [url], { detached: true, stdio: 'ignore', env }), browser);
  }
  let child: ChildProcess;
  try {
    const { default: open } = await import('open');
    // `open` resolves once the opener has spawned (and rejects when it cannot be).
    child = await open(url, { wait: false });
  } catch (error) {
    return { status: 'failed', command: defaultOpener(), reason: startFailure(error) };
  }
  return { status: 'launched', command: path.basename(child.spawnfile || defaultOpener()), exited: exitOf(child) };
}

/** The program `open` runs on this platform, for messages. */
function defaultOpener(): string {
  return process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
}

/** For BROWSER: resolves on the child's first `spawn` or `error` event, whichever comes. */
function started(child: ChildProcess, command: string): Promise<OpenOutcome> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ status: 'failed', command, reason: startFailure(error) }));
    child.once('spawn', () => {
      child.unref();
      resolve({ status: 'launched', command: path.basename(command), exited: exitOf(child) });
    });
  });
}

/** The opener's exit code; never keeps the process alive, never rejects. */
function exitOf(child: ChildProcess): Promise<number | null> {
  child.unref();
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
}

function startFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'is not installed';
  if (code === 'EACCES') return 'is not executable';
  const message = error instanceof Error ? error.message : String(error);
  return `could not be started (${(message.split('\n')[0] ?? 'unknown error').replace(/\.$/, '')})`;
}
