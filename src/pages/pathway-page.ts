// The case manager's page (issue 18 points 7 and 10, docs/pathway.md "The case manager page"): `GET /pathway` lists
// the PPPs in progress with their step, filtered by establishment and step (a plain GET form), and the due-work list;
// `GET /pathway/<CarePlan id>` shows one PPP (decisions, the PHO's uploads, proposals) with the follow-up outcomes form
// per window, posted to `/pathway/<id>/suivi`. A signed-in person with `domain.write`; one bound to an establishment
// sees only its PPPs (another's: 404, as a missing one). Every view, download and recording is an audit row.
import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { Config } from '../config.js';
import { isTenantBound, ownFiness, type Principal } from '../domain/access/model.js';
import { FOLLOWUP_OUTCOMES, PATHWAY_STEPS, PPP_DECISIONS, displayOf } from '../domain/codes.js';
import type { FollowUpWindowCode, PathwayStep } from '../domain/pathway/step.js';
import { MAX_REASON_LENGTH, textCharacterProblem } from '../domain/text.js';
import { OperationOutcomeError, statusOf } from '../fhir/outcome.js';
import { accessAuditor, whoOf } from '../services/audit/index.js';
import { recordOutcomes, MAX_OUTCOME_NOTE } from '../services/pathway/outcomes.js';
import { pathwayOverview, pppDetail, type PathwayRow, type PppDetail, type RecommendationView, type WindowView } from '../services/pathway/overview.js';
import { worklist, type WorklistItem } from '../services/pathway/worklist.js';
import type { DueItem, PrescriptionUpload } from '../store/pathway-repository.js';
import type { AuditEntry, ResourceStore } from '../store/repository.js';
import { html, type SafeHtml } from './html.js';
import { frenchDate, frenchInstant } from './labels.js';
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import { csrfMatches, type PeopleSessions } from './session.js';

export const PATHWAY_PAGE = '/pathway';
/** The scope of the page: the people who work the pathway (case manager, hospital pharmacist; admin). */
export const PATHWAY_SCOPE = 'domain.write' as const;
/** CarePlan ids are UUIDs (src/fhir/ids.ts); anything else is a 404 page. */
const CAREPLAN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Paths under /pathway/ served to systems by the api layer (issue 18 point 6), not pages. */
const SYSTEM_PATHS: ReadonlySet<string> = new Set(['worklist']);
const UPLOAD_ID = /^[A-Za-z0-9._-]{1,64}$/;
const FINESS = /^(\d{9}|2[AB]\d{7})$/;
const STEP_CODES = new Set<string>(PATHWAY_STEPS.map((s) => s.code));
const OUTCOME_CODES = new Set<string>(FOLLOWUP_OUTCOMES.map((o) => o.code));

const WINDOW_LABELS: Record<FollowUpWindowCode, string> = { d45: 'Suivi J45', d90: 'Suivi J90' };
const DUE_LABELS: Record<DueItem['kind'], string> = { d45: 'Suivi J45', d90: 'Suivi J90', 'decision-deadline': 'Date limite des décisions', document: 'Document mis à jour avec les décisions' };
const DUE_STATES: Record<DueItem['state'], string> = { scheduled: 'prévu', claimed: 'en cours', done: 'fait', cancelled: 'annulé' };
const UPLOAD_KINDS: Record<PrescriptionUpload['kind'], string> = { pdf: 'Ordonnance (PDF)', lines: 'Lignes de prescription', 'no-change': 'Pas de changement' };
const ACTION_LABELS: Record<string, string> = { add: 'ajout', stop: 'arrêt', substitute: 'substitution', dose: 'posologie', route: 'voie', timing: 'horaire' };

const stepLabel = (s: string): string => displayOf(PATHWAY_STEPS, s) ?? s;
const outcomeLabel = (o: string | undefined): string => (o ? (displayOf(FOLLOWUP_OUTCOMES, o) ?? o) : '—');

