// One identity review item for an identitovigilance referent: the two identities side by side, the matcher's grade
// and comparison, the documents waiting for the decision, and the decision form (Même patient / Patients
// différents, with a reason). The decision goes through the same IdentityService as the API's, under the person.
// Reusable by the queue page (issue 21): `reviewItemView` renders an item, `mountReviewPage` serves it.
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
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import { csrfMatches, type PeopleSessions } from './session.js';

export const REVIEW_PAGE = '/identity/review';
const REVIEW_ID = /^[A-Za-z0-9-]{1,64}$/;
const MAX_REASON = 1000;

export interface DecisionForm {
  decision?: string;
  reason?: string;
  errors?: string[];
}

function given(t: SourceIdentity): string {
  return (t.birthGivenNames ?? [t.firstBirthGivenName]).join(' ');
}

const ROWS: { label: string; value: (t: SourceIdentity) => string }[] = [
  { label: 'Nom de naissance', value: (t) => t.birthName },
  { label: 'Prénoms de naissance', value: given },
  { label: 'Nom utilisé', value: (t) => t.usedName ?? '—' },
  { label: 'Prénom utilisé', value: (t) => t.usedGivenName ?? '—' },
  { label: 'Date de naissance', value: (t) => frenchDate(t.birthDate) },
  { label: 'Sexe', value: (t) => SEX_LABELS[t.sex] ?? t.sex },
  { label: 'Lieu de naissance (INSEE)', value: (t) => t.birthPlaceInsee ?? '—' },
  { label: 'INS', value: (t) => t.ins?.matricule ?? '—' },
];

function identities(newer: FederatedView, candidate: FederatedView): SafeHtml {
  const cell = (a: string, b: string, v: string) => (a === b ? html`<td>${v}</td>` : html`<td class="diff">${v}</td>`);
  const sources = (f: FederatedView) => html`<ul>${f.sources.map((s) => html`<li><code>${s.localId}</code> <span class="aide">(${s.system})</span></li>`)}</ul>`;
  return html`<div class="tableau"><table>
<caption>Les deux identités comparées (les différences sont surlignées)</caption>
<thead><tr><th scope="col">Trait</th><th scope="col">Identité nouvelle</th><th scope="col">Identité existante (candidate)</th></tr></thead>
<tbody>
${ROWS.map((r) => {
  const a = r.value(newer.traits);
  const b = r.value(candidate.traits);
  return html`<tr><th scope="row">${r.label}</th>${cell(a, b, a)}${cell(a, b, b)}</tr>`;
})}
<tr><th scope="row">Statut</th><td>${STATUS_LABELS[newer.status] ?? newer.status}</td><td>${STATUS_LABELS[candidate.status] ?? candidate.status}</td></tr>
<tr><th scope="row">Identifiant régional</th><td><code>${newer.id}</code></td><td><code>${candidate.id}</code></td></tr>
<tr><th scope="row">Identités sources</th><td>${sources(newer)}</td><td>${sources(candidate)}</td></tr>
</tbody></table></div>`;
}

function comparison(d: ReviewDetail): SafeHtml {
  const c = d.review.comparison;
  return html`<div class="tableau"><table>
<caption>Comparaison trait par trait</caption>
<thead><tr><th scope="col">Trait</th><th scope="col">Accord</th><th scope="col">Poids</th></tr></thead>
<tbody>${c.comparisons.map((f) => html`<tr><th scope="row">${FIELD_LABELS[f.field] ?? f.field}</th><td>${LEVEL_LABELS[f.level] ?? f.level}</td><td>${f.weight.toFixed(2)}</td></tr>`)}</tbody>
</table></div>
${c.reasons.length ? html`<ul>${c.reasons.map((r) => html`<li>${r}</li>`)}</ul>` : ''}`;
}

/** Who decided, in words: the viewer themself by name and RPPS, another declared person by RPPS, else the id. */
function decidedByLabel(decidedBy: string, viewer: Viewer, people: readonly AuthPerson[]): string {
  const me = viewer.principal;
  if (decidedBy === me.id) return `${me.person?.name ?? me.id}${me.person?.rpps ? ` (RPPS ${me.person.rpps})` : ''}`;
  const sub = decidedBy.startsWith('person:') ? decidedBy.slice('person:'.length) : undefined;
  const declared = sub ? people.find((p) => p.sub === sub) : undefined;
  return declared?.rpps ? `${decidedBy} (RPPS ${declared.rpps})` : decidedBy;
}

