// The regional activity dashboard (issue 20 point 3, docs/reports.md "The dashboard"): `GET /reports/dashboard`
// shows a form (from, to, establishment; the current year to date by default) and, for a valid period, the activity
// figures as charts (Vega-Lite rendered to inline SVG on the server: no script) and as tables, each with a CSV link
// (`GET /reports/dashboard.csv?table=…`, RFC 4180 by csv-stringify). A signed-in person with `reports.read`: one bound
// to a region sees every establishment, one bound to an establishment its own only (another: 403 page), one bound to
// a pharmacy none. A bad value is the form again with a French error next to the field (400). Every view is audited.
import { stringify } from 'csv-stringify/sync';
import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { Config } from '../config.js';
import { isTenantBound, type Principal } from '../domain/access/model.js';
import type { ActivityReport } from '../domain/reports/activity.js';
import { isDay, parsePeriod } from '../domain/reports/period.js';
import { accessAuditor, whoOf } from '../services/audit/index.js';
import { activityReport } from '../services/reports/activity.js';
import { ACTOR_LABELS, activityCharts, DECISION_LABELS, monthLabel, type Chart } from '../services/reports/charts.js';
import type { ResourceStore } from '../store/repository.js';
import { html, SafeHtml } from './html.js';
import { frenchDate } from './labels.js';
import { sendPage, sendProblem, type Viewer } from './layout.js';
import { personPage } from './person-page.js';
import type { PeopleSessions } from './session.js';

export const DASHBOARD_PAGE = '/reports/dashboard';
export const DASHBOARD_CSV = '/reports/dashboard.csv';
export const DASHBOARD_SCOPE = 'reports.read' as const;
export const CSV_TABLES = ['establishments', 'entry-doors', 'decisions', 'follow-up', 'months'] as const;
type CsvTable = (typeof CSV_TABLES)[number];

const FINESS = /^(\d{9}|2[AB]\d{7})$/;
const FIELDS = ['from', 'to', 'establishment'] as const;
type Field = (typeof FIELDS)[number];

interface FormState {
  values: Partial<Record<Field, string>>;
  errors: Partial<Record<Field | 'form', string>>;
}

/** The establishments a person may see: all (region, cross-tenant roles), one, or none (a pharmacy). */
type Reach = { all: true } | { all: false; finess?: string };
function reachOf(p: Principal): Reach {
  if (!isTenantBound(p)) return { all: true };
  const t = p.tenant;
  if (!t || t.kind === 'region') return { all: true };
  return t.kind === 'establishment' ? { all: false, finess: t.finess } : { all: false };
}

/** A value as it can be shown back in a field: no control, bidirectional or zero-width character, 100 characters. */
const shown = (v: string): string => v.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, '').slice(0, 100);

const pct = (share: number): string => `${(Math.round(share * 1000) / 10).toLocaleString('fr-FR')} %`;
const num = (n: number): string => n.toLocaleString('fr-FR');

/** The current year to date, in UTC days. */
function defaults(now: Date): { from: string; to: string } {
  const to = now.toISOString().slice(0, 10);
  return { from: `${to.slice(0, 4)}-01-01`, to };
}

/**
 * Checks the page's query in French, field by field: unknown parameters, repeated values, dates, the order of the
 * dates, a period over five years, the establishment (a FINESS the gateway has PPPs of). `table` is the CSV's.
 */
