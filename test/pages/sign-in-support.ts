// What the people sign-in tests in a browser share (test/pages/people.test.ts, test/pages/people-https.test.ts): the
// gateway with its pages and people's sign-in at the local OpenID Connect provider (the demo people), a headless
// browser, and the provider's sign-in form filled in.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { mountPages } from '../../src/pages/mount.js';
import { demoAuthPeople } from '../../src/sandbox/oidc/people.js';
import { startOidcSandbox, type OidcSandbox } from '../../src/sandbox/oidc/provider.js';
import { launchBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../api/server.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface PeopleGateway {
  /** The gateway's origin (`http://localhost:<port>`, or https with `tls`). */
  gw: string;
  provider: OidcSandbox;
  srv: TestServer;
  browser: Browser;
  /** Closes the browser, the gateway and the provider, and removes the temporary files. */
  close(): Promise<void>;
}

/**
 * The gateway on a port known in advance (the provider redirects back to it), people's sign-in on, the pages
 * mounted; with `tls`, on the gateway's own HTTPS listener (test PKI). Whatever was started is closed if a step fails.
 */
export async function startPeopleGateway(options: { tls?: boolean } = {}): Promise<PeopleGateway> {
  const tls = options.tls === true;
  const dir = mkdtempSync(path.join(tmpdir(), tls ? 'passerelle-pages-tls-' : 'passerelle-pages-'));
  let provider: OidcSandbox | undefined;
  let srv: TestServer | undefined;
  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close();
    await srv?.close();
    await provider?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    const gw = `${tls ? 'https' : 'http'}://localhost:${port}`;
    provider = await startOidcSandbox({ port: 0, gatewayBaseUrl: gw });
    const secretFile = path.join(dir, 'oidc-secret');
    writeFileSync(secretFile, provider.clientSecret);
    srv = await startTestServer(
      { port, ...(tls ? { baseUrl: gw } : {}), auth: { enabled: true, people: demoAuthPeople(), oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecretFile: secretFile } } },
      [],
      { ...(tls ? { tls: true } : {}), deps: { pages: [mountPages] } },
    );
    browser = await launchBrowser();
    return { gw, provider, srv, browser, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** At the provider's sign-in form: the login and password (the demo people's is `demo`), sent with Enter. */
export async function fillSignInForm(page: Page, login: string, password = 'demo'): Promise<void> {
  await page.getByLabel('Identifiant').fill(login);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByLabel('Mot de passe').press('Enter');
}
