// The conflict board per establishment in headless Chromium (issue 21 point 3): Paul Lefèvre (regional
// identitovigilance cell) opens /identity/conflicts?establishment=<Rouen>, signs in at the local OpenID provider, reads
// the open items with the other establishment involved, the anomalies of Rouen's feed, the collision and the
// separation; assigns an item to a referent with the keyboard only; downloads the CSV. Claire Martin (case manager at
// Rouen) sees Rouen's board without the assignment forms, and a 403 page for Bordeaux's. A system's JSON request at the
// same path reaches the API (401 without a token); hostile parameters get a French 400 page.
// Screenshots: test-results/conflict-board*.png.
import { parse } from 'csv-parse/sync';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientIdentity } from '../../src/domain/identity.js';
import { supportedIdentity } from '../../src/domain/identity-support.js';
import { BOARD_CSV_HEADER } from '../../src/services/conflict-board.js';
import { identityServiceFor, registerSource } from '../../src/services/patient-identity.js';
import { browserAvailable, screenshot } from '../support/browser.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const ROUEN = '760000018';
const BORDEAUX = '330781196';
const LILLE = '590780193';
const system = (finess: string) => `urn:oid:1.2.250.1.999.1.${finess}.1`;
const REFERENT = { login: 'paul.lefevre', sub: 'demo-0002' };
const CASE_MANAGER = { login: 'claire.martin', sub: 'demo-0001' };

const run = browserAvailable('the conflict board in a browser');

