/**
 * The browser opener as people have it, for tests of `thirdloop auth` that
 * leave BROWSER unset: a small executable named `xdg-open`, first on PATH in
 * a temporary directory, which the `open` package runs exactly as it runs
 * the real one. It hands its arguments to the test (over a loopback port)
 * and exits 0, as xdg-open does once a browser has the URL; the test then
 * drives headless Chromium to the page.
 *
 *   const opener = await startFakeOpener((url) => approveIn(browser, url, user));
 *   startCli(['auth', '--api-url', server.url], { home, env: opener.env });
 *
 * `noOpenerEnv()` is a PATH with no opener at all, and `exitCode` makes the
 * opener fail the way xdg-open does on a machine without a browser (status 3).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface FakeOpener {
  /** For the CLI: PATH with the opener's directory first. */
  env: { PATH: string };
  /** The argv of every run, in order. */
  calls: string[][];
  /** Resolves with the argv of the next run (or of a run that already happened and was not taken yet). */
  next(timeoutMs?: number): Promise<string[]>;
  /** Rejections of the onOpen handler, for the test to rethrow. */
  errors: unknown[];
  close(): Promise<void>;
}

export interface FakeOpenerOptions {
  /** Runs with the URL after the opener has exited, as a browser would load it. */
  onOpen?: (url: string) => Promise<unknown>;
  /** The opener's exit status (3 is xdg-open's "no method available for opening"). */
  exitCode?: number;
}

export async function startFakeOpener(options: FakeOpenerOptions = {}): Promise<FakeOpener> {
  const dir = mkdtempSync(join(tmpdir(), 'thirdloop-opener-'));
  const calls: string[][] = [];
  const errors: unknown[] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const argv = JSON.parse(body) as string[];
      calls.push(argv);
      res.end('ok');
      waiters.splice(0).forEach((wake) => wake());
      const url = argv[argv.length - 1];
      if (options.onOpen && url) options.onOpen(url).catch((error: unknown) => errors.push(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;

  const script = `#!${process.execPath}
// xdg-open for tests: hands its arguments to the test that made it, then exits like xdg-open.
const request = require('node:http').request({ host: '127.0.0.1', port: ${port}, method: 'POST', path: '/open' }, (res) => {
  res.resume();
  res.on('end', () => process.exit(${options.exitCode ?? 0}));
});
request.on('error', () => process.exit(4));
request.end(JSON.stringify(process.argv.slice(2)));
`;
  writeFileSync(join(dir, 'xdg-open'), script, { mode: 0o755 });

  return {
    env: { PATH: `${dir}${delimiter}${process.env.PATH ?? ''}` },
    calls,
    errors,
    next(timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the browser opener was not run')), timeoutMs);
        const check = () => {
          if (calls.length > taken) {
            clearTimeout(timer);
            resolve(calls[taken++]!);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PATH with no browser opener on it at all (an empty directory): the CLI itself runs from an absolute path. */
export function noOpenerEnv(): { env: { PATH: string }; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'thirdloop-no-opener-'));
  return { env: { PATH: dir }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
