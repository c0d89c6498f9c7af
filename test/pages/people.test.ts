// People sign in through OpenID Connect against the local provider (the real `oidc-provider`), in headless Chromium:
// an identitovigilance referent opens a review item, is sent to sign in, fills the provider's form, comes back,
// reads why the matcher sent it (in French), decides "Même patient" with the keyboard, and the decision and its
// audit row name them; the home page links the identity workspace. Around it: no session,
// a forged or missing CSRF token, an undeclared person, a person without the role, sign-out, the security headers,
// the open redirect and hostile form values — each refused with a 4xx page and nothing written.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientIdentity } from '../../src/domain/identity.js';
import { UNTRANSLATED_PREFIX } from '../../src/pages/match-reasons.js';
import { SESSION_COOKIE } from '../../src/pages/session.js';
import type { OidcSandbox } from '../../src/sandbox/oidc/provider.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import { browserAvailable, screenshot } from '../support/browser.js';
import type { TestServer } from '../api/server.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';
/** Birth names that sound alike, one pair per review item (so items never match each other). */
const PAIRS = [['LEMAIRE', 'LEMERE'], ['BERTIN', 'BERTAIN'], ['CARON', 'CARRON'], ['GIRARD', 'GIRART'], ['PERRIN', 'PERIN'], ['ROUSSEL', 'ROUSEL'], ['MOREL', 'MORELL'], ['FAURE', 'FORE']];
const REFERENT = { login: 'paul.lefevre', sub: 'demo-0002', rpps: '10000000029', name: 'Paul Lefèvre' };

const run = browserAvailable('the people sign-in tests in a browser');

