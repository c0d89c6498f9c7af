// The identity review queue and its items for identitovigilance referents (issue 21, point 2). The queue
// (/identity/review): filters (grade, flag, establishment, age, score range, assignee), order, counts by grade, pages.
// One item: the two identities side by side with their sources, the traits aligned and why they differ
// (review-diff.ts), the matcher's levels and reasons, the documents waiting, and the decision form (Même patient /
// Patients différents, with a reason); decided from the queue, the next item of the same filter opens. Decisions go
// through the same IdentityService as the API's, under the person. No script: links, GET forms and POST forms.
import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { AuthPerson } from '../config.js';
import { OperationOutcomeError, statusOf } from '../fhir/outcome.js';
import type { SourceIdentity } from '../identity/types.js';
import { awaitingDocuments } from '../services/bpm-attachment.js';
import type { FederatedView, ReviewDetail } from '../services/identity-registry.js';
import { identityServiceFor } from '../services/patient-identity.js';
import type { ResourceStore } from '../store/repository.js';
import { formText } from './form-text.js';
import { html, type SafeHtml } from './html.js';
import { DECISION_LABELS, FIELD_LABELS, FLAG_LABELS, GRADE_LABELS, LEVEL_LABELS, SEX_LABELS, STATUS_LABELS, frenchDate, frenchInstant } from './labels.js';
import { IDENTITY_PAGE } from './identity-page.js';
import { UNTRANSLATED_PREFIX, translateReason } from './match-reasons.js';
import { DIFF_LABELS, dateDiff, levelOf, nameDiff, plainDiff, type DiffKind } from './review-diff.js';
import type { FieldComparison, MatchGrade } from '../identity/types.js';
import type { ReviewRecord } from '../identity/records.js';
import type { ReviewListQuery } from '../store/identity-repository.js';
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import { csrfMatches, type PeopleSessions } from './session.js';

export const REVIEW_PAGE = '/identity/review';
/** What the queue and its items need; the home page links them on the same test. */
export const REVIEW_SCOPE = 'identity.review' as const;
const REVIEW_ID = /^[A-Za-z0-9-]{1,64}$/;
/** A trait's weight as the reasons write numbers (decimal comma, two decimals). */
const WEIGHT = new Intl.NumberFormat('fr-FR', { minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: false });
const MAX_REASON = 1000;

export interface DecisionForm {
  decision?: string;
  reason?: string;
  errors?: string[];
}

function given(t: SourceIdentity): string {
  return (t.birthGivenNames ?? [t.firstBirthGivenName]).join(' ');
}

type Field = FieldComparison['field'];
const ROWS: { label: string; field?: Field; value: (t: SourceIdentity) => string; diff: (a: string, b: string, level?: string, ta?: SourceIdentity, tb?: SourceIdentity) => DiffKind }[] = [
  { label: 'Nom de naissance', field: 'birthName', value: (t) => t.birthName, diff: nameDiff },
  { label: 'Prénoms de naissance', field: 'givenName', value: given, diff: nameDiff },
  { label: 'Nom utilisé', field: 'usedName', value: (t) => t.usedName ?? '—', diff: nameDiff },
  { label: 'Prénom utilisé', value: (t) => t.usedGivenName ?? '—', diff: nameDiff },
  { label: 'Date de naissance', field: 'birthDate', value: (t) => frenchDate(t.birthDate), diff: (_a, _b, _l, ta, tb) => dateDiff(ta?.birthDate, tb?.birthDate) },
  { label: 'Sexe', field: 'sex', value: (t) => SEX_LABELS[t.sex] ?? t.sex, diff: plainDiff },
  { label: 'Lieu de naissance (INSEE)', field: 'birthPlace', value: (t) => t.birthPlaceInsee ?? '—', diff: plainDiff },
  { label: 'INS', field: 'ins', value: (t) => t.ins?.matricule ?? '—', diff: plainDiff },
];

/** The FINESS an establishment's patient-id domain carries as an OID arc (urn:oid:1.2.250.1.999.1.<FINESS>.1). */
export function finessOfSystem(system: string): string | undefined {
  return /(?:^|[.:])(\d{9})(?:\.|$)/.exec(system)?.[1];
}

