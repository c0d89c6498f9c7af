// A federated identity's page for identitovigilance referents (issue 21, point 2): its status, reference traits and
// source identities (with their establishment), the identities merged into it, and — when it has more than one
// source — the separation (unmerge) of a source, with a reason, under the signed-in person. Linked from the review
// items; the separation goes through the same IdentityService as `POST /identity/separate`.
import type { IRouter, RequestHandler } from 'express';
import { OperationOutcomeError, statusOf } from '../fhir/outcome.js';
import type { FederatedView } from '../services/identity-registry.js';
import { identityServiceFor } from '../services/patient-identity.js';
import type { ResourceStore } from '../store/repository.js';
import { formText } from './form-text.js';
import { html, type SafeHtml } from './html.js';
import { SEX_LABELS, STATUS_LABELS, frenchDate, frenchInstant } from './labels.js';
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import { csrfMatches, type PeopleSessions } from './session.js';

export const IDENTITY_PAGE = '/identity/patient';
const FEDERATED_ID = /^[A-Za-z0-9-]{1,64}$/;
const MAX_REASON = 1000;

const finessOf = (system: string): string | undefined => /(?:^|[.:])(\d{9})(?:\.|$)/.exec(system)?.[1];

function identityView(f: FederatedView, merged: readonly string[], viewer: Viewer, options: { notice?: string; error?: string }): SafeHtml {
  const t = f.traits;
  const separable = f.active && f.sources.length > 1;
  return html`<p><a href="/identity/review">Retour à la file des dossiers</a></p>
<h1>Identité régionale <code>${f.id}</code></h1>
${options.notice ? html`<p class="succes" role="status">${options.notice}</p>` : ''}
${options.error ? html`<div class="alerte" role="alert" id="erreurs"><p>La séparation n’a pas été enregistrée :</p><p>${options.error}</p></div>` : ''}
<dl class="fiche">
<dt>Statut</dt><dd>${STATUS_LABELS[f.status] ?? f.status}${f.active ? '' : ' (inactive)'}</dd>
${f.replacedBy ? html`<dt>Remplacée par</dt><dd><a href="${IDENTITY_PAGE}/${f.replacedBy}"><code>${f.replacedBy}</code></a></dd>` : ''}
<dt>Nom de naissance</dt><dd>${t.birthName}</dd>
<dt>Prénoms de naissance</dt><dd>${(t.birthGivenNames ?? [t.firstBirthGivenName]).join(' ')}</dd>
<dt>Date de naissance</dt><dd>${frenchDate(t.birthDate)}</dd>
<dt>Sexe</dt><dd>${SEX_LABELS[t.sex] ?? t.sex}</dd>
<dt>Mise à jour</dt><dd>${frenchInstant(f.updated)}</dd>
</dl>
<h2>Identités sources</h2>
<div class="tableau"><table>
<caption>${String(f.sources.length)} identité${f.sources.length > 1 ? 's' : ''} source${f.sources.length > 1 ? 's' : ''} rattachée${f.sources.length > 1 ? 's' : ''}</caption>
<thead><tr><th scope="col">Identifiant local</th><th scope="col">Établissement</th><th scope="col">Nom et prénom</th><th scope="col">Date de naissance</th><th scope="col">Statut</th></tr></thead>
<tbody>${f.sources.map(
    (s) => html`<tr><th scope="row"><code>${s.localId}</code></th><td>${finessOf(s.system) ? `FINESS ${finessOf(s.system) ?? ''}` : '—'}<br><span class="aide">${s.system}</span></td><td>${s.traits.birthName} ${s.traits.firstBirthGivenName}</td><td>${frenchDate(s.traits.birthDate)}</td><td>${STATUS_LABELS[s.status] ?? s.status}</td></tr>`,
  )}</tbody></table></div>
${merged.length ? html`<h2>Identités fusionnées dans celle-ci</h2><ul>${merged.map((m) => html`<li><a href="${IDENTITY_PAGE}/${m}"><code>${m}</code></a></li>`)}</ul>` : ''}
<h2>Séparer une identité source</h2>
${
  separable
    ? html`<form method="post" action="${IDENTITY_PAGE}/${f.id}/separer">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
<fieldset><legend>Identité source à séparer</legend>
${f.sources.map((s, i) => html`<div class="choix"><input type="radio" id="source-${String(i)}" name="source" value="${String(i)}" required><label for="source-${String(i)}"><code>${s.localId}</code> (${finessOf(s.system) ? `FINESS ${finessOf(s.system) ?? ''}` : s.system})</label></div>`)}
</fieldset>
<div class="choix"><input type="checkbox" id="collision" name="collision" value="1" checked><label for="collision">L’identité mélangeait deux personnes (collision)</label></div>
<label for="motif-separation">Motif</label>
<textarea id="motif-separation" name="motif" required maxlength="${MAX_REASON}"></textarea>
<p><button type="submit">Séparer cette identité source</button></p>
</form>`
    : html`<p>Une seule identité source : il n’y a rien à séparer.</p>`
}`;
}

