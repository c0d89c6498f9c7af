// The case manager page in headless Chromium: Claire Martin (case manager, establishment 760000018) opens /pathway,
// signs in at the local OpenID provider, filters the list with the keyboard, opens a PPP and records the D45 outcomes
// with the keyboard only (the proposal preselected); the outcomes reach the CarePlan under her RPPS. Screenshots:
// test-results/pathway-page*.png (list with filters and worklist, detail with the form, phone width).
import type { CarePlan } from '@medplum/fhirtypes';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followupOutcomesOf, mergeFollowupOutcomes } from '../../src/services/pathway/careplan-state.js';
import { browserAvailable, screenshot } from '../support/browser.js';
import { DAY, decide, submitPpp, type Submitted } from '../services/pathway/casemgr-support.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const run = browserAvailable('the case manager page in a browser');

describe.skipIf(!run)('case manager page in a browser', () => {
  let env: PeopleGateway;
  let sent: Submitted;
  let draft: Submitted;
  let other: Submitted;

  beforeAll(async () => {
    env = await startPeopleGateway();
    const store = env.srv.store;
    const now = Date.now();
    sent = await submitPpp(store, 'BR-SENT', { sentAt: new Date(now - 50 * DAY), undecided: true });
    await decide(store, sent, 'r1', 'MT');
    await decide(store, sent, 'r1', 'PHO');
    await decide(store, sent, 'r2', 'MT', 'retenu-modifie');
    draft = await submitPpp(store, 'BR-DRAFT', { undecided: true, patient: { usedName: 'LEROY' } });
    other = await submitPpp(store, 'BR-OTHER', { fixture: 'hospital-sync-rcp', sentAt: new Date(now - 50 * DAY) });
    await store.pathway.schedule(sent.carePlan, 'd90', new Date(now + 40 * DAY).toISOString());
    await store.pathway.addUpload({
      id: 'br-up-1',
      carePlan: sent.carePlan,
      followup: 'd45',
      rpps: '10101523388',
      received: new Date(now - DAY).toISOString(),
      kind: 'lines',
      lines: [{ medication: { text: 'PARACETAMOL 1 g cp' }, dosage: { text: '1 cp matin, midi et soir si douleur' } }, { medication: { text: 'MELATONINE LP 2 mg' }, dosage: { text: '1 cp au coucher' } }],
    });
    await store.transaction((tx) =>
      mergeFollowupOutcomes(tx, sent.carePlan, [
        { window: 'd45', recommendation: sent.recommendations[0]!, proposed: 'implementee' },
        { window: 'd45', recommendation: sent.recommendations[1]!, proposed: 'implementee' },
      ]),
    );
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });

  const tabTo = async (page: Page, predicate: () => Promise<boolean>, max = 60): Promise<void> => {
    for (let i = 0; i < max; i++) {
      if (await predicate()) return;
      await page.keyboard.press('Tab');
    }
    throw new Error('focus never reached its target with Tab');
  };
  const focusedId = (page: Page) => page.evaluate(() => document.activeElement?.id ?? '');

  it('signs in, filters with the keyboard, records the D45 outcomes with the keyboard only', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/pathway`);
    await fillSignInForm(page, 'claire.martin');
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/pathway');
    await expect(page.locator('h1').textContent()).resolves.toBe('Parcours PPP');
    const table = page.locator('table.parcours');
    await expect(table.textContent()).resolves.toContain('BR-SENT');
    await expect(page.locator('main').textContent()).resolves.not.toContain('BR-OTHER');
    await screenshot(page, 'pathway-page-list');

    // Filter on the step "RCP" with the keyboard: Tab to the select, arrow down, Tab to the button, Enter.
    await page.locator('body').focus();
    await tabTo(page, async () => (await focusedId(page)) === 'etape');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.searchParams.get('etape') === 'rcp');
    await expect(table.textContent()).resolves.toContain('BR-DRAFT');
    await expect(table.textContent()).resolves.not.toContain('BR-SENT');
    await screenshot(page, 'pathway-page-list-filtered');

    // Back to the PPPs in progress; open the sent one from its link with the keyboard.
    await page.goto(`${env.gw}/pathway`);
    await page.locator('body').focus();
    await tabTo(page, async () => (await page.evaluate(() => (document.activeElement?.tagName === 'A' ? document.activeElement.textContent : '') ?? '')).includes('BOVARY'));
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/pathway/${sent.carePlan}`);
    await expect(page.locator('h1').textContent()).resolves.toContain('BOVARY Emma');
    expect(await page.locator('#d45-r0-implementee').isChecked()).toBe(true);
    await screenshot(page, 'pathway-page-detail');

    // Recommendation 1: proposal kept (already checked). Recommendation 2: "Non implémentée" (arrow right from the
    // proposal) with a note. Recommendations 3 to 6: "Inconnue".
    await tabTo(page, async () => (await focusedId(page)) === 'd45-r0-implementee');
    await page.keyboard.press('Tab'); // note of recommendation 1
    await page.keyboard.press('Tab'); // the checked radio of recommendation 2
    expect(await focusedId(page)).toBe('d45-r1-implementee');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Hydroxyzine toujours délivrée.');
    for (let i = 2; i < 6; i++) {
      await page.keyboard.press('Tab');
      expect(await focusedId(page)).toBe(`d45-r${i}-implementee`);
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent ?? '')).toBe('Enregistrer le suivi J45');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    if (!page.url().includes('enregistre=d45')) throw new Error(`${page.url()}: ${await page.locator('main').textContent()}`.slice(0, 2000));
    await expect(page.locator('.succes').textContent()).resolves.toBe('Suivi J45 enregistré.');
    await screenshot(page, 'pathway-page-recorded');

    const entries = followupOutcomesOf((await env.srv.store.read<CarePlan>('CarePlan', sent.carePlan))!).filter((e) => e.window === 'd45');
    expect(entries.map((e) => e.outcome)).toEqual(['implementee', 'non-implementee', 'inconnue', 'inconnue', 'inconnue', 'inconnue']);
    expect(entries[1]).toMatchObject({ note: 'Hydroxyzine toujours délivrée.', recorder: 'rpps:10000000011', proposed: 'implementee' });
    // Another establishment's PPP: the 404 page.
    const foreign = await page.goto(`${env.gw}/pathway/${other.carePlan}`);
    expect(foreign?.status()).toBe(404);
    await context.close();
  }, 90_000);

  it('reads on a phone: no horizontal scroll but the tables’ own', async () => {
    const context = await env.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/pathway`);
    await fillSignInForm(page, 'claire.martin');
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/pathway');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'pathway-page-phone');
    await page.goto(`${env.gw}/pathway/${sent.carePlan}`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'pathway-page-detail-phone');
    expect(draft.carePlan).toBeTruthy();
    await context.close();
  }, 60_000);
});