function sourceLabel(system: string, localId: string): SafeHtml {
  const finess = finessOfSystem(system);
  return html`<code>${localId}</code> <span class="aide">${finess ? `établissement FINESS ${finess} — ` : ''}(${system})</span>`;
}

function identities(newer: FederatedView, candidate: FederatedView, comparisons: readonly FieldComparison[]): SafeHtml {
  const sources = (f: FederatedView) => html`<ul>${f.sources.map((s) => html`<li>${sourceLabel(s.system, s.localId)}</li>`)}</ul>`;
  return html`<div class="tableau"><table class="cote-a-cote">
<caption>Les deux identités comparées, trait par trait (les écarts sont surlignés et expliqués)</caption>
<thead><tr><th scope="col">Trait</th><th scope="col">Identité nouvelle</th><th scope="col">Identité existante (candidate)</th><th scope="col">Écart</th><th scope="col">Comparateur</th></tr></thead>
<tbody>
${ROWS.map((r) => {
  const a = r.value(newer.traits);
  const b = r.value(candidate.traits);
  const level = r.field ? comparisons.find((c) => c.field === r.field)?.level : undefined;
  const kind = r.diff(a, b, level, newer.traits, candidate.traits);
  const cls = kind === 'equal' ? '' : html` class="diff"`;
  return html`<tr class="ecart-${kind}"><th scope="row">${r.label}</th><td${cls}>${a}</td><td${cls}>${b}</td><td>${kind === 'equal' ? DIFF_LABELS.equal : html`<strong>${DIFF_LABELS[kind]}</strong>`}</td><td>${levelOf(comparisons, r.field) ?? '—'}</td></tr>`;
})}
<tr><th scope="row">Statut</th><td>${STATUS_LABELS[newer.status] ?? newer.status}</td><td>${STATUS_LABELS[candidate.status] ?? candidate.status}</td><td>—</td><td>—</td></tr>
<tr><th scope="row">Identifiant régional</th><td><a href="${IDENTITY_PAGE}/${newer.id}"><code>${newer.id}</code></a></td><td><a href="${IDENTITY_PAGE}/${candidate.id}"><code>${candidate.id}</code></a></td><td>—</td><td>—</td></tr>
<tr><th scope="row">Identités sources</th><td>${sources(newer)}</td><td>${sources(candidate)}</td><td>—</td><td>—</td></tr>
</tbody></table></div>`;
}

/** One reason of the matcher in French; a text no template knows stays as written, marked and in its language. */
function reasonItem(reason: string): SafeHtml {
  const french = translateReason(reason);
  return french ? html`<li>${french.text}</li>` : html`<li>${UNTRANSLATED_PREFIX} <span lang="en">${reason}</span></li>`;
}

function comparison(d: ReviewDetail): SafeHtml {
  const c = d.review.comparison;
  return html`<div class="tableau"><table>
<caption>Comparaison trait par trait</caption>
<thead><tr><th scope="col">Trait</th><th scope="col">Accord</th><th scope="col">Poids</th></tr></thead>
<tbody>${c.comparisons.map((f) => html`<tr><th scope="row">${FIELD_LABELS[f.field] ?? f.field}</th><td>${LEVEL_LABELS[f.level] ?? f.level}</td><td>${WEIGHT.format(f.weight)}</td></tr>`)}</tbody>
</table></div>
${c.reasons.length ? html`<h3>Pourquoi ce degré</h3><ul>${c.reasons.map(reasonItem)}</ul>` : ''}`;
}


// ---- the queue ------------------------------------------------------------------------------------------------

const PAGE_SIZE = 25;
const MAX_PAGE_NUMBER = 100_000;
const GRADES: readonly MatchGrade[] = ['certain', 'probable', 'possible', 'certainly-not'];
const AGES: Record<string, string> = { '1': 'plus d’un jour', '7': 'plus d’une semaine', '30': 'plus d’un mois', '90': 'plus de trois mois' };
const SORTS: Record<string, { label: string; sort: NonNullable<ReviewListQuery['sort']> }> = {
  '-age': { label: 'Les plus anciens d’abord', sort: { key: 'age', desc: true } },
  age: { label: 'Les plus récents d’abord', sort: { key: 'age', desc: false } },
  '-score': { label: 'Score décroissant', sort: { key: 'score', desc: true } },
  score: { label: 'Score croissant', sort: { key: 'score', desc: false } },
};
/** The queue's form fields; `page` and `enregistre` (a notice) ride along. */
const QUEUE_FIELDS = ['degre', 'motif', 'etablissement', 'anciennete', 'score-min', 'score-max', 'attribution', 'tri', 'page', 'enregistre'] as const;
type QueueField = (typeof QUEUE_FIELDS)[number];
export type QueueForm = Partial<Record<QueueField, string>>;