export function mountIdentityPage(app: IRouter, deps: { store: ResourceStore }, sessions: PeopleSessions, pageHeaders: RequestHandler, form: RequestHandler): void {
  const service = identityServiceFor(deps.store);
  const show = async (res: Parameters<RequestHandler>[1], id: string, viewer: Viewer, status: number, options: { notice?: string; error?: string } = {}) => {
    const f = FEDERATED_ID.test(id) ? await service.getFederated(id) : undefined;
    if (!f) return sendProblem(res, 404, 'Identité introuvable', 'Cette identité régionale n’existe pas.', viewer);
    const merged = await deps.store.identities.mergedInto(id);
    sendPage(res, status, `Identité ${id}`, identityView(f, merged, viewer, options), viewer);
  };

  app.get(
    `${IDENTITY_PAGE}/:id`,
    pageHeaders,
    personPage(sessions, { scope: 'identity.review', route: `GET ${IDENTITY_PAGE}/:id` }, async (req, res, { viewer }) => {
      const from = typeof req.query.separee === 'string' && FEDERATED_ID.test(req.query.separee) ? req.query.separee : undefined;
      await show(res, String(req.params.id), viewer, 200, from ? { notice: `Identité source séparée de ${from} : elle a désormais cette identité régionale.` } : {});
    }),
  );

  app.post(
    `${IDENTITY_PAGE}/:id/separer`,
    pageHeaders,
    form,
    personPage(sessions, { scope: 'identity.review', route: `POST ${IDENTITY_PAGE}/:id/separer` }, async (req, res, { session, viewer }) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!csrfMatches(session.data, body._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.', viewer);
      }
      const id = String(req.params.id);
      const f = FEDERATED_ID.test(id) ? await service.getFederated(id) : undefined;
      if (!f) return sendProblem(res, 404, 'Identité introuvable', 'Cette identité régionale n’existe pas.', viewer);
      const index = typeof body.source === 'string' && /^\d{1,4}$/.test(body.source) ? Number(body.source) : -1;
      const source = f.sources[index];
      if (!source) return show(res, id, viewer, 400, { error: 'Identité source : choisissez une identité source de la liste.' });
      const reason = formText(body.motif, { label: 'Motif', max: MAX_REASON, required: true });
      if (!reason.ok) return show(res, id, viewer, 400, { error: reason.error });
      const who = session.principal.id;
      try {
        const r = await service.separate(source.system, source.localId, { who, why: reason.value, collision: body.collision === '1' }, { actor: who, requestId: req.requestId });
        res.redirect(303, `${IDENTITY_PAGE}/${r.federatedId}?separee=${id}`);
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        const status = statusOf(err.outcome);
        return show(res, id, viewer, status >= 400 && status < 500 ? status : 400, { error: err.message });
      }
    }),
  );
}