/** The establishment a person's view is limited to: `all` for the cross-tenant roles, else their own FINESS (or none). */
type Scope = { all: true } | { all: false; finess?: string };
function scopeOf(p: Principal): Scope {
  if (!isTenantBound(p)) return { all: true };
  const own = ownFiness(p);
  return own && p.tenant?.kind === 'establishment' ? { all: false, finess: own } : { all: false };
}
const sees = (scope: Scope, finess: string): boolean => scope.all || scope.finess === finess;

async function audit(store: ResourceStore, req: Request, viewer: Viewer, entry: Omit<AuditEntry, 'actor'>): Promise<void> {
  await accessAuditor(store).record({ ...whoOf(viewer.principal, req.socket.remoteAddress), requestId: req.requestId, ...entry });
}

// ---- the list ---------------------------------------------------------------------------------------------

interface ListFilter {
  finess?: string;
  step?: PathwayStep;
}

function filterForm(filter: ListFilter, establishments: readonly { finess: string; name: string }[], error?: string): SafeHtml {
  const sel = (on: boolean) => (on ? html` selected` : '');
  return html`<form method="get" action="${PATHWAY_PAGE}" class="filtres" aria-describedby="${error ? 'filtre-erreur' : ''}">
${error ? html`<p class="alerte" role="alert" id="filtre-erreur">${error}</p>` : ''}
<div class="champ"><label for="etablissement">Établissement</label>
<select id="etablissement" name="etablissement"><option value="">Tous</option>${establishments.map((e) => html`<option value="${e.finess}"${sel(filter.finess === e.finess)}>${e.name} (${e.finess})</option>`)}</select></div>
<div class="champ"><label for="etape">Étape</label>
<select id="etape" name="etape"><option value="">En cours (toutes sauf clos)</option>${PATHWAY_STEPS.map((s) => html`<option value="${s.code}"${sel(filter.step === s.code)}>${s.display}</option>`)}</select></div>
<div class="champ"><button type="submit">Filtrer</button></div>
</form>`;
}

function decisionsCell(d: PathwayRow['decisions']['MT']): string {
  return d.asked === 0 ? '—' : `${d.decided} / ${d.asked}`;
}

function casesTable(rows: readonly PathwayRow[]): SafeHtml {
  if (rows.length === 0) return html`<p>Aucun PPP ne correspond à ces critères.</p>`;
  return html`<div class="tableau"><table class="parcours">
<caption>${rows.length} PPP</caption>
<thead><tr><th scope="col">Patient</th><th scope="col">Étape</th><th scope="col">Établissement</th><th scope="col">Créé le</th><th scope="col">Envoyé le</th><th scope="col">Décisions MT</th><th scope="col">Décisions PHO</th><th scope="col">Prochaine échéance</th></tr></thead>
<tbody>${rows.map(
    (r) => html`<tr>
<th scope="row"><a href="${PATHWAY_PAGE}/${r.carePlan}">${r.patient}</a><br><span class="aide">PPP <code>${r.pppId}</code></span></th>
<td><span class="etat etape-${r.step}">${stepLabel(r.step)}</span></td>
<td>${r.establishment}<br><span class="aide">FINESS ${r.finess}</span></td>
<td>${frenchInstant(r.created)}</td>
<td>${r.sentAt ? frenchInstant(r.sentAt) : '—'}</td>
<td>${decisionsCell(r.decisions.MT)}</td>
<td>${decisionsCell(r.decisions.PHO)}</td>
<td>${r.nextDue ? html`${DUE_LABELS[r.nextDue.kind]}<br><span class="aide">${frenchInstant(r.nextDue.dueAt)}</span>` : '—'}</td>
</tr>`,
  )}</tbody></table></div>`;
}