/** The queue's form as sent: one value per field, known fields only, each value from its list or range. */
export function parseQueue(query: Record<string, unknown>, me: string, now: Date): { form: QueueForm; query?: ReviewListQuery; page: number; error?: string } {
  const form: QueueForm = {};
  for (const [k, v] of Object.entries(query)) {
    if (!(QUEUE_FIELDS as readonly string[]).includes(k)) return { form, page: 1, error: 'Filtre inconnu : utilisez les listes et les champs du formulaire.' };
    if (typeof v !== 'string') return { form, page: 1, error: 'Chaque filtre ne peut être donné qu’une fois.' };
    if (v.length > 200) return { form, page: 1, error: 'Un filtre est trop long.' };
    if (v !== '') form[k as QueueField] = v;
  }
  const q: ReviewListQuery = { state: 'open', limit: PAGE_SIZE, offset: 0 };
  const err = (error: string) => ({ form, page: 1, error });
  if (form.degre !== undefined) {
    if (!(GRADES as readonly string[]).includes(form.degre)) return err('Degré : choisissez un degré de la liste.');
    q.grades = [form.degre as MatchGrade];
  }
  if (form.motif !== undefined) {
    if (form.motif !== 'DPOT' && form.motif !== 'COLP') return err('Motif : choisissez un motif de la liste.');
    q.flag = form.motif;
  }
  if (form.etablissement !== undefined) {
    if (!/^\d{9}$/.test(form.etablissement)) return err('Établissement : saisissez un numéro FINESS de 9 chiffres.');
    q.establishment = form.etablissement;
  }
  if (form.anciennete !== undefined) {
    if (!AGES[form.anciennete]) return err('Ancienneté : choisissez une durée de la liste.');
    q.createdBefore = new Date(now.getTime() - Number(form.anciennete) * 86_400_000).toISOString();
  }
  const percent = (v: string | undefined, label: string): number | undefined | false => {
    if (v === undefined) return undefined;
    if (!/^\d{1,3}$/.test(v) || Number(v) > 100) return false;
    void label;
    return Number(v) / 100;
  };
  const min = percent(form['score-min'], 'min');
  const max = percent(form['score-max'], 'max');
  if (min === false) return err('Score minimal : saisissez un nombre entier de 0 à 100.');
  if (max === false) return err('Score maximal : saisissez un nombre entier de 0 à 100.');
  if (min !== undefined && max !== undefined && min > max) return err('Score : le minimum dépasse le maximum.');
  if (min !== undefined) q.scoreMin = min;
  if (max !== undefined) q.scoreMax = max;
  if (form.attribution !== undefined) {
    if (form.attribution === 'moi') q.assignee = me;
    else if (form.attribution === 'aucun') q.assignee = null;
    else return err('Attribution : choisissez une option de la liste.');
  }
  if (form.tri !== undefined) {
    const sort = SORTS[form.tri];
    if (!sort) return err('Tri : choisissez un ordre de la liste.');
    q.sort = sort.sort;
  }
  let page = 1;
  if (form.page !== undefined) {
    if (!/^\d{1,6}$/.test(form.page) || Number(form.page) < 1 || Number(form.page) > MAX_PAGE_NUMBER) return err('Page : numéro de page invalide.');
    page = Number(form.page);
  }
  if (form.enregistre !== undefined && !REVIEW_ID.test(form.enregistre)) return err('Dossier inconnu.');
  q.offset = (page - 1) * PAGE_SIZE;
  return { form, query: q, page };
}

/** The filter's query string (no page, no notice): carried by the items' links and the decision form. */
export function queueContext(form: QueueForm): string {
  const p = new URLSearchParams();
  for (const k of QUEUE_FIELDS) if (k !== 'page' && k !== 'enregistre' && form[k] !== undefined) p.set(k, form[k]!);
  return p.toString();
}

