// The decision page of the MT and the PHO (issue 18 point 4), reached through their secure link (already resolved
// and audited by link-pages.ts). Three steps, all at `/p/<token>`, without JavaScript:
//   GET             the PPP (patient, author, date) and each recommendation with its rationale, the professional's
//                   current decisions preselected and their history; a radio group and a comment per recommendation;
//   POST etape=resume     the choices checked → the summary (or the form again, errors next to their fields);
//   POST etape=confirmer  the choices checked again and recorded in one transaction (services/pathway/decisions.ts)
//                   → 303 to `/p/<token>/enregistre`; POST etape=modifier goes back to the form, choices kept.
// The forms carry a one-time token `<n>.<HMAC(link token, PPP|role|RPPS|n)>`: spent once the n-th submission is
// recorded, so a replayed form is refused (409, form shown again). A closed PPP shows its decisions read-only.
import { bornWord } from '../domain/identity.js';
import express, { type Request, type Response } from 'express';
import type { Task } from '@medplum/fhirtypes';
import type { CarePlan } from '@medplum/fhirtypes';
import { PPP_DECISIONS, SFPC_PROBLEMS, displayOf } from '../domain/codes.js';
import { characterProblem } from '../domain/name.js';
import { ageOn } from '../domain/pathway/inclusion.js';
import type { Ppp } from '../domain/ppp.js';
import type { Problem, Recommendation } from '../domain/review.js';
import { MAX_REASON_LENGTH, textCharacterProblem } from '../domain/text.js';
import {
  ClosedPpp,
  COMMENT_REQUIRED,
  DECISION_CODES,
  decisionOf,
  decisionTaskId,
  formToken,
  formTokenSubmission,
  pppClosed,
  recommendationsFor,
  recordDecisions,
  ReplayedForm,
  submissionCount,
  teamRpps,
  type DecisionChoice,
  type DecisionCode,
  type TaskDecision,
} from '../services/pathway/decisions.js';
import { html, type SafeHtml } from './html.js';
import { frenchDate, frenchInstant } from './labels.js';
import { sendPage } from './layout.js';
import type { LinkPageContext, LinkPageHandler } from './link-pages.js';
import { linkNotFound } from './link-pages.js';

/** Longest comment: the gateway's free-text bound (src/domain/text.ts). */
export const MAX_COMMENT = MAX_REASON_LENGTH;
/** The decision form is larger than the pages' shared 16 kB form: a 2,000-character comment per recommendation. */
const parseForm = express.urlencoded({ extended: false, limit: '512kb', parameterLimit: 1000 });

const ACTION_LABELS: Record<string, string> = {
  add: 'Ajouter',
  stop: 'Arrêter',
  substitute: 'Remplacer',
  dose: 'Adapter la dose',
  route: 'Changer de voie d’administration',
  timing: 'Changer les horaires de prise',
};
const SEVERITY_LABELS: Record<string, string> = { high: 'élevée', moderate: 'modérée', low: 'faible' };
const ROLE_TITLES = { MT: 'médecin traitant', PHO: 'pharmacien d’officine' } as const;

/** Text from a document shown as it is, except characters that hide or reorder what is read: shown as `[U+202E]`. */
export function shown(text: string | undefined): string {
  if (!text) return '';
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0d || !characterProblem(text, i)) out += text[i];
    else out += `[U+${c.toString(16).toUpperCase().padStart(4, '0')}]`;
  }
  return out;
}

// ---- what the page shows ---------------------------------------------------------------------------------

interface HistoryEntry {
  code?: DecisionCode;
  status: string;
  comment?: string;
  at?: string;
}

interface Item {
  index: number;
  rec: Recommendation;
  problem?: Problem;
  taskId: string;
  current?: TaskDecision;
  history: HistoryEntry[];
}

interface PageData {
  ppp: Ppp;
  closed: boolean;
  items: Item[];
  submissions: number;
}