describe.skipIf(!run)('people: OpenID Connect sign-in and the identity review page', () => {
  let provider: OidcSandbox;
  let srv: TestServer;
  let browser: Browser;
  let gw: string;
  let env: PeopleGateway | undefined;
  let serial = 0;

  /** Two near-duplicate identities: a validated LEMAIRE and a provisional LEMERE born the same day → one review item. */
  async function reviewItem(): Promise<string> {
    const service = identityServiceFor(srv.store);
    const n = ++serial;
    const [older, newer] = PAIRS[(n - 1) % PAIRS.length] as [string, string];
    const base = { firstBirthGivenName: 'MARIE', birthDate: `19${40 + n}-01-11`, sex: 'F', birthPlaceInsee: '49328' } as const;
    await service.register(PatientIdentity.parse({ sourceId: { system: HOSPITAL, value: `PG-${n}-A` }, status: 'VALI', birthName: older, ...base }), { actor: 'test' });
    const r = await service.register(PatientIdentity.parse({ sourceId: { system: HOSPITAL, value: `PG-${n}-B` }, birthName: newer, ...base }), { actor: 'test' });
    expect(r.link).toBe('review');
    const page = await service.listReviews({ state: 'open', limit: 1000, offset: 0 });
    const item = page.items.find((i) => i.sourceId === `PG-${n}-B`);
    if (!item) throw new Error('no review item opened');
    return item.id;
  }

  async function signIn(context: BrowserContext, target: string, login: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${gw}${target}`);
    await fillSignInForm(page, login);
    await page.waitForURL((u) => u.origin === gw);
    return page;
  }

  const cookieOf = async (context: BrowserContext): Promise<string | undefined> =>
    (await context.cookies(gw)).find((c) => c.name === SESSION_COOKIE)?.value;

  beforeAll(async () => {
    env = await startPeopleGateway();
    ({ provider, srv, browser, gw } = env);
  }, 60_000);

  afterAll(async () => {
    await env?.close();
  });

  it('a referent opens an item, signs in at the provider, decides "Même patient" with the keyboard: recorded under their identity', async () => {
    const id = await reviewItem();
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await page.goto(`${gw}/identity/review/${id}`);
    expect(new URL(page.url()).origin).toBe(provider.issuer);
    expect(first?.status()).toBe(200);
    await screenshot(page, 'oidc-login');
    await fillSignInForm(page, REFERENT.login);
    await page.waitForURL(`${gw}/identity/review/${id}`);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('Rapprochement d’identités');
    expect(await page.locator('td.diff').first().textContent()).toBe('LEMERE');
    // The matcher's reasons in French (stored in English): the sound-alike birth name and the weight against the threshold.
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).toContain('Correspondance non « certaine » : Nom de naissance : proche à l’oreille');
    expect(body).toMatch(/Poids \d+(,\d)?, au moins le seuil de la correspondance « (probable|possible) »/);
    expect(body).not.toMatch(/threshold|not certain/);
    expect(body).not.toContain(UNTRANSLATED_PREFIX);
    await screenshot(page, 'identity-review');

    await page.getByLabel('Même patient').focus();
    await page.keyboard.press('Space');
    await page.getByLabel('Motif').focus();
    await page.keyboard.type('Pièce d’identité vérifiée au guichet');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Enregistrer la décision');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${gw}/identity/review/${id}?enregistre=1`);
    const decision = page.locator('#decision');
    expect(await decision.textContent()).toContain('Même patient');
    expect(await decision.textContent()).toContain(`${REFERENT.name} (RPPS ${REFERENT.rpps})`);
    expect((await page.getByRole('status').textContent())?.trim()).toBe('Décision enregistrée.');
    await screenshot(page, 'identity-review-decision');

    const detail = await identityServiceFor(srv.store).getReview(id);
    expect(detail?.review.state).toBe('decided');
    expect(detail?.review.decision).toBe('same');
    expect(detail?.review.decidedBy).toBe(`person:${REFERENT.sub}`);
    const rows = await srv.store.auditLog({ entity: `Patient/${detail?.review.candidateFederatedId}` });
    const merge = rows.find((r) => r.action === 'identity.merge');
    expect(merge?.actor).toBe(`person:${REFERENT.sub}`);
    expect(merge?.detail).toContain(id);
    expect(merge?.person).toBe(`rpps:${REFERENT.rpps}`);
    expect(merge?.tenant).toBe('region:28');
    const signIns = (await srv.store.auditLog({ limit: 1000 })).filter((r) => r.action === 'auth.sign-in' && r.actor === `person:${REFERENT.sub}`);
    expect(signIns.map((r) => r.outcome)).toContain('success');

    await page.goto(`${gw}/accueil`);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe(`Bonjour, ${REFERENT.name}`);
    expect(await page.locator('dl.fiche').textContent()).toContain(REFERENT.rpps);
    expect(await page.locator('dl.fiche').textContent()).toContain('Référent identitovigilance');
    expect(await page.locator('dl.fiche').textContent()).toContain('Région 28');
    // The identity workspace, linked for the referent of the regional cell.
    expect(await page.getByRole('link', { name: 'File des rapprochements d’identités' }).getAttribute('href')).toBe('/identity/review');
    expect(await page.getByRole('link', { name: 'Conflits d’identité par établissement' }).getAttribute('href')).toBe('/identity/conflicts');
    await screenshot(page, 'home');
    await context.close();
  }, 60_000);

  it('every page sends CSP (no script, own styles, frame-ancestors none), no-referrer, nosniff and no-store; the session cookie is HttpOnly, Secure, SameSite=Lax', async () => {
    const id = await reviewItem();
    const context = await browser.newContext();
    const page = await signIn(context, `/identity/review/${id}`, REFERENT.login);
    const res = await page.goto(`${gw}/identity/review/${id}`);
    const h = res?.headers() ?? {};
    expect(h['content-security-policy']).toContain("default-src 'self'");
    expect(h['content-security-policy']).toContain("script-src 'none'");
    expect(h['content-security-policy']).toContain("style-src 'self'");
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['cache-control']).toBe('no-store');
    const cookie = (await context.cookies(gw)).find((c) => c.name === SESSION_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    // The style sheet is served (the page has no inline style the CSP would block).
    const css = await fetch(`${gw}/static/passerelle.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
    // On a phone: the page reflows, nothing wider than the screen but the tables' own scroll areas.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'identity-review-phone');
    await context.close();
  }, 60_000);

  it('no session: a page answers 303 to the sign-in with the page as return path; a foreign return path is refused', async () => {
    const id = await reviewItem();
    const r = await fetch(`${gw}/identity/review/${id}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(`/connexion?retour=${encodeURIComponent(`/identity/review/${id}`)}`);
    expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const post = await fetch(`${gw}/identity/review/${id}`, { method: 'POST', body: new URLSearchParams({ decision: 'same', motif: 'x' }), redirect: 'manual' });
    expect(post.status).toBe(303);
    expect((await identityServiceFor(srv.store).getReview(id))?.review.state).toBe('open');
    for (const evil of ['https://evil.example', '//evil.example', '/.//evil.example', '/\\evil.example', 'javascript:alert(1)', `/${'a'.repeat(600)}`]) {
      const c = await fetch(`${gw}/connexion?retour=${encodeURIComponent(evil)}`, { redirect: 'manual' });
      expect(c.status, evil).toBe(400);
      expect(await c.text()).toContain('Adresse de retour refusée');
    }
    const home = await fetch(`${gw}/accueil`, { redirect: 'manual', headers: { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}` } });
    expect(home.status).toBe(303);
  });

  it('a forged or missing CSRF token, and hostile form values, are refused with a 4xx page and nothing is written', async () => {
    const id = await reviewItem();
    const context = await browser.newContext();
    const page = await signIn(context, `/identity/review/${id}`, REFERENT.login);
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const post = (form: Record<string, string>) => context.request.post(`${gw}/identity/review/${id}`, { form, maxRedirects: 0 });
    expect((await post({ decision: 'same', motif: 'ok', _csrf: 'forged' })).status()).toBe(403);
    expect((await post({ decision: 'same', motif: 'ok' })).status()).toBe(403);
    expect((await post({ decision: 'same', motif: 'ok', _csrf: `${csrf.slice(0, -1)}x` })).status()).toBe(403);
    const bidi = await post({ decision: 'same', motif: 'ok \u202Egnp.exe', _csrf: csrf });
    expect(bidi.status()).toBe(400);
    expect(await bidi.text()).toContain('caractères de contrôle');
    const control = await post({ decision: 'same', motif: 'a\u0000b', _csrf: csrf });
    expect(control.status()).toBe(400);
    const maybe = await post({ decision: 'maybe', motif: '<script>alert(1)</script>', _csrf: csrf });
    expect(maybe.status()).toBe(400);
    const body = await maybe.text();
    expect(body).not.toContain('<script>alert(1)</script>');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const huge = await post({ decision: 'same', motif: 'x'.repeat(20_000), _csrf: csrf });
    expect(huge.status()).toBe(413);
    expect(await huge.text()).toContain('Formulaire trop volumineux');
    expect((await post({ decision: 'same', motif: 'x'.repeat(1001), _csrf: csrf })).status()).toBe(400);
    const missing = await context.request.get(`${gw}/identity/review/does-not-exist`, { maxRedirects: 0 });
    expect(missing.status()).toBe(404);
    const weird = await context.request.get(`${gw}/identity/review/${encodeURIComponent('<b>\u202E')}`, { maxRedirects: 0 });
    expect(weird.status()).toBe(404);
    expect((await identityServiceFor(srv.store).getReview(id))?.review.state).toBe('open');
    await context.close();
  }, 60_000);

  it('a person the provider knows but the gateway does not: "Compte non autorisé", no session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const landing = page.waitForResponse((r) => r.url().startsWith(`${gw}/auth/callback`));
    await page.goto(`${gw}/accueil`);
    // A wrong password at the provider: its form again, with the error, and nothing at the gateway.
    await page.getByLabel('Identifiant').fill('nina.inconnue');
    await page.getByLabel('Mot de passe').fill('wrong');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    expect(await page.getByRole('alert').textContent()).toBe('Identifiant ou mot de passe incorrect.');
    await page.getByLabel('Mot de passe').fill('demo');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    expect((await landing).status()).toBe(403);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('Compte non autorisé');
    await screenshot(page, 'account-not-authorised');
    expect(await cookieOf(context)).toBeUndefined();
    const refused = (await srv.store.auditLog({ limit: 1000 })).filter((r) => r.action === 'auth.sign-in' && r.actor === 'person:demo-0009');
    expect(refused.map((r) => r.outcome)).toEqual(['failure']);
    await context.close();
  }, 60_000);

  it('a person without the identitovigilance role gets a 403 page on the review item', async () => {
    const id = await reviewItem();
    const context = await browser.newContext();
    const page = await context.newPage();
    const landing = page.waitForResponse((r) => r.url() === `${gw}/identity/review/${id}` && r.status() !== 303);
    await page.goto(`${gw}/identity/review/${id}`);
    await fillSignInForm(page, 'sophie.bernard');
    await page.waitForURL(`${gw}/identity/review/${id}`);
    expect((await landing).status()).toBe(403);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('Accès refusé');
    await screenshot(page, 'identity-review-forbidden');
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const post = await context.request.post(`${gw}/identity/review/${id}`, { form: { decision: 'same', motif: 'x', _csrf: csrf }, maxRedirects: 0 });
    expect(post.status()).toBe(403);
    expect((await identityServiceFor(srv.store).getReview(id))?.review.state).toBe('open');
    await context.close();
  }, 60_000);

  it('sign-out ends the session (the old cookie no longer works) and ends the provider’s session', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, '/accueil', REFERENT.login);
    const old = await cookieOf(context);
    expect(old).toBeDefined();
    const home = await fetch(`${gw}/accueil`, { redirect: 'manual', headers: { cookie: `${SESSION_COOKIE}=${old}` } });
    expect(home.status).toBe(200);
    await page.getByRole('button', { name: 'Se déconnecter' }).first().click();
    await page.waitForURL((u) => u.origin === provider.issuer);
    await page.getByRole('button', { name: 'Oui, me déconnecter' }).click();
    // Back at the gateway, signed out: the home page sends to the provider, which asks to sign in again.
    await page.getByLabel('Identifiant').waitFor();
    expect(await cookieOf(context)).not.toBe(old);
    const after = await fetch(`${gw}/accueil`, { redirect: 'manual', headers: { cookie: `${SESSION_COOKIE}=${old}` } });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/connexion?retour=%2Faccueil');
    await context.close();
  }, 60_000);
});
