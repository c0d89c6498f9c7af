// The dashboard's charts (issue 20 point 3, docs/reports.md "The dashboard"): Vega-Lite specifications of the activity
// figures, compiled and rendered to SVG on the server by `vega` (renderer `none`: no canvas, no browser, no script in
// the page). Labels in French; each SVG carries role="img", an aria-label and a <title> (the figures themselves are
// also given as tables for screen readers); vega's own English ARIA annotations are turned off.
import type { TopLevelSpec } from 'vega-lite';
import type { ActivityReport } from '../../domain/reports/activity.js';

export interface Chart {
  /** Id of the chart (and of its table): establishments, entry-doors, decisions, follow-up, months. */
  id: string;
  title: string;
  /** The rendered SVG markup, accessible name included. */
  svg: string;
}

/**
 * vega and vega-lite, loaded at the first chart (~0.2 s): every `passerelle` command loads the pages through `serve`,
 * and only the dashboard needs them. French number formats (decimal comma, narrow no-break space between thousands)
 * are set once, for every chart.
 */
let engine: Promise<{ vega: typeof import('vega'); compile: (typeof import('vega-lite'))['compile'] }> | undefined;
function chartEngine(): NonNullable<typeof engine> {
  engine ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => {
    vega.formatLocale({ decimal: ',', thousands: '\u202f', grouping: [3], currency: ['', '\u00a0€'] });
    return { vega, compile: vl.compile };
  });
  return engine;
}

const BLEU = '#000091';
const PALETTE = ['#000091', '#6a6af4', '#18753c', '#b34000', '#666666'];
const CONFIG = {
  aria: false,
  font: 'system-ui, sans-serif',
  background: 'white',
  axis: { labelFontSize: 12, titleFontSize: 12, labelLimit: 260 },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom', labelLimit: 240, columns: 3 },
  title: { fontSize: 15, anchor: 'start' },
  view: { stroke: null },
} as const;

const MONTHS = ['janv.', 'févr.', 'mars', 'avr.', 'mai', 'juin', 'juil.', 'août', 'sept.', 'oct.', 'nov.', 'déc.'];
/** `2025-03` → `mars 2025`. */
export function monthLabel(month: string): string {
  const [y, m] = month.split('-');
  return `${MONTHS[Number(m) - 1] ?? m} ${y}`;
}

export const DECISION_LABELS = { retenu: 'Retenue', retenuModifie: 'Retenue modifiée', nonRetenu: 'Non retenue', pending: 'En attente', declined: 'Refus de se prononcer' } as const;
export const ACTOR_LABELS = { mt: 'Médecin traitant', pho: 'Pharmacien d’officine' } as const;

const xmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Renders a Vega-Lite specification to SVG, with role="img", aria-label and a <title> naming it. */
export async function renderSvg(spec: TopLevelSpec, label: string): Promise<string> {
  const { vega, compile } = await chartEngine();
  const view = new vega.View(vega.parse(compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec), { renderer: 'none' });
  try {
    // Vega's own annotations (English) go: the SVG is one image, named by `label`.
    const svg = (await view.toSVG()).replace(/ (aria-label|aria-roledescription)="[^"]*"| role="graphics-[^"]*"/g, '');
    const name = xmlEscape(label);
    return svg.replace(/^<svg /, `<svg role="img" aria-label="${name}" focusable="false" `).replace(/^(<svg[^>]*>)/, `$1<title>${name}</title>`);
  } finally {
    view.finalize();
  }
}

const count = { type: 'quantitative', axis: { format: 'd', tickMinStep: 1 } } as const;

