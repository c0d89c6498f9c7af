// The decision page in headless Chromium, with the keyboard only (Tab, arrows, Space, Enter, typing): the MT opens
// the link the API issued, makes a mistake (a "Non retenu" without its comment) and sees it next to the field, fixes
// it, checks the summary, confirms; the decisions are then on the PPP over FHIR. The same page at a phone's width.
// Screenshots: test-results/decision-page-{form,error,summary,confirmation,phone}.png.
import path from 'node:path';
import type { Bundle, Task } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CS } from '../../src/fhir/canonical.js';
import { browserAvailable, launchBrowser, screenshot, SCREENSHOTS } from '../support/browser.js';
import { decisionLinks, hostilePpp, startDecisionEnv, submitPpp, type DecisionEnv } from './decision-support.js';

const run = browserAvailable('the decision page is not tried in a browser');

/** Presses Tab until `matches` holds for the focused element (at most 80 presses). */
async function tabUntil(page: Page, what: string, matches: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(matches)) return;
  }
  throw new Error(`Tab never reached ${what}`);
}

const focusedId = (id: string) => `document.activeElement && document.activeElement.id === ${JSON.stringify(id)}`;

/** Chooses a radio of a group with the keyboard: Tab into the group, arrows to the choice, Space. */
async function choose(page: Page, rec: string, index: number, code: string): Promise<void> {
  await tabUntil(page, `the group of ${rec}`, `document.activeElement && document.activeElement.name === ${JSON.stringify(`decision:${rec}`)}`);
  const target = `decision-${index}-${code}`;
  for (let i = 0; i < 4 && !(await page.evaluate(focusedId(target))); i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Space');
  expect(await page.evaluate(`document.getElementById(${JSON.stringify(target)}).checked`)).toBe(true);
}

/** Presses Enter on the focused button and waits for the page it leads to. */
async function submitWithEnter(page: Page): Promise<void> {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
}

describe.skipIf(!run)('decision page in Chromium, keyboard only', () => {
  let env: DecisionEnv;
  let browser: Browser;
  let carePlan: string;
  let links: { MT: string; PHO: string };

  beforeAll(async () => {
    env = await startDecisionEnv('sqlite');
    carePlan = await submitPpp(env.store, hostilePpp('DEC-BROWSER-1'));
    links = await decisionLinks(env, carePlan);
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it('records the decisions with Tab, arrows, Space and Enter: error next to the field, summary, confirmation, on FHIR', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const statuses: number[] = [];
    page.on('response', (r) => {
      if (r.request().isNavigationRequest()) statuses.push(r.status());
    });
    await page.goto(`${env.url}${links.MT}`);
    expect(await page.title()).toContain('Décisions sur le PPP');
    expect(await page.locator('script').count()).toBe(0);
    await screenshot(page, 'decision-page-form');

    // R1 retenu, R2 non retenu without a comment (the mistake), R3 retenu avec modification with one.
    await choose(page, 'R1', 0, 'retenu');
    await choose(page, 'R2', 1, 'non-retenu');
    await choose(page, 'R3', 2, 'retenu-modifie');
    await tabUntil(page, 'the comment of R3', focusedId('commentaire-2'));
    await page.keyboard.type('Une ampoule tous les deux mois');
    await tabUntil(page, 'the button', focusedId('envoyer'));
    await submitWithEnter(page);
    expect(statuses.at(-1)).toBe(400);
    expect(await page.getAttribute('#commentaire-1', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#commentaire-1', 'aria-describedby')).toContain('commentaire-1-erreur');
    expect(await page.textContent('#commentaire-1-erreur')).toContain('commentaire est obligatoire');
    // The choices are kept.
    expect(await page.isChecked('#decision-1-non-retenu')).toBe(true);
    await page.focus('body');
    await tabUntil(page, 'the comment of R2', focusedId('commentaire-1'));
    await screenshot(page, 'decision-page-error');

    await page.keyboard.type('HbA1c à 8,1 % : attendre le contrôle de la fonction rénale');
    await tabUntil(page, 'the button', focusedId('envoyer'));
    await submitWithEnter(page);
    expect(statuses.at(-1)).toBe(200);
    expect(await page.textContent('h1')).toContain('Récapitulatif');
    await tabUntil(page, 'the confirm button', focusedId('confirmer'));
    await screenshot(page, 'decision-page-summary');
    await submitWithEnter(page);
    expect(statuses.at(-2)).toBe(303);
    expect(statuses.at(-1)).toBe(200);
    expect(await page.textContent('h1')).toContain('Vos décisions sont enregistrées');
    await screenshot(page, 'decision-page-confirmation');

    const search = (await (await fetch(`${env.fhir}/Task?based-on=CarePlan/${carePlan}&code=${encodeURIComponent(`${CS.taskType}|reco-validation`)}&status=completed`)).json()) as Bundle<Task>;
    const codes = (search.entry ?? []).map((e) => e.resource!.businessStatus?.coding?.[0]?.code).sort();
    expect(codes).toEqual(['non-retenu', 'retenu', 'retenu-modifie']);
    await page.close();
  }, 60_000);

  it('fits a phone: no horizontal scrolling, the decisions preselected', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, deviceScaleFactor: 2 });
    await page.goto(`${env.url}${links.MT}`);
    expect(await page.isChecked('#decision-0-retenu')).toBe(true);
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'decision-page-phone');
    // The first screen as the phone shows it.
    await page.screenshot({ path: path.join(SCREENSHOTS, 'decision-page-phone-first-screen.png') });
    await page.close();
  }, 60_000);
});