async function loadPage(ctx: LinkPageContext): Promise<PageData | undefined> {
  const { store, link } = ctx;
  const c = await store.pathway.getCase(link.carePlan);
  const carePlan = await store.read<CarePlan>('CarePlan', link.carePlan);
  if (!c || !carePlan) return undefined;
  const ppp = c.document as Ppp;
  // The link is its recipient's: once the team names someone else for the role, the link opens nothing.
  if (teamRpps(ppp, link.role) !== link.rpps) return undefined;
  const items: Item[] = [];
  for (const [index, rec] of recommendationsFor(ppp, link.role).entries()) {
    const taskId = decisionTaskId(ppp, rec.id, link.role);
    const task = await store.read<Task>('Task', taskId);
    const versions = await store.history('Task', taskId);
    const history: HistoryEntry[] = [];
    const ordered = versions
      .filter((v) => !v.deleted)
      .map((v) => v.resource as Task)
      .sort((a, b) => Number(a.meta?.versionId ?? 0) - Number(b.meta?.versionId ?? 0));
    for (const t of ordered) {
      if (t.status !== 'completed' && t.status !== 'rejected') continue;
      const d = decisionOf(t);
      const last = history[history.length - 1];
      if (last && last.code === d.code && last.comment === d.comment && last.status === d.status) continue;
      history.push({ status: d.status, ...(d.code ? { code: d.code } : {}), ...(d.comment ? { comment: d.comment } : {}), at: d.at ?? t.meta?.lastUpdated });
    }
    items.push({
      index,
      rec,
      ...(ppp.problems.find((p) => p.id === rec.problemId) ? { problem: ppp.problems.find((p) => p.id === rec.problemId) } : {}),
      taskId,
      ...(task && (task.status === 'completed' || task.status === 'rejected') ? { current: decisionOf(task) } : {}),
      history: history.reverse(),
    });
  }
  return { ppp, closed: pppClosed(c, carePlan), items, submissions: await submissionCount(store, link) };
}

// ---- the form's values and errors ------------------------------------------------------------------------

interface FormValues {
  decisions: Record<string, string>;
  comments: Record<string, string>;
}

interface FormErrors {
  general: string[];
  decision: Record<string, string>;
  comment: Record<string, string>;
  /** The form token is spent or not this link's: shown next to the submit button. */
  token?: string;
}

const noErrors = (): FormErrors => ({ general: [], decision: {}, comment: {} });
const hasErrors = (e: FormErrors) => e.general.length > 0 || Object.keys(e.decision).length > 0 || Object.keys(e.comment).length > 0 || e.token !== undefined;
const decisionField = (recId: string) => `decision:${recId}`;
const commentField = (recId: string) => `commentaire:${recId}`;

function currentValues(data: PageData): FormValues {
  const v: FormValues = { decisions: {}, comments: {} };
  for (const it of data.items) {
    if (it.current?.code) v.decisions[it.rec.id] = it.current.code;
    if (it.current?.comment) v.comments[it.rec.id] = it.current.comment;
  }
  return v;
}

/** Reads and checks the posted choices: one per recommendation of this professional, a valid code, a valid comment. */
function readChoices(body: Record<string, unknown>, data: PageData): { values: FormValues; errors: FormErrors; choices: DecisionChoice[] } {
  const errors = noErrors();
  const values: FormValues = { decisions: {}, comments: {} };
  const mine = new Set(data.items.map((i) => i.rec.id));
  for (const key of Object.keys(body)) {
    if (key === 'jeton' || key === 'etape') continue;
    const m = /^(decision|commentaire):(.*)$/s.exec(key);
    if (!m || !mine.has(m[2] as string)) {
      const what = m ? `« ${shown((m[2] as string).slice(0, 64))} »` : `« ${shown(key.slice(0, 64))} »`;
      errors.general.push(m ? `Recommandation inconnue ${what} : ce formulaire ne vient pas de cette page.` : `Champ inconnu ${what} : ce formulaire ne vient pas de cette page.`);
    }
  }
  const choices: DecisionChoice[] = [];
  for (const it of data.items) {
    const id = it.rec.id;
    const rawDecision = body[decisionField(id)];
    const rawComment = body[commentField(id)];
    if (typeof rawDecision === 'string') values.decisions[id] = rawDecision.slice(0, 64);
    if (typeof rawComment === 'string') values.comments[id] = rawComment.slice(0, MAX_COMMENT * 2);
    let decision: DecisionCode | undefined;
    if (rawDecision === undefined || rawDecision === '') errors.decision[id] = 'Choisissez « Retenu », « Non retenu » ou « Retenu avec modification ».';
    else if (typeof rawDecision !== 'string') errors.decision[id] = 'Une seule décision par recommandation.';
    else if (!(DECISION_CODES as readonly string[]).includes(rawDecision)) errors.decision[id] = 'Décision inconnue : choisissez « Retenu », « Non retenu » ou « Retenu avec modification ».';
    else decision = rawDecision as DecisionCode;
    let comment: string | undefined;
    if (rawComment !== undefined && typeof rawComment !== 'string') errors.comment[id] = 'Un seul commentaire par recommandation.';
    else {
      const text = (rawComment ?? '').normalize('NFC').replace(/\r\n?/g, '\n').trim();
      const problem = textCharacterProblem(text);
      if (text.length > MAX_COMMENT) errors.comment[id] = `Le commentaire a ${text.length} caractères : ${MAX_COMMENT} au plus.`;
      else if (problem) errors.comment[id] = `Le commentaire contient un caractère non permis (${problem.split(' ')[0]}) : caractère de contrôle, de mise en forme bidirectionnelle ou invisible. Retapez-le sans copier-coller.`;
      else if (text === '' && decision && COMMENT_REQUIRED.has(decision)) errors.comment[id] = `Un commentaire est obligatoire pour « ${displayOf(PPP_DECISIONS, decision)} » : dites pourquoi ou ce qui est modifié.`;
      else if (text !== '') comment = text;
    }
    if (decision && !errors.decision[id] && !errors.comment[id]) choices.push({ recommendation: id, decision, ...(comment ? { comment } : {}) });
  }
  return { values, errors, choices };
}

