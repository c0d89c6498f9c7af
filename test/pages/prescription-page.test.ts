// The PHO's prescription request page (src/pages/prescription-page.ts) over real HTTP on a real SQLite file: the page
// shows the patient, the window and the recommendations; a PDF, typed lines or "pas de changement" are stored with the
// proposals, the Task note and the audit; every bad input is a 4xx page with its message and nothing stored; a replayed
// form is refused.
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountPages } from '../../src/pages/mount.js';
import { followupOutcomesOf } from '../../src/services/pathway/careplan-state.js';
import { followUpTask, openFollowUpWindow, recommendationReference } from '../../src/services/pathway/followup.js';
import { startTestServer, type TestServer } from '../api/server.js';
import { contextAt, pppFixture, sentCase } from '../services/pathway/followup-support.js';

let srv: TestServer;
let carePlan: string;
let page: string;

const pdf = (size = 400): Buffer => {
  const b = Buffer.alloc(size, 0x20);
  b.write('%PDF-1.4\n', 0, 'latin1');
  return b;
};

async function open(id: string): Promise<{ carePlan: string; page: string }> {
  const c = await sentCase(srv.store, pppFixture(id));
  const opened = await openFollowUpWindow(srv.store, c.carePlan, 'd45', contextAt(new Date(), { ...(await import('../../src/config.js')).configFrom({ baseUrl: srv.url }) }));
  return { carePlan: c.carePlan, page: new URL(opened.link!.url).pathname };
}

async function get(path = page): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`${srv.url}${path}`, { redirect: 'manual' });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

async function csrf(path = page): Promise<string> {
  const m = /name="_csrf" value="([^"]+)"/.exec((await get(path)).text);
  return m![1]!;
}

type Field = [string, string] | [string, Blob, string];

async function post(fields: Field[], path = page): Promise<{ status: number; text: string; location: string | null }> {
  const form = new FormData();
  for (const f of fields) {
    if (f.length === 3) form.append(f[0], f[1], f[2]);
    else form.append(f[0], f[1]);
  }
  const r = await fetch(`${srv.url}${path}`, { method: 'POST', body: form, redirect: 'manual' });
  return { status: r.status, text: await r.text(), location: r.headers.get('location') };
}

const pdfFile = (content: Buffer, type = 'application/pdf'): Blob => new Blob([new Uint8Array(content)], { type });

async function nothingStored(cp = carePlan): Promise<void> {
  expect(await srv.store.pathway.uploads(cp)).toEqual([]);
  expect((await srv.store.auditLog({ entity: `CarePlan/${cp}`, limit: 100 })).filter((a) => a.action === 'pathway.prescription')).toEqual([]);
}

beforeAll(async () => {
  srv = await startTestServer({}, [], { deps: { pages: [mountPages] } });
  ({ carePlan, page } = await open('PRESC-1'));
});
afterAll(async () => srv?.close());

