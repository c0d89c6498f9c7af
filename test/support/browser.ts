// A real browser for the pages' tests: Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by
// playwright-core, headless. Absent, the page tests are skipped with a message (a failure under CI=true).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { available } from './shared.js';

export const CHROMIUM = process.env.PASSERELLE_CHROMIUM || '/usr/bin/chromium';

/** Whether the browser is there (skips, or fails under CI=true, naming `consequence`). */
export function browserAvailable(consequence: string): boolean {
  return available(`Chromium (${CHROMIUM})`, existsSync(CHROMIUM), consequence);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Where screenshots go (git-ignored), one per page: look at them before saying a page is done. */
export const SCREENSHOTS = path.resolve('test-results');

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