function worklistView(items: readonly WorklistItem[]): SafeHtml {
  if (items.length === 0) return html`<p>Rien à faire pour le moment : aucune demande d’ordonnance en attente, aucun résultat de suivi à saisir.</p>`;
  return html`<ul class="a-faire">${items.map(
    (i) => html`<li${i.overdue ? html` class="en-retard"` : ''}><a href="${PATHWAY_PAGE}/${i.carePlan}">${i.label}</a> — PPP <code>${i.pppId}</code>, ${WINDOW_LABELS[i.window]}, depuis le ${frenchInstant(i.since)}${i.overdue ? html` <strong>(en retard)</strong>` : ''}</li>`,
  )}</ul>`;
}

/** The establishments the person may filter on: theirs, or those of every PPP in the pathway. */
async function establishmentsOf(store: ResourceStore, scope: Scope): Promise<{ finess: string; name: string }[]> {
  if (!scope.all && !scope.finess) return [];
  const cases = await store.pathway.cases({ ...(scope.all ? {} : { finess: scope.finess }), closed: true, limit: 1000 });
  const byFiness = new Map<string, string>();
  for (const c of cases) byFiness.set(c.finess, (c.document as { establishment?: { name?: string } }).establishment?.name ?? c.finess);
  if (!scope.all && scope.finess && !byFiness.has(scope.finess)) byFiness.set(scope.finess, `Établissement ${scope.finess}`);
  return [...byFiness].map(([finess, name]) => ({ finess, name })).sort((a, b) => a.name.localeCompare(b.name, 'fr'));
}

/** The query of the filter form: one value each, known values only (else a message and a 400). */
function parseFilter(query: Request['query']): { filter: ListFilter; error?: string } {
  if (Object.keys(query).some((k) => k !== 'etablissement' && k !== 'etape')) return { filter: {}, error: 'Filtre inconnu : choisissez un établissement et une étape dans les listes.' };
  const one = (v: unknown): string | undefined | false => (v === undefined || v === '' ? undefined : typeof v === 'string' ? v : false);
  const finess = one(query.etablissement);
  const step = one(query.etape);
  if (finess === false || (finess !== undefined && !FINESS.test(finess))) return { filter: {}, error: 'Établissement : choisissez un établissement de la liste.' };
  if (step === false || (step !== undefined && !STEP_CODES.has(step))) return { filter: {}, error: 'Étape : choisissez une étape de la liste.' };
  return { filter: { ...(finess ? { finess } : {}), ...(step ? { step: step as PathwayStep } : {}) } };
}

// ---- one PPP ------------------------------------------------------------------------------------------------

export interface OutcomeFormState {
  window: FollowUpWindowCode;
  /** Per recommendation index: the choice and note as posted. */
  values: Record<number, { outcome?: string; note?: string }>;
  /** Per recommendation index, or `form` for the whole form. */
  errors: Record<string, string>;
}

function decisionText(r: RecommendationView, actor: 'MT' | 'PHO'): SafeHtml | string {
  const d = r.decisions[actor];
  if (!d) return html`<span class="aide">non demandé</span>`;
  if (d.decision) return html`<strong>${displayOf(PPP_DECISIONS, d.decision) ?? d.decision}</strong>${d.reason ? html`<br><span class="aide">${d.reason}</span>` : ''}${d.date ? html`<br><span class="aide">${frenchInstant(d.date)}</span>` : ''}`;
  if (d.status === 'rejected') return 'Refus de se prononcer';
  return html`<span class="etat">En attente</span>`;
}

function recommendationTitle(r: RecommendationView): string {
  return r.medication ? `${r.medication} (${ACTION_LABELS[r.action ?? ''] ?? r.action ?? ''}) : ${r.text}` : r.text;
}

function recommendationsTable(recs: readonly RecommendationView[]): SafeHtml {
  if (recs.length === 0) return html`<p>Ce PPP n’a pas de recommandation.</p>`;
  return html`<div class="tableau"><table>
<caption>Décisions du médecin traitant (MT) et du pharmacien d’officine (PHO)</caption>
<thead><tr><th scope="col">Recommandation</th><th scope="col">MT</th><th scope="col">PHO</th></tr></thead>
<tbody>${recs.map((r, i) => html`<tr><th scope="row">${i + 1}. ${recommendationTitle(r)}</th><td>${decisionText(r, 'MT')}</td><td>${decisionText(r, 'PHO')}</td></tr>`)}</tbody>
</table></div>`;
}