function queueFilters(form: QueueForm, error?: string): SafeHtml {
  const sel = (name: QueueField, v: string) => (form[name] === v ? html` selected` : '');
  return html`<form method="get" action="${REVIEW_PAGE}" class="filtres"${error ? html` aria-describedby="filtre-erreur"` : ''}>
${error ? html`<p class="alerte" role="alert" id="filtre-erreur">${error}</p>` : ''}
<div class="champ"><label for="degre">Degré</label>
<select id="degre" name="degre"><option value="">Tous</option>${GRADES.map((g) => html`<option value="${g}"${sel('degre', g)}>${GRADE_LABELS[g] ?? g}</option>`)}</select></div>
<div class="champ"><label for="motif">Motif</label>
<select id="motif" name="motif"><option value="">Tous</option>${['DPOT', 'COLP'].map((f) => html`<option value="${f}"${sel('motif', f)}>${FLAG_LABELS[f] ?? f}</option>`)}</select></div>
<div class="champ"><label for="etablissement">Établissement (FINESS)</label>
<input type="text" id="etablissement" name="etablissement" inputmode="numeric" pattern="[0-9]{9}" maxlength="9" value="${form.etablissement ?? ''}" aria-describedby="etablissement-aide"><span class="aide" id="etablissement-aide">9 chiffres ; l’une ou l’autre identité en vient</span></div>
<div class="champ"><label for="anciennete">Ancienneté</label>
<select id="anciennete" name="anciennete"><option value="">Toutes</option>${Object.entries(AGES).map(([v, l]) => html`<option value="${v}"${sel('anciennete', v)}>${l}</option>`)}</select></div>
<div class="champ"><label for="score-min">Score minimal (%)</label><input type="text" id="score-min" name="score-min" inputmode="numeric" pattern="[0-9]{1,3}" maxlength="3" value="${form['score-min'] ?? ''}"></div>
<div class="champ"><label for="score-max">Score maximal (%)</label><input type="text" id="score-max" name="score-max" inputmode="numeric" pattern="[0-9]{1,3}" maxlength="3" value="${form['score-max'] ?? ''}"></div>
<div class="champ"><label for="attribution">Attribution</label>
<select id="attribution" name="attribution"><option value="">Tous les dossiers</option><option value="moi"${sel('attribution', 'moi')}>Mes dossiers</option><option value="aucun"${sel('attribution', 'aucun')}>Non attribués</option></select></div>
<div class="champ"><label for="tri">Ordre</label>
<select id="tri" name="tri">${Object.entries(SORTS).map(([v, s]) => html`<option value="${v}"${sel('tri', v)}>${s.label}</option>`)}</select></div>
<div class="champ"><button type="submit">Filtrer</button></div>
</form>`;
}

function gradeCounts(byGrade: Partial<Record<MatchGrade, number>>, form: QueueForm): SafeHtml {
  const link = (g: MatchGrade) => `${REVIEW_PAGE}?${queueContext({ ...form, degre: g })}`;
  return html`<div class="tableau"><table class="compteurs">
<caption>Dossiers à décider par degré (avec les autres filtres)</caption>
<thead><tr>${GRADES.map((g) => html`<th scope="col">${GRADE_LABELS[g] ?? g}</th>`)}</tr></thead>
<tbody><tr>${GRADES.map((g) => html`<td><a href="${link(g)}" aria-label="${GRADE_LABELS[g] ?? g} : ${String(byGrade[g] ?? 0)} dossiers">${String(byGrade[g] ?? 0)}</a></td>`)}</tr></tbody>
</table></div>`;
}

function ageText(created: string, now: Date): string {
  const days = Math.floor((now.getTime() - Date.parse(created)) / 86_400_000);
  return days < 1 ? 'moins d’un jour' : days === 1 ? '1 jour' : `${days} jours`;
}