// ---- rendering -------------------------------------------------------------------------------------------

function patientLine(ppp: Ppp, now: Date): SafeHtml {
  const p = ppp.patient;
  const name = `${p.usedGivenName ?? p.firstBirthGivenName} ${p.usedName ?? p.birthName}`;
  const age = ageOn(p.birthDate, now.toISOString().slice(0, 10));
  const born = p.usedName && p.usedName !== p.birthName ? ` (${bornWord(p.sex)} ${p.birthName})` : '';
  return html`<strong>${shown(name + born)}</strong>, ${age} ans <span class="aide">(date de naissance : ${frenchDate(p.birthDate)})</span>`;
}

function practitionerName(p: Ppp['author']): string {
  return [p.given, p.family].filter(Boolean).join(' ');
}

function lineLabel(ppp: Ppp, lineId: string | undefined): string | undefined {
  const line = lineId ? ppp.medications.find((l) => l.id === lineId) : undefined;
  return line ? `${line.medication.text}${line.dosage ? ` — ${line.dosage.text}` : ''}` : undefined;
}

function recommendationDetails(ppp: Ppp, it: Item): SafeHtml {
  const r = it.rec;
  const p = it.problem;
  const lines = r.kind === 'medication' && r.medicationLineId ? [r.medicationLineId] : (p?.medicationLineIds ?? []);
  const concerned = lines.map((l) => lineLabel(ppp, l)).filter((l): l is string => Boolean(l));
  const change =
    r.kind === 'medication'
      ? `${ACTION_LABELS[r.action] ?? r.action} : ${r.medication.text}${r.dosage ? ` — ${r.dosage.text}` : ''}`
      : `${r.code?.display ?? r.code?.code ?? 'Action non médicamenteuse'}`;
  return html`<dl class="fiche">
<dt>Problème</dt><dd>${p ? html`${displayOf(SFPC_PROBLEMS, p.code) ?? p.code}${p.severity ? html` <span class="etat">gravité ${SEVERITY_LABELS[p.severity] ?? p.severity}</span>` : ''}<br>${shown(p.detail)}${p.criterion ? html` <span class="aide">(${shown(p.criterion)})</span>` : ''}` : '—'}</dd>
<dt>Ligne concernée</dt><dd>${concerned.length ? html`${concerned.map((c, i) => html`${i ? html`<br>` : ''}${shown(c)}`)}` : r.kind === 'medication' && r.action === 'add' ? 'Nouveau médicament (aucune ligne existante)' : '—'}</dd>
<dt>Changement proposé</dt><dd>${shown(change)}</dd>
</dl>`;
}

function decisionLabel(d: { code?: string; status: string }): string {
  if (d.code) return displayOf(PPP_DECISIONS, d.code) ?? d.code;
  return d.status === 'rejected' ? 'Refus de se prononcer' : '—';
}

function historyList(it: Item): SafeHtml {
  if (it.history.length === 0) return html``;
  return html`<details class="historique"><summary>Historique de vos décisions (${it.history.length})</summary><ol>
${it.history.map((h, i) => html`<li>${frenchInstant(h.at)} : <strong>${decisionLabel(h)}</strong>${h.comment ? html` — ${shown(h.comment)}` : ''}${i === 0 ? html` <span class="etat">actuelle</span>` : ''}</li>`)}
</ol></details>`;
}

