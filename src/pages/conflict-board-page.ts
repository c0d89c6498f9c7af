// The conflict board of an establishment for people (issue 21 point 3): GET /identity/conflicts?establishment=<FINESS>
// in French, without script — the open review items involving its identities with the other establishment involved
// and their age, the anomalies of its own feed by kind, the collisions (COLV) and the separations of the last 90
// days, and a CSV export (`&_format=csv`). The regional identitovigilance cell sees every establishment's board and
// assigns an item to a referent (POST /identity/conflicts/attribuer); a person bound to an establishment sees its
// own board (another FINESS: a 403 page). Systems get the same board as JSON from src/api/conflict-board-routes.ts:
// this router lets a request through to it when it carries an Authorization header or does not accept text/html.
import type { IRouter, Request, RequestHandler } from 'express';
import type { AuthPerson } from '../config.js';
import { OperationOutcomeError, statusOf } from '../fhir/outcome.js';
import { ownFiness, type Principal } from '../domain/access/model.js';
import { AGE_BUCKETS, SEPARATION_DAYS, boardAccess, isRegionalCell, boardCsv, conflictBoard, type ConflictBoard } from '../services/conflict-board.js';
import { identityServiceFor } from '../services/patient-identity.js';
import type { ResourceStore } from '../store/repository.js';
import { html, type SafeHtml } from './html.js';
import { IDENTITY_PAGE } from './identity-page.js';
import { FLAG_LABELS, GRADE_LABELS, STATUS_LABELS, frenchInstant } from './labels.js';
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import { REVIEW_PAGE, finessOfSystem } from './review-page.js';
import { csrfMatches, type PeopleSessions } from './session.js';

export const CONFLICTS_PAGE = '/identity/conflicts';
const ASSIGN_PATH = `${CONFLICTS_PAGE}/attribuer`;
const PAGE_SIZE = 25;
const MAX_PAGE_NUMBER = 100_000;
const REVIEW_ID = /^[A-Za-z0-9-]{1,64}$/;
const FIELDS = ['establishment', 'page', '_format', 'attribue'] as const;
type Field = (typeof FIELDS)[number];

export const ANOMALY_LABELS: Record<string, string> = {
  QUAL_WITHOUT_INS: 'Qualifiée sans INS',
  QUAL_PARTIAL_BIRTH_DATE: 'Qualifiée avec une date de naissance incomplète',
  QUAL_WITHOUT_BIRTHPLACE: 'Qualifiée sans lieu de naissance',
  QUAL_SEX_UNDETERMINED: 'Qualifiée avec un sexe indéterminé',
  INS_WITH_PROV: 'INS transmis sur une identité provisoire',
};
const AGE_LABELS: Record<string, string> = { lt1d: 'Moins d’un jour', '1-7d': '1 à 7 jours', '7-30d': '7 à 30 jours', '30-90d': '30 à 90 jours', gt90d: 'Plus de 90 jours' };
const ACTION_LABELS: Record<string, string> = { 'identity.separate': 'Séparation (défusion)', 'identity.collision-different': 'Collision : patients différents' };

/**
 * Where the home page sends a person for the board, or undefined when the board would refuse them (the GET handler's
 * rule, from the same predicates): the regional cell to the listing, anyone else to their own establishment's board.
 */
export function boardLinkFor(p: Principal): string | undefined {
  if (isRegionalCell(p)) return CONFLICTS_PAGE;
  const own = ownFiness(p);
  return own !== undefined && boardAccess(p, own) === 'own' ? `${CONFLICTS_PAGE}?establishment=${own}` : undefined;
}

/** A page request: a browser asking for HTML without an Authorization header. Anything else goes to the API route. */
export function wantsPage(req: Request): boolean {
  return req.get('authorization') === undefined && (req.get('accept') ?? '').includes('text/html');
}

