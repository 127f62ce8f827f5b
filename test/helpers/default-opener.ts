/**
 * `thirdloop auth` as it runs on a Linux desktop: BROWSER unset, so the
 * `open` package runs `xdg-open URL`. A small executable named `xdg-open`,
 * first on PATH, stands for the desktop's opener: it hands the URL over to
 * the test (a file next to it), and the test opens it in real Chromium,
 * signs in and approves.
 *
 *   const opener = fakeXdgOpen(home);
 *   const cli = startCli(['auth', …], { home, env: { ...opener.env } });
 *   const url = await opener.nextUrl();
 *   const consent = await approveInChromium(url, user, { trustSpki: ca.spki });
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, signInIfAsked } from './browser.js';

export interface FakeOpener {
  /** For the CLI's environment: the opener's folder first on PATH, BROWSER unset. */
  env: { PATH: string; BROWSER: undefined };
  /** The next URL the CLI asked to open. */
  nextUrl(timeoutMs?: number): Promise<string>;
}

export function fakeXdgOpen(home: string): FakeOpener {
  const bin = join(home, '.fake-opener');
  mkdirSync(bin, { recursive: true });
  const log = join(bin, 'opened.txt');
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log.replaceAll("'", `'\\''`)}'\n`);
  chmodSync(join(bin, 'xdg-open'), 0o755);
  let taken = 0;
  return {
    env: { PATH: `${bin}:${process.env.PATH}`, BROWSER: undefined },
    async nextUrl(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(0, -1) : [];
        if (lines.length > taken) return lines[taken++]!;
        if (Date.now() > deadline) throw new Error(`xdg-open was not run within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

export interface ConsentRun {
  /** Main-frame URLs in the order Chromium visited them, up to and including the CLI's callback. */
  visited: string[];
  /** The instance's cookies as Chromium stored them. */
  cookies: Array<{ name: string; secure: boolean; httpOnly: boolean; sameSite: string }>;
  /** What the CLI's callback page said. */
  callbackText: string;
}

/**
 * Opens `url` in a fresh headless Chromium, signs in and approves; resolves once the browser is
 * back on the CLI's loopback callback. `trustSpki` is a certificate authority's SPKI hash Chromium
 * then accepts (the server must send that CA in its chain), as a managed machine trusts its CA.
 */
export async function approveInChromium(url: string, user: { email: string; password: string }, options: { trustSpki?: string } = {}): Promise<ConsentRun> {
  const args = [...CHROMIUM_ARGS, ...(options.trustSpki ? [`--ignore-certificate-errors-spki-list=${options.trustSpki}`] : [])];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: true });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const visited: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) visited.push(frame.url());
    });
    await page.goto(url);
    await signInIfAsked(page, user.email, user.password);
    const approve = page.locator('button[name=decision][value=approve]');
    await approve.waitFor({ timeout: 15_000 });
    await Promise.all([page.waitForURL(/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+\/callback/), approve.click()]);
    const callbackText = await page.locator('body').innerText();
    const origin = new URL(url).origin;
    const cookies = (await context.cookies(origin)).map(({ name, secure, httpOnly, sameSite }) => ({ name, secure, httpOnly, sameSite }));
    await context.close();
    return { visited, cookies, callbackText };
  } finally {
    await browser.close();
  }
}
