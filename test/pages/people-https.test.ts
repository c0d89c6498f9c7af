// The same sign-in over the gateway's own HTTPS listener (test PKI, as in production with TLS on): the referent signs
// in at the provider and comes back to the review item; the page carries Strict-Transport-Security and the CSP's
// upgrade-insecure-requests, the session cookie is Secure, and signing out passes by the provider and back.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientIdentity } from '../../src/domain/identity.js';
import { SESSION_COOKIE } from '../../src/pages/session.js';
import type { OidcSandbox } from '../../src/sandbox/oidc/provider.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import { browserAvailable, screenshot } from '../support/browser.js';
import type { TestServer } from '../api/server.js';
import { fillSignInForm, startPeopleGateway, type PeopleGateway } from './sign-in-support.js';

const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';

describe.skipIf(!browserAvailable('the people sign-in test over HTTPS'))('people: sign-in over the gateway’s HTTPS listener', () => {
  let provider: OidcSandbox;
  let srv: TestServer;
  let browser: Browser;
  let gw: string;
  let env: PeopleGateway | undefined;

  beforeAll(async () => {
    env = await startPeopleGateway({ tls: true });
    ({ provider, srv, browser, gw } = env);
  }, 60_000);

  afterAll(async () => {
    await env?.close();
  });

  it('signs in and lands on the review item, with HSTS and a Secure session cookie', async () => {
    const service = identityServiceFor(srv.store);
    const base = { firstBirthGivenName: 'JEANNE', birthDate: '1938-07-21', sex: 'F', birthPlaceInsee: '76540' } as const;
    await service.register(PatientIdentity.parse({ sourceId: { system: HOSPITAL, value: 'TLS-A' }, status: 'VALI', birthName: 'DUBOIS', ...base }), { actor: 'test' });
    await service.register(PatientIdentity.parse({ sourceId: { system: HOSPITAL, value: 'TLS-B' }, birthName: 'DUBOYS', ...base }), { actor: 'test' });
    const id = (await service.listReviews({ state: 'open', limit: 10, offset: 0 })).items[0]?.id as string;

    // The test CA is not in Chromium's store: the browser is told to accept it, as an operator's CA would be installed.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${gw}/identity/review/${id}`);
    await fillSignInForm(page, 'paul.lefevre');
    await page.waitForURL(`${gw}/identity/review/${id}`);
    const res = await page.reload();
    expect(res?.status()).toBe(200);
    const h = res?.headers() ?? {};
    expect(h['strict-transport-security']).toContain('max-age=31536000');
    expect(h['content-security-policy']).toContain('upgrade-insecure-requests');
    expect(h['content-security-policy']).toContain(`form-action 'self' ${provider.issuer}`);
    expect((await context.cookies(gw)).find((c) => c.name === SESSION_COOKIE)).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax' });
    expect(await page.locator('h1').textContent()).toBe('Rapprochement d’identités');
    await screenshot(page, 'identity-review-https');
    const old = (await context.cookies(gw)).find((c) => c.name === SESSION_COOKIE)?.value;
    // Sign-out from the HTTPS page goes to the provider (the CSP lets the form's redirect go there) and back.
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await page.waitForURL((u) => u.origin === provider.issuer);
    await page.getByRole('button', { name: 'Oui, me déconnecter' }).click();
    await page.getByLabel('Identifiant').waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    expect((await context.cookies(gw)).find((c) => c.name === SESSION_COOKIE)?.value).not.toBe(old);
    await context.close();
  }, 60_000);
});