/** The board's form: known fields, each once, each valid. */
export function parseBoard(query: Record<string, unknown>): { form: Partial<Record<Field, string>>; error?: string; page: number } {
  const form: Partial<Record<Field, string>> = {};
  for (const [k, v] of Object.entries(query)) {
    if (!(FIELDS as readonly string[]).includes(k)) return { form, page: 1, error: 'Paramètre inconnu : utilisez le formulaire de la page.' };
    if (typeof v !== 'string') return { form, page: 1, error: 'Chaque paramètre ne peut être donné qu’une fois.' };
    if (v.length > 200) return { form, page: 1, error: 'Un paramètre est trop long.' };
    if (v !== '') form[k as Field] = v;
  }
  if (form.establishment !== undefined && !/^\d{9}$/.test(form.establishment)) return { form, page: 1, error: 'Établissement : saisissez un numéro FINESS de 9 chiffres.' };
  if (form._format !== undefined && form._format !== 'csv') return { form, page: 1, error: 'Format : seul l’export CSV (csv) est proposé.' };
  if (form.attribue !== undefined && !REVIEW_ID.test(form.attribue)) return { form, page: 1, error: 'Dossier inconnu.' };
  let page = 1;
  if (form.page !== undefined) {
    if (!/^\d{1,6}$/.test(form.page) || Number(form.page) < 1 || Number(form.page) > MAX_PAGE_NUMBER) return { form, page: 1, error: 'Page : numéro de page invalide.' };
    page = Number(form.page);
  }
  return { form, page };
}

function chooser(value: string | undefined, error?: string): SafeHtml {
  return html`<form method="get" action="${CONFLICTS_PAGE}" class="filtres"${error ? html` aria-describedby="tableau-erreur"` : ''}>
${error ? html`<p class="alerte" role="alert" id="tableau-erreur">${error}</p>` : ''}
<div class="champ"><label for="establishment">Établissement (FINESS)</label>
<input type="text" id="establishment" name="establishment" inputmode="numeric" pattern="[0-9]{9}" maxlength="9" required value="${value ?? ''}" aria-describedby="establishment-aide"><span class="aide" id="establishment-aide">9 chiffres</span></div>
<div class="champ"><button type="submit">Afficher le tableau</button></div>
</form>`;
}

const others = (list: readonly string[]): SafeHtml | string => (list.length ? html`${list.map((f, i) => html`${i ? ', ' : ''}<span class="finess">${f}</span>`)}` : 'ce seul établissement');

function summary(b: ConflictBoard): SafeHtml {
  return html`<div class="tableau"><table class="compteurs synthese">
<caption>Synthèse pour l’établissement ${b.establishment}</caption>
<thead><tr><th scope="col">Dossiers à décider</th><th scope="col">Avec un autre établissement</th><th scope="col">Collisions avérées (COLV)</th><th scope="col">Séparations (${String(SEPARATION_DAYS)} jours)</th><th scope="col">Anomalies du flux</th></tr></thead>
<tbody><tr><td>${String(b.reviews.open)}</td><td>${String(b.reviews.open - b.reviews.internal)}</td><td>${String(b.collisions.total)}</td><td>${String(b.separations.total)}</td><td>${String(b.anomalies.total)}</td></tr></tbody>
</table></div>
${b.reviews.oldest ? html`<p>Le plus ancien dossier à décider est ouvert depuis le ${frenchInstant(b.reviews.oldest)}.</p>` : ''}`;
}

function byAge(b: ConflictBoard): SafeHtml {
  return html`<div class="tableau"><table class="compteurs">
<caption>Dossiers à décider par ancienneté</caption>
<thead><tr>${AGE_BUCKETS.map((a) => html`<th scope="col">${AGE_LABELS[a.key]}</th>`)}</tr></thead>
<tbody><tr>${AGE_BUCKETS.map((a) => html`<td>${String(b.reviews.byAge[a.key] ?? 0)}</td>`)}</tr></tbody>
</table></div>`;
}

function byEstablishment(b: ConflictBoard, regional: boolean): SafeHtml {
  if (b.reviews.open === 0) return html`<p>Aucun dossier à décider ne concerne cet établissement.</p>`;
  return html`<div class="tableau"><table class="etablissements">
<caption>Dossiers à décider par établissement concerné (à mettre en relation)</caption>
<thead><tr><th scope="col">Autre établissement (FINESS)</th><th scope="col">Dossiers à décider</th><th scope="col">Son tableau</th></tr></thead>
<tbody>${b.reviews.byEstablishment.map(
    (e) => html`<tr><th scope="row">${e.finess}</th><td>${String(e.open)}</td><td>${regional ? html`<a href="${CONFLICTS_PAGE}?establishment=${e.finess}">Tableau de ${e.finess}</a>` : '—'}</td></tr>`,
  )}
<tr><th scope="row">Cet établissement seul (doublons internes)</th><td>${String(b.reviews.internal)}</td><td>—</td></tr></tbody>
</table></div>`;
}

