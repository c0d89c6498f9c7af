// The decision page of the MT and the PHO over HTTP (issue 18 point 4), on a real SQLite file and on PostgreSQL: what
// it shows (escaped, bidi characters made visible), the three steps (form → summary → confirmation), the Tasks and the
// Communication it writes and how FHIR shows them, a changed decision and its history, the closed PPP, every bad
// input (4xx, the form again with the error next to its field, nothing written) and the replayed form.
import type { Bundle, Communication, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CS } from '../../src/fhir/canonical.js';
import { decisionTaskId, submissionCount, submissionId } from '../../src/services/pathway/decisions.js';
import type { Ppp } from '../../src/domain/ppp.js';
import { pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';
import {
  choiceFields,
  decisionLinks,
  formTokenOf,
  getPage,
  hostilePpp,
  MT_RPPS,
  PHO_RPPS,
  postForm,
  submitDecisions,
  submitPpp,
  type DecisionEnv,
} from './decision-support.js';

const pgProblem = await pgUnreachable();

const ALL_RETENU = [['R1', 'retenu'], ['R2', 'retenu'], ['R3', 'retenu']] as const;

function suite(dialect: 'sqlite' | 'postgresql'): void {
  let env: DecisionEnv;
  beforeAll(async () => {
    const { startDecisionEnv } = await import('./decision-support.js');
    env = await startDecisionEnv(dialect);
  });
  afterAll(async () => {
    await env?.close();
  });

  let seq = 0;
  /** A fresh PPP and its links. */
  const fresh = async () => {
    const ppp = hostilePpp(`DEC-${dialect}-${++seq}`);
    const carePlan = await submitPpp(env.store, ppp);
    const links = await decisionLinks(env, carePlan);
    const doc = (await env.store.pathway.getCase(carePlan))!.document as Ppp;
    const task = (rec: string, role: 'MT' | 'PHO') => env.store.read<Task>('Task', decisionTaskId(doc, rec, role));
    return { carePlan, links, doc, task };
  };
  /** What a refused request must not have changed: every Task version and the submissions. */
  const snapshot = async (c: Awaited<ReturnType<typeof fresh>>) => {
    const out: string[] = [];
    for (const r of ['R1', 'R2', 'R3']) for (const role of ['MT', 'PHO'] as const) out.push(`${r}/${role}:${(await c.task(r, role))?.meta?.versionId}`);
    for (const [role, rpps] of [['MT', MT_RPPS], ['PHO', PHO_RPPS]] as const) out.push(`${role} submissions:${await submissionCount(env.store, { carePlan: c.carePlan, role, rpps })}`);
    out.push(`due:${(await env.store.pathway.dueOf(c.carePlan)).map((d) => `${d.kind}/${d.state}`).join(',')}`);
    return out.join(' ');
  };

  it('GET shows the patient, the author and date, and each recommendation with its rationale, escaped', async () => {
    const c = await fresh();
    const page = await getPage(env, c.links.MT);
    expect(page.status).toBe(200);
    const t = page.text;
    expect(t).toContain('Mateo FALCONE');
    expect(t).toMatch(/\d+ ans/);
    expect(t).toContain('Sophie CANIVET');
    expect(t).toContain('12/05/2025');
    expect(t).toContain('Recommandation 1 : Arrêter l’oxybutynine &lt;script&gt;alert(&quot;r1&quot;)&lt;/script&gt; &amp; rééducation');
    expect(t).not.toContain('<script');
    expect(t).toContain('[U+202E]enilémod[U+202C]');
    expect(t).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
    // The line concerned and the proposed change.
    expect(t).toContain('DITROPAN 5 mg — 1 comprimé matin et soir');
    expect(t).toContain('Adapter la dose : GLUCOPHAGE 1000 mg — 1/2 comprimé matin et soir');
    expect(t).toContain('Nouveau médicament');
    // A radio group per recommendation, labelled, and a comment field.
    for (const i of [0, 1, 2]) {
      for (const code of ['retenu', 'non-retenu', 'retenu-modifie']) expect(t).toContain(`<label for="decision-${i}-${code}">`);
      expect(t).toContain(`<label for="commentaire-${i}">`);
    }
    expect(formTokenOf(t)).toMatch(/^1\./);
  });

  it('form → summary → confirm: the Tasks completed with their ppp-decision outputs, one Communication, visible through FHIR', async () => {
    const c = await fresh();
    const form = await getPage(env, c.links.MT);
    const jeton = formTokenOf(form.text);
    const choices = [['R1', 'retenu'], ['R2', 'non-retenu', 'HbA1c à 8,1 % : <b>attendre</b>'], ['R3', 'retenu-modifie', 'Une ampoule tous les deux mois']] as const;
    const summary = await postForm(env, c.links.MT, [['jeton', jeton], ...choiceFields(choices), ['etape', 'resume']]);
    expect(summary.status).toBe(200);
    expect(summary.text).toContain('Récapitulatif de vos décisions');
    expect(summary.text).toContain('HbA1c à 8,1 % : &lt;b&gt;attendre&lt;/b&gt;');
    expect(summary.text).toContain('Retenu avec modification');
    // Nothing is written by the summary.
    expect((await c.task('R2', 'MT'))?.status).toBe('requested');

    const confirm = await postForm(env, c.links.MT, [['jeton', formTokenOf(summary.text)], ...choiceFields(choices), ['etape', 'confirmer']]);
    expect(confirm.status).toBe(303);
    expect(confirm.location).toBe(`${c.links.MT}/enregistre`);
    const done = await getPage(env, confirm.location!);
    expect(done.status).toBe(200);
    expect(done.text).toContain('Vos décisions sont enregistrées');

    const search = await fetch(`${env.fhir}/Task?based-on=CarePlan/${c.carePlan}&code=${encodeURIComponent(`${CS.taskType}|reco-validation`)}&status=completed`);
    expect(search.status).toBe(200);
    const bundle = (await search.json()) as Bundle<Task>;
    const decided = (bundle.entry ?? []).map((e) => e.resource!);
    expect(decided).toHaveLength(3);
    const r2 = decided.find((t) => t.id === decisionTaskId(c.doc, 'R2', 'MT'))!;
    expect(r2.output).toEqual([
      { type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'non-retenu', display: 'Non retenu' }] } },
      { type: { text: 'motif' }, valueString: 'HbA1c à 8,1 % : <b>attendre</b>' },
    ]);
    expect(r2.businessStatus?.coding?.[0]?.code).toBe('non-retenu');

    const comm = await fetch(`${env.fhir}/Communication?about=CarePlan/${c.carePlan}`);
    // The PPP's RCP messages and this submission, the one of its sender.
    const comms = ((await comm.json()) as Bundle<Communication>).entry!.map((e) => e.resource!).filter((x) => x.sent && x.basedOn?.some((b) => b.reference?.startsWith('Task/')));
    expect(comms).toHaveLength(1);
    expect(comms[0]!.id).toBe(submissionId({ carePlan: c.carePlan, role: 'MT', rpps: MT_RPPS }, 1));
    expect(comms[0]!.sender?.reference).toBe(r2.owner?.reference);
    expect(comms[0]!.category?.[0]?.coding?.[0]?.code).toBe('avis-mt');
    expect(comms[0]!.basedOn?.map((b) => b.reference).sort()).toEqual(['R1', 'R2', 'R3'].map((r) => `Task/${decisionTaskId(c.doc, r, 'MT')}`).sort());
    expect(comms[0]!.payload?.[0]?.contentString).toContain('R2');
    expect(comms[0]!.meta?.profile?.[0]).toContain('passerelle-communication');

    const audit = await env.store.auditLog({ entity: `CarePlan/${c.carePlan}`, limit: 50 });
    expect(audit.filter((a) => a.action === 'ppp.decision')).toHaveLength(3);
    expect(audit.find((a) => a.action === 'ppp.decision')).toMatchObject({ actor: 'link:MT', person: `rpps:${MT_RPPS}` });
    expect(audit.find((a) => a.action === 'pathway.decisions')?.detail).toContain('submission 1');
    // The MT alone does not complete the set: the PHO has not answered.
    expect(await env.store.pathway.dueOf(c.carePlan)).toEqual([]);
  });

  it('a replayed confirmation is refused (409, the form again with the message), nothing written', async () => {
    const c = await fresh();
    const { confirm, fields } = await submitDecisions(env, c.links.MT, ALL_RETENU);
    expect(confirm.status).toBe(303);
    const before = await snapshot(c);
    const replay = await postForm(env, c.links.MT, fields);
    expect(replay.status).toBe(409);
    expect(replay.text).toContain('déjà été envoyé');
    expect(replay.text).toContain('aria-describedby="envoyer-erreur"');
    expect(replay.text).toContain('<form');
    expect(await snapshot(c)).toBe(before);
    // A summary with the spent token is refused too.
    const summary = await postForm(env, c.links.MT, fields.map(([k, v]) => [k, k === 'etape' ? 'resume' : v] as const));
    expect(summary.status).toBe(409);
  });

  it('two confirmations of one form at once: one is recorded, the other refused (409)', async () => {
    const c = await fresh();
    const form = await getPage(env, c.links.MT);
    const fields: [string, string][] = [['jeton', formTokenOf(form.text)], ...choiceFields(ALL_RETENU), ['etape', 'confirmer']];
    const answers = await Promise.all([postForm(env, c.links.MT, fields), postForm(env, c.links.MT, fields), postForm(env, c.links.MT, fields)]);
    expect(answers.map((a) => a.status).sort()).toEqual([303, 409, 409]);
    expect(await submissionCount(env.store, { carePlan: c.carePlan, role: 'MT', rpps: MT_RPPS })).toBe(1);
    const audit = await env.store.auditLog({ entity: `CarePlan/${c.carePlan}`, limit: 50 });
    expect(audit.filter((a) => a.action === 'ppp.decision')).toHaveLength(3);
  });

  it('a decision changed: preselected, changed, a new Task version, the history shows both', async () => {
    const c = await fresh();
    expect((await submitDecisions(env, c.links.PHO, ALL_RETENU)).confirm.status).toBe(303);
    const form = await getPage(env, c.links.PHO);
    expect(form.text).toMatch(/id="decision-1-retenu" name="decision:R2" value="retenu" checked/);
    expect(form.text).toContain('Votre décision actuelle');
    const v1 = (await c.task('R2', 'PHO'))!.meta!.versionId;
    const second = await submitDecisions(env, c.links.PHO, [['R1', 'retenu'], ['R2', 'retenu-modifie', 'Plutôt 500 mg le soir seulement'], ['R3', 'retenu']]);
    expect(second.summary.text).toContain('modifiée (avant : Retenu)');
    expect(second.confirm.status).toBe(303);
    const t = (await c.task('R2', 'PHO'))!;
    expect(t.meta!.versionId).not.toBe(v1);
    expect(t.businessStatus?.coding?.[0]?.code).toBe('retenu-modifie');
    // Unchanged decisions are not rewritten.
    expect((await c.task('R1', 'PHO'))!.meta!.versionId).toBe(v1);
    const page = await getPage(env, c.links.PHO);
    const history = /Historique de vos décisions \(2\)[\s\S]*?<\/ol>/.exec(page.text)?.[0] ?? '';
    expect(history).toContain('Retenu avec modification</strong> — Plutôt 500 mg le soir seulement');
    expect(history).toContain('<strong>Retenu</strong>');
    // The second submission is a second Communication, threaded on the first.
    const comm = await env.store.read<Communication>('Communication', submissionId({ carePlan: c.carePlan, role: 'PHO', rpps: PHO_RPPS }, 2));
    expect(comm?.inResponseTo?.[0]?.reference).toBe(`Communication/${submissionId({ carePlan: c.carePlan, role: 'PHO', rpps: PHO_RPPS }, 1)}`);
    expect(comm?.category?.[0]?.coding?.[0]?.code).toBe('avis-pho');
  });

  it('MT and PHO have both decided everything: the document regeneration is scheduled and the step moves on', async () => {
    const c = await fresh();
    await submitDecisions(env, c.links.PHO, ALL_RETENU);
    expect(await env.store.pathway.dueOf(c.carePlan)).toEqual([]);
    await submitDecisions(env, c.links.MT, ALL_RETENU);
    const due = await env.store.pathway.dueOf(c.carePlan);
    expect(due.map((d) => [d.kind, d.state])).toEqual([['document', 'scheduled']]);
  });

  it('the FHIR door: a decided Task is decided again while the PPP is open (a new version); the decision completing the set schedules the document and moves the step', async () => {
    const c = await fresh();
    await env.store.pathway.markSent(c.carePlan, new Date().toISOString());
    expect((await submitDecisions(env, c.links.MT, ALL_RETENU)).confirm.status).toBe(303);
    const putDecision = async (task: Task, code: string) =>
      fetch(`${env.fhir}/Task/${task.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ ...task, status: 'completed', businessStatus: undefined, output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code }] } }, { type: { text: 'motif' }, valueString: 'Par le logiciel' }] }),
      });
    for (const r of ['R1', 'R2']) expect((await putDecision((await c.task(r, 'PHO'))!, 'retenu')).status).toBe(200);
    expect(await env.store.pathway.dueOf(c.carePlan)).toEqual([]);
    expect((await putDecision((await c.task('R3', 'PHO'))!, 'non-retenu')).status).toBe(200);
    expect((await env.store.pathway.dueOf(c.carePlan)).map((d) => [d.kind, d.state])).toEqual([['document', 'scheduled']]);
    const plan = (await (await fetch(`${env.fhir}/CarePlan/${c.carePlan}`)).json()) as { extension?: { url: string; extension?: { url: string; valueCoding?: { code?: string } }[] }[] };
    const step = plan.extension?.find((e) => e.url.endsWith('passerelle-pathway-status'))?.extension?.find((p) => p.url === 'step')?.valueCoding?.code;
    expect(step).toBe('suivi-j45');
    // Changed again through FHIR: a new version; the page shows it in the history.
    const mt1 = (await c.task('R1', 'MT'))!;
    const again = await putDecision(mt1, 'non-retenu');
    expect(again.status).toBe(200);
    expect(((await again.json()) as Task).meta?.versionId).not.toBe(mt1.meta?.versionId);
    const page = await getPage(env, c.links.MT);
    expect(page.text).toMatch(/Historique de vos décisions \(2\)/);
    expect(page.text).toMatch(/id="decision-0-non-retenu" name="decision:R1" value="non-retenu" checked/);
  });

  it('a team without a PHO: the MT’s decisions alone complete the set; a PHO link opens nothing', async () => {
    const ppp = hostilePpp(`DEC-${dialect}-nopho`);
    ppp.team = ppp.team.filter((m) => m.role !== 'pharmacien-officine');
    const carePlan = await submitPpp(env.store, ppp);
    const links = await decisionLinks(env, carePlan);
    expect((await getPage(env, links.PHO)).status).toBe(404);
    expect((await submitDecisions(env, links.MT, ALL_RETENU)).confirm.status).toBe(303);
    expect((await env.store.pathway.dueOf(carePlan)).map((d) => [d.kind, d.state])).toEqual([['document', 'scheduled']]);
  });

  it('a closed PPP shows the decisions read-only; a POST or a FHIR re-decision is refused', async () => {
    const c = await fresh();
    const { fields } = await submitDecisions(env, c.links.MT, ALL_RETENU);
    const form = await getPage(env, c.links.MT);
    const jeton = formTokenOf(form.text);
    await env.store.pathway.close(c.carePlan, new Date().toISOString());
    const page = await getPage(env, c.links.MT);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Ce PPP est clos');
    expect(page.text).not.toContain('<form method="post"');
    expect(page.text).not.toContain('type="radio"');
    expect(page.text).toContain('Votre décision : <strong>Retenu</strong>');
    const before = await snapshot(c);
    const post = await postForm(env, c.links.MT, [['jeton', jeton], ...fields.slice(1)]);
    expect(post.status).toBe(409);
    expect(post.text).toContain('clos');
    const mt1 = (await c.task('R1', 'MT'))!;
    const put = await fetch(`${env.fhir}/Task/${mt1.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...mt1, businessStatus: undefined, output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'non-retenu' }] } }] }),
    });
    expect(put.status).toBe(422);
    expect(await snapshot(c)).toBe(before);
  });

  describe('bad input: 4xx, the form again with the error next to its field, nothing written', () => {
    let c: Awaited<ReturnType<typeof fresh>>;
    let jeton: string;
    let before: string;
    beforeAll(async () => {
      c = await fresh();
      jeton = formTokenOf((await getPage(env, c.links.MT)).text);
      before = await snapshot(c);
    });
    const good = (): [string, string][] => choiceFields(ALL_RETENU);
    const send = async (fields: [string, string][] | string, etape = 'confirmer') =>
      postForm(env, c.links.MT, typeof fields === 'string' ? fields : [['jeton', jeton], ...fields, ['etape', etape]]);
    const replace = (fields: [string, string][], key: string, value: string | undefined): [string, string][] =>
      value === undefined ? fields.filter(([k]) => k !== key) : fields.map(([k, v]) => [k, k === key ? value : v]);

    const cases: [string, () => [string, string][], RegExp, string?][] = [
      ['an unknown recommendation', () => [...good(), ['decision:R99', 'retenu']], /Recommandation inconnue « R99 »/],
      ['a missing choice', () => replace(good(), 'decision:R2', undefined), /Choisissez « Retenu »/, 'decision-1-erreur'],
      ['an empty choice', () => replace(good(), 'decision:R2', ''), /Choisissez « Retenu »/, 'decision-1-erreur'],
      ['an unknown choice value', () => replace(good(), 'decision:R2', 'peut-etre'), /Décision inconnue/, 'decision-1-erreur'],
      ['two choices for one recommendation', () => [...good(), ['decision:R2', 'non-retenu']], /Une seule décision/, 'decision-1-erreur'],
      ['two comments for one recommendation', () => [...good(), ['commentaire:R2', 'x']], /Un seul commentaire/, 'commentaire-1-erreur'],
      ['"non retenu" without a comment', () => replace(good(), 'decision:R3', 'non-retenu'), /commentaire est obligatoire/, 'commentaire-2-erreur'],
      ['"retenu avec modification" with blanks only', () => replace(replace(good(), 'decision:R3', 'retenu-modifie'), 'commentaire:R3', ' \n\t '), /commentaire est obligatoire/, 'commentaire-2-erreur'],
      ['a comment over 2,000 characters', () => replace(good(), 'commentaire:R1', 'é'.repeat(2001)), /2001 caractères : 2000 au plus/, 'commentaire-0-erreur'],
      ['a huge comment', () => replace(good(), 'commentaire:R1', 'x'.repeat(200_000)), /200000 caractères/, 'commentaire-0-erreur'],
      ['a control character', () => replace(good(), 'commentaire:R1', 'ok\u0007bip'), /U\+0007/, 'commentaire-0-erreur'],
      ['a bidi override', () => replace(good(), 'commentaire:R1', 'retenu \u202Eunetér non'), /U\+202E/, 'commentaire-0-erreur'],
      ['a zero-width character', () => replace(good(), 'commentaire:R1', 'ok\u200Bok'), /U\+200B/, 'commentaire-0-erreur'],
      ['a NUL', () => replace(good(), 'commentaire:R1', 'a\u0000b'), /U\+0000/, 'commentaire-0-erreur'],
      ['an unknown field', () => [...good(), ['role', 'admin']], /Champ inconnu « role »/],
      ['an unknown step', () => [...good().map(([k, v]) => [k, v] as [string, string])], /Étape inconnue/],
    ];
    for (const [name, fields, message, errorId] of cases) {
      it(`${name}`, async () => {
        const r = name === 'an unknown step' ? await send(fields(), 'publier') : await send(fields());
        expect(r.status).toBe(400);
        expect(r.text).toMatch(message);
        expect(r.text).toContain('<form method="post"');
        if (errorId) {
          expect(r.text).toContain(`id="${errorId}"`);
          expect(r.text).toMatch(new RegExp(`aria-invalid="true"[^>]*|aria-describedby="[^"]*${errorId}`));
          expect(r.text).toContain(`${errorId}`);
          expect(r.text).toMatch(new RegExp(`aria-describedby="[^"]*${errorId}[^"]*"`));
        }
        expect(await snapshot(c)).toBe(before);
      });
    }

    it('a missing, forged or other link\'s form token: 400, the error next to the button', async () => {
      for (const token of [undefined, 'x', `1.${'A'.repeat(43)}`, formTokenOf((await getPage(env, c.links.PHO)).text)]) {
        const fields: [string, string][] = [...(token === undefined ? [] : [['jeton', token] as [string, string]]), ...good(), ['etape', 'confirmer']];
        const r = await postForm(env, c.links.MT, fields);
        expect(r.status).toBe(400);
        expect(r.text).toContain('id="envoyer-erreur"');
        expect(r.text).toContain('n’est pas valide pour ce lien');
      }
      expect(await snapshot(c)).toBe(before);
    });

    it('a form token of a later submission is not the next one: refused', async () => {
      const { formToken } = await import('../../src/services/pathway/decisions.js');
      const link = { carePlan: c.carePlan, role: 'MT' as const, rpps: MT_RPPS };
      const token = formToken(c.links.MT.slice(c.links.MT.lastIndexOf('/') + 1), link, 5);
      const r = await postForm(env, c.links.MT, [['jeton', token], ...good(), ['etape', 'confirmer']]);
      expect(r.status).toBe(409);
      expect(await snapshot(c)).toBe(before);
    });

    it('a body over the limit, a malformed body, a wrong content type: 4xx, nothing written', async () => {
      const big = await postForm(env, c.links.MT, `jeton=${jeton}&commentaire%3AR1=${'x'.repeat(600_000)}`);
      expect(big.status).toBe(413);
      const json = await fetch(`${env.url}${c.links.MT}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jeton, 'decision:R1': ['retenu'] }) });
      expect(json.status).toBe(400);
      const many = await postForm(env, c.links.MT, Array.from({ length: 1500 }, (_, i) => `f${i}=1`).join('&'));
      expect(many.status).toBeGreaterThanOrEqual(400);
      expect(many.status).toBeLessThan(500);
      const unknownStep = await postForm(env, `${c.links.MT}/autre`, [['jeton', jeton]]);
      expect(unknownStep.status).toBe(404);
      expect(await snapshot(c)).toBe(before);
    });

    it('then the same form, corrected, is recorded', async () => {
      const r = await send(good());
      expect(r.status).toBe(303);
    });
  });
}

describe('decision page (SQLite)', () => suite('sqlite'));
describe.skipIf(!available('PostgreSQL', !pgProblem, 'the decision page is not tested on PostgreSQL'))('decision page (PostgreSQL)', () => suite('postgresql'));
