// Login round trip: `thirdloop auth` driven by real headless Chromium against the reference server,
// timed from the moment the browser requests the loopback callback (the consent page's redirect) to
// the CLI's exit with the secret stored. Each run uses a fresh HOME; the key is deleted afterwards so
// the user never reaches the 2-key limit.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** Trace mode's preload: prints the wall-clock time at which the child's 'exit' event runs. */
function exitHookFile() {
  const file = join(tmpdir(), 'thirdloop-bench-exit-hook.cjs');
  writeFileSync(file, 'process.on("exit",()=>process.stderr.write("exit-hook "+(performance.timeOrigin+performance.now()).toFixed(1)+"\\n"));\n');
  return file;
}

/** One login; returns ms from the callback request to the CLI's exit. */
async function oneLogin(browser, context, server, user, extraArgs, extraEnv) {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-login-'));
  try {
    const child = spawn(process.execPath, [CLI_BIN, 'auth', '--api-url', server.url, ...extraArgs], {
      env: isolatedEnv(home, {
        ...extraEnv,
        // Trace mode: the child reports when its own 'exit' event runs, to tell exit cost from work.
        ...(process.env.BENCH_LOGIN_TRACE
          ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require=${exitHookFile()}`.trim() }
          : {}),
      }),
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
      const token = spawnSync(process.execPath, [CLI_BIN, 'token'], { env: isolatedEnv(home, extraEnv), encoding: 'utf8' });
      const credential = token.stdout.trim();
      if (token.status !== 0 || !credential.includes(';')) throw new Error(`auth exited 0 but no credential was stored: ${token.stderr.trim()}`);
      if (extraArgs.includes('--insecure-storage') !== existsSync(join(home, '.config', 'thirdloop', 'credentials.json'))) {
        throw new Error('the secret was not stored where this run expects it (keychain or file)');
      }
      const id = credential.split(';')[0];
      const del = await request(`${server.url}/api/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${credential}` } });
      await del.body.dump();
      if (process.env.BENCH_LOGIN_TRACE) {
        for (const [t, text] of trace) if (t >= callbackAt) process.stderr.write(`  +${(t - callbackAt).toFixed(1)} ms ${text.trim().split('\n')[0]}\n`);
        const hook = /exit-hook ([\d.]+)/.exec(stderr);
        if (hook) process.stderr.write(`  +${(Number(hook[1]) - performance.timeOrigin - callbackAt).toFixed(1)} ms the child's exit hook ran\n`);
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

/**
 * Runs the login `runs` times after `warmup`; with `keyringEnv` (a private Secret Service) the secret
 * goes to the keychain as for a real user, else to the 0600 file (--insecure-storage).
 */
export async function measureLogin(server, { runs = 7, warmup = 1, keyringEnv } = {}) {
  if (!existsSync(CHROMIUM)) return { skipped: `Chromium not found at ${CHROMIUM}` };
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed' };
  }
  const email = `login-bench-${keyringEnv ? 'keychain' : 'file'}@example.com`;
  const user = server.addUser(email);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext();
    const args = [...(keyringEnv ? [] : ['--insecure-storage']), ...(process.env.BENCH_LOGIN_TRACE ? ['--debug'] : [])];
    const times = [];
    for (let i = 0; i < warmup + runs; i++) {
      const ms = await oneLogin(browser, context, server, user, args, keyringEnv ?? {});
      if (i >= warmup) times.push(ms);
    }
    return { median: median(times), min: Math.min(...times), max: Math.max(...times), runs };
  } finally {
    await browser.close();
  }
}