function assignForm(id: string, current: string | undefined, viewer: Viewer, referents: readonly AuthPerson[], context: string): SafeHtml {
  const fieldId = `referent-${id}`;
  const options = referents.filter((p) => p.sub).map((p) => ({ value: `person:${p.sub}`, label: `${p.sub}${p.rpps ? ` (RPPS ${p.rpps})` : ''}` }));
  if (current && !options.some((o) => o.value === current)) options.unshift({ value: current, label: current });
  return html`<form method="post" action="${ASSIGN_PATH}" class="attribution">
<input type="hidden" name="_csrf" value="${viewer.csrf}"><input type="hidden" name="dossier" value="${id}"><input type="hidden" name="retour" value="${context}">
<label for="${fieldId}">Référent</label>
<select id="${fieldId}" name="referent"><option value="">Personne</option>${options.map((o) => html`<option value="${o.value}"${o.value === current ? html` selected` : ''}>${o.label}</option>`)}</select>
<button type="submit" class="secondaire" aria-label="Attribuer le dossier ${id.slice(-8)}">Attribuer</button>
</form>`;
}

function items(b: ConflictBoard, page: number, viewer: Viewer, regional: boolean, referents: readonly AuthPerson[]): SafeHtml {
  if (b.reviews.open === 0) return html``;
  const pages = Math.max(1, Math.ceil(b.reviews.open / PAGE_SIZE));
  const context = `establishment=${b.establishment}${page > 1 ? `&page=${page}` : ''}`;
  const who = (a: string | undefined) => (!a ? 'personne' : a === viewer.principal.id ? 'moi' : a);
  const link = (p: number) => `${CONFLICTS_PAGE}?establishment=${b.establishment}&page=${p}`;
  return html`<div class="tableau"><table class="file conflits">
<caption>${String(b.reviews.open)} dossier${b.reviews.open > 1 ? 's' : ''} à décider — page ${String(page)} sur ${String(pages)}, les plus anciens d’abord</caption>
<thead><tr><th scope="col">Dossier</th><th scope="col">Degré et motif</th><th scope="col">Ouvert</th><th scope="col">Identité source</th><th scope="col">Autre établissement</th><th scope="col">Attribué à</th></tr></thead>
<tbody>${b.reviews.items.map((i) => {
    const finess = finessOfSystem(i.source.system);
    return html`<tr>
<th scope="row">${regional ? html`<a href="${REVIEW_PAGE}/${i.id}">Examiner <code>${i.id.slice(-8)}</code></a>` : html`<code>${i.id.slice(-8)}</code>`}</th>
<td>${GRADE_LABELS[i.grade] ?? i.grade}<br><span class="aide">${FLAG_LABELS[i.flag] ?? i.flag}, score ${String(Math.round(i.score * 100))} %</span></td>
<td>${frenchInstant(i.created)}<br><span class="aide">depuis ${i.ageDays < 1 ? 'moins d’un jour' : i.ageDays === 1 ? '1 jour' : `${i.ageDays} jours`}</span></td>
<td><code>${i.source.value}</code><br><span class="aide finess">${finess ? `FINESS ${finess}` : i.source.system}</span></td>
<td>${others(i.otherEstablishments)}</td>
<td>${regional ? assignForm(i.id, i.assignee, viewer, referents, context) : who(i.assignee)}</td>
</tr>`;
  })}</tbody></table></div>
<nav aria-label="Pages des dossiers" class="pages">${page > 1 ? html`<a rel="prev" href="${link(page - 1)}">Page précédente</a>` : ''}${page < pages ? html` <a rel="next" href="${link(page + 1)}">Page suivante</a>` : ''}</nav>`;
}

/** An identity's id, linked to its page (separation) for the regional cell only: the page is identitovigilance's. */
const identityLink = (id: string, regional: boolean): SafeHtml => (regional ? html`<a href="${IDENTITY_PAGE}/${id}"><code>${id}</code></a>` : html`<code>${id}</code>`);