/** A prescription line as the PHO's software sent it: its label when it has one, else its JSON (bounded). */
function lineText(line: unknown): string {
  if (typeof line === 'string') return line.slice(0, 500);
  if (line && typeof line === 'object') {
    const o = line as Record<string, unknown>;
    const med = o.medication && typeof o.medication === 'object' ? (o.medication as Record<string, unknown>) : undefined;
    const label = [o.text, o.display, o.label, med?.text, med?.display].find((v): v is string => typeof v === 'string');
    const dosage = o.dosage && typeof o.dosage === 'object' ? (o.dosage as Record<string, unknown>).text : o.dosage;
    if (label) return `${label}${typeof dosage === 'string' ? ` — ${dosage}` : ''}`.slice(0, 500);
  }
  return JSON.stringify(line)?.slice(0, 500) ?? '';
}

function uploadsView(carePlan: string, uploads: readonly PrescriptionUpload[]): SafeHtml {
  if (uploads.length === 0) return html`<p>Le pharmacien n’a encore transmis aucune ordonnance.</p>`;
  return html`<ul class="ordonnances">${uploads.map((u) => {
    const lines = Array.isArray(u.lines) ? u.lines : u.lines !== undefined ? [u.lines] : [];
    return html`<li><strong>${WINDOW_LABELS[u.followup]}</strong> — ${UPLOAD_KINDS[u.kind]}, reçue le ${frenchInstant(u.received)} (RPPS ${u.rpps})
${u.kind === 'pdf' ? html` — <a href="${PATHWAY_PAGE}/${carePlan}/ordonnances/${u.id}" download>télécharger le PDF</a>` : ''}
${lines.length > 0 ? html`<ul>${lines.slice(0, 200).map((l) => html`<li>${lineText(l)}</li>`)}</ul>` : ''}</li>`;
  })}</ul>`;
}

function outcomesTable(w: WindowView, recs: readonly RecommendationView[]): SafeHtml {
  return html`<div class="tableau"><table>
<caption>Résultats du ${WINDOW_LABELS[w.window].replace('Suivi', 'suivi')}</caption>
<thead><tr><th scope="col">Recommandation</th><th scope="col">Proposé</th><th scope="col">Résultat</th><th scope="col">Note</th></tr></thead>
<tbody>${recs.map((r, i) => {
    const e = w.entries[r.reference];
    return html`<tr><th scope="row">${i + 1}. ${recommendationTitle(r)}</th><td>${outcomeLabel(e?.proposed)}</td><td>${outcomeLabel(e?.outcome)}${e?.recorded ? html`<br><span class="aide">${frenchInstant(e.recorded)}</span>` : ''}</td><td>${e?.note ?? ''}</td></tr>`;
  })}</tbody></table></div>`;
}