describe('the prescription request page', () => {
  it('shows the patient, the window, the recommendations and the three answers, with the pages’ headers', async () => {
    const r = await get();
    expect(r.status).toBe(200);
    expect(r.headers.get('content-security-policy')).toContain("script-src 'none'");
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.text).toContain('Suivi à J45 : ordonnance en cours');
    expect(r.text).toMatch(/DITROPAN 5 mg/);
    expect(r.text).toContain('Arrêt');
    expect(r.text).toContain('enctype="multipart/form-data"');
    expect(r.text).toContain('name="ordonnance"');
    expect(r.text).toContain('Déclarer : pas de changement');
    expect(r.text).not.toMatch(/<script/i);
  });

  it('a forged token or another step: the one 404 page', async () => {
    expect((await get('/p/' + 'A'.repeat(43))).status).toBe(404);
    expect((await get(`${page}/autre`)).status).toBe(404);
  });

  const BAD: [string, () => Promise<Field[]>, number, RegExp][] = [
    ['a text file declared as a PDF', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['ordonnance', pdfFile(Buffer.from('hello, not a pdf')), 'o.pdf']], 415, /pas un PDF/],
    ['a PDF declared as text', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['ordonnance', pdfFile(pdf(), 'text/plain'), 'o.txt']], 415, /pas un PDF/],
    ['an empty file', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['ordonnance', pdfFile(Buffer.alloc(0)), 'o.pdf']], 400, /vide/],
    ['10 MB + 1 byte', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['ordonnance', pdfFile(pdf(10 * 1024 * 1024 + 1)), 'o.pdf']], 413, /10 Mo/],
    ['two files', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['ordonnance', pdfFile(pdf()), 'a.pdf'], ['ordonnance', pdfFile(pdf()), 'b.pdf']], 400, /Un seul fichier/],
    ['a file in another field', async () => [['_csrf', await csrf()], ['reponse', 'pdf'], ['piece', pdfFile(pdf()), 'a.pdf']], 400, /Seul le champ/],
    ['no file', async () => [['_csrf', await csrf()], ['reponse', 'pdf']], 400, /Choisissez un fichier PDF/],
    ['an unknown field', async () => [['_csrf', await csrf()], ['reponse', 'aucun-changement'], ['admin', '1']], 400, /Champ inattendu/],
    ['an unknown answer', async () => [['_csrf', await csrf()], ['reponse', 'autre']], 400, /trois façons/],
    ['a field twice', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'A'], ['medicament-1', 'B']], 400, /deux fois/],
    ['too many lines', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC'], ['medicament-31', 'TAHOR']], 400, /30 lignes au plus/],
    ['no line', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', ' ']], 400, /au moins une ligne/],
    ['a bidi override in a label', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARD\u202EEGIC']], 400, /caractères de contrôle/],
    ['a control character in a dosage', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC'], ['posologie-1', '1 le soir\u0007']], 400, /caractères de contrôle/],
    ['a line break in a label', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC\nTAHOR']], 400, /une seule ligne/],
    ['a huge label', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'X'.repeat(100_000)]], 400, /200 caractères au plus/],
    ['a bad code', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC'], ['code-1', '123']], 400, /8 chiffres/],
    ['a dosage without a drug', async () => [['_csrf', await csrf()], ['reponse', 'lignes'], ['posologie-1', '1 le soir']], 400, /médicament : à renseigner/],
    ['no form token', async () => [['reponse', 'aucun-changement']], 403, /Formulaire refusé/],
    ['a forged form token', async () => [['_csrf', 'x'.repeat(43)], ['reponse', 'aucun-changement']], 403, /Formulaire refusé/],
  ];
  for (const [what, fields, status, message] of BAD) {
    it(`refuses ${what}: ${status}, the message, nothing stored`, async () => {
      const r = await post(await fields());
      expect(r.status).toBe(status);
      expect(r.text).toMatch(message);
      await nothingStored();
    });
  }

  it('shows the message next to its field (aria-invalid, aria-describedby) and keeps what was typed', async () => {
    const r = await post([['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC'], ['code-1', '123'], ['posologie-1', '1 le soir']]);
    expect(r.text).toMatch(/id="code-1"[^>]*aria-describedby="code-1-erreur" aria-invalid="true"/);
    expect(r.text).toContain('<p class="erreur-champ" id="code-1-erreur">');
    expect(r.text).toMatch(/id="medicament-1"[^>]*value="KARDEGIC"/);
  });

  it('refuses a body that is not multipart (415) and an oversized declared body (413), nothing stored', async () => {
    const url = await fetch(`${srv.url}${page}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reponse=aucun-changement' });
    expect(url.status).toBe(415);
    const garbage = await fetch(`${srv.url}${page}`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zz' }, body: 'not multipart at all' });
    expect(garbage.status).toBe(400);
    await nothingStored();
  });

  it('"Ajouter des lignes" shows more rows with what was typed, storing nothing', async () => {
    const r = await post([['_csrf', await csrf()], ['reponse', 'lignes'], ['medicament-1', 'KARDEGIC'], ['lignes-affichees', '5'], ['plus', '1']]);
    expect(r.status).toBe(200);
    expect(r.text).toContain('id="medicament-10"');
    expect(r.text).toMatch(/id="medicament-1"[^>]*value="KARDEGIC"/);
    await nothingStored();
  });

  it('stores typed lines with the proposals, notes the Task, audits; the confirmation page; a replayed form is refused', async () => {
    const token = await csrf();
    const fields: Field[] = [
      ['_csrf', token],
      ['reponse', 'lignes'],
      ['medicament-1', 'Kardégic 75 mg'],
      ['code-1', '64755969'],
      ['posologie-1', '1 sachet à midi'],
      ['medicament-2', 'Glucophage 1000 mg'],
      ['posologie-2', '1/2 comprimé matin et soir'],
      ['medicament-3', ''],
    ];
    const r = await post(fields);
    expect(r.status).toBe(303);
    expect(r.location).toBe(`${page}/recu`);
    const done = await get(`${page}/recu`);
    expect(done.status).toBe(200);
    expect(done.text).toContain('Réponse enregistrée');
    expect(done.text).toContain('Kardégic 75 mg');

    const [u] = await srv.store.pathway.uploads(carePlan);
    expect(u).toMatchObject({ followup: 'd45', rpps: '10101523388', kind: 'lines', lines: [{ label: 'Kardégic 75 mg', code: '64755969', dosage: '1 sachet à midi' }, { label: 'Glucophage 1000 mg', dosage: '1/2 comprimé matin et soir' }] });
    const c = (await srv.store.pathway.getCase(carePlan))!;
    const ppp = c.document as { recommendations: Parameters<typeof recommendationReference>[1][] };
    const cp = (await srv.store.read<CarePlan>('CarePlan', carePlan))!;
    expect(followupOutcomesOf(cp).map((f) => [f.window, f.recommendation, f.proposed, f.outcome])).toEqual([
      ['d45', recommendationReference(c, ppp.recommendations[0]!), 'implementee', undefined], // DITROPAN stopped: absent
      ['d45', recommendationReference(c, ppp.recommendations[1]!), 'implementee', undefined], // metformin at the new dosage
      ['d45', recommendationReference(c, ppp.recommendations[2]!), 'non-implementee', undefined], // UVEDOSE not added
    ]);
    // The references are the CarePlan's activities.
    expect(cp.activity?.map((a) => a.reference?.reference)).toEqual(expect.arrayContaining(followupOutcomesOf(cp).map((f) => f.recommendation)));
    const task = (await srv.store.transaction((tx) => followUpTask(tx, carePlan, 'd45'))) as Task;
    expect(task.status).toBe('in-progress');
    expect(task.note?.at(-1)?.text).toContain(`lignes de prescription saisies (dépôt ${u!.id})`);
    const audit = (await srv.store.auditLog({ entity: `CarePlan/${carePlan}`, limit: 100 })).filter((a) => a.action === 'pathway.prescription');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'link:PHO', person: 'rpps:10101523388', outcome: 'success' });
    expect(audit[0]!.detail).toMatch(/^window=d45 kind=lines upload=\S+ lines=2 proposals=3$/);

    const again = await post(fields);
    expect(again.status).toBe(409);
    expect(again.text).toContain('déjà été envoyé');
    expect(await srv.store.pathway.uploads(carePlan)).toHaveLength(1);
  });

  it('stores a real PDF (no proposal) and a "pas de changement" answer, each with a fresh form token', async () => {
    const { carePlan: cp2, page: p2 } = await open('PRESC-2');
    const bytes = pdf(2048);
    const r = await post([['_csrf', await csrf(p2)], ['reponse', 'pdf'], ['ordonnance', pdfFile(bytes), 'ordonnance.pdf']], p2);
    expect(r.status).toBe(303);
    const [u] = await srv.store.pathway.uploads(cp2);
    expect(u).toMatchObject({ kind: 'pdf', mediaType: 'application/pdf' });
    expect((await srv.store.pathway.upload(u!.id))?.content?.equals(bytes)).toBe(true);
    expect(followupOutcomesOf((await srv.store.read<CarePlan>('CarePlan', cp2))!)).toEqual([]);
    const n = await post([['_csrf', await csrf(p2)], ['reponse', 'aucun-changement']], p2);
    expect(n.status).toBe(303);
    expect((await srv.store.pathway.uploads(cp2)).map((x) => x.kind)).toEqual(['pdf', 'no-change']);
    expect((await get(`${p2}/recu`)).text).toContain('Pas de changement');
  });

  it('a closed PPP: 410, nothing stored', async () => {
    const { carePlan: cp3, page: p3 } = await open('PRESC-3');
    const token = await csrf(p3);
    await srv.store.pathway.close(cp3, new Date().toISOString());
    expect((await get(p3)).status).toBe(410);
    expect((await post([['_csrf', token], ['reponse', 'aucun-changement']], p3)).status).toBe(410);
    await nothingStored(cp3);
  });
});
