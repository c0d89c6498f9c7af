// The case manager page over HTTP (pages/pathway-page.ts) on a real gateway and SQLite file: people's sessions are
// opened as the sign-in callback opens them (PeopleSessions), the rest is plain HTTP. Not signed in → the sign-in;
// a person of one establishment sees its PPPs only (another's: 404, audited); filters; the outcomes form, refused
// with a forged CSRF token or hostile values (4xx, nothing written), then recorded; the PHO's PDF downloaded.
import type { CarePlan } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthPerson } from '../../src/config.js';
import { mountPages } from '../../src/pages/mount.js';
import { SESSION_COOKIE } from '../../src/pages/session.js';
import { followupOutcomesOf, mergeFollowupOutcomes } from '../../src/services/pathway/careplan-state.js';
import { startTestServer, type TestServer } from '../api/server.js';
import { sessionCookieOf } from '../support/people-sessions.js';
import { configFrom } from '../../src/config.js';
import { startPathwayScheduler } from '../../src/services/pathway/scheduler.js';
import { pino } from 'pino';
import { DAY, submitPpp, type Submitted } from '../services/pathway/casemgr-support.js';

const PEOPLE: AuthPerson[] = [
  { sub: 'cm-rouen', rpps: '10000000011', tenant: 'establishment:760000018', roles: ['case-manager'] },
  { sub: 'cm-amiens', rpps: '10000000052', tenant: 'establishment:800000317', roles: ['case-manager'] },
  { sub: 'regional', rpps: '10000000045', tenant: 'region:28', roles: ['regional'] },
  { sub: 'ops', tenant: 'region:28', roles: ['admin'] },
];

let srv: TestServer;
let sent: Submitted;
let draft: Submitted;
let other: Submitted;
const cookies = new Map<string, string>();

const signIn = (sub: string): Promise<string> => sessionCookieOf(srv.store, PEOPLE, sub);