describe.skipIf(!run)('conflict board in a browser', () => {
  let env: PeopleGateway;
  let separatedFrom = '';

  beforeAll(async () => {
    env = await startPeopleGateway();
    const store = env.srv.store;
    const service = identityServiceFor(store);
    const ctx = { actor: 'test' };
    const register = (finess: string, value: string, traits: Record<string, unknown>) =>
      store.transaction(async (tx) => {
        const declared = PatientIdentity.parse({ sourceId: { system: system(finess), value }, ...traits });
        const { identity, anomalies } = supportedIdentity(declared);
        return (await registerSource(tx, service, identity, ctx, undefined, { anomalies })).result;
      });
    // Review items: Bordeaux and Lille identities, then a newer Rouen one that differs a little; one Rouen-only pair.
    const base = { firstBirthGivenName: 'MARIE', sex: 'F', birthPlaceInsee: '49328', status: 'VALI' } as const;
    const pairs: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
      ['LEMAIRE', BORDEAUX, { birthName: 'LEMAIRE', birthDate: '1941-01-11' }, { birthName: 'LEMERE' }],
      ['BERTIN', BORDEAUX, { birthName: 'BERTIN', birthDate: '1950-03-07' }, { birthDate: '1950-07-03' }],
      ['GIRARD', LILLE, { birthName: 'GIRARD', birthDate: '1943-01-11' }, { birthName: 'GIRART' }],
      ['PERRIN', ROUEN, { birthName: 'PERRIN', birthDate: '1944-01-11' }, { birthName: 'PERIN' }],
    ];
    for (const [key, older, a, b] of pairs) {
      await register(older, `${key}-A`, { ...base, ...a });
      expect((await register(ROUEN, `${key}-B`, { ...base, ...a, ...b, status: 'PROV' })).link).toBe('review');
    }
    // Rouen's feed: two identities declared QUAL without their INS (registered VALI, one anomaly each).
    await register(ROUEN, 'QUAL-1', { ...base, birthName: 'ROUSSEL', birthDate: '1960-02-02', status: 'QUAL' });
    await register(ROUEN, 'QUAL-2', { ...base, birthName: 'FAURE', birthDate: '1961-03-03', status: 'QUAL' });
    // A collision: the same person from Bordeaux and Rouen, linked, then separated (COLV on the Bordeaux identity).
    const same = { ...base, birthName: 'MARCHAND', firstBirthGivenName: 'JULIE', birthDate: '1970-05-05' };
    const first = await register(BORDEAUX, 'COL-A', same);
    const second = await register(ROUEN, 'COL-B', same);
    expect(second.federatedId).toBe(first.federatedId);
    separatedFrom = (await service.separate(system(ROUEN), 'COL-B', { who: 'person:demo-0002', why: 'deux patientes', collision: true }, ctx)).previousFederatedId;
  }, 120_000);
  afterAll(async () => {
    await env?.close();
  });

  const tabTo = async (page: Page, predicate: () => Promise<boolean>, max = 120): Promise<void> => {
    for (let i = 0; i < max; i++) {
      if (await predicate()) return;
      await page.keyboard.press('Tab');
    }
    throw new Error('focus never reached its target with Tab');
  };
  const focused = (page: Page) => page.evaluate(() => ({ id: document.activeElement?.id ?? '', text: document.activeElement?.textContent ?? '', tag: document.activeElement?.tagName ?? '' }));

  it('shows the regional cell Rouen’s board, assigns an item with the keyboard, exports CSV', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/identity/conflicts?establishment=${ROUEN}`);
    await fillSignInForm(page, REFERENT.login);
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/identity/conflicts', { timeout: 60_000 });
    await expect(page.locator('h1').textContent()).resolves.toBe(`Conflits d’identité de l’établissement ${ROUEN}`);
    expect(await page.locator('script').count()).toBe(0);
    // Every table has a caption and scoped headers.
    for (const table of await page.locator('table').all()) {
      expect(await table.locator('caption').count()).toBe(1);
      expect(await table.locator('th:not([scope])').count()).toBe(0);
    }
    // Synthesis: 4 open items (3 with another establishment), 1 collision, 1 separation, 2 anomalies.
    expect(await page.locator('table.synthese tbody td').allTextContents()).toEqual(['4', '3', '1', '1', '2']);
    const byEstablishment = page.locator('table.etablissements tbody tr');
    expect(await byEstablishment.allTextContents()).toEqual([
      expect.stringContaining(`${BORDEAUX}2`),
      expect.stringContaining(`${LILLE}1`),
      expect.stringContaining('doublons internes)1'),
    ]);
    const items = page.locator('table.conflits tbody tr');
    expect(await items.count()).toBe(4);
    expect(await items.locator('a[href^="/identity/review/"]').count()).toBe(4);
    expect(await items.filter({ hasText: 'LEMAIRE-B' }).locator('td').nth(3).textContent()).toBe(BORDEAUX);
    expect(await items.filter({ hasText: 'PERRIN-B' }).locator('td').nth(3).textContent()).toBe('ce seul établissement');
    expect(await page.locator('table.anomalies tbody').textContent()).toContain('Qualifiée sans INS');
    expect(await page.locator('table.anomalies tbody td').nth(1).textContent()).toBe('2');
    expect(await page.locator('table.collisions tbody').textContent()).toContain(separatedFrom);
    expect(await page.locator('table.collisions tbody td').nth(2).textContent()).toBe(BORDEAUX);
    expect(await page.locator('table.separations tbody').textContent()).toContain('Séparation (défusion)');
    await screenshot(page, 'conflict-board');

    // Assign the LEMAIRE item to Paul with the keyboard only: Tab to its select, ArrowDown, Tab, Enter.
    const lemaire = (await identityServiceFor(env.srv.store).listReviews({ state: 'open', limit: 10, offset: 0 })).items.find((r) => r.sourceId === 'LEMAIRE-B')!;
    await page.locator('body').focus();
    await tabTo(page, async () => (await focused(page)).id === `referent-${lemaire.id}`);
    await page.keyboard.press('ArrowDown');
    expect(await page.locator(`#referent-${lemaire.id}`).inputValue()).toBe(`person:${REFERENT.sub}`);
    await page.keyboard.press('Tab');
    expect((await focused(page)).text).toBe('Attribuer');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.searchParams.get('attribue') === lemaire.id, { timeout: 60_000 });
    expect(await page.getByRole('status').textContent()).toContain('enregistrée');
    expect(await page.locator(`#referent-${lemaire.id}`).inputValue()).toBe(`person:${REFERENT.sub}`);
    expect((await identityServiceFor(env.srv.store).getReview(lemaire.id))?.review.assignee).toBe(`person:${REFERENT.sub}`);
    await screenshot(page, 'conflict-board-assigned');

    // The CSV export, with the person's session.
    const csv = await context.request.get(`${env.gw}/identity/conflicts?establishment=${ROUEN}&_format=csv`, { headers: { accept: 'text/html' } });
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toMatch(/^text\/csv/);
    const text = await csv.text();
    expect(text.split('\r\n')[0]).toBe(BOARD_CSV_HEADER);
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows.filter((r) => r.kind === 'review').length).toBe(4);
    expect(rows.find((r) => r.id === lemaire.id)?.assignee).toBe(`person:${REFERENT.sub}`);
    expect(rows.find((r) => r.kind === 'anomaly')).toMatchObject({ id: 'QUAL_WITHOUT_INS', count: '2' });

    // Hostile parameters: a French 400 page, never a 5xx.
    for (const q of ['establishment=7600', `establishment=${ROUEN}&establishment=${BORDEAUX}`, 'inconnu=1', `establishment=${encodeURIComponent(`\u202E${ROUEN}`)}`, `establishment=${'9'.repeat(5000)}`, `establishment=${ROUEN}&page=0`, `establishment=${ROUEN}&_format=xml`]) {
      const r = await context.request.get(`${env.gw}/identity/conflicts?${q}`, { maxRedirects: 0, headers: { accept: 'text/html' } });
      expect(r.status(), q.slice(0, 60)).toBe(400);
      const body = await r.text();
      expect(body).toContain('role="alert"');
      expect(body).toContain('lang="fr"');
    }
    // A system's JSON request at the same path goes to the API: 401 OperationOutcome without a token, not the page.
    const api = await context.request.get(`${env.gw}/identity/conflicts?establishment=${ROUEN}`, { headers: { accept: 'application/json' }, maxRedirects: 0 });
    expect(api.status()).toBe(401);
    expect(((await api.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    await context.close();
  }, 180_000);

  it('shows a case manager her own establishment’s board only, without assignment', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/identity/conflicts`);
    await fillSignInForm(page, CASE_MANAGER.login);
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/identity/conflicts', { timeout: 60_000 });
    await expect(page.locator('h1').textContent()).resolves.toBe(`Conflits d’identité de l’établissement ${ROUEN}`);
    expect(await page.locator('table.conflits tbody tr').count()).toBe(4);
    expect(await page.locator('form.attribution').count()).toBe(0);
    // The queue and identity pages are the regional cell's: no links to them here.
    expect(await page.locator('a[href^="/identity/review"], a[href^="/identity/patient"]').count()).toBe(0);
    await screenshot(page, 'conflict-board-establishment');
    const other = await page.goto(`${env.gw}/identity/conflicts?establishment=${BORDEAUX}`);
    expect(other?.status()).toBe(403);
    expect(await page.locator('h1').textContent()).toBe('Accès refusé');
    // Nor can she assign (the form is the regional cell's).
    const post = await context.request.post(`${env.gw}/identity/conflicts/attribuer`, { form: { _csrf: 'x', dossier: 'x', referent: '' }, maxRedirects: 0 });
    expect(post.status()).toBe(403);
    await context.close();
  }, 180_000);
});