function anomalies(b: ConflictBoard): SafeHtml {
  const codes = Object.entries(b.anomalies.byCode);
  if (codes.length === 0) return html`<p>Aucune anomalie dans le flux de cet établissement.</p>`;
  return html`<div class="tableau"><table class="anomalies">
<caption>Anomalies du flux de l’établissement par type (statut déclaré que les traits ne justifient pas)</caption>
<thead><tr><th scope="col">Type</th><th scope="col">Code</th><th scope="col">Nombre</th></tr></thead>
<tbody>${codes.map(([code, n]) => html`<tr><th scope="row">${ANOMALY_LABELS[code] ?? code}</th><td><code>${code}</code></td><td>${String(n)}</td></tr>`)}</tbody>
</table></div>
<details><summary>Les ${String(b.anomalies.recent.length)} plus récentes</summary>
<div class="tableau"><table>
<caption>Anomalies les plus récentes</caption>
<thead><tr><th scope="col">Identité source</th><th scope="col">Type</th><th scope="col">Reçu</th><th scope="col">Retenu</th><th scope="col">Le</th></tr></thead>
<tbody>${b.anomalies.recent.map((a) => html`<tr><th scope="row"><code>${a.sourceId}</code></th><td>${ANOMALY_LABELS[a.code] ?? a.code}</td><td>${a.received}</td><td>${a.kept}</td><td>${frenchInstant(a.created)}</td></tr>`)}</tbody>
</table></div></details>`;
}

function collisions(b: ConflictBoard, regional: boolean): SafeHtml {
  if (b.collisions.total === 0) return html`<p>Aucune collision avérée sur les identités de cet établissement.</p>`;
  return html`<div class="tableau"><table class="collisions">
<caption>Identités régionales en collision avérée (COLV) liées à l’établissement (une de ses identités sources y est, ou en a été séparée)</caption>
<thead><tr><th scope="col">Identité régionale</th><th scope="col">Statut</th><th scope="col">Modifiée le</th><th scope="col">Autre établissement</th></tr></thead>
<tbody>${b.collisions.items.map((c) => html`<tr><th scope="row">${identityLink(c.id, regional)}</th><td>${STATUS_LABELS[c.status] ?? c.status}</td><td>${frenchInstant(c.updated)}</td><td>${others(c.otherEstablishments)}</td></tr>`)}</tbody>
</table></div>`;
}

function separations(b: ConflictBoard, regional: boolean): SafeHtml {
  if (b.separations.total === 0) return html`<p>Aucune séparation depuis ${String(SEPARATION_DAYS)} jours.</p>`;
  return html`<div class="tableau"><table class="separations">
<caption>Séparations des ${String(SEPARATION_DAYS)} derniers jours</caption>
<thead><tr><th scope="col">Le</th><th scope="col">Décision</th><th scope="col">Par</th><th scope="col">Identités</th><th scope="col">Autre établissement</th></tr></thead>
<tbody>${b.separations.items.map(
    (s) => html`<tr><th scope="row">${frenchInstant(s.at)}</th><td>${ACTION_LABELS[s.action] ?? s.action}</td><td>${s.actor}</td><td>${s.identities.map((p, i) => html`${i ? ', ' : ''}${identityLink(p.slice('Patient/'.length), regional)}`)}</td><td>${others(s.otherEstablishments)}</td></tr>`,
  )}</tbody>
</table></div>`;
}

export function boardView(b: ConflictBoard, page: number, viewer: Viewer, regional: boolean, referents: readonly AuthPerson[], notice?: string): SafeHtml {
  return html`<h1>Conflits d’identité de l’établissement ${b.establishment}</h1>
${notice ? html`<p class="succes" role="status">${notice}</p>` : ''}
${regional ? chooser(b.establishment) : ''}
<p><a href="${CONFLICTS_PAGE}?establishment=${b.establishment}&amp;_format=csv" download>Exporter le tableau en CSV</a>${regional ? html` · <a href="${REVIEW_PAGE}?etablissement=${b.establishment}">Ouvrir la file des dossiers de cet établissement</a>` : ''}</p>
${summary(b)}
<h2>Dossiers à décider</h2>
${byAge(b)}
${byEstablishment(b, regional)}
${items(b, page, viewer, regional, referents)}
<h2>Anomalies du flux</h2>
${anomalies(b)}
<h2>Collisions avérées</h2>
${collisions(b, regional)}
<h2>Séparations récentes</h2>
${separations(b, regional)}
<p class="aide">Tant qu’un dossier n’est pas décidé, les deux identités restent distinctes.</p>`;
}