async function readQuery(store: ResourceStore, query: Request['query'], extra: readonly string[] = []): Promise<{ period?: { from: string; to: string; finess?: string }; state: FormState; extra: Record<string, unknown> }> {
  const state: FormState = { values: {}, errors: {} };
  const unknown = Object.keys(query).filter((k) => !(FIELDS as readonly string[]).includes(k) && !extra.includes(k));
  if (unknown.length > 0) state.errors.form = `Paramètre inconnu : « ${shown(unknown[0] ?? '').slice(0, 40)} ». Utilisez le formulaire ci-dessous.`;
  const one = (f: Field): string | undefined => {
    const v = query[f];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      state.errors[f] = 'Une seule valeur est attendue.';
      return undefined;
    }
    state.values[f] = shown(v);
    return v;
  };
  const from = one('from');
  const to = one('to');
  const est = one('establishment');
  const day = (f: 'from' | 'to', v: string | undefined): string | undefined => {
    if (state.errors[f]) return undefined;
    if (v === undefined || v === '') state.errors[f] = f === 'from' ? 'Indiquez la date de début (AAAA-MM-JJ).' : 'Indiquez la date de fin (AAAA-MM-JJ).';
    else if (!isDay(v)) state.errors[f] = 'Date invalide : écrivez-la AAAA-MM-JJ, par exemple 2025-01-31.';
    else return v;
    return undefined;
  };
  const f = day('from', from);
  const t = day('to', to);
  if (f && t) {
    if (f > t) state.errors.from = 'La date de début est postérieure à la date de fin.';
    else if ('problems' in parsePeriod(f, t)) state.errors.to = 'La période ne peut pas dépasser cinq ans.';
  }
  let finess: string | undefined;
  if (est !== undefined && est !== '' && !state.errors.establishment) {
    if (!FINESS.test(est)) state.errors.establishment = 'Numéro FINESS invalide : 9 caractères, par exemple 760000018.';
    else if (!(await store.reports.establishmentKnown(est))) state.errors.establishment = 'Aucun PPP n’a jamais été enregistré pour cet établissement.';
    else finess = est;
  }
  const ok = Object.keys(state.errors).length === 0 && f !== undefined && t !== undefined;
  const rest = Object.fromEntries(extra.map((k) => [k, query[k]]));
  return { ...(ok ? { period: { from: f, to: t, ...(finess ? { finess } : {}) } } : {}), state, extra: rest };
}

// ---- the page -------------------------------------------------------------------------------------------------

function field(id: Field, label: string, hint: string, state: FormState, type: 'date' | 'text'): SafeHtml {
  const error = state.errors[id];
  const described = [`${id}-aide`, ...(error ? [`${id}-erreur`] : [])].join(' ');
  return html`<div class="champ${error ? ' en-erreur' : ''}"><label for="${id}">${label}</label>
<span class="aide" id="${id}-aide">${hint}</span>
${error ? html`<span class="erreur-champ" id="${id}-erreur">${error}</span>` : ''}
<input id="${id}" name="${id}" type="${type}"${type === 'text' ? html` inputmode="numeric" maxlength="9" autocomplete="off"` : ''} value="${state.values[id] ?? ''}" aria-describedby="${described}"${error ? html` aria-invalid="true"` : ''}></div>`;
}

function periodForm(state: FormState, reach: Reach): SafeHtml {
  return html`<form method="get" action="${DASHBOARD_PAGE}" class="filtres tableau-de-bord-filtres">
${state.errors.form ? html`<p class="alerte" role="alert">${state.errors.form}</p>` : ''}
${Object.keys(state.errors).some((k) => k !== 'form') ? html`<p class="alerte" role="alert">Le formulaire contient des erreurs : corrigez les champs signalés.</p>` : ''}
${field('from', 'Du', 'Premier jour inclus (AAAA-MM-JJ)', state, 'date')}
${field('to', 'Au', 'Dernier jour inclus (AAAA-MM-JJ)', state, 'date')}
${reach.all ? field('establishment', 'Établissement (FINESS)', 'Facultatif : tous les établissements si vide', state, 'text') : ''}
<div class="champ"><button type="submit">Afficher</button></div>
</form>`;
}

function csvHref(table: CsvTable, period: { from: string; to: string; finess?: string }): string {
  const q = new URLSearchParams({ table, from: period.from, to: period.to, ...(period.finess ? { establishment: period.finess } : {}) });
  return `${DASHBOARD_CSV}?${q.toString()}`;
}

interface TableData {
  caption: string;
  head: string[];
  /** The first cell of each row is its header (th scope=row). */
  rows: (string | number | SafeHtml)[][];
}