/** The charts of a report with at least one PPP (none otherwise). */
export async function activityCharts(r: ActivityReport): Promise<Chart[]> {
  if (r.total.ppp === 0) return [];
  const charts: Chart[] = [];
  const add = async (id: string, title: string, spec: TopLevelSpec, label: string): Promise<void> => {
    charts.push({ id, title, svg: await renderSvg({ ...spec, title: { text: title, aria: false } } as TopLevelSpec, `${title}. ${label}`) });
  };

  const estRows = r.establishments.map((e) => ({ etablissement: `${e.finess} · ${e.name}`, 'Avec RCP': e.pppWithRcp, 'Sans RCP': e.ppp - e.pppWithRcp, ppp: e.ppp, part: e.rcpShare }));
  await add(
    'establishments',
    'PPP par établissement et part avec RCP',
    {
      width: 520,
      height: { step: 30 },
      data: { values: estRows },
      layer: [
        {
          transform: [{ fold: ['Avec RCP', 'Sans RCP'], as: ['rcp', 'n'] }],
          mark: 'bar',
          encoding: {
            y: { field: 'etablissement', type: 'nominal', title: null, sort: null, axis: { labelLimit: 360 } },
            x: { field: 'n', ...count, title: 'Nombre de PPP', stack: 'zero' },
            color: { field: 'rcp', type: 'nominal', title: 'RCP', scale: { domain: ['Avec RCP', 'Sans RCP'], range: [BLEU, '#b8b8e6'] } },
            order: { field: 'rcp', sort: 'ascending' },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, color: '#1b1b1b' },
          encoding: { y: { field: 'etablissement', type: 'nominal', sort: null }, x: { field: 'ppp', type: 'quantitative' }, text: { field: 'part', type: 'quantitative', format: '.0%' } },
        },
      ],
    } as TopLevelSpec,
    r.establishments.map((e) => `${e.name} (${e.finess}) : ${e.ppp} PPP dont ${e.pppWithRcp} avec RCP (${Math.round(e.rcpShare * 100)} %)`).join(' ; '),
  );

  const doors = [
    { porte: 'Hôpital', n: r.total.byEntryDoor.hopital },
    { porte: 'Ville', n: r.total.byEntryDoor.ville },
  ];
  await add(
    'entry-doors',
    'PPP par porte d’entrée',
    {
      width: 520,
      height: { step: 34 },
      data: { values: doors },
      layer: [
        { mark: { type: 'bar', color: BLEU }, encoding: { y: { field: 'porte', type: 'nominal', title: null, sort: null }, x: { field: 'n', ...count, title: 'Nombre de PPP' } } },
        { mark: { type: 'text', align: 'left', dx: 4, color: '#1b1b1b' }, encoding: { y: { field: 'porte', type: 'nominal', sort: null }, x: { field: 'n', type: 'quantitative' }, text: { field: 'n', type: 'quantitative' } } },
      ],
    } as TopLevelSpec,
    doors.map((d) => `${d.porte} : ${d.n}`).join(' ; '),
  );

  const decisionRows = (['mt', 'pho'] as const).flatMap((actor) =>
    (Object.keys(DECISION_LABELS) as (keyof typeof DECISION_LABELS)[]).map((k, i) => ({ acteur: ACTOR_LABELS[actor], decision: DECISION_LABELS[k], ordre: i, n: r.decisions[actor][k] })),
  );
  await add(
    'decisions',
    'Décisions du médecin traitant et du pharmacien d’officine',
    {
      width: 520,
      height: { step: 40 },
      data: { values: decisionRows },
      mark: 'bar',
      encoding: {
        y: { field: 'acteur', type: 'nominal', title: null, sort: null },
        x: { field: 'n', ...count, title: 'Nombre de recommandations', stack: 'zero' },
        color: { field: 'decision', type: 'nominal', title: 'Décision', scale: { domain: Object.values(DECISION_LABELS), range: PALETTE } },
        order: { field: 'ordre', type: 'quantitative' },
      },
    } as TopLevelSpec,
    decisionRows.filter((d) => d.n > 0).map((d) => `${d.acteur}, ${d.decision.toLowerCase()} : ${d.n}`).join(' ; ') || 'aucune décision demandée',
  );

  const follow = (['d45', 'd90'] as const).flatMap((w) => [
    { suivi: w === 'd45' ? 'Suivi J45' : 'Suivi J90', etat: 'Échus', n: r.followUp[w].due },
    { suivi: w === 'd45' ? 'Suivi J45' : 'Suivi J90', etat: 'Résultats saisis', n: r.followUp[w].done },
  ]);
  await add(
    'follow-up',
    'Suivis échus et résultats saisis',
    {
      width: 520,
      height: { step: 26 },
      data: { values: follow },
      mark: 'bar',
      encoding: {
        y: { field: 'suivi', type: 'nominal', title: null, sort: null },
        yOffset: { field: 'etat', type: 'nominal', sort: null },
        x: { field: 'n', ...count, title: 'Nombre de PPP' },
        color: { field: 'etat', type: 'nominal', title: 'Suivi', sort: null, scale: { domain: ['Échus', 'Résultats saisis'], range: ['#b8b8e6', BLEU] } },
      },
    } as TopLevelSpec,
    (['d45', 'd90'] as const).map((w) => `${w === 'd45' ? 'J45' : 'J90'} : ${r.followUp[w].done} saisis sur ${r.followUp[w].due} échus`).join(' ; '),
  );

  const months = r.months.map((m) => ({ mois: monthLabel(m.month), ppp: m.ppp }));
  await add(
    'months',
    'PPP créés par mois',
    {
      width: { step: 44 },
      height: 220,
      data: { values: months },
      layer: [
        { mark: { type: 'bar', color: BLEU }, encoding: { x: { field: 'mois', type: 'nominal', title: null, sort: null, axis: { labelAngle: -40 } }, y: { field: 'ppp', ...count, title: 'Nombre de PPP' } } },
        { mark: { type: 'text', dy: -6, color: '#1b1b1b' }, encoding: { x: { field: 'mois', type: 'nominal', sort: null }, y: { field: 'ppp', type: 'quantitative' }, text: { field: 'ppp', type: 'quantitative' } } },
      ],
    } as TopLevelSpec,
    months.map((m) => `${m.mois} : ${m.ppp}`).join(' ; '),
  );
  return charts;
}