function queueTable(items: readonly ReviewRecord[], total: number, page: number, context: string, now: Date, viewer: Viewer): SafeHtml {
  if (items.length === 0) return html`<p>Aucun dossier à décider ne correspond à ces critères.</p>`;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const who = (a: string | undefined) => (!a ? '—' : a === viewer.principal.id ? 'Moi' : a);
  return html`<div class="tableau"><table class="file">
<caption>${String(total)} dossier${total > 1 ? 's' : ''} à décider — page ${String(page)} sur ${String(pages)}</caption>
<thead><tr><th scope="col">Dossier</th><th scope="col">Degré</th><th scope="col">Motif</th><th scope="col">Score</th><th scope="col">Ouvert le</th><th scope="col">Identité source</th><th scope="col">Attribué à</th></tr></thead>
<tbody>${items.map(
    (r) => html`<tr>
<th scope="row"><a href="${REVIEW_PAGE}/${r.id}?file=${encodeURIComponent(context)}">Examiner <code>${r.id.slice(-8)}</code></a></th>
<td><span class="etat degre-${r.grade}">${GRADE_LABELS[r.grade] ?? r.grade}</span></td>
<td>${FLAG_LABELS[r.flag] ?? r.flag}</td>
<td>${String(Math.round(r.score * 100))} %</td>
<td>${frenchInstant(r.created)}<br><span class="aide">depuis ${ageText(r.created, now)}</span></td>
<td>${sourceLabel(r.sourceSystem, r.sourceId)}</td>
<td>${who(r.assignee)}</td>
</tr>`,
  )}</tbody></table></div>
<nav aria-label="Pages de la file" class="pages">${page > 1 ? html`<a rel="prev" href="${REVIEW_PAGE}?${context ? `${context}&` : ''}page=${String(page - 1)}">Page précédente</a>` : ''}${page < pages ? html` <a rel="next" href="${REVIEW_PAGE}?${context ? `${context}&` : ''}page=${String(page + 1)}">Page suivante</a>` : ''}</nav>`;
}

/** Who decided, in words: the viewer themself by name and RPPS, another declared person by RPPS, else the id. */
function decidedByLabel(decidedBy: string, viewer: Viewer, people: readonly AuthPerson[]): string {
  const me = viewer.principal;
  if (decidedBy === me.id) return `${me.person?.name ?? me.id}${me.person?.rpps ? ` (RPPS ${me.person.rpps})` : ''}`;
  const sub = decidedBy.startsWith('person:') ? decidedBy.slice('person:'.length) : undefined;
  const declared = sub ? people.find((p) => p.sub === sub) : undefined;
  return declared?.rpps ? `${decidedBy} (RPPS ${declared.rpps})` : decidedBy;
}

function decisionForm(id: string, viewer: Viewer, form: DecisionForm, context?: string): SafeHtml {
  const checked = (v: string) => (form.decision === v ? html` checked` : '');
  const errors = form.errors ?? [];
  return html`<form method="post" action="${REVIEW_PAGE}/${id}">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
${context !== undefined ? html`<input type="hidden" name="file" value="${context}">` : ''}
${errors.length ? html`<div class="alerte" role="alert" id="erreurs"><p>La décision n’a pas été enregistrée :</p><ul>${errors.map((e) => html`<li>${e}</li>`)}</ul></div>` : ''}
<fieldset>
<legend>Décision</legend>
<div class="choix"><input type="radio" id="decision-same" name="decision" value="same" required${checked('same')}><label for="decision-same">Même patient</label></div>
<div class="choix"><input type="radio" id="decision-different" name="decision" value="different"${checked('different')}><label for="decision-different">Patients différents</label></div>
<p class="aide">« Même patient » fusionne les deux identités (la plus récente est remplacée par l’existante) ; « Patients différents » les garde séparées et ne les propose plus.</p>
</fieldset>
<label for="motif">Motif</label>
<p class="aide" id="motif-aide">Par exemple : pièce d’identité vérifiée, appel du service. ${MAX_REASON} caractères au plus.</p>
<textarea id="motif" name="motif" required maxlength="${MAX_REASON}" aria-describedby="motif-aide">${form.reason ?? ''}</textarea>
<p><button type="submit">${context !== undefined ? 'Enregistrer et passer au suivant' : 'Enregistrer la décision'}</button></p>
</form>`;
}

/** The item, with its decision if there is one, else the form. */
export interface ItemOptions {
  notice?: string;
  warning?: string;
  form?: DecisionForm;
  /** Opened from the queue: its filter (query string), for the way back and the next item. */
  context?: string;
}