/** The dashboard's tables (and the CSV's rows, machine-readable: numbers with a point, shares as decimals). */
function tables(r: ActivityReport, forCsv: boolean): Record<CsvTable, TableData> {
  const share = (s: number): string | number => (forCsv ? s : pct(s));
  const n = (v: number): string | number => (forCsv ? v : num(v));
  return {
    establishments: {
      caption: 'PPP par établissement',
      // Soft hyphens: the long headers may break so the eleven columns fit the page.
      head: forCsv
        ? ['finess', 'etablissement', 'ppp', 'ppp_avec_rcp', 'part_rcp', 'rcp_synchrone', 'rcp_asynchrone', 'porte_hopital', 'porte_ville', 'recommandations', 'patients']
        : ['Établissement', 'PPP', 'Avec RCP', 'Part avec RCP', 'RCP syn\u00adchrone', 'RCP asyn\u00adchrone', 'Porte hôpital', 'Porte ville', 'Recom\u00adman\u00addations', 'Patients'],
      rows: r.establishments.map((e) =>
        forCsv
          ? [e.finess, e.name, e.ppp, e.pppWithRcp, e.rcpShare, e.rcpSync, e.rcpAsync, e.byEntryDoor.hopital, e.byEntryDoor.ville, e.recommendations, e.patients]
          : [html`${e.name}<br><span class="aide">FINESS ${e.finess}</span>`, n(e.ppp), n(e.pppWithRcp), share(e.rcpShare), n(e.rcpSync), n(e.rcpAsync), n(e.byEntryDoor.hopital), n(e.byEntryDoor.ville), n(e.recommendations), n(e.patients)],
      ),
    },
    'entry-doors': {
      caption: 'PPP par porte d’entrée',
      head: forCsv ? ['porte', 'ppp'] : ['Porte d’entrée', 'PPP'],
      rows: [
        [forCsv ? 'hopital' : 'Hôpital', n(r.total.byEntryDoor.hopital)],
        [forCsv ? 'ville' : 'Ville', n(r.total.byEntryDoor.ville)],
      ],
    },
    decisions: {
      caption: 'Décisions sur les recommandations',
      head: forCsv ? ['decision', 'mt', 'pho'] : ['Décision', ACTOR_LABELS.mt, ACTOR_LABELS.pho],
      rows: (Object.keys(DECISION_LABELS) as (keyof typeof DECISION_LABELS)[]).map((k) => [forCsv ? k : DECISION_LABELS[k], n(r.decisions.mt[k]), n(r.decisions.pho[k])]),
    },
    'follow-up': {
      caption: 'Suivis J45 et J90',
      head: forCsv ? ['suivi', 'echus', 'saisis', 'part_saisis'] : ['Suivi', 'Échus', 'Résultats saisis', 'Part saisie'],
      rows: (['d45', 'd90'] as const).map((w) => [forCsv ? w : w === 'd45' ? 'J45' : 'J90', n(r.followUp[w].due), n(r.followUp[w].done), share(r.followUp[w].due === 0 ? 0 : Math.round((r.followUp[w].done / r.followUp[w].due) * 1000) / 1000)]),
    },
    months: {
      caption: 'PPP créés par mois',
      head: forCsv ? ['mois', 'ppp'] : ['Mois', 'PPP'],
      rows: r.months.map((m) => [forCsv ? m.month : monthLabel(m.month), n(m.ppp)]),
    },
  };
}

function tableView(id: CsvTable, t: TableData, period: { from: string; to: string; finess?: string }): SafeHtml {
  return html`<div class="tableau"><table class="chiffres" id="tableau-${id}">
<caption>${t.caption}</caption>
<thead><tr>${t.head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${t.rows.length === 0 ? html`<tr><td colspan="${t.head.length}">Aucune donnée sur la période.</td></tr>` : t.rows.map((row) => html`<tr>${row.map((c, i) => (i === 0 ? html`<th scope="row">${c}</th>` : html`<td>${c}</td>`))}</tr>`)}</tbody>
</table></div>
<p class="telechargement"><a href="${csvHref(id, period)}" download>Télécharger le tableau « ${t.caption} » (CSV)</a></p>`;
}