/** The board page and the assignment form. */
export function mountConflictBoardPage(app: IRouter, deps: { store: ResourceStore; people: readonly AuthPerson[] }, sessions: PeopleSessions, pageHeaders: RequestHandler, form: RequestHandler): void {
  const { store, people } = deps;
  const referents = people.filter((p) => p.roles.includes('identitovigilance') || p.roles.includes('admin'));
  const title = 'Conflits d’identité par établissement';

  app.get(
    CONFLICTS_PAGE,
    (req, _res, next) => next(wantsPage(req) ? undefined : 'route'),
    pageHeaders,
    personPage(sessions, { route: `GET ${CONFLICTS_PAGE}` }, async (req, res, { viewer }) => {
      const parsed = parseBoard(req.query as Record<string, unknown>);
      if (parsed.error) return sendPage(res, 400, title, html`<h1>${title}</h1>${chooser(parsed.form.establishment, parsed.error)}`, viewer);
      const finess = parsed.form.establishment ?? ownFiness(viewer.principal);
      if (!finess) {
        if (!isRegionalCell(viewer.principal)) return sendProblem(res, 403, 'Accès refusé', 'Votre rôle ne donne pas accès au tableau des conflits.', viewer);
        return sendPage(res, 200, title, html`<h1>${title}</h1><p>Choisissez l’établissement dont vous voulez voir les conflits d’identité.</p>${chooser(undefined)}`, viewer);
      }
      const access = boardAccess(viewer.principal, finess);
      if (access === 'refused') return sendProblem(res, 403, 'Accès refusé', 'Vous ne pouvez consulter que le tableau des conflits de votre établissement.', viewer);
      if (parsed.form._format === 'csv') {
        const board = await conflictBoard(store, finess, { limit: Number.MAX_SAFE_INTEGER, offset: 0 });
        res.status(200).type('text/csv; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="conflits-${finess}.csv"`);
        res.send(boardCsv(board));
        return;
      }
      const board = await conflictBoard(store, finess, { limit: PAGE_SIZE, offset: (parsed.page - 1) * PAGE_SIZE });
      const notice = parsed.form.attribue ? `Attribution du dossier ${parsed.form.attribue.slice(-8)} enregistrée.` : undefined;
      sendPage(res, 200, `${title} — ${finess}`, boardView(board, parsed.page, viewer, access === 'regional', referents, notice), viewer);
    }),
  );

  app.post(
    ASSIGN_PATH,
    pageHeaders,
    form,
    personPage(sessions, { scope: 'identity.review', route: `POST ${ASSIGN_PATH}` }, async (req, res, { session, viewer }) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (!csrfMatches(session.data, body._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.', viewer);
      }
      const id = typeof body.dossier === 'string' && REVIEW_ID.test(body.dossier) ? body.dossier : undefined;
      const back = typeof body.retour === 'string' ? parseBoard(Object.fromEntries(new URLSearchParams(body.retour.slice(0, 400)))) : undefined;
      const finess = back?.form.establishment;
      if (!id || !back || back.error || !finess) return sendProblem(res, 400, 'Formulaire refusé', 'Le formulaire d’attribution est incomplet.', viewer);
      if (boardAccess(viewer.principal, finess) !== 'regional') return sendProblem(res, 403, 'Accès refusé', 'Seule la cellule régionale d’identitovigilance attribue les dossiers.', viewer);
      const referent = body.referent;
      if (typeof referent !== 'string' || (referent !== '' && !referents.some((p) => p.sub && `person:${p.sub}` === referent))) {
        return sendProblem(res, 400, 'Formulaire refusé', 'Référent : choisissez une personne de la liste.', viewer);
      }
      try {
        await identityServiceFor(store).assign(id, referent === '' ? null : referent, { actor: viewer.principal.id, requestId: req.requestId });
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        const status = statusOf(err.outcome);
        if (status === 404) return sendProblem(res, 404, 'Dossier introuvable', 'Ce dossier de rapprochement n’existe pas.', viewer);
        if (status === 409) return sendProblem(res, 409, 'Dossier déjà décidé', 'Ce dossier a déjà été décidé : il ne peut plus être attribué.', viewer);
        throw err;
      }
      res.redirect(303, `${CONFLICTS_PAGE}?establishment=${finess}${back.page > 1 ? `&page=${back.page}` : ''}&attribue=${id}`);
    }),
  );
}