export function reviewItemView(d: ReviewDetail, awaiting: readonly string[], viewer: Viewer, people: readonly AuthPerson[], options: ItemOptions = {}): SafeHtml {
  const r = d.review;
  return html`<p><a href="${REVIEW_PAGE}${options.context ? `?${options.context}` : ''}">Retour à la file des dossiers</a></p>
<h1>Rapprochement d’identités</h1>
${options.notice ? html`<p class="succes" role="status">${options.notice}</p>` : ''}
${options.warning ? html`<p class="alerte" role="alert">${options.warning}</p>` : ''}
<dl class="fiche">
<dt>Dossier</dt><dd><code>${r.id}</code></dd>
<dt>Motif d’examen</dt><dd>${FLAG_LABELS[r.flag] ?? r.flag}</dd>
<dt>Degré de correspondance</dt><dd>${GRADE_LABELS[r.grade] ?? r.grade} — score ${Math.round(r.score * 100)} %</dd>
<dt>Ouvert le</dt><dd>${frenchInstant(r.created)}</dd>
<dt>Attribué à</dt><dd>${!r.assignee ? 'personne' : r.assignee === viewer.principal.id ? 'moi' : r.assignee}</dd>
<dt>État</dt><dd><span class="etat">${r.state === 'open' ? 'À décider' : 'Décidé'}</span></dd>
</dl>
<h2>Identités</h2>
${identities(d.newIdentity, d.candidate, d.review.comparison.comparisons)}
<h2>Comparaison</h2>
${comparison(d)}
<h2>Documents en attente de cette décision</h2>
${awaiting.length ? html`<ul>${awaiting.map((a) => html`<li><code>${a}</code></li>`)}</ul>` : html`<p>Aucun document n’attend cette décision.</p>`}
<h2>Décision</h2>
${
  r.state === 'decided' && r.decision
    ? html`<dl class="fiche" id="decision">
<dt>Décision</dt><dd><strong>${DECISION_LABELS[r.decision] ?? r.decision}</strong></dd>
<dt>Par</dt><dd>${decidedByLabel(r.decidedBy ?? '—', viewer, people)}</dd>
<dt>Le</dt><dd>${frenchInstant(r.decidedAt)}</dd>
<dt>Motif</dt><dd>${r.reason ?? '—'}</dd>
</dl>`
    : decisionForm(r.id, viewer, options.form ?? {}, options.context)
}`;
}