function header(data: PageData, ctx: LinkPageContext): SafeHtml {
  const ppp = data.ppp;
  return html`<p class="aide">Avis du ${ROLE_TITLES[ctx.link.role]} — RPPS ${ctx.link.rpps}</p>
<dl class="fiche">
<dt>Patient</dt><dd>${patientLine(ppp, ctx.now)}</dd>
<dt>PPP rédigé par</dt><dd>${shown(practitionerName(ppp.author))} — ${shown(ppp.establishment.name ?? ppp.establishment.finess)}</dd>
<dt>Date du PPP</dt><dd>${frenchDate(ppp.created.slice(0, 10))}</dd>
</dl>`;
}

function errorSummary(errors: FormErrors, data: PageData): SafeHtml {
  if (!hasErrors(errors)) return html``;
  const links: SafeHtml[] = [];
  for (const it of data.items) {
    if (errors.decision[it.rec.id]) links.push(html`<li><a href="#decision-${it.index}-retenu">Recommandation ${it.index + 1} : ${errors.decision[it.rec.id]}</a></li>`);
    if (errors.comment[it.rec.id]) links.push(html`<li><a href="#commentaire-${it.index}">Recommandation ${it.index + 1} : ${errors.comment[it.rec.id]}</a></li>`);
  }
  return html`<div class="alerte" role="alert" id="erreurs"><p><strong>Vos décisions n’ont pas été enregistrées.</strong></p><ul>
${errors.general.map((g) => html`<li>${g}</li>`)}${errors.token ? html`<li><a href="#envoyer">${errors.token}</a></li>` : ''}${links}
</ul></div>`;
}

function decisionForm(data: PageData, ctx: LinkPageContext, linkToken: string, values: FormValues, errors: FormErrors): SafeHtml {
  const token = formToken(linkToken, ctx.link, data.submissions + 1);
  return html`<form method="post" action="${ctx.path}" novalidate>
<input type="hidden" name="jeton" value="${token}">
${data.items.map((it) => {
  const id = it.rec.id;
  const dErr = errors.decision[id];
  const cErr = errors.comment[id];
  const chosen = values.decisions[id];
  const radio = (code: DecisionCode) =>
    html`<div class="choix"><input type="radio" id="decision-${it.index}-${code}" name="${decisionField(id)}" value="${code}"${chosen === code ? html` checked` : ''}${dErr ? html` aria-invalid="true" aria-describedby="decision-${it.index}-erreur"` : ''}><label for="decision-${it.index}-${code}">${displayOf(PPP_DECISIONS, code)}</label></div>`;
  const describedBy = [`commentaire-${it.index}-aide`, ...(cErr ? [`commentaire-${it.index}-erreur`] : [])].join(' ');
  return html`<section class="reco" aria-labelledby="reco-${it.index}-titre">
<h2 id="reco-${it.index}-titre">Recommandation ${it.index + 1} : ${shown(it.rec.text)}</h2>
${recommendationDetails(data.ppp, it)}
${it.current ? html`<p class="aide">Votre décision actuelle : <strong>${decisionLabel(it.current)}</strong>${it.current.at ? html` (${frenchInstant(it.current.at)})` : ''}. Vous pouvez la modifier tant que le PPP n’est pas clos.</p>` : ''}
<fieldset${dErr ? html` class="invalide" aria-describedby="decision-${it.index}-erreur"` : ''}>
<legend>Votre décision sur la recommandation ${it.index + 1}</legend>
${dErr ? html`<p class="erreur-champ" id="decision-${it.index}-erreur">${dErr}</p>` : ''}
${DECISION_CODES.map(radio)}
</fieldset>
<label for="commentaire-${it.index}">Commentaire sur la recommandation ${it.index + 1}</label>
<p class="aide" id="commentaire-${it.index}-aide">Obligatoire pour « Non retenu » et « Retenu avec modification » (pourquoi, ou ce qui est modifié) ; ${MAX_COMMENT} caractères au plus.</p>
${cErr ? html`<p class="erreur-champ" id="commentaire-${it.index}-erreur">${cErr}</p>` : ''}
<textarea id="commentaire-${it.index}" name="${commentField(id)}" maxlength="${MAX_COMMENT}" aria-describedby="${describedBy}"${cErr ? html` aria-invalid="true"` : ''}>${values.comments[id] ?? ''}</textarea>
${historyList(it)}
</section>`;
})}
${errors.token ? html`<p class="erreur-champ" id="envoyer-erreur">${errors.token}</p>` : ''}
<p><button type="submit" id="envoyer" name="etape" value="resume"${errors.token ? html` aria-describedby="envoyer-erreur"` : ''}>Vérifier mes décisions</button></p>
<p class="aide">L’étape suivante récapitule vos choix : rien n’est enregistré avant votre confirmation.</p>
</form>`;
}

