// The activity dashboard in headless Chromium: Luc Moreau (regional, region 28) opens /reports/dashboard, signs in at
// the local OpenID provider, gets the form (current year to date), asks for a period: the charts are inline SVG images
// with a name, the figures are tables with captions and header cells, Tab reaches the fields and the CSV links with a
// visible focus, a CSV link downloads parseable CSV; bad values give the form again with a French error next to the
// field (400); a case manager without reports.read gets a 403 page. Screenshots: test-results/dashboard*.png (screen,
// print media, error).
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailable, screenshot } from '../support/browser.js';
import { activityData, decideSome, followSome, FROM, TO, useLinks } from '../services/reports/activity-support.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const run = browserAvailable('the dashboard page in a browser');

describe.skipIf(!run)('activity dashboard in a browser', () => {
  let env: PeopleGateway;

  beforeAll(async () => {
    env = await startPeopleGateway();
    const data = await activityData(env.srv.store);
    await decideSome(env.srv.store, data);
    await followSome(env.srv.store, data);
    await useLinks(env.srv.store, data);
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
  const focused = (page: Page) =>
    page.evaluate(() => {
      const e = document.activeElement as HTMLElement | null;
      const s = e ? getComputedStyle(e) : undefined;
      return { id: e?.id ?? '', tag: e?.tagName ?? '', href: e?.getAttribute('href') ?? '', outline: s ? `${s.outlineStyle} ${s.outlineWidth}` : '' };
    });

  it('signs in, shows the form, then the charts and tables of a period; keyboard, CSV, print', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${env.gw}/reports/dashboard`);
    await fillSignInForm(page, 'luc.moreau');
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/reports/dashboard');
    await expect(page.locator('h1').textContent()).resolves.toBe('Tableau de bord de l’activité');
    const year = new Date().toISOString().slice(0, 4);
    expect(await page.locator('#from').inputValue()).toBe(`${year}-01-01`);
    expect(await page.locator('#to').inputValue()).toBe(new Date().toISOString().slice(0, 10));
    expect(await page.locator('figure.graphique svg').count()).toBe(0);

    // The period through the form, with the keyboard: the date fields take typed digits, then Enter submits.
    await page.locator('#from').fill(FROM);
    await page.locator('#to').fill(TO);
    await page.locator('#to').press('Enter');
    await page.waitForURL((u) => u.searchParams.get('from') === FROM && u.searchParams.get('to') === TO);
    expect(await page.evaluate(() => document.scripts.length)).toBe(0);
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('fr');

    // Five charts, inline SVG images with a French name and a <title>.
    const svgs = page.locator('figure.graphique > svg');
    expect(await svgs.count()).toBe(5);
    for (let i = 0; i < 5; i++) {
      const svg = svgs.nth(i);
      expect(await svg.getAttribute('role')).toBe('img');
      expect(await svg.getAttribute('aria-label')).toMatch(/^(PPP|Décisions|Suivis)/);
      expect(await svg.locator('title').count()).toBe(1);
      expect((await svg.boundingBox())?.width ?? 0).toBeGreaterThan(150);
    }
    expect(await svgs.nth(0).getAttribute('aria-label')).toContain('800000317');
    expect(await page.locator('svg text', { hasText: 'Nombre de PPP' }).count()).toBeGreaterThan(0);
    expect(await page.locator('svg text', { hasText: 'avr. 2025' }).count()).toBe(1);

    // The same figures as tables.
    const tables = page.locator('table.chiffres');
    expect(await tables.count()).toBe(5);
    for (let i = 0; i < 5; i++) {
      expect(((await tables.nth(i).locator('caption').textContent()) ?? '').length).toBeGreaterThan(3);
      expect(await tables.nth(i).locator('th[scope=col]').count()).toBeGreaterThan(1);
    }
    const est = page.locator('#tableau-establishments tbody tr');
    expect(await est.count()).toBe(3);
    expect(await est.nth(2).locator('th[scope=row]').count()).toBe(1);
    expect(await est.nth(2).textContent()).toContain('800000317');
    expect(await est.nth(2).textContent()).toContain('100 %');
    expect(await page.locator('dl.synthese').textContent()).toContain('75 %');
    expect(await page.locator('#tableau-decisions').textContent()).toContain('Refus de se prononcer');
    await screenshot(page, 'dashboard');

    // Keyboard: Tab reaches the fields and the CSV links, each with a visible focus ring.
    await page.locator('body').focus();
    for (const id of ['from', 'to', 'establishment']) {
      await tabTo(page, async () => (await focused(page)).id === id);
      expect((await focused(page)).outline).toBe('solid 3px');
    }
    await tabTo(page, async () => (await focused(page)).href.startsWith('/reports/dashboard.csv?table=establishments'));
    expect((await focused(page)).outline).toBe('solid 3px');
    await screenshot(page, 'dashboard-focus-csv');

    // Enter on the focused link downloads the table as CSV.
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    const file = await download.path();
    const rows = parse(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.finess, r.ppp, r.part_rcp])).toEqual([
      ['140000787', '1', '1'],
      ['760000018', '1', '0'],
      ['800000317', '2', '1'],
    ]);
    expect(download.suggestedFilename()).toBe(`activite-establishments-${FROM}-${TO}.csv`);

    // Each table's CSV over HTTP with the session's cookie: text/csv, UTF-8, a header row.
    for (const table of ['entry-doors', 'decisions', 'follow-up', 'months']) {
      const res = await page.request.get(`${env.gw}/reports/dashboard.csv?table=${table}&from=${FROM}&to=${TO}`);
      expect(res.status(), table).toBe(200);
      expect(res.headers()['content-type']).toBe('text/csv; charset=utf-8');
      const parsed = parse(await res.text(), { columns: true }) as Record<string, string>[];
      expect(parsed.length, table).toBeGreaterThan(0);
      if (table === 'follow-up') expect(parsed[0]).toEqual({ suivi: 'd45', echus: '2', saisis: '1', part_saisis: '0.5' });
      if (table === 'months') expect(parsed.map((r) => r.mois)).toEqual(['2025-04', '2025-05', '2025-06']);
    }
    const badCsv = await page.request.get(`${env.gw}/reports/dashboard.csv?table=patients&from=${FROM}&to=${TO}`);
    expect(badCsv.status()).toBe(400);
    expect(badCsv.headers()['content-type']).toMatch(/^text\/html/);

    // Printable: the form and the links are not printed, the charts are.
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('form.tableau-de-bord-filtres').isVisible()).toBe(false);
    expect(await page.locator('p.telechargement').first().isVisible()).toBe(false);
    expect(await svgs.first().isVisible()).toBe(true);
    await screenshot(page, 'dashboard-print');
    await page.emulateMedia({ media: 'screen' });

    // One establishment.
    await page.goto(`${env.gw}/reports/dashboard?from=${FROM}&to=${TO}&establishment=800000317`);
    expect(await est.count()).toBe(1);
    expect(await page.locator('#synthese').textContent()).toContain('800000317');
    await context.close();
  });

  it('answers bad values with the form again, a French error next to the field and status 400', async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${env.gw}/reports/dashboard`);
    await fillSignInForm(page, 'luc.moreau');
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/reports/dashboard');
    const cases: [string, string, RegExp][] = [
      [`from=2025-02-30&to=${TO}`, 'from', /Date invalide/],
      [`from=${FROM}&to=2025-03-01`, 'from', /postérieure/],
      [`from=2015-01-01&to=${TO}`, 'to', /cinq ans/],
      [`from=${FROM}`, 'to', /date de fin/],
      [`from=${FROM}&from=${FROM}&to=${TO}`, 'from', /Une seule valeur/],
      [`from=${FROM}&to=${'9'.repeat(5000)}`, 'to', /Date invalide/],
      [`from=2025-04-01%E2%80%AE&to=${TO}`, 'from', /Date invalide/],
      [`from=${FROM}&to=2025-06-3%00`, 'to', /Date invalide/],
      [`from=${FROM}&to=${TO}&establishment=12`, 'establishment', /FINESS invalide/],
      [`from=${FROM}&to=${TO}&establishment=990000010`, 'establishment', /Aucun PPP/],
    ];
    for (const [query, id, message] of cases) {
      const res = await page.goto(`${env.gw}/reports/dashboard?${query}`);
      expect(res?.status(), query.slice(0, 80)).toBe(400);
      await expect(page.locator(`#${id}-erreur`).textContent()).resolves.toMatch(message);
      expect(await page.locator(`#${id}`).getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator(`#${id}`).getAttribute('aria-describedby')).toContain(`${id}-erreur`);
      expect(await page.locator('figure.graphique svg').count()).toBe(0);
    }
    // The value shown back has lost its bidi control; an unknown parameter is said at the top of the form.
    await page.goto(`${env.gw}/reports/dashboard?from=2025-04-01%E2%80%AE&to=${TO}`);
    expect(await page.locator('#from').inputValue()).toBe('2025-04-01');
    const unknown = await page.goto(`${env.gw}/reports/dashboard?from=${FROM}&to=${TO}&format=csv`);
    expect(unknown?.status()).toBe(400);
    await expect(page.locator('form .alerte').first().textContent()).resolves.toContain('Paramètre inconnu');
    await page.goto(`${env.gw}/reports/dashboard?from=2025-02-30&to=${TO}`);
    await screenshot(page, 'dashboard-error');
    await context.close();
  });

  it('refuses a signed-in person without reports.read (403 page)', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${env.gw}/reports/dashboard?from=${FROM}&to=${TO}`);
    await fillSignInForm(page, 'claire.martin');
    await page.waitForURL((u) => u.origin === env.gw && u.pathname === '/reports/dashboard');
    await expect(page.locator('h1').textContent()).resolves.toBe('Accès refusé');
    const res = await page.request.get(`${env.gw}/reports/dashboard.csv?table=months&from=${FROM}&to=${TO}`);
    expect(res.status()).toBe(403);
    await context.close();
  });
});