/** The queue (`GET /identity/review`) and its items (`GET`/`POST /identity/review/<id>`). */
export function mountReviewPage(app: IRouter, deps: { store: ResourceStore; people: readonly AuthPerson[] }, sessions: PeopleSessions, pageHeaders: RequestHandler, form: RequestHandler): void {
  const { store, people } = deps;
  const service = identityServiceFor(store);

  const show = async (res: Response, id: string, viewer: Viewer, status: number, options: ItemOptions = {}): Promise<void> => {
    const detail = await service.getReview(id);
    if (!detail) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
    const awaiting = await awaitingDocuments(store, detail.review.sourceSystem, detail.review.sourceId);
    sendPage(res, status, 'Rapprochement d’identités', reviewItemView(detail, awaiting, viewer, people, options), viewer);
  };
  /** The queue's filter an item was opened from (`?file=` or the form's `file`), checked like the queue's form. */
  const contextOf = (raw: unknown, me: string): { context?: string; query?: ReviewListQuery; error?: string } => {
    if (raw === undefined) return {};
    if (typeof raw !== 'string' || raw.length > 2000) return { error: 'Le lien vers la file est invalide.' };
    const parsed = parseQueue(Object.fromEntries(new URLSearchParams(raw)), me, new Date());
    if (parsed.error || !parsed.query || new URLSearchParams(raw).size !== Object.keys(parsed.form).length) return { error: 'Le lien vers la file est invalide.' };
    return { context: queueContext(parsed.form), query: parsed.query };
  };

  app.get(
    REVIEW_PAGE,
    pageHeaders,
    personPage(sessions, { scope: REVIEW_SCOPE, route: `GET ${REVIEW_PAGE}` }, async (req, res, { viewer }) => {
      const now = new Date();
      const parsed = parseQueue(req.query as Record<string, unknown>, viewer.principal.id, now);
      const title = 'File des rapprochements d’identités';
      if (parsed.error || !parsed.query) {
        return sendPage(res, 400, title, html`<h1>${title}</h1>${queueFilters(parsed.form, parsed.error)}`, viewer);
      }
      const { grades: _grades, ...others } = parsed.query;
      const [list, stats] = await Promise.all([service.listReviews(parsed.query), service.reviewStats(others)]);
      const context = queueContext(parsed.form);
      const notice = parsed.form.enregistre ? html`<p class="succes" role="status">Décision enregistrée. Plus aucun dossier à décider avec ces filtres.</p>` : '';
      sendPage(
        res,
        200,
        title,
        html`<h1>${title}</h1>${notice}${queueFilters(parsed.form)}${gradeCounts(stats.byGrade, parsed.form)}${queueTable(list.items, list.total, parsed.page, context, now, viewer)}`,
        viewer,
      );
    }),
  );

  const idOf = (req: Request): string | undefined => {
    const id = String(req.params.id);
    return REVIEW_ID.test(id) ? id : undefined;
  };

  app.get(
    `${REVIEW_PAGE}/:id`,
    pageHeaders,
    personPage(sessions, { scope: REVIEW_SCOPE, route: `GET ${REVIEW_PAGE}/:id` }, async (req, res, { viewer }) => {
      const id = idOf(req);
      if (!id) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
      const ctx = contextOf(req.query.file, viewer.principal.id);
      if (ctx.error) return sendProblem(res, 400, 'Lien invalide', ctx.error, viewer);
      const previous = typeof req.query.decide === 'string' && REVIEW_ID.test(req.query.decide) ? req.query.decide : undefined;
      const notice = req.query.enregistre === '1' ? 'Décision enregistrée.' : previous ? `Décision enregistrée pour le dossier ${previous.slice(-8)}. Voici le dossier suivant.` : undefined;
      await show(res, id, viewer, 200, { ...(notice ? { notice } : {}), ...(ctx.context !== undefined ? { context: ctx.context } : {}) });
    }),
  );

  app.post(
    `${REVIEW_PAGE}/:id`,
    pageHeaders,
    form,
    personPage(sessions, { scope: REVIEW_SCOPE, route: `POST ${REVIEW_PAGE}/:id` }, async (req, res, { session, viewer }) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!csrfMatches(session.data, body._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.', viewer);
      }
      const id = idOf(req);
      if (!id) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
      const ctx = contextOf(body.file, viewer.principal.id);
      if (ctx.error) return sendProblem(res, 400, 'Formulaire refusé', ctx.error, viewer);
      const carried = ctx.context !== undefined ? { context: ctx.context } : {};
      const errors: string[] = [];
      const decision = body.decision;
      if (decision !== 'same' && decision !== 'different') errors.push('Décision : choisissez « Même patient » ou « Patients différents ».');
      const reason = formText(body.motif, { label: 'Motif', max: MAX_REASON, required: true });
      if (!reason.ok) errors.push(reason.error);
      const shownReason = typeof body.motif === 'string' ? body.motif.slice(0, MAX_REASON * 2) : '';
      if (errors.length || (decision !== 'same' && decision !== 'different') || !reason.ok) {
        return show(res, id, viewer, 400, { ...carried, form: { ...(typeof decision === 'string' ? { decision } : {}), reason: shownReason, errors } });
      }
      const who = session.principal.id;
      try {
        await service.decide(id, { decision, who, why: reason.value }, { actor: who, requestId: req.requestId });
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        const status = statusOf(err.outcome);
        if (status === 404) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
        if (status === 409) return show(res, id, viewer, 409, { ...carried, warning: 'Ce dossier a déjà été décidé : votre décision n’a pas été enregistrée.' });
        return show(res, id, viewer, status >= 400 && status < 500 ? status : 400, { ...carried, form: { decision, reason: shownReason, errors: [err.message] } });
      }
      if (!ctx.query) return res.redirect(303, `${REVIEW_PAGE}/${id}?enregistre=1`);
      // From the queue: the next item of the same filter and order (this one is decided, so no longer in it).
      const next = (await service.listReviews({ ...ctx.query, offset: 0, limit: 1 })).items[0];
      const context = ctx.context ?? '';
      if (!next) return res.redirect(303, `${REVIEW_PAGE}?${context ? `${context}&` : ''}enregistre=${id}`);
      res.redirect(303, `${REVIEW_PAGE}/${next.id}?file=${encodeURIComponent(context)}&decide=${id}`);
    }),
  );
}