function readOnlyDecisions(data: PageData): SafeHtml {
  return html`${data.items.map(
    (it) => html`<section class="reco" aria-labelledby="reco-${it.index}-titre">
<h2 id="reco-${it.index}-titre">Recommandation ${it.index + 1} : ${shown(it.rec.text)}</h2>
${recommendationDetails(data.ppp, it)}
<p>Votre décision : <strong>${it.current ? decisionLabel(it.current) : 'aucune'}</strong>${it.current?.comment ? html` — ${shown(it.current.comment)}` : ''}</p>
${historyList(it)}
</section>`,
  )}`;
}

function showForm(res: Response, status: number, data: PageData, ctx: LinkPageContext, linkToken: string, values: FormValues, errors: FormErrors, notice?: string): void {
  const main = html`<h1>Décisions sur le Plan Pharmaceutique Personnalisé</h1>
${notice ? html`<p class="succes" role="status">${notice}</p>` : ''}
${errorSummary(errors, data)}
${header(data, ctx)}
${data.items.length === 0 ? html`<p>Ce PPP ne contient aucune recommandation qui vous soit adressée.</p>` : decisionForm(data, ctx, linkToken, values, errors)}`;
  sendPage(res, status, hasErrors(errors) ? 'Erreur — Décisions sur le PPP' : 'Décisions sur le PPP', main);
}

function showClosed(res: Response, status: number, data: PageData, ctx: LinkPageContext, warning?: string): void {
  sendPage(
    res,
    status,
    'Décisions sur le PPP (clos)',
    html`<h1>Décisions sur le Plan Pharmaceutique Personnalisé</h1>
${warning ? html`<p class="alerte" role="alert">${warning}</p>` : ''}
<p class="succes" role="status">Ce PPP est clos : les décisions ne peuvent plus être modifiées.</p>
${header(data, ctx)}
${readOnlyDecisions(data)}`,
  );
}

function showSummary(res: Response, data: PageData, ctx: LinkPageContext, presentedToken: string, choices: readonly DecisionChoice[]): void {
  const byId = new Map(choices.map((c) => [c.recommendation, c]));
  const main = html`<h1>Récapitulatif de vos décisions</h1>
<p>Vérifiez vos choix, puis confirmez-les. Rien n’est enregistré avant la confirmation.</p>
${header(data, ctx)}
<form method="post" action="${ctx.path}">
<input type="hidden" name="jeton" value="${presentedToken}">
<div class="tableau"><table>
<caption>Vos décisions</caption>
<thead><tr><th scope="col">Recommandation</th><th scope="col">Décision</th><th scope="col">Commentaire</th></tr></thead>
<tbody>
${data.items.map((it) => {
  const c = byId.get(it.rec.id) as DecisionChoice;
  const changed = it.current?.code !== c.decision || (it.current?.comment ?? '') !== (c.comment ?? '');
  return html`<tr><th scope="row">${it.index + 1}. ${shown(it.rec.text)}</th><td><strong>${displayOf(PPP_DECISIONS, c.decision)}</strong>${it.current ? html`<br><span class="aide">${changed ? `modifiée (avant : ${decisionLabel(it.current)})` : 'inchangée'}</span>` : ''}</td><td>${c.comment ?? '—'}</td></tr>`;
})}
</tbody></table></div>
${choices.map((c) => html`<input type="hidden" name="${decisionField(c.recommendation)}" value="${c.decision}"><input type="hidden" name="${commentField(c.recommendation)}" value="${c.comment ?? ''}">`)}
<p class="actions"><button type="submit" name="etape" value="confirmer" id="confirmer">Confirmer mes décisions</button> <button type="submit" name="etape" value="modifier" class="secondaire">Modifier</button></p>
</form>`;
  sendPage(res, 200, 'Récapitulatif — Décisions sur le PPP', main);
}

