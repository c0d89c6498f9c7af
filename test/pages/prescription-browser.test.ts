// The prescription request page in headless Chromium: answered with the keyboard only (typed lines), an error shown
// next to its field, a PDF deposited, at desktop and phone widths; screenshots in test-results/prescription-page*.png.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { mountPages } from '../../src/pages/mount.js';
import { openFollowUpWindow } from '../../src/services/pathway/followup.js';
import { browserAvailable, launchBrowser, screenshot } from '../support/browser.js';
import { startTestServer, type TestServer } from '../api/server.js';
import { contextAt, pppFixture, sentCase } from '../services/pathway/followup-support.js';

describe.runIf(browserAvailable('the prescription page browser test'))('prescription request page in a browser', () => {
  let srv: TestServer;
  let browser: Browser;
  const open = async (id: string): Promise<{ carePlan: string; url: string }> => {
    const c = await sentCase(srv.store, pppFixture(id));
    const o = await openFollowUpWindow(srv.store, c.carePlan, 'd45', contextAt(new Date(), configFrom({ baseUrl: srv.url })));
    return { carePlan: c.carePlan, url: o.link!.url };
  };
  beforeAll(async () => {
    srv = await startTestServer({}, [], { deps: { pages: [mountPages] } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('answers with typed lines using the keyboard only; an error is shown next to its field first', async () => {
    const { carePlan, url } = await open('BROWSER-1');
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(url);
    await screenshot(page, 'prescription-page');
    // Keyboard only: tab to the first line's drug field.
    await page.keyboard.press('Tab');
    let guard = 0;
    while ((await page.evaluate(() => document.activeElement?.id)) !== 'medicament-1' && guard++ < 40) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('medicament-1');
    await page.keyboard.type('Kardégic 75 mg');
    await page.keyboard.press('Tab');
    await page.keyboard.type('123');
    await page.keyboard.press('Tab');
    await page.keyboard.type('1 sachet à midi');
    await page.keyboard.press('Enter'); // submits the lines' form
    await page.waitForLoadState();
    expect(await page.locator('#code-1-erreur').textContent()).toContain('8 chiffres');
    await screenshot(page, 'prescription-page-error');
    await page.focus('#code-1');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('64755969');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/recu$/);
    expect(await page.locator('h1').textContent()).toBe('Réponse enregistrée');
    await screenshot(page, 'prescription-page-confirmation');
    expect((await srv.store.pathway.uploads(carePlan)).map((u) => u.kind)).toEqual(['lines']);
    await page.close();
  });

  it('deposits a PDF at phone width', async () => {
    const { carePlan, url } = await open('BROWSER-2');
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    await page.goto(url);
    await screenshot(page, 'prescription-page-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    expect(overflow).toBe(false);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'passerelle-pdf-')), 'ordonnance.pdf');
    writeFileSync(file, '%PDF-1.4\n%…\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');
    await page.setInputFiles('#ordonnance', file);
    await page.focus('#ordonnance');
    await page.locator('#form-pdf button[type=submit]').press('Enter');
    await page.waitForURL(/\/recu$/);
    expect((await srv.store.pathway.uploads(carePlan)).map((u) => u.kind)).toEqual(['pdf']);
    await page.close();
  });
});
