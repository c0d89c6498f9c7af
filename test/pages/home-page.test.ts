// The home page over HTTP (pages/home-page.ts) on a real gateway: its links to the identity workspace follow the
// pages' own access rules — the review queue for identitovigilance, the conflict board listing for the regional cell
// and admin, an establishment's own board for its staff — and every link shown opens (no 403 behind a link).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthPerson } from '../../src/config.js';
import { mountPages } from '../../src/pages/mount.js';
import { SESSION_COOKIE } from '../../src/pages/session.js';
import { startTestServer, type TestServer } from '../api/server.js';
import { sessionCookieOf } from '../support/people-sessions.js';

const PEOPLE: AuthPerson[] = [
  { sub: 'cm-rouen', rpps: '10000000011', tenant: 'establishment:760000018', roles: ['case-manager'] },
  { sub: 'ivg-region', rpps: '10000000029', tenant: 'region:28', roles: ['identitovigilance'] },
  { sub: 'ivg-rouen', rpps: '10000000060', tenant: 'establishment:760000018', roles: ['identitovigilance'] },
  { sub: 'regional', rpps: '10000000045', tenant: 'region:28', roles: ['regional'] },
  { sub: 'auditor', rpps: '10000000078', tenant: 'establishment:760000018', roles: ['auditor'] },
  { sub: 'ops', tenant: 'region:28', roles: ['admin'] },
];

let srv: TestServer;
const cookies = new Map<string, string>();

const signIn = (sub: string): Promise<string> => sessionCookieOf(srv.store, PEOPLE, sub);

async function get(path: string, who: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${srv.url}${path}`, { redirect: 'manual', headers: { cookie: `${SESSION_COOKIE}=${cookies.get(who)}`, accept: 'text/html' } });
  return { status: res.status, text: await res.text() };
}

/** The links of the home page's "Vos pages" list, as written in the href (entities decoded). */
async function homeLinks(who: string): Promise<string[]> {
  const home = await get('/accueil', who);
  expect(home.status).toBe(200);
  const list = /<h2>Vos pages<\/h2>\s*<ul>([\s\S]*?)<\/ul>/.exec(home.text)?.[1] ?? '';
  return [...list.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
}

beforeAll(async () => {
  srv = await startTestServer({ auth: { enabled: true, people: PEOPLE } }, [], { deps: { pages: [mountPages] } });
  for (const p of PEOPLE) cookies.set(p.sub as string, await signIn(p.sub as string));
}, 60_000);
afterAll(async () => {
  await srv?.close();
});

describe('the home page links the identity workspace', () => {
  it.each([
    ['an establishment’s case manager: its own board, no queue', 'cm-rouen', ['/pathway', '/identity/conflicts?establishment=760000018']],
    ['the regional identitovigilance cell: the queue and the board listing', 'ivg-region', ['/identity/review', '/identity/conflicts']],
    ['a referent declared under an establishment is still the regional cell (cross-tenant role)', 'ivg-rouen', ['/identity/review', '/identity/conflicts']],
    ['admin: every page', 'ops', ['/pathway', '/identity/review', '/identity/conflicts']],
    ['the regional coordinator (aggregates only): none', 'regional', []],
    ['an auditor bound to an establishment (no patient data): none', 'auditor', []],
  ])('%s', async (_case, who, expected) => {
    const links = await homeLinks(who);
    expect(links).toEqual(expected);
    // Each link shown opens for this person; the pages left out refuse them.
    for (const link of links) expect((await get(link, who)).status, link).toBe(200);
    if (!links.includes('/identity/review')) expect((await get('/identity/review', who)).status).toBe(403);
    if (!links.some((l) => l.startsWith('/identity/conflicts'))) expect((await get('/identity/conflicts', who)).status).toBe(403);
  });

  it('the links read as French, with the establishment’s board named as theirs', async () => {
    const own = (await get('/accueil', 'cm-rouen')).text;
    expect(own).toContain('>Conflits d’identité de votre établissement</a>');
    expect(own).not.toContain('File des rapprochements');
    const cell = (await get('/accueil', 'ivg-region')).text;
    expect(cell).toContain('<a href="/identity/review">File des rapprochements d’identités</a>');
    expect(cell).toContain('<a href="/identity/conflicts">Conflits d’identité par établissement</a>');
  });
});
