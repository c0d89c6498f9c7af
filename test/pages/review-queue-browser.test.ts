// The identity review queue in headless Chromium (issue 21, point 2): Paul Lefèvre (identitovigilance referent)
// opens /identity/review, signs in at the local OpenID provider, filters the queue by establishment with the
// keyboard, opens an item (the identities side by side, the traits aligned and why they differ), decides
// "Patients différents" with the keyboard only, and the next item of the same filter opens; then separates a merged
// source from the identity's page. Hostile filters get a French 400 page. Screenshots: test-results/review-queue*.png.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientIdentity } from '../../src/domain/identity.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import { browserAvailable, screenshot } from '../support/browser.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const ROUEN = '760000018';
const BORDEAUX = '330781196';
const system = (finess: string) => `urn:oid:1.2.250.1.999.1.${finess}.1`;
const REFERENT = { login: 'paul.lefevre', sub: 'demo-0002' };

const run = browserAvailable('the review queue in a browser');

describe.skipIf(!run)('identity review queue in a browser', () => {
  let env: PeopleGateway;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    env = await startPeopleGateway();
    const service = identityServiceFor(env.srv.store);
    // Pairs: the existing identity (Bordeaux for BERTIN and GIRARD), then a newer one from Rouen that differs a little.
    const pairs: [string, Partial<PatientIdentity>, Partial<PatientIdentity>, string][] = [
      ['LEMAIRE', { birthName: 'LEMAIRE' }, { birthName: 'LEMERE' }, ROUEN],
      ['BERTIN', { birthName: 'BERTIN', birthDate: '1950-03-07' }, { birthDate: '1950-07-03' }, BORDEAUX],
      ['GIRARD', { birthName: 'GIRARD', firstBirthGivenName: 'HÉLÈNE' }, { birthName: 'GIRART', firstBirthGivenName: 'HELENE' }, BORDEAUX],
    ];
    for (const [n, [key, a, b, older]] of pairs.entries()) {
      const base = { firstBirthGivenName: 'MARIE', birthDate: `19${40 + n}-01-11`, sex: 'F', birthPlaceInsee: '49328' } as const;
      await service.register(PatientIdentity.parse({ sourceId: { system: system(older), value: `${key}-A` }, status: 'VALI', ...base, ...a }), { actor: 'test' });
      const r = await service.register(PatientIdentity.parse({ sourceId: { system: system(ROUEN), value: `${key}-B` }, ...base, ...a, ...b }), { actor: 'test' });
      expect(r.link).toBe('review');
    }
    for (const item of (await service.listReviews({ state: 'open', limit: 100 })).items) ids[item.sourceId.replace(/-B$/, '')] = item.id;
    expect(Object.keys(ids).sort()).toEqual(['BERTIN', 'GIRARD', 'LEMAIRE']);
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });

  const tabTo = async (page: Page, predicate: () => Promise<boolean>, max = 80): Promise<void> => {
    for (let i = 0; i < max; i++) {
      if (await predicate()) return;
      await page.keyboard.press('Tab');
    }
    throw new Error('focus never reached its target with Tab');
  };
  const focused = (page: Page) => page.evaluate(() => ({ id: document.activeElement?.id ?? '', text: document.activeElement?.textContent ?? '', href: document.activeElement?.getAttribute('href') ?? '' }));

  it('filters the queue, opens an item side by side, decides with the keyboard only, and the next item opens', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/identity/review`);
    await fillSignInForm(page, REFERENT.login);
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/identity/review');
    await expect(page.locator('h1').textContent()).resolves.toBe('File des rapprochements d’identités');
    await expect(page.locator('table.file caption').textContent()).resolves.toContain('3 dossiers à décider');
    const counts = await page.locator('table.compteurs td').allTextContents();
    expect(counts.map(Number).reduce((a, b) => a + b, 0)).toBe(3);
    expect(await page.locator('script').count()).toBe(0);
    await screenshot(page, 'review-queue');

    // Filter on Bordeaux with the keyboard: Tab to the FINESS field, type it, Enter.
    await page.locator('body').focus();
    await tabTo(page, async () => (await focused(page)).id === 'etablissement');
    await page.keyboard.type(BORDEAUX);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.searchParams.get('etablissement') === BORDEAUX);
    const rows = page.locator('table.file tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await page.locator('table.file').textContent()).not.toContain('LEMAIRE-B');
    // Oldest first: BERTIN then GIRARD.
    expect(await rows.nth(0).textContent()).toContain('BERTIN-B');

    // Open the first item with the keyboard.
    await tabTo(page, async () => (await focused(page)).href.startsWith(`/identity/review/${ids.BERTIN}`));
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/identity/review/${ids.BERTIN}`);
    const table = page.locator('table.cote-a-cote');
    const dateRow = table.locator('tr', { has: page.locator('th', { hasText: 'Date de naissance' }) });
    expect(await dateRow.locator('td.diff').allTextContents()).toEqual(['03/07/1950', '07/03/1950']);
    expect(await dateRow.textContent()).toContain('jour et mois inversés');
    const nameRow = table.locator('tr', { has: page.locator('th', { hasText: 'Nom de naissance' }) });
    expect(await nameRow.locator('td.diff').count()).toBe(0);
    expect(await page.locator('main').textContent()).toContain(`établissement FINESS ${BORDEAUX}`);
    await screenshot(page, 'review-queue-item');

    // Decide "Patients différents" with the keyboard only: Tab to the radio, Space, Tab to the reason, type, Enter.
    await page.locator('body').focus();
    await tabTo(page, async () => (await focused(page)).id === 'decision-same');
    await page.keyboard.press('ArrowDown');
    expect((await focused(page)).id).toBe('decision-different');
    await tabTo(page, async () => (await focused(page)).id === 'motif');
    await page.keyboard.type('Dates de naissance vérifiées : deux personnes');
    await page.keyboard.press('Tab');
    expect((await focused(page)).text).toBe('Enregistrer et passer au suivant');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/identity/review/${ids.GIRARD}`);
    expect(new URL(page.url()).searchParams.get('decide')).toBe(ids.BERTIN);
    expect((await page.getByRole('status').textContent())?.trim()).toContain('Voici le dossier suivant');
    // The accents-only difference of the given name is named so.
    const givenRow = page.locator('table.cote-a-cote tr', { has: page.locator('th', { hasText: 'Prénoms de naissance' }) });
    expect(await givenRow.textContent()).toContain('accents seulement');
    await screenshot(page, 'review-queue-next');

    const decided = await identityServiceFor(env.srv.store).getReview(ids.BERTIN!);
    expect(decided?.review.decision).toBe('different');
    expect(decided?.review.decidedBy).toBe(`person:${REFERENT.sub}`);
    expect(decided?.review.reason).toBe('Dates de naissance vérifiées : deux personnes');

    // Deciding the last item of the filter comes back to the queue, which says so.
    await page.getByLabel('Même patient').check();
    await page.getByLabel('Motif').fill('Pièce d’identité vérifiée');
    await page.getByRole('button', { name: 'Enregistrer et passer au suivant' }).click();
    await page.waitForURL((u) => u.pathname === '/identity/review' && u.searchParams.get('enregistre') === ids.GIRARD);
    expect(await page.getByRole('status').textContent()).toContain('Plus aucun dossier');
    await context.close();
    // Two sign-ins' worth of pages, four screenshots and two decisions: as the other browser tests, room for a loaded CI machine.
  }, 90_000);

  it('separates a merged source from the identity’s page, under the person', async () => {
    const detail = await identityServiceFor(env.srv.store).getReview(ids.GIRARD!);
    const federated = detail!.review.candidateFederatedId;
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/identity/patient/${federated}`);
    await fillSignInForm(page, REFERENT.login);
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === `/identity/patient/${federated}`);
    expect(await page.locator('table caption').textContent()).toContain('2 identités sources');
    await page.getByLabel(/GIRARD-B/).check();
    await page.getByLabel('Motif').fill('Fusion à tort');
    await page.getByRole('button', { name: 'Séparer cette identité source' }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/identity/patient/') && u.searchParams.get('separee') === federated);
    expect(await page.getByRole('status').textContent()).toContain('séparée');
    await screenshot(page, 'review-queue-separated');
    const link = await identityServiceFor(env.srv.store).linkOf(system(ROUEN), 'GIRARD-B');
    expect(link?.federatedId).not.toBe(federated);
    const rows = await env.srv.store.auditLog({ entity: `Patient/${federated}` });
    expect(rows.find((r) => r.action.startsWith('identity.') && r.action.includes('separ'))?.actor ?? rows.map((r) => `${r.action}:${r.actor}`).join()).toContain(`person:${REFERENT.sub}`);

    // Hostile queue filters: a French 400 page, never a 5xx.
    for (const q of ['degre=sur', 'degre=probable&degre=possible', 'inconnu=1', 'score-min=101', 'score-min=80&score-max=20', `etablissement=${encodeURIComponent('\u202E760000018')}`, 'tri=created', `attribution=${'x'.repeat(5000)}`, 'page=0']) {
      const r = await context.request.get(`${env.gw}/identity/review?${q}`, { maxRedirects: 0 });
      expect(r.status(), q.slice(0, 60)).toBe(400);
      expect(await r.text()).toContain('role="alert"');
    }
    const badContext = await context.request.get(`${env.gw}/identity/review/${ids.LEMAIRE}?file=${encodeURIComponent('degre=x')}`, { maxRedirects: 0 });
    expect(badContext.status()).toBe(400);
    await context.close();
  }, 60_000);
});
