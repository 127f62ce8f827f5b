// Login round trip: `thirdloop auth` driven by real headless Chromium against the reference server,
// timed from the moment the browser requests the loopback callback (the consent page's redirect) to
// the CLI's exit with the secret stored. Each run uses a fresh HOME; the key is deleted afterwards so
// the user never reaches the 2-key limit.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { CLI_BIN, isolatedEnv, median } from './lib.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

async function signInIfAsked(page, user) {
  const email = page.locator('input[name=email]');
  if ((await email.count()) === 0) return;
  await email.fill(user.email);
  await page.locator('input[name=password]').fill(user.password);
  await Promise.all([page.waitForLoadState('domcontentloaded'), page.locator('button[type=submit]').first().click()]);
}

/** One login; returns ms from the callback request to the CLI's exit. */
async function oneLogin(browser, context, server, user, extraArgs) {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-login-'));
  try {
    const child = spawn(process.execPath, [CLI_BIN, 'auth', '--api-url', server.url, ...extraArgs], {
      env: isolatedEnv(home),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const trace = [];
    if (process.env.BENCH_LOGIN_TRACE) child.stderr.on('data', (d) => trace.push([performance.now(), String(d)]));
    let exitAt;
    const exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        exitAt = performance.now();
        resolve(code);
      }),
    );
    child.stdout.resume();
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`auth printed no URL: ${stderr}`)), 15_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        const m = /(http:\/\/\S+\/cli-auth\?\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', () => reject(new Error(`auth exited early: ${stderr}`)));
    });
    const page = await context.newPage();
    try {
      await page.goto(url);
      await signInIfAsked(page, user);
      const approve = page.locator('button[name=decision][value=approve]');
      await approve.waitFor({ timeout: 10_000 });
      let callbackAt;
      page.on('request', (req) => {
        if (callbackAt === undefined && /^http:\/\/127\.0\.0\.1:\d+\/callback\?/.test(req.url())) callbackAt = performance.now();
      });
      await approve.click();
      const code = await exited;
      if (code !== 0) throw new Error(`auth exited ${code}: ${stderr.trim()}`);
      if (callbackAt === undefined) throw new Error('the browser never requested the callback');
      const credentials = join(home, '.config', 'thirdloop', 'credentials.json');
      if (!existsSync(credentials)) throw new Error('auth exited 0 but no credential was stored');
      const credential = Object.values(JSON.parse(readFileSync(credentials, 'utf8')))[0];
      const id = credential.split(';')[0];
      const del = await request(`${server.url}/api/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${credential}` } });
      await del.body.dump();
      if (process.env.BENCH_LOGIN_TRACE) {
        for (const [t, text] of trace) if (t >= callbackAt) process.stderr.write(`  +${(t - callbackAt).toFixed(1)} ms ${text.trim().split('\n')[0]}\n`);
        process.stderr.write(`  +${(exitAt - callbackAt).toFixed(1)} ms exit\n`);
      }
      return exitAt - callbackAt;
    } finally {
      await page.close();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export async function measureLogin(server, { runs = 7, warmup = 1 } = {}) {
  if (!existsSync(CHROMIUM)) return { skipped: `Chromium not found at ${CHROMIUM}` };
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  const user = server.addUser('login-bench@example.com');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext();
    // --insecure-storage: the keychain is measured by its own tests; here it would add D-Bus start-up noise.
    const times = [];
    for (let i = 0; i < warmup + runs; i++) {
      const ms = await oneLogin(browser, context, server, user, ['--insecure-storage']);
      if (i >= warmup) times.push(ms);
    }
    return { median: median(times), min: Math.min(...times), max: Math.max(...times), runs };
  } finally {
    await browser.close();
  }
}