function outcomeForm(carePlan: string, w: WindowView, recs: readonly RecommendationView[], viewer: Viewer, state?: OutcomeFormState): SafeHtml {
  const mine = state?.window === w.window ? state : undefined;
  const errors = mine?.errors ?? {};
  const errorList = Object.values(errors);
  return html`<form method="post" action="${PATHWAY_PAGE}/${carePlan}/suivi" id="formulaire-${w.window}" class="suivi">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
<input type="hidden" name="window" value="${w.window}">
${errorList.length ? html`<div class="alerte" role="alert" id="erreurs-${w.window}"><p>Le suivi n’a pas été enregistré :</p><ul>${errorList.map((e) => html`<li>${e}</li>`)}</ul></div>` : ''}
<p class="aide">Pour chaque recommandation, indiquez si elle a été mise en œuvre d’après l’ordonnance reçue. Le résultat proposé à partir des lignes de prescription est présélectionné et marqué « proposé ».</p>
${recs.map((r, i) => {
  const e = w.entries[r.reference];
  const posted = mine?.values[i];
  const chosen = posted ? posted.outcome : (e?.outcome ?? e?.proposed);
  const note = posted ? (posted.note ?? '') : (e?.note ?? '');
  const id = `${w.window}-r${i}`;
  const err = errors[String(i)];
  return html`<fieldset${err ? html` aria-describedby="${id}-erreur"` : ''}>
<legend>${i + 1}. ${recommendationTitle(r)}</legend>
${err ? html`<p class="alerte" id="${id}-erreur">${err}</p>` : ''}
${e?.outcome ? html`<p class="aide">Déjà saisi : ${outcomeLabel(e.outcome)}${e.recorded ? `, le ${frenchInstant(e.recorded)}` : ''}.</p>` : ''}
<div class="choix-ligne">${FOLLOWUP_OUTCOMES.map(
    (o) => html`<div class="choix"><input type="radio" id="${id}-${o.code}" name="r${i}" value="${o.code}"${chosen === o.code ? html` checked` : ''}><label for="${id}-${o.code}">${o.display}${e?.proposed === o.code ? html` <span class="propose">proposé</span>` : ''}</label></div>`,
  )}</div>
<label for="${id}-note">Note <span class="aide">(facultative, 2 000 caractères au plus)</span></label>
<textarea id="${id}-note" name="note${i}" rows="2" maxlength="${MAX_OUTCOME_NOTE}">${note}</textarea>
</fieldset>`;
})}
<p><button type="submit">Enregistrer le ${WINDOW_LABELS[w.window].replace('Suivi', 'suivi')}</button></p>
</form>`;
}

function windowSection(d: PppDetail, w: WindowView, viewer: Viewer, state?: OutcomeFormState): SafeHtml {
  const closed = d.row.step === 'clos' || d.row.closedAt !== undefined;
  const status = w.done
    ? html`<p><span class="etat">Terminé</span> Un résultat est saisi pour chaque recommandation.</p>`
    : w.open
      ? html`<p><span class="etat">Ouvert</span> depuis le ${frenchInstant(w.opensAt)}.</p>`
      : html`<p><span class="etat">Pas encore ouvert</span> ${w.opensAt ? `Ouverture le ${frenchInstant(w.opensAt)}.` : 'Le PPP n’a pas encore été envoyé au MT et au PHO.'}</p>`;
  return html`<section aria-labelledby="titre-${w.window}" id="suivi-${w.window}">
<h2 id="titre-${w.window}">${WINDOW_LABELS[w.window]}</h2>
${status}
${w.open && !closed ? outcomeForm(d.row.carePlan, w, d.recommendations, viewer, state) : Object.keys(w.entries).length > 0 ? outcomesTable(w, d.recommendations) : ''}
</section>`;
}

export function pppDetailView(d: PppDetail, viewer: Viewer, options: { notice?: string; state?: OutcomeFormState; warning?: string } = {}): SafeHtml {
  const r = d.row;
  return html`<p><a href="${PATHWAY_PAGE}">← Tous les PPP</a></p>
<h1>PPP de ${r.patient}</h1>
${options.notice ? html`<p class="succes" role="status">${options.notice}</p>` : ''}
${options.warning ? html`<p class="alerte" role="alert">${options.warning}</p>` : ''}
<dl class="fiche">
<dt>PPP</dt><dd><code>${r.pppId}</code></dd>
<dt>Patient</dt><dd>${r.patient}${r.birthDate ? `, ${r.born ?? 'né·e'} le ${frenchDate(r.birthDate)}` : ''}</dd>
<dt>Établissement</dt><dd>${r.establishment} (FINESS ${r.finess})</dd>
<dt>Étape</dt><dd><span class="etat etape-${r.step}">${stepLabel(r.step)}</span></dd>
<dt>Créé le</dt><dd>${frenchInstant(r.created)}</dd>
<dt>Envoyé le</dt><dd>${r.sentAt ? frenchInstant(r.sentAt) : 'pas encore envoyé'}</dd>
${r.closedAt ? html`<dt>Clos le</dt><dd>${frenchInstant(r.closedAt)}</dd>` : ''}
</dl>
${d.due.length ? html`<h2>Échéances</h2><ul>${d.due.map((x) => html`<li>${DUE_LABELS[x.kind]} : ${frenchInstant(x.dueAt)} (${DUE_STATES[x.state]})</li>`)}</ul>` : ''}
<h2>Recommandations et décisions</h2>
${recommendationsTable(d.recommendations)}
<h2>Ordonnances reçues du pharmacien</h2>
${uploadsView(r.carePlan, d.uploads)}
${d.windows.map((w) => windowSection(d, w, viewer, options.state))}`;
}