function decisionForm(id: string, viewer: Viewer, form: DecisionForm): SafeHtml {
  const checked = (v: string) => (form.decision === v ? html` checked` : '');
  const errors = form.errors ?? [];
  return html`<form method="post" action="${REVIEW_PAGE}/${id}">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
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
<p><button type="submit">Enregistrer la décision</button></p>
</form>`;
}

/** The item, with its decision if there is one, else the form. */
export function reviewItemView(d: ReviewDetail, awaiting: readonly string[], viewer: Viewer, people: readonly AuthPerson[], options: { notice?: string; warning?: string; form?: DecisionForm } = {}): SafeHtml {
  const r = d.review;
  return html`<h1>Rapprochement d’identités</h1>
${options.notice ? html`<p class="succes" role="status">${options.notice}</p>` : ''}
${options.warning ? html`<p class="alerte" role="alert">${options.warning}</p>` : ''}
<dl class="fiche">
<dt>Dossier</dt><dd><code>${r.id}</code></dd>
<dt>Motif d’examen</dt><dd>${FLAG_LABELS[r.flag] ?? r.flag}</dd>
<dt>Degré de correspondance</dt><dd>${GRADE_LABELS[r.grade] ?? r.grade} — score ${Math.round(r.score * 100)} %</dd>
<dt>Ouvert le</dt><dd>${frenchInstant(r.created)}</dd>
<dt>État</dt><dd><span class="etat">${r.state === 'open' ? 'À décider' : 'Décidé'}</span></dd>
</dl>
<h2>Identités</h2>
${identities(d.newIdentity, d.candidate)}
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
    : decisionForm(r.id, viewer, options.form ?? {})
}`;
}

export function mountReviewPage(app: IRouter, deps: { store: ResourceStore; people: readonly AuthPerson[] }, sessions: PeopleSessions, pageHeaders: RequestHandler, form: RequestHandler): void {
  const { store, people } = deps;
  const service = identityServiceFor(store);

  const show = async (res: Response, id: string, viewer: Viewer, status: number, options: { notice?: string; warning?: string; form?: DecisionForm } = {}): Promise<void> => {
    const detail = await service.getReview(id);
    if (!detail) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
    const awaiting = await awaitingDocuments(store, detail.review.sourceSystem, detail.review.sourceId);
    sendPage(res, status, 'Rapprochement d’identités', reviewItemView(detail, awaiting, viewer, people, options), viewer);
  };
  const idOf = (req: Request): string | undefined => {
    const id = String(req.params.id);
    return REVIEW_ID.test(id) ? id : undefined;
  };

  app.get(
    `${REVIEW_PAGE}/:id`,
    pageHeaders,
    personPage(sessions, { scope: 'identity.review', route: `GET ${REVIEW_PAGE}/:id` }, async (req, res, { viewer }) => {
      const id = idOf(req);
      if (!id) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
      await show(res, id, viewer, 200, req.query.enregistre === '1' ? { notice: 'Décision enregistrée.' } : {});
    }),
  );

  app.post(
    `${REVIEW_PAGE}/:id`,
    pageHeaders,
    form,
    personPage(sessions, { scope: 'identity.review', route: `POST ${REVIEW_PAGE}/:id` }, async (req, res, { session, viewer }) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!csrfMatches(session.data, body._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.', viewer);
      }
      const id = idOf(req);
      if (!id) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
      const errors: string[] = [];
      const decision = body.decision;
      if (decision !== 'same' && decision !== 'different') errors.push('Décision : choisissez « Même patient » ou « Patients différents ».');
      const reason = formText(body.motif, { label: 'Motif', max: MAX_REASON, required: true });
      if (!reason.ok) errors.push(reason.error);
      const shownReason = typeof body.motif === 'string' ? body.motif.slice(0, MAX_REASON * 2) : '';
      if (errors.length || (decision !== 'same' && decision !== 'different') || !reason.ok) {
        return show(res, id, viewer, 400, { form: { ...(typeof decision === 'string' ? { decision } : {}), reason: shownReason, errors } });
      }
      const who = session.principal.id;
      try {
        await service.decide(id, { decision, who, why: reason.value }, { actor: who, requestId: req.requestId });
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        const status = statusOf(err.outcome);
        if (status === 404) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
        if (status === 409) return show(res, id, viewer, 409, { warning: 'Ce dossier a déjà été décidé : votre décision n’a pas été enregistrée.' });
        return show(res, id, viewer, status >= 400 && status < 500 ? status : 400, { form: { decision, reason: shownReason, errors: [err.message] } });
      }
      res.redirect(303, `${REVIEW_PAGE}/${id}?enregistre=1`);
    }),
  );
}