const SECTION_TITLES: Record<CsvTable, string> = {
  establishments: 'PPP et RCP par établissement',
  'entry-doors': 'Portes d’entrée',
  decisions: 'Décisions du médecin traitant et du pharmacien',
  'follow-up': 'Suivis J45 et J90',
  months: 'PPP par mois',
};

function figuresView(r: ActivityReport, charts: readonly Chart[], period: { from: string; to: string; finess?: string }): SafeHtml {
  const t = tables(r, false);
  const chartOf = new Map(charts.map((c) => [c.id, c]));
  return html`<section aria-labelledby="synthese"><h2 id="synthese">Synthèse du ${frenchDate(r.period.from)} au ${frenchDate(r.period.to)}${r.establishment ? ` — établissement ${r.establishment}` : ''}</h2>
<dl class="synthese">
<div><dt>PPP créés</dt><dd>${num(r.total.ppp)}</dd></div>
<div><dt>PPP avec RCP</dt><dd>${num(r.total.pppWithRcp)} (${pct(r.total.rcpShare)})</dd></div>
<div><dt>RCP synchrones / asynchrones</dt><dd>${num(r.total.rcpSync)} / ${num(r.total.rcpAsync)}</dd></div>
<div><dt>Patients</dt><dd>${num(r.total.patients)}</dd></div>
<div><dt>Recommandations par patient</dt><dd>${r.total.recommendationsPerPatient.toLocaleString('fr-FR')}</dd></div>
<div><dt>Médecins traitants actifs</dt><dd>${num(r.activeProfessionals.mt)}</dd></div>
<div><dt>Pharmaciens d’officine actifs</dt><dd>${num(r.activeProfessionals.pho)}</dd></div>
</dl></section>
${r.total.ppp === 0 ? html`<p>Aucun PPP n’a été créé sur cette période.</p>` : ''}
${CSV_TABLES.map((id) => {
  const chart = chartOf.get(id);
  return html`<section class="indicateur" aria-labelledby="titre-${id}"><h2 id="titre-${id}">${SECTION_TITLES[id]}</h2>
${/* The chart's SVG comes from our renderer (vega escapes its text): inserted as it is. */ ''}
${chart ? html`<figure class="graphique">${new SafeHtml(chart.svg)}</figure>` : ''}
${tableView(id, t[id], period)}</section>`;
})}`;
}

async function audit(store: ResourceStore, req: Request, viewer: Viewer, action: string, outcome: 'success' | 'failure', detail: string): Promise<void> {
  await accessAuditor(store).record({ ...whoOf(viewer.principal, req.socket.remoteAddress), ...(req.requestId ? { requestId: req.requestId } : {}), action, entities: [], outcome, detail });
}

function page(res: Response, status: number, viewer: Viewer, state: FormState, reach: Reach, body?: SafeHtml): void {
  sendPage(
    res,
    status,
    'Tableau de bord de l’activité',
    html`<h1>Tableau de bord de l’activité</h1>
<p class="aide">PPP comptés à leur date de création, clos ou en cours.${!reach.all && reach.finess ? ` Établissement ${reach.finess}.` : ''}</p>
${periodForm(state, reach)}
${body ?? ''}`,
    viewer,
  );
}

