/**
 * Real headless Chromium (Debian's /usr/bin/chromium) driven by
 * playwright-core, for the consent flow. One browser per test file; a fresh
 * context (cookies) per test.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { needs } from './components.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** For `describe.skipIf(browserMissing())`: undefined when Chromium is installed. */
export const browserMissing = () => (CHROMIUM === '/usr/bin/chromium' ? needs('chromium') : needs(CHROMIUM));

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** Signs in on the instance's login page when it shows one. */
export async function signInIfAsked(page: Page, email: string, password: string): Promise<void> {
  const emailInput = page.locator('input[name=email]');
  if ((await emailInput.count()) === 0) return;
  await emailInput.fill(email);
  await page.locator('input[name=password]').fill(password);
  await Promise.all([page.waitForLoadState('domcontentloaded'), page.getByRole('button', { name: 'Sign in' }).click()]);
}

/**
 * Opens the consent URL the CLI printed, signs in, and clicks Approve or Deny.
 * Returns the page, which then shows the CLI's callback answer (or, in code
 * mode, the one-time code).
 */
export async function decideConsent(
  browser: Browser,
  url: string,
  user: { email: string; password: string },
  decision: 'approve' | 'deny',
): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await signInIfAsked(page, user.email, user.password);
  const button = page.locator(`button[name=decision][value=${decision}]`);
  await button.waitFor({ timeout: 10_000 });
  await Promise.all([page.waitForLoadState('load'), button.click()]);
  return page;
}