async function get(path: string, who?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${srv.url}${path}`, { redirect: 'manual', headers: who ? { cookie: `${SESSION_COOKIE}=${cookies.get(who)}` } : {} });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function post(path: string, who: string, fields: [string, string][]): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${srv.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: `${SESSION_COOKIE}=${cookies.get(who)}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const csrfOf = (page: string): string => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
const version = async (id: string) => (await srv.store.read<CarePlan>('CarePlan', id))?.meta?.versionId;
const audits = async (id: string, action: string) => (await srv.store.auditLog({ entity: `CarePlan/${id}`, limit: 200 })).filter((a) => a.action === action);

beforeAll(async () => {
  srv = await startTestServer({ auth: { enabled: true, people: PEOPLE } }, [], { deps: { pages: [mountPages] } });
  const now = Date.now();
  sent = await submitPpp(srv.store, 'PG-SENT', { sentAt: new Date(now - 60 * DAY), undecided: true });
  draft = await submitPpp(srv.store, 'PG-DRAFT', { undecided: true, patient: { usedName: 'MARTIN', birthName: 'DURAND' } });
  other = await submitPpp(srv.store, 'PG-OTHER', { fixture: 'hospital-sync-rcp', sentAt: new Date(now - 60 * DAY) });
  await srv.store.transaction((tx) => mergeFollowupOutcomes(tx, sent.carePlan, [{ window: 'd45', recommendation: sent.recommendations[1]!, proposed: 'non-implementee' }]));
  for (const p of PEOPLE) cookies.set(p.sub as string, await signIn(p.sub as string));
}, 60_000);
afterAll(async () => {
  await srv?.close();
});

describe('the case manager page over HTTP', () => {
  it('sends a visitor who is not signed in to the sign-in, coming back afterwards', async () => {
    const list = await get('/pathway?etape=rcp');
    expect(list.status).toBe(303);
    expect(list.headers.get('location')).toBe(`/connexion?retour=${encodeURIComponent('/pathway?etape=rcp')}`);
    const one = await get(`/pathway/${sent.carePlan}`);
    expect(one.status).toBe(303);
    const posted = await fetch(`${srv.url}/pathway/${sent.carePlan}/suivi`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ window: 'd45', r0: 'implementee' }) });
    expect(posted.status).toBe(303);
    expect(followupOutcomesOf((await srv.store.read<CarePlan>('CarePlan', sent.carePlan))!).filter((e) => e.outcome)).toEqual([]);
  });

  it('refuses a person without the scope (403)', async () => {
    expect((await get('/pathway', 'regional')).status).toBe(403);
  });

  it('lists the PPPs of the person’s establishment only, with their step, filtered by step and establishment', async () => {
    const page = await get('/pathway', 'cm-rouen');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'none'");
    expect(page.text).toContain('PG-SENT');
    expect(page.text).toContain('MARTIN Emma (née DURAND)');
    expect(page.text).toContain('En attente des décisions MT / PHO');
    expect(page.text).not.toContain('PG-OTHER');
    expect(page.text).toContain('<label for="etape">Étape</label>');
    const rcp = await get('/pathway?etape=rcp', 'cm-rouen');
    expect(rcp.text).toContain('PG-DRAFT');
    expect(rcp.text).not.toContain('PG-SENT');
    // Another establishment asked for by a person of this one: nothing shown.
    const foreign = await get('/pathway?etablissement=800000317', 'cm-rouen');
    expect(foreign.status).toBe(200);
    expect(foreign.text).not.toContain('PG-OTHER');
    // The operator sees every establishment and filters on one.
    const all = await get('/pathway', 'ops');
    expect(all.text).toContain('PG-OTHER');
    expect(all.text).toContain('PG-SENT');
    const amiens = await get('/pathway?etablissement=800000317', 'ops');
    expect(amiens.text).toContain('PG-OTHER');
    expect(amiens.text).not.toContain('PG-SENT');
    const listRows = (await srv.store.auditLog({ limit: 500 })).filter((a) => a.action === 'pathway.page-list');
    expect(listRows.length).toBeGreaterThanOrEqual(5);
    expect(listRows.find((a) => a.person === 'rpps:10000000011')).toMatchObject({ actor: 'person:cm-rouen', tenant: 'establishment:760000018', outcome: 'success' });
  });

  it('answers 400 to unknown, repeated or oversized filter values', async () => {
    for (const q of ['etape=bogus', 'etape=rcp&etape=clos', `etablissement=${'9'.repeat(5000)}`, 'etablissement=76000001%00', 'etape[x]=rcp', 'etape=%E2%80%AErcp']) {
      const r = await get(`/pathway?${q}`, 'cm-rouen');
      expect(r.status, q).toBe(400);
      expect(r.text).toMatch(/choisissez/i);
    }
  });

  it('shows one PPP of the establishment, and 404 for another establishment’s (audited), an unknown one or a bad id', async () => {
    const page = await get(`/pathway/${sent.carePlan}`, 'cm-rouen');
    expect(page.status).toBe(200);
    expect(page.text).toContain('PPP de BOVARY Emma');
    expect(page.text).toContain('Suivi J45');
    // The proposal is preselected and marked.
    expect(page.text).toMatch(/id="d45-r1-non-implementee" name="r1" value="non-implementee" checked><label for="d45-r1-non-implementee">Non implémentée <span class="propose">proposé<\/span>/);
    expect((await audits(sent.carePlan, 'pathway.page-view')).at(-1)).toMatchObject({ outcome: 'success', person: 'rpps:10000000011' });

    const foreign = await get(`/pathway/${other.carePlan}`, 'cm-rouen');
    expect(foreign.status).toBe(404);
    expect(foreign.text).not.toContain('FALCONE');
    expect((await audits(other.carePlan, 'pathway.page-view')).at(-1)).toMatchObject({ outcome: 'failure', detail: 'other establishment', actor: 'person:cm-rouen' });
    expect((await get('/pathway/00000000-0000-5000-8000-000000000000', 'cm-rouen')).status).toBe(404);
    for (const bad of ['not-a-careplan', '%E2%80%AE', 'x'.repeat(5000)]) {
      const r = await get(`/pathway/${bad}`, 'cm-rouen');
      expect(r.status, bad.slice(0, 20)).toBe(404);
      expect(r.text).toContain('PPP introuvable');
    }
    // The systems' due-work list (GET /pathway/worklist, api layer) is not a page: left to its own route.
    expect((await get('/pathway/worklist', 'cm-rouen')).text).not.toContain('PPP introuvable');
    expect((await get(`/pathway/${other.carePlan}`, 'cm-amiens')).status).toBe(200);
    const draftPage = await get(`/pathway/${draft.carePlan}`, 'cm-rouen');
    expect(draftPage.text).toContain('pas encore été envoyé');
    expect(draftPage.text).not.toContain('<form method="post" action="/pathway/');
  });

  it('refuses a forged or missing CSRF token and hostile values, writing nothing', async () => {
    const csrf = csrfOf((await get(`/pathway/${sent.carePlan}`, 'cm-rouen')).text);
    expect(csrf).not.toBe('');
    const before = await version(sent.carePlan);
    const path = `/pathway/${sent.carePlan}/suivi`;
    expect((await post(path, 'cm-rouen', [['_csrf', 'forged'], ['window', 'd45'], ['r0', 'implementee']])).status).toBe(403);
    expect((await post(path, 'cm-rouen', [['window', 'd45'], ['r0', 'implementee']])).status).toBe(403);
    // Another person's token is not this person's.
    const amiensCsrf = csrfOf((await get(`/pathway/${other.carePlan}`, 'cm-amiens')).text);
    expect((await post(path, 'cm-rouen', [['_csrf', amiensCsrf], ['window', 'd45'], ['r0', 'implementee']])).status).toBe(403);

    const hostile: [[string, string][], string][] = [
      [[['window', 'd30'], ['r0', 'implementee']], 'J45 ou J90'],
      [[['window', 'd45'], ['r0', 'oui']], 'Recommandation 1 : choisissez'],
      [[['window', 'd45'], ['r0', 'implementee'], ['r0', 'inconnue']], 'Recommandation 1 : choisissez'],
      [[['window', 'd45'], ['r0', 'implementee'], ['note0', 'a\u202Eb']], 'caractère non permis'],
      [[['window', 'd45'], ['r0', 'implementee'], ['note0', 'x'.repeat(2001)]], '2 000 caractères au plus'],
      [[['window', 'd45'], ['note2', 'sans choix']], 'choisissez un résultat pour accompagner la note'],
      [[['window', 'd45']], 'au moins une recommandation'],
    ];
    for (const [fields, message] of hostile) {
      const r = await post(path, 'cm-rouen', [['_csrf', csrf], ...fields]);
      expect(r.status, JSON.stringify(fields).slice(0, 60)).toBe(400);
      expect(r.text).toContain(message);
    }
    // Another establishment's PPP, with a valid token: 404.
    expect((await post(`/pathway/${other.carePlan}/suivi`, 'cm-rouen', [['_csrf', csrf], ['window', 'd45'], ['r0', 'implementee']])).status).toBe(404);
    // Not sent: no window open.
    const closedWindow = await post(`/pathway/${draft.carePlan}/suivi`, 'cm-rouen', [['_csrf', csrf], ['window', 'd45'], ['r0', 'implementee']]);
    expect(closedWindow.status).toBe(422);
    expect(closedWindow.text).toContain('pas encore ouverte');
    // A body over the form's limit.
    expect((await post(path, 'cm-rouen', [['_csrf', csrf], ['window', 'd45'], ['note0', 'x'.repeat(600_000)]])).status).toBe(413);
    expect(await version(sent.carePlan)).toBe(before);
    expect(await audits(sent.carePlan, 'pathway.outcome')).toEqual([]);
  });

  it('records the outcomes of the form and shows them; the recording is audited under the person', async () => {
    const csrf = csrfOf((await get(`/pathway/${sent.carePlan}`, 'cm-rouen')).text);
    const r = await post(`/pathway/${sent.carePlan}/suivi`, 'cm-rouen', [['_csrf', csrf], ['window', 'd45'], ['r0', 'implementee'], ['note0', 'Arrêt confirmé\npar le PHO.'], ['r1', 'non-implementee'], ['note1', '']]);
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(`/pathway/${sent.carePlan}?enregistre=d45#suivi-d45`);
    const entries = followupOutcomesOf((await srv.store.read<CarePlan>('CarePlan', sent.carePlan))!).filter((e) => e.outcome);
    expect(entries).toEqual([
      expect.objectContaining({ window: 'd45', recommendation: sent.recommendations[0], outcome: 'implementee', note: 'Arrêt confirmé\npar le PHO.', recorder: 'rpps:10000000011' }),
      expect.objectContaining({ window: 'd45', recommendation: sent.recommendations[1], outcome: 'non-implementee', proposed: 'non-implementee' }),
    ]);
    expect((await audits(sent.carePlan, 'pathway.outcome'))[0]).toMatchObject({ actor: 'person:cm-rouen', person: 'rpps:10000000011', tenant: 'establishment:760000018' });
    const page = await get(`/pathway/${sent.carePlan}?enregistre=d45`, 'cm-rouen');
    expect(page.text).toContain('Suivi J45 enregistré.');
    expect(page.text).toContain('Déjà saisi : Implémentée');
  });

  it('lets the case manager download the PHO’s PDF (audited), and nobody else’s', async () => {
    const pdf = Buffer.from('%PDF-1.4\n% ordonnance\n%%EOF\n');
    await srv.store.pathway.addUpload({ id: 'up-pdf-1', carePlan: sent.carePlan, followup: 'd45', rpps: '10101523388', received: new Date().toISOString(), kind: 'pdf', mediaType: 'application/pdf', content: pdf });
    await srv.store.pathway.addUpload({ id: 'up-lines-1', carePlan: sent.carePlan, followup: 'd45', rpps: '10101523388', received: new Date().toISOString(), kind: 'lines', lines: [{ medication: { text: 'PARACETAMOL 1 g' }, dosage: { text: '1 cp x 3/j' } }, '<script>alert(1)</script>'] });
    const page = await get(`/pathway/${sent.carePlan}`, 'cm-rouen');
    expect(page.text).toContain(`href="/pathway/${sent.carePlan}/ordonnances/up-pdf-1"`);
    expect(page.text).toContain('PARACETAMOL 1 g — 1 cp x 3/j');
    expect(page.text).toContain('&lt;script&gt;');
    const res = await fetch(`${srv.url}/pathway/${sent.carePlan}/ordonnances/up-pdf-1`, { headers: { cookie: `${SESSION_COOKIE}=${cookies.get('cm-rouen')}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);
    expect((await audits(sent.carePlan, 'pathway.upload-read')).at(-1)).toMatchObject({ outcome: 'success', detail: 'upload=up-pdf-1 window=d45' });
    // Through another PPP's path, by another establishment, or not a PDF: 404.
    expect((await get(`/pathway/${other.carePlan}/ordonnances/up-pdf-1`, 'ops')).status).toBe(404);
    expect((await get(`/pathway/${sent.carePlan}/ordonnances/up-pdf-1`, 'cm-amiens')).status).toBe(404);
    expect((await get(`/pathway/${sent.carePlan}/ordonnances/up-lines-1`, 'cm-rouen')).status).toBe(404);
    expect((await get(`/pathway/${sent.carePlan}/ordonnances/${'x'.repeat(300)}`, 'cm-rouen')).status).toBe(404);
  });

  it('links the page from the home page for the people allowed to see it', async () => {
    expect((await get('/accueil', 'cm-rouen')).text).toContain('href="/pathway"');
    expect((await get('/accueil', 'regional')).text).not.toContain('href="/pathway"');
  });

  it('lists the work due (the worklist): a D45 prescription request without answer, overdue, for the person’s establishment only', async () => {
    // A PPP sent 60 days ago whose D45 window opened 15 days ago: the PHO has not answered.
    const waiting = await submitPpp(srv.store, 'PG-WAIT', { sentAt: new Date(Date.now() - 60 * DAY), undecided: true });
    await srv.store.pathway.schedule(waiting.carePlan, 'd45', new Date(Date.now() - 15 * DAY).toISOString());
    const scheduler = startPathwayScheduler({ store: srv.store, config: configFrom({}), logger: pino({ level: 'silent' }), poll: false, workerId: 'test' });
    expect(await scheduler.runDue(new Date(Date.now() - 15 * DAY + 60_000))).toEqual({ ran: 1, failed: 0 });
    await scheduler.stop();
    const list = await get('/pathway', 'cm-rouen');
    const todo = /<ul class="a-faire">([\s\S]*?)<\/ul>/.exec(list.text)?.[1] ?? '';
    const item = todo.split('</li>').find((li) => li.includes('PG-WAIT')) ?? '';
    expect(item).toContain('class="en-retard"');
    expect(item).toMatch(/J45\s:\sordonnance demandée au pharmacien le \d{2}\/\d{2}\/\d{4}, sans réponse depuis plus de 14 jours/);
    expect(item).toContain(`href="/pathway/${waiting.carePlan}"`);
    expect((await get('/pathway', 'cm-amiens')).text).not.toContain('PG-WAIT');
  });
});