function showRecorded(res: Response, data: PageData, ctx: LinkPageContext): void {
  sendPage(
    res,
    200,
    'Décisions enregistrées',
    html`<h1>Vos décisions sont enregistrées</h1>
<p class="succes" role="status">Merci. Vos décisions ont été transmises à l’équipe qui a rédigé le PPP.</p>
${header(data, ctx)}
${readOnlyDecisions(data)}
<p><a href="${ctx.path}">Modifier mes décisions</a> (possible tant que le PPP n’est pas clos)</p>`,
  );
}

// ---- the handler -----------------------------------------------------------------------------------------

function tokenOfPath(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

async function parseBody(req: Request, res: Response): Promise<Record<string, unknown>> {
  await new Promise<void>((resolve, reject) => parseForm(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
  const body = req.body as unknown;
  return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
}

export const decisionPage: LinkPageHandler = async (req, res, ctx) => {
  const data = await loadPage(ctx);
  if (!data) return linkNotFound(res);
  const linkToken = tokenOfPath(ctx.path);

  if (req.method === 'GET') {
    if (ctx.step === undefined) {
      if (data.closed) return showClosed(res, 200, data, ctx);
      return showForm(res, 200, data, ctx, linkToken, currentValues(data), noErrors());
    }
    if (ctx.step === 'enregistre') return data.closed ? showClosed(res, 200, data, ctx) : showRecorded(res, data, ctx);
    if (ctx.step === 'resume') return res.redirect(303, ctx.path);
    return linkNotFound(res);
  }

  // POST: the form, its summary, or its confirmation.
  if (ctx.step !== undefined && ctx.step !== 'resume') return linkNotFound(res);
  const body = await parseBody(req, res);
  if (data.closed) return showClosed(res, 409, data, ctx, 'Vos décisions n’ont pas été enregistrées : ce PPP a été clos entre-temps.');
  if (data.items.length === 0) return showForm(res, 400, data, ctx, linkToken, { decisions: {}, comments: {} }, { ...noErrors(), general: ['Ce PPP ne contient aucune recommandation qui vous soit adressée : il n’y a rien à enregistrer.'] });
  const step = body.etape === undefined ? 'resume' : body.etape;
  const { values, errors, choices } = readChoices(body, data);
  if (step !== 'resume' && step !== 'confirmer' && step !== 'modifier') errors.general.push('Étape inconnue : ce formulaire ne vient pas de cette page.');
  const submission = formTokenSubmission(linkToken, ctx.link, body.jeton);
  if (submission === undefined) errors.token = 'Ce formulaire n’est pas valide pour ce lien. Vérifiez vos choix ci-dessous et envoyez-les à nouveau.';
  else if (submission !== data.submissions + 1) errors.token = 'Ce formulaire a déjà été envoyé (ou vos décisions ont été modifiées depuis). Vérifiez vos choix ci-dessous et envoyez-les à nouveau.';
  if (step === 'modifier' && !hasErrors(errors)) return showForm(res, 200, data, ctx, linkToken, values, noErrors());
  if (hasErrors(errors)) {
    // A spent token alone is a replay (409); anything else is a bad form (400).
    const fieldErrors = errors.general.length > 0 || Object.keys(errors.decision).length > 0 || Object.keys(errors.comment).length > 0;
    const status = !fieldErrors && submission !== undefined ? 409 : 400;
    return showForm(res, status, data, ctx, linkToken, values, errors);
  }
  if (step === 'resume') return showSummary(res, data, ctx, body.jeton as string, choices);

  try {
    await recordDecisions(ctx.store, ctx.link, choices, {
      now: ctx.now,
      actor: `link:${ctx.link.role}`,
      person: `rpps:${ctx.link.rpps}`,
      ...(req.requestId ? { requestId: req.requestId } : {}),
      config: ctx.config,
      fhirBase: `${ctx.config.baseUrl}/fhir`,
      submission: submission as number,
    });
  } catch (err) {
    if (err instanceof ReplayedForm) {
      const fresh = (await loadPage(ctx)) ?? data;
      return showForm(res, 409, fresh, ctx, linkToken, values, { ...noErrors(), token: 'Ce formulaire a déjà été envoyé (ou vos décisions ont été modifiées depuis). Vérifiez vos choix ci-dessous et envoyez-les à nouveau.' });
    }
    if (err instanceof ClosedPpp) {
      const fresh = await loadPage(ctx);
      if (!fresh) return linkNotFound(res);
      return showClosed(res, 409, fresh, ctx, 'Vos décisions n’ont pas été enregistrées : ce PPP a été clos entre-temps.');
    }
    throw err;
  }
  res.redirect(303, `${ctx.path}/enregistre`);
};