/** The posted form, checked field by field (French messages next to each field); the outcomes to record when valid. */
function readOutcomeForm(body: Record<string, unknown>, d: PppDetail): { state: OutcomeFormState; outcomes: { recommendation: string; outcome: string; note?: string }[] } | undefined {
  const window = body.window;
  if (window !== 'd45' && window !== 'd90') return undefined;
  const state: OutcomeFormState = { window, values: {}, errors: {} };
  const outcomes: { recommendation: string; outcome: string; note?: string }[] = [];
  d.recommendations.forEach((r, i) => {
    const raw = body[`r${i}`];
    const rawNote = body[`note${i}`];
    const note = typeof rawNote === 'string' ? rawNote.normalize('NFC').replace(/\r\n/g, '\n').trim() : undefined;
    state.values[i] = { ...(typeof raw === 'string' && OUTCOME_CODES.has(raw) ? { outcome: raw } : {}), ...(note !== undefined ? { note: note.slice(0, MAX_OUTCOME_NOTE * 2) } : {}) };
    const label = `Recommandation ${i + 1}`;
    if (rawNote !== undefined && typeof rawNote !== 'string') state.errors[String(i)] = `${label} : une seule note attendue.`;
    else if (note && note.length > MAX_REASON_LENGTH) state.errors[String(i)] = `${label} : la note a 2 000 caractères au plus (${note.length} saisis).`;
    else if (note && textCharacterProblem(note)) state.errors[String(i)] = `${label} : la note contient un caractère non permis (caractère de contrôle, de mise en forme bidirectionnelle ou invisible).`;
    else if (raw !== undefined && (typeof raw !== 'string' || !OUTCOME_CODES.has(raw))) state.errors[String(i)] = `${label} : choisissez Implémentée, Non implémentée ou Inconnue.`;
    else if (raw === undefined && note) state.errors[String(i)] = `${label} : choisissez un résultat pour accompagner la note.`;
    else if (typeof raw === 'string') outcomes.push({ recommendation: r.reference, outcome: raw, ...(note ? { note } : {}) });
  });
  if (Object.keys(state.errors).length === 0 && outcomes.length === 0) state.errors.form = 'Choisissez un résultat pour au moins une recommandation.';
  return { state, outcomes };
}

// ---- routes ---------------------------------------------------------------------------------------------------

