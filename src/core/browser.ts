/**
 * Opens the consent page. `BROWSER` is honoured as gh and git do: "none"
 * (or empty) opens nothing, any other value is the program to run with the
 * URL as its one argument (no shell). Otherwise the `open` package picks the
 * platform's opener.
 */
import { spawn } from 'node:child_process';

export async function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const browser = env.BROWSER;
  if (browser !== undefined) {
    if (browser.trim() === '' || browser.trim() === 'none') return false;
    return spawned(spawn(browser, [url], { detached: true, stdio: 'ignore', env }));
  }
  try {
    const { default: open } = await import('open');
    return spawned(await open(url, { wait: false }));
  } catch {
    return false;
  }
}

function spawned(child: import('node:child_process').ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
