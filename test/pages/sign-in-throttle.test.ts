// Failed sign-ins are throttled per source address (auth.rateLimit.authentication), with a French 429 page and
// Retry-After; a successful request is not counted. No browser and no provider needed: a callback without its
// sign-in session is refused before the provider is ever called.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mountPages } from '../../src/pages/mount.js';
import { startTestServer, type TestServer } from '../api/server.js';

let srv: TestServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-throttle-'));
  writeFileSync(path.join(dir, 'secret'), 'not-used-in-this-test');
  srv = await startTestServer(
    {
      auth: {
        enabled: true,
        people: [{ sub: 'demo-0002', tenant: 'region:28', roles: ['identitovigilance'] }],
        oidc: { issuer: 'https://idp.example', clientId: 'passerelle', clientSecretFile: path.join(dir, 'secret') },
        rateLimit: { authentication: { windowMs: 60_000, max: 5 }, expensive: { windowMs: 60_000, max: 300 } },
      },
    },
    [],
    { deps: { pages: [mountPages] } },
  );
});
afterAll(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

it('after max failed sign-ins from one address: 429 page with Retry-After; the style sheet and other pages are not throttled', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${srv.url}/auth/callback?code=forged&state=x`, { redirect: 'manual' });
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('Connexion expirée');
  }
  const limited = await fetch(`${srv.url}/auth/callback?code=forged&state=x`, { redirect: 'manual' });
  expect(limited.status).toBe(429);
  expect(limited.headers.get('retry-after')).toBe('60');
  expect(limited.headers.get('content-type')).toContain('text/html');
  expect(await limited.text()).toContain('Trop de tentatives');
  expect((await fetch(`${srv.url}/connexion?retour=${encodeURIComponent('//evil.example')}`, { redirect: 'manual' })).status).toBe(429);
  expect((await fetch(`${srv.url}/static/passerelle.css`)).status).toBe(200);
  expect((await fetch(`${srv.url}/accueil`, { redirect: 'manual' })).status).toBe(303);
});