export function mountDashboardPage(app: IRouter, deps: { store: ResourceStore; config: Config }, sessions: PeopleSessions, pageHeaders: RequestHandler): void {
  const { store } = deps;

  /** The establishment the person's view is limited to, or a 403 page (another's, or a pharmacy). */
  const restrict = async (req: Request, res: Response, viewer: Viewer, reach: Reach, asked: string | undefined, action: string): Promise<{ finess?: string } | undefined> => {
    if (reach.all) return asked ? { finess: asked } : {};
    if (!reach.finess || (asked !== undefined && asked !== reach.finess)) {
      await audit(store, req, viewer, action, 'failure', reach.finess ? `other establishment ${asked}` : 'pharmacy');
      sendProblem(res, 403, 'Accès refusé', reach.finess ? `Vous ne voyez que l’activité de l’établissement ${reach.finess}.` : 'Les tableaux de bord sont ceux des établissements et de la région.', viewer);
      return undefined;
    }
    return { finess: reach.finess };
  };

  app.get(
    DASHBOARD_PAGE,
    pageHeaders,
    personPage(sessions, { scope: DASHBOARD_SCOPE, route: `GET ${DASHBOARD_PAGE}` }, async (req, res, { viewer }) => {
      const reach = reachOf(viewer.principal);
      const now = new Date();
      if (Object.keys(req.query).length === 0) {
        if (!(await restrict(req, res, viewer, reach, undefined, 'reports.dashboard'))) return;
        await audit(store, req, viewer, 'reports.dashboard', 'success', 'form');
        page(res, 200, viewer, { values: defaults(now), errors: {} }, reach, html`<p>Choisissez une période puis « Afficher ».</p>`);
        return;
      }
      const { period, state } = await readQuery(store, req.query);
      const asked = typeof req.query.establishment === 'string' && req.query.establishment !== '' ? req.query.establishment : undefined;
      const scope = await restrict(req, res, viewer, reach, asked && FINESS.test(asked) ? asked : undefined, 'reports.dashboard');
      if (!scope) return;
      if (!period) {
        await audit(store, req, viewer, 'reports.dashboard', 'failure', `invalid ${Object.keys(state.errors).join(',')}`);
        page(res, 400, viewer, state, reach);
        return;
      }
      const scoped = { from: period.from, to: period.to, ...(scope.finess ? { finess: scope.finess } : {}) };
      const report = await activityReport(store, scoped, { now });
      const charts = await activityCharts(report);
      await audit(store, req, viewer, 'reports.dashboard', 'success', `from=${scoped.from} to=${scoped.to} establishment=${scoped.finess ?? 'all'}`);
      page(res, 200, viewer, state, reach, figuresView(report, charts, scoped));
    }),
  );

  app.get(
    DASHBOARD_CSV,
    pageHeaders,
    personPage(sessions, { scope: DASHBOARD_SCOPE, route: `GET ${DASHBOARD_CSV}` }, async (req, res, { viewer }) => {
      const reach = reachOf(viewer.principal);
      const { period, state, extra } = await readQuery(store, req.query, ['table']);
      const table = extra.table;
      const asked = typeof req.query.establishment === 'string' && req.query.establishment !== '' ? req.query.establishment : undefined;
      const scope = await restrict(req, res, viewer, reach, asked && FINESS.test(asked) ? asked : undefined, 'reports.dashboard-csv');
      if (!scope) return;
      if (typeof table !== 'string' || !(CSV_TABLES as readonly string[]).includes(table) || !period) {
        const problems = [
          ...(typeof table !== 'string' || !(CSV_TABLES as readonly string[]).includes(table) ? [`table : choisissez ${CSV_TABLES.join(', ')}`] : []),
          ...Object.entries(state.errors).map(([k, v]) => `${k === 'form' ? '' : `${k} : `}${v}`),
        ];
        await audit(store, req, viewer, 'reports.dashboard-csv', 'failure', 'invalid query');
        sendProblem(res, 400, 'Téléchargement impossible', `La demande de tableau n’est pas valide. ${problems.join(' ')}`, viewer, html`<p><a href="${DASHBOARD_PAGE}">Retour au tableau de bord</a></p>`);
        return;
      }
      const scoped = { from: period.from, to: period.to, ...(scope.finess ? { finess: scope.finess } : {}) };
      const report = await activityReport(store, scoped, { now: new Date() });
      const t = tables(report, true)[table as CsvTable];
      const csv = stringify(t.rows, { header: true, columns: t.head, record_delimiter: 'windows' });
      await audit(store, req, viewer, 'reports.dashboard-csv', 'success', `table=${table} from=${scoped.from} to=${scoped.to} establishment=${scoped.finess ?? 'all'}`);
      res
        .status(200)
        .type('text/csv; charset=utf-8')
        .set('Content-Disposition', `attachment; filename="activite-${table}-${scoped.from}-${scoped.to}${scoped.finess ? `-${scoped.finess}` : ''}.csv"`)
        .send(csv);
    }),
  );
}