export function mountPathwayPage(app: IRouter, deps: { store: ResourceStore; config: Config }, sessions: PeopleSessions, pageHeaders: RequestHandler, form: RequestHandler): void {
  const { store, config } = deps;
  const followUp = config.pathway.followUp;
  const notFoundPage = (res: Response, viewer: Viewer) =>
    sendProblem(res, 404, 'PPP introuvable', 'Ce PPP n’existe pas ou ne relève pas de votre établissement.', viewer, html`<p><a href="${PATHWAY_PAGE}">Retour aux PPP</a></p>`);
  /** The systems' endpoints under `/pathway/` (the due-work list of the follow-up) go on to their own route. */
  const carePlanParam: RequestHandler = (req, _res, next) => (SYSTEM_PATHS.has(String(req.params.carePlan)) ? next('route') : next());

  /** The PPP when the person may see it; else the 404 page (audited as a refused view). */
  const visibleDetail = async (req: Request, res: Response, viewer: Viewer, action: string): Promise<PppDetail | undefined> => {
    const carePlan = String(req.params.carePlan);
    const valid = CAREPLAN_ID.test(carePlan);
    const c = valid ? await store.pathway.getCase(carePlan) : undefined;
    if (!c || !sees(scopeOf(viewer.principal), c.finess)) {
      await audit(store, req, viewer, { action, entities: valid ? [`CarePlan/${carePlan}`] : [], outcome: 'failure', detail: c ? 'other establishment' : valid ? 'unknown PPP' : 'not a CarePlan id' });
      notFoundPage(res, viewer);
      return undefined;
    }
    return pppDetail(store, carePlan, { now: new Date(), followUp });
  };

  app.get(
    PATHWAY_PAGE,
    pageHeaders,
    personPage(sessions, { scope: PATHWAY_SCOPE, route: `GET ${PATHWAY_PAGE}` }, async (req, res, { viewer }) => {
      const scope = scopeOf(viewer.principal);
      const { filter, error } = parseFilter(req.query);
      const establishments = await establishmentsOf(store, scope);
      const visible = scope.all || scope.finess !== undefined;
      const finess = scope.all ? filter.finess : filter.finess === undefined || filter.finess === scope.finess ? scope.finess : undefined;
      const allowed = visible && (scope.all || filter.finess === undefined || filter.finess === scope.finess);
      const now = new Date();
      const rows = allowed && !error ? await pathwayOverview(store, { ...(finess ? { finess } : {}), ...(filter.step ? { step: filter.step } : {}), now }) : [];
      const items = allowed && !error ? (await worklist(store, { ...(finess ? { finess } : {}), now })).filter((i) => sees(scope, i.finess)) : [];
      await audit(store, req, viewer, {
        action: 'pathway.page-list',
        entities: rows.map((r) => `CarePlan/${r.carePlan}`),
        outcome: error ? 'failure' : 'success',
        detail: `finess=${finess ?? 'all'} step=${filter.step ?? 'open'} shown=${rows.length}`,
      });
      sendPage(
        res,
        error ? 400 : 200,
        'Parcours PPP',
        html`<h1>Parcours PPP</h1>
${visible ? '' : html`<p class="alerte">Votre compte n’est rattaché à aucun établissement : aucun PPP ne vous est visible.</p>`}
${filterForm(filter, establishments, error)}
<h2 id="a-faire">À faire</h2>
${worklistView(items)}
<h2 id="ppp">PPP ${filter.step ? `à l’étape « ${stepLabel(filter.step)} »` : 'en cours'}</h2>
${casesTable(rows)}`,
        viewer,
      );
    }),
  );

  app.get(
    `${PATHWAY_PAGE}/:carePlan`,
    carePlanParam,
    pageHeaders,
    personPage(sessions, { scope: PATHWAY_SCOPE, route: `GET ${PATHWAY_PAGE}/:carePlan` }, async (req, res, { viewer }) => {
      const d = await visibleDetail(req, res, viewer, 'pathway.page-view');
      if (!d) return;
      await audit(store, req, viewer, { action: 'pathway.page-view', entities: [`CarePlan/${d.row.carePlan}`], outcome: 'success' });
      const saved = req.query.enregistre;
      const notice = saved === 'd45' || saved === 'd90' ? `${WINDOW_LABELS[saved]} enregistré.` : undefined;
      sendPage(res, 200, `PPP ${d.row.pppId}`, pppDetailView(d, viewer, notice ? { notice } : {}), viewer);
    }),
  );

  app.get(
    `${PATHWAY_PAGE}/:carePlan/ordonnances/:upload`,
    carePlanParam,
    pageHeaders,
    personPage(sessions, { scope: PATHWAY_SCOPE, route: `GET ${PATHWAY_PAGE}/:carePlan/ordonnances/:upload` }, async (req, res, { viewer }) => {
      const d = await visibleDetail(req, res, viewer, 'pathway.upload-read');
      if (!d) return;
      const id = String(req.params.upload);
      const u = UPLOAD_ID.test(id) ? await store.pathway.upload(id) : undefined;
      if (!u || u.carePlan !== d.row.carePlan || u.kind !== 'pdf' || !u.content) {
        await audit(store, req, viewer, { action: 'pathway.upload-read', entities: [`CarePlan/${d.row.carePlan}`], outcome: 'failure', detail: 'unknown upload' });
        return sendProblem(res, 404, 'Ordonnance introuvable', 'Cette ordonnance n’existe pas.', viewer);
      }
      await audit(store, req, viewer, { action: 'pathway.upload-read', entities: [`CarePlan/${d.row.carePlan}`], outcome: 'success', detail: `upload=${u.id} window=${u.followup}` });
      res
        .status(200)
        .type('application/pdf')
        .set({ 'Content-Disposition': `attachment; filename="ordonnance-${u.followup}-${u.received.slice(0, 10)}.pdf"`, 'X-Content-Type-Options': 'nosniff' })
        .send(u.content);
    }),
  );

  app.post(
    `${PATHWAY_PAGE}/:carePlan/suivi`,
    carePlanParam,
    pageHeaders,
    form,
    personPage(sessions, { scope: PATHWAY_SCOPE, route: `POST ${PATHWAY_PAGE}/:carePlan/suivi` }, async (req, res, { session, viewer }) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!csrfMatches(session.data, body._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.', viewer);
      }
      const c = CAREPLAN_ID.test(String(req.params.carePlan)) ? await store.pathway.getCase(String(req.params.carePlan)) : undefined;
      if (!c || !sees(scopeOf(viewer.principal), c.finess)) return notFoundPage(res, viewer);
      const d = await pppDetail(store, c.carePlan, { now: new Date(), followUp });
      if (!d) return notFoundPage(res, viewer);
      const read = readOutcomeForm(body, d);
      if (!read) return sendProblem(res, 400, 'Formulaire refusé', 'Le suivi demandé n’existe pas (J45 ou J90 attendu).', viewer);
      const show = (status: number, state: OutcomeFormState) => sendPage(res, status, `PPP ${d.row.pppId}`, pppDetailView(d, viewer, { state }), viewer);
      if (Object.keys(read.state.errors).length > 0) return show(400, read.state);
      const p = viewer.principal;
      try {
        await recordOutcomes(store, c.carePlan, { window: read.state.window, outcomes: read.outcomes }, {
          now: new Date(),
          actor: p.id,
          recorder: p.person?.rpps ? `rpps:${p.person.rpps}` : p.id,
          ...(req.requestId ? { requestId: req.requestId } : {}),
          followUp,
        });
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        const status = statusOf(err.outcome);
        if (status === 404) return notFoundPage(res, viewer);
        const messages: Record<number, string> = {
          409: 'Ce PPP est clos : ses résultats de suivi ne peuvent plus changer.',
          422: 'Cette fenêtre de suivi n’est pas encore ouverte.',
        };
        const message = messages[status] ?? 'Le suivi n’a pas pu être enregistré : vérifiez les champs.';
        // Said at the top too: a window not open or a closed PPP shows no form to put the message in.
        return sendPage(res, status >= 400 && status < 500 ? status : 400, `PPP ${d.row.pppId}`, pppDetailView(d, viewer, { state: { ...read.state, errors: { form: message } }, warning: message }), viewer);
      }
      res.redirect(303, `${PATHWAY_PAGE}/${c.carePlan}?enregistre=${read.state.window}#suivi-${read.state.window}`);
    }),
  );
}

