// A generated multi-establishment population of PPPs for the reports of issue 20 (docs/reports.md), shared by the
// data-set test (test/e2e/reports-dataset.test.ts) and the benchmark (bench/reports.bench.ts): seeded canonical PPP
// documents (14 establishments by default, RCP sync / async / none, hospital and town entries, PHO with or without
// their pharmacy's FINESS, decisions in the document), the pathway events of a subset (send, link uses, decisions
// recorded on the validation Tasks, D45/D90 outcomes) with their clock readings, and — INDEPENDENTLY of the gateway's
// code (src/domain/reports/facts.ts, src/store/report-repository.ts are not used here) — the figures the reports must
// give: each PPP's ground truth is the generator's own choices, and the expected activity, billing and professionals
// are plain aggregations over it, written from the counting rules of the issue.
import { generateIdentities } from './identity-generator.js';
import { seededRandom } from './random.js';

// ---- vocabulary --------------------------------------------------------------------------------------------------

export type Role = 'DAH' | 'MT' | 'PHO';
export type DecisionCode = 'retenu' | 'non-retenu' | 'retenu-modifie';
export type DecisionState = DecisionCode | 'pending' | 'declined';

export interface Establishment {
  finess: string;
  name: string;
  pathway: 'OPTIMEDOC' | 'IATROPREV';
}

interface Person {
  rpps: string;
  family: string;
  given: string;
}

/** The ground truth of one PPP: what the generator chose, in the report's own terms. */
export interface PppTruth {
  pppId: string;
  pathway: string;
  finess: string;
  establishmentName: string;
  /** The same key for the same patient (a second PPP of a patient reuses their identity verbatim). */
  patientKey: string;
  /** YYYY-MM-DD as written in `created` (its own offset). */
  createdDay: string;
  entryDoor: 'hopital' | 'ville';
  rcp?: { mode: 'sync' | 'async'; day: string };
  recommendations: number;
  /** Who is paid (took part in the RCP), DAH first, then MT, then PHO; empty without an RCP. */
  billable: { role: Role; rpps: string; name: string; pharmacyFiness?: string }[];
  /** The members of the PPP, by role (names as "Given FAMILY"). */
  mt: Person;
  pho?: Person & { pharmacyFiness?: string };
  /** Final expected decision of each (recommendation, actor) the PPP expects, with its day (as the store keeps it). */
  decisions: { recommendation: string; actor: 'MT' | 'PHO'; state: DecisionState; day?: string }[];
}

/** The pathway events of a PPP in the subset, with their clock readings (ISO instants, UTC). */
export interface PlannedEvents {
  sendAt: string;
  /** Link opens (resolveLink), each recorded as a use on its UTC day. */
  uses: { role: 'MT' | 'PHO'; at: string }[];
  /** Decision forms confirmed through the link (recordDecisions), at the time of the role's first use. */
  decide: { role: 'MT' | 'PHO'; at: string; choices: { recommendation: string; decision: DecisionCode; comment?: string }[] }[];
  /** Outcomes recorded for every recommendation of the window (recordOutcomes), after the window opened. */
  outcomes: { window: 'd45' | 'd90'; at: string }[];
}

export interface PlannedPpp {
  /** The canonical PPP (JSON), as POST /ppp takes it. */
  document: Record<string, unknown>;
  truth: PppTruth;
  events?: PlannedEvents;
}

export interface PopulationOptions {
  seed: number;
  count: number;
  /** Number of establishments (≤ 20; default 14). */
  establishments?: number;
  /** First and last creation day (default 2024-01-01 … 2025-12-20). */
  from?: string;
  to?: string;
  /** Share of the PPPs that go through the pathway (send, links, decisions, outcomes); default 0.2. */
  pathwayShare?: number;
  /** Share of PPPs that are a second PPP of an earlier patient of the same establishment (default 0.05). */
  repeatShare?: number;
  /**
   * Patients: `generated` (distinct synthetic French identities with INS, test/support/identity-generator.ts: what
   * POST /ppp resolves) or `simple` (cheap placeholders for the bench, which writes the cases straight into the store).
   */
  identities?: 'generated' | 'simple';
  /** Write some authors' RPPS as an IDNPS (8 + RPPS, 12 digits), which the canonical parse reduces (default false). */
  idnpsAuthors?: boolean;
}

export const DAY_MS = 86_400_000;
export const FOLLOW_UP = { d45Days: 45, d90Days: 90 };

/** The tariffs of the issue, written again here: ≤ 2024 DAH 220 €, MT/PHO 50 €; 2025–2027 DAH 125 €, MT/PHO 30 €. */
export function tariffOf(year: number, role: Role): number | null {
  if (year <= 2024) return role === 'DAH' ? 220 : 50;
  if (year <= 2027) return role === 'DAH' ? 125 : 30;
  return null;
}

const ESTABLISHMENT_NAMES: readonly [string, string, 'OPTIMEDOC' | 'IATROPREV'][] = [
  ['760000018', 'CHU de Rouen (démo)', 'OPTIMEDOC'],
  ['800000317', 'CHU Picardie (démo), site Sud', 'IATROPREV'],
  ['140000100', 'CHU de Caen (démo)', 'OPTIMEDOC'],
  ['590780193', 'CHU de Lille (démo)', 'IATROPREV'],
  ['2A0000012', 'CH d’Ajaccio (démo, partenaire)', 'IATROPREV'],
  ['270000029', 'CH d’Évreux (démo)', 'OPTIMEDOC'],
  ['500000013', 'CH Mémorial Saint-Lô (démo)', 'OPTIMEDOC'],
  ['600100721', 'GHPSO Creil (démo)', 'IATROPREV'],
  ['610780082', 'CH d’Alençon (démo)', 'OPTIMEDOC'],
  ['620100057', 'CH d’Arras (démo)', 'IATROPREV'],
  ['020000063', 'CH de Saint-Quentin (démo)', 'IATROPREV'],
  ['760780239', 'GH du Havre (démo)', 'OPTIMEDOC'],
  ['590000188', 'CH de Roubaix (démo)', 'IATROPREV'],
  ['140000555', 'Clinique du Parc, Caen (démo)', 'OPTIMEDOC'],
  ['800000044', 'CH d’Abbeville (démo)', 'IATROPREV'],
  ['500000112', 'CH d’Avranches-Granville (démo)', 'OPTIMEDOC'],
  ['620103432', 'CH de Lens (démo)', 'IATROPREV'],
  ['270000052', 'CH de Vernon (démo)', 'OPTIMEDOC'],
  ['590000600', 'CH de Valenciennes (démo)', 'IATROPREV'],
  ['610000044', 'CH de Flers (démo)', 'OPTIMEDOC'],
];

const FAMILIES = ['LARIVIÈRE', 'BENASSIS', 'FORESTIER', 'CANIVET', 'MEAULNES', 'DESROCHES', 'LEBLANC-D’ARGENT', 'N’DIAYE', 'ÉTIENNE', 'DU PONT', 'MARTIN', 'OZANAM', 'VAILLANT', 'ROUAULT', 'GRANDET', 'THIBAULT', 'HÉBERT', 'QUÉMÉNEUR', 'ABADIE', 'FOURNIER'];
const GIVENS = ['Henri', 'Pierre', 'Madeleine', 'Sophie', 'Yvonne', 'Anne-Laure', 'Joël', 'Aïcha', 'Éloïse', 'Marc', 'Claire', 'Théo', 'Inès', 'Hugo', 'Lucie', 'Noël'];

const nameOf = (p: Person): string => `${p.given} ${p.family}`;
const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** An 11-digit RPPS from a running number, distinct per (kind, number). */
const rppsOf = (kind: number, n: number): string => `10${kind}${pad(n, 8)}`;

// ---- the generator -----------------------------------------------------------------------------------------------

/** The population: PPPs in generation order (ids unique), each with its truth and, for the subset, its events. */
export function generatePopulation(options: PopulationOptions): { establishments: Establishment[]; ppps: PlannedPpp[] } {
  const rnd = seededRandom(options.seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)] as T;
  const chance = (p: number): boolean => rnd() < p;
  const nEst = Math.min(options.establishments ?? 14, ESTABLISHMENT_NAMES.length);
  const establishments: Establishment[] = ESTABLISHMENT_NAMES.slice(0, nEst).map(([finess, name, pathway]) => ({ finess, name, pathway }));
  const fromMs = Date.parse(`${options.from ?? '2024-01-01'}T00:00:00Z`);
  const toMs = Date.parse(`${options.to ?? '2025-12-20'}T00:00:00Z`);
  const days = Math.round((toMs - fromMs) / DAY_MS) + 1;
  const pathwayShare = options.pathwayShare ?? 0.2;
  const repeatShare = options.repeatShare ?? 0.05;

  const person = (kind: number, n: number): Person => ({ rpps: rppsOf(kind, n), family: FAMILIES[(n * 7 + kind) % FAMILIES.length] as string, given: GIVENS[(n * 5 + kind * 3) % GIVENS.length] as string });
  // Professionals: per establishment, its DAH authors; MTs and PHOs in town, a few of them working with two
  // establishments (shared pools between neighbours), so distinct counts differ from sums.
  const dahs = establishments.map((_, e) => [0, 1, 2].map((k) => person(1, e * 10 + k)));
  const mts = Array.from({ length: nEst * 8 }, (_, k) => person(2, k));
  const phos = Array.from({ length: nEst * 5 }, (_, k) => ({ ...person(3, k), ...(k % 6 === 5 ? {} : { pharmacyFiness: `76${pad(k, 7)}` }) }));
  const mtOf = (e: number): Person => (chance(0.1) ? (mts[((e + 1) % nEst) * 8 + int(8)] as Person) : (mts[e * 8 + int(8)] as Person));
  const phoOf = (e: number): Person & { pharmacyFiness?: string } => (chance(0.1) ? phos[((e + 1) % nEst) * 5 + int(5)]! : phos[e * 5 + int(5)]!);
  const geriatre = (e: number): Person => person(4, e);

  const identities =
    options.identities === 'simple'
      ? undefined
      : generateIdentities({ seed: options.seed, persons: options.count, duplicateRate: 0, twinsRate: 0, homonymsRate: 0, corruptionRate: 0, statusMix: { QUAL: 1 } }).identities;
  const patientBlock = (i: number, finess: string): Record<string, unknown> => {
    if (identities) return { ...(identities[i]!.identity as unknown as Record<string, unknown>) };
    return {
      sourceId: { system: `urn:oid:1.2.250.1.999.1.${finess}.1`, value: `P${pad(i, 8)}` },
      status: 'PROV',
      birthName: FAMILIES[i % FAMILIES.length],
      firstBirthGivenName: GIVENS[(i >> 3) % GIVENS.length],
      birthDate: `19${30 + (i % 30)}-0${1 + (i % 9)}-1${i % 10}`,
      sex: i % 2 === 0 ? 'F' : 'M',
    };
  };

  /** An instant written with the offset France used that month (approximately: +02:00 April–October). */
  const local = (ms: number): string => {
    const month = new Date(ms).getUTCMonth() + 1;
    const off = month >= 4 && month <= 10 ? 2 : 1;
    const shifted = new Date(ms + off * 3600_000).toISOString().slice(0, 19);
    return `${shifted}+0${off}:00`;
  };
  const dayOf = (written: string): string => written.slice(0, 10);

  const ppps: PlannedPpp[] = [];
  const patientsOf = new Map<string, { key: string; block: Record<string, unknown> }[]>();
  const seqOf = new Map<string, number>();
  let fresh = 0;
  for (let i = 0; i < options.count; i++) {
    const e = int(nEst);
    const est = establishments[e]!;
    const seq = (seqOf.get(est.finess) ?? 0) + 1;
    seqOf.set(est.finess, seq);
    const pppId = `RPT-${est.finess}-${pad(seq, 6)}`;
    // Creation: a day of the range; some at night, just after midnight local (the UTC day is the day before).
    // (22:10–22:50 UTC: 00:10–00:50 the next day at +02:00, 23:10–23:50 the same day at +01:00.)
    const night = chance(0.1);
    let createdMs = fromMs + int(days) * DAY_MS + (night ? (22 * 60 + 10 + int(40)) * 60_000 - DAY_MS : (7 + int(10)) * 3600_000 + int(60) * 60_000);
    // The second PPP: its RCP on the night of New Year's Eve, written 2025-01-01T00:20+01:00 (2025 tariff) while its
    // UTC day is 2024-12-31.
    const newYear = i === 1 && fromMs <= Date.parse('2024-12-30T00:00:00Z') && toMs >= Date.parse('2024-12-30T00:00:00Z');
    if (newYear) createdMs = Date.parse('2024-12-29T10:00:00Z');
    const created = local(createdMs);

    const earlier = patientsOf.get(est.finess) ?? [];
    let patient: { key: string; block: Record<string, unknown> };
    if (earlier.length > 0 && chance(repeatShare)) patient = pick(earlier);
    else {
      const n = fresh++;
      patient = { key: `patient-${n}`, block: patientBlock(n, est.finess) };
      earlier.push(patient);
      patientsOf.set(est.finess, earlier);
    }

    const entryDoor = chance(0.7) ? 'hopital' : 'ville';
    const author = pick(dahs[e]!);
    const mt = mtOf(e);
    const pho = chance(0.85) ? phoOf(e) : undefined;
    const ger = geriatre(e);
    const team: Record<string, unknown>[] = [
      { role: 'geriatre', practitioner: { rpps: ger.rpps, family: ger.family, given: ger.given } },
      { role: 'pharmacien-clinicien', practitioner: { rpps: author.rpps, family: author.family, given: author.given, profession: 'pharmacien' } },
      { role: 'medecin-traitant', practitioner: { rpps: mt.rpps, family: mt.family, given: mt.given } },
    ];
    if (pho) {
      team.push({
        role: 'pharmacien-officine',
        practitioner: { rpps: pho.rpps, family: pho.family, given: pho.given, profession: 'pharmacien', ...(pho.pharmacyFiness ? { organizationFiness: pho.pharmacyFiness } : {}) },
      });
    }

    // RCP: 45 % sync, 35 % async, 20 % none (with its reason).
    const r = rnd();
    const mode: 'sync' | 'async' | undefined = newYear ? 'sync' : r < 0.45 ? 'sync' : r < 0.8 ? 'async' : undefined;
    let rcp: Record<string, unknown> | undefined;
    let rcpWritten: string | undefined;
    const billable: PppTruth['billable'] = [];
    if (mode) {
      // 1 to 12 days after the creation; 15 % at 23:20 UTC, just after midnight local: the written day (which the
      // period and the tariff year follow) is the UTC day's next.
      const rcpDay = Math.floor(createdMs / DAY_MS) * DAY_MS + (1 + int(12)) * DAY_MS;
      const rcpMs = newYear ? Date.parse('2024-12-31T23:20:00Z') : chance(0.15) ? rcpDay + (23 * 60 + 20) * 60_000 : rcpDay + (8 + int(9)) * 3600_000;
      rcpWritten = local(rcpMs);
      const messages: Record<string, unknown>[] = [{ id: 'M1', fromRpps: ger.rpps, toRpps: [mt.rpps], date: rcpWritten, text: 'Présentation du PPP.' }];
      let mtWrote = mode === 'sync';
      let phoWrote = mode === 'sync' && !!pho;
      if (mode === 'async') {
        mtWrote = chance(0.7);
        phoWrote = !!pho && chance(0.6);
        if (mtWrote) messages.push({ id: 'M2', fromRpps: mt.rpps, date: local(rcpMs + 3600_000), text: 'Avis du médecin traitant.', inResponseTo: 'M1', category: 'avis-mt' });
        if (phoWrote) messages.push({ id: 'M3', fromRpps: pho!.rpps, date: local(rcpMs + 7200_000), text: 'Avis du pharmacien.', inResponseTo: 'M1', category: 'avis-pho' });
        // Someone addressed but silent does not take part: the MT (or PHO) only named in toRpps stays unpaid.
      }
      rcp = { mode, date: rcpWritten, messages };
      billable.push({ role: 'DAH', rpps: author.rpps, name: nameOf(author) });
      if (mtWrote) billable.push({ role: 'MT', rpps: mt.rpps, name: nameOf(mt) });
      if (phoWrote && pho) billable.push({ role: 'PHO', rpps: pho.rpps, name: nameOf(pho), ...(pho.pharmacyFiness ? { pharmacyFiness: pho.pharmacyFiness } : {}) });
    }

    const inPathway = chance(pathwayShare);
    // Recommendations: 1 to 6, 70 % drug changes (MT and PHO decide), the rest non-drug (MT only, unless the PHO
    // answered it anyway in the document).
    const nRec = 1 + int(6);
    const recommendations: Record<string, unknown>[] = [];
    const decisions: PppTruth['decisions'] = [];
    for (let k = 1; k <= nRec; k++) {
      const id = `R${k}`;
      const medication = chance(0.7);
      const docDecisions: Record<string, unknown>[] = [];
      if (!inPathway) {
        for (const actor of ['MT', 'PHO'] as const) {
          if (actor === 'PHO' && !pho) continue;
          const expected = actor === 'MT' || medication;
          const decided = expected ? chance(0.6) : chance(0.15); // a PHO answering a non-drug one makes it expected
          if (!decided) {
            if (expected) decisions.push({ recommendation: id, actor, state: 'pending' });
            continue;
          }
          const code = pick(['retenu', 'retenu', 'non-retenu', 'retenu-modifie'] as const);
          const date = local(createdMs + (3 + int(20)) * DAY_MS + int(12) * 3600_000);
          docDecisions.push({ actor, decision: code, date, ...(code !== 'retenu' ? { reason: 'Motif donné par le professionnel.' } : {}) });
          decisions.push({ recommendation: id, actor, state: code, day: dayOf(date) });
        }
      } else {
        decisions.push({ recommendation: id, actor: 'MT', state: 'pending' });
        if (pho && medication) decisions.push({ recommendation: id, actor: 'PHO', state: 'pending' });
      }
      recommendations.push(
        medication
          ? {
              kind: 'medication',
              id,
              problemId: 'PB3',
              text: `Ajouter du cholécalciférol (recommandation ${k}).`,
              action: 'add',
              medication: { codes: [{ system: 'https://smt.esante.gouv.fr/terminologie-cis', code: '63489259' }], text: 'UVEDOSE 100 000 UI' },
              decisions: docDecisions,
            }
          : { kind: 'service', id, problemId: 'PB2', text: `Contrôler la fonction rénale à un mois (recommandation ${k}).`, decisions: docDecisions },
      );
    }

    const authorRpps = options.idnpsAuthors && e % 3 === 0 ? `8${author.rpps}` : author.rpps;
    const document: Record<string, unknown> = {
      id: pppId,
      pathway: est.pathway,
      entryDoor,
      ...(entryDoor === 'hopital' ? { stayType: pick(['hospitalisation', 'hdj', 'consultation']) } : {}),
      status: 'active',
      created,
      establishment: { finess: est.finess, name: est.name },
      patient: patient.block,
      author: { rpps: authorRpps, family: author.family, given: author.given, profession: 'pharmacien' },
      team,
      consent: { date: created },
      medications: [
        {
          id: 'L1',
          medication: { codes: [{ system: 'https://smt.esante.gouv.fr/terminologie-cis', code: '69902323', display: 'TAHOR 20 mg, comprimé pelliculé' }], text: 'TAHOR 20 mg' },
          dosage: { text: '1 comprimé le soir', dose: { value: 20, unit: 'mg' }, frequencyPerDay: 1 },
        },
      ],
      problems: [
        { id: 'PB2', code: '4', severity: 'moderate', detail: 'Fonction rénale à surveiller.', medicationLineIds: ['L1'], intervention: '7' },
        { id: 'PB3', code: '2', severity: 'low', detail: 'Carence en vitamine D non supplémentée.', medicationLineIds: [], intervention: '1' },
      ],
      recommendations,
      ...(rcp ? { rcp } : { noRcpReason: 'Patient sorti avant la réunion ; avis recueillis par téléphone.' }),
    };

    const truth: PppTruth = {
      pppId,
      pathway: est.pathway,
      finess: est.finess,
      establishmentName: est.name,
      patientKey: patient.key,
      createdDay: dayOf(created),
      entryDoor,
      ...(mode && rcpWritten ? { rcp: { mode, day: dayOf(rcpWritten) } } : {}),
      recommendations: nRec,
      billable,
      mt,
      ...(pho ? { pho } : {}),
      decisions,
    };

    let events: PlannedEvents | undefined;
    if (inPathway) {
      const sendMs = (rcpWritten ? Date.parse(rcpWritten) : createdMs) + DAY_MS + int(6) * 3600_000;
      const uses: PlannedEvents['uses'] = [];
      const decide: PlannedEvents['decide'] = [];
      for (const role of ['MT', 'PHO'] as const) {
        if (role === 'PHO' && !pho) continue;
        if (!chance(role === 'MT' ? 0.85 : 0.7)) continue;
        const first = sendMs + (1 + int(8)) * DAY_MS + int(10) * 3600_000;
        uses.push({ role, at: new Date(first).toISOString() });
        if (chance(0.2)) uses.push({ role, at: new Date(first + 3600_000).toISOString() }); // same day again: one use-day
        if (chance(0.2)) uses.push({ role, at: new Date(first + (2 + int(5)) * DAY_MS).toISOString() });
        if (!chance(0.8)) continue; // opened, did not decide
        const mine = decisions.filter((d) => d.actor === role);
        const partial = chance(0.2);
        const choices: PlannedEvents['decide'][number]['choices'] = [];
        mine.forEach((d, idx) => {
          if (partial && idx % 2 === 1) return;
          const code = pick(['retenu', 'retenu', 'non-retenu', 'retenu-modifie'] as const);
          choices.push({ recommendation: d.recommendation, decision: code, ...(code !== 'retenu' ? { comment: 'Motif saisi sur la page.' } : {}) });
          d.state = code;
          d.day = new Date(first).toISOString().slice(0, 10);
        });
        if (choices.length > 0) decide.push({ role, at: new Date(first).toISOString(), choices });
      }
      const outcomes: PlannedEvents['outcomes'] = [];
      if (chance(0.5)) outcomes.push({ window: 'd45', at: new Date(sendMs + (FOLLOW_UP.d45Days + 2) * DAY_MS).toISOString() });
      if (chance(0.3)) outcomes.push({ window: 'd90', at: new Date(sendMs + (FOLLOW_UP.d90Days + 1) * DAY_MS).toISOString() });
      events = { sendAt: new Date(sendMs).toISOString(), uses, decide, outcomes };
    }
    ppps.push({ document, truth, ...(events ? { events } : {}) });
  }
  return { establishments, ppps };
}

// ---- the expected figures ----------------------------------------------------------------------------------------

export interface Period {
  from: string;
  to: string;
  finess?: string;
}

const within = (day: string | undefined, p: Period): boolean => day !== undefined && day >= p.from && day <= p.to;
const scoped = (t: PppTruth, p: Period): boolean => p.finess === undefined || t.finess === p.finess;
const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface DecisionCounts {
  retenu: number;
  nonRetenu: number;
  retenuModifie: number;
  pending: number;
  declined: number;
}

export interface ExpectedEstablishment {
  finess: string;
  name: string;
  ppp: number;
  pppWithRcp: number;
  rcpShare: number;
  byEntryDoor: { hopital: number; ville: number };
  rcpSync: number;
  rcpAsync: number;
  recommendations: number;
  patients: number;
}

/** GET /reports/activity's body as agreed (rcpShare and recommendationsPerPatient rounded as the issue says). */
export interface ExpectedActivity {
  period: { from: string; to: string };
  establishment?: string;
  total: {
    ppp: number;
    pppWithRcp: number;
    rcpShare: number;
    rcpSync: number;
    rcpAsync: number;
    byEntryDoor: { hopital: number; ville: number };
    recommendationsPerPatient: number;
    patients: number;
    recommendations: number;
  };
  establishments: ExpectedEstablishment[];
  decisions: { mt: DecisionCounts; pho: DecisionCounts };
  followUp: { d45: { due: number; done: number }; d90: { due: number; done: number } };
  activeProfessionals: { mt: number; pho: number };
  months: { month: string; ppp: number }[];
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** When each PPP's follow-up windows are due (its first send + 45 / 90 days), and whether their outcomes are in. */
export function followUpOf(p: PlannedPpp): { d45?: { due: string; done: boolean }; d90?: { due: string; done: boolean } } {
  if (!p.events) return {};
  const sent = Date.parse(p.events.sendAt);
  const w = (window: 'd45' | 'd90', days: number) => ({ due: new Date(sent + days * DAY_MS).toISOString(), done: p.events!.outcomes.some((o) => o.window === window) });
  return { d45: w('d45', FOLLOW_UP.d45Days), d90: w('d90', FOLLOW_UP.d90Days) };
}

/** The activity figures of `period` (PPPs by creation day), follow-up windows due by `dueBy` (an ISO instant). */
export function expectedActivity(ppps: readonly PlannedPpp[], period: Period, dueBy: string): ExpectedActivity {
  const mine = ppps.filter((p) => within(p.truth.createdDay, period) && scoped(p.truth, period));
  const est = new Map<string, ExpectedEstablishment & { keys: Set<string> }>();
  const months = new Map<string, number>();
  const decisions = { MT: zero(), PHO: zero() };
  const followUp = { d45: { due: 0, done: 0 }, d90: { due: 0, done: 0 } };
  for (const p of mine) {
    const t = p.truth;
    let row = est.get(t.finess);
    if (!row) {
      row = { finess: t.finess, name: t.establishmentName, ppp: 0, pppWithRcp: 0, rcpShare: 0, byEntryDoor: { hopital: 0, ville: 0 }, rcpSync: 0, rcpAsync: 0, recommendations: 0, patients: 0, keys: new Set() };
      est.set(t.finess, row);
    }
    row.ppp++;
    if (t.rcp) row.pppWithRcp++;
    if (t.rcp?.mode === 'sync') row.rcpSync++;
    if (t.rcp?.mode === 'async') row.rcpAsync++;
    row.byEntryDoor[t.entryDoor]++;
    row.recommendations += t.recommendations;
    row.keys.add(t.patientKey);
    months.set(t.createdDay.slice(0, 7), (months.get(t.createdDay.slice(0, 7)) ?? 0) + 1);
    for (const d of t.decisions) {
      const c = decisions[d.actor];
      if (d.state === 'retenu') c.retenu++;
      else if (d.state === 'non-retenu') c.nonRetenu++;
      else if (d.state === 'retenu-modifie') c.retenuModifie++;
      else if (d.state === 'declined') c.declined++;
      else c.pending++;
    }
    const f = followUpOf(p);
    for (const w of ['d45', 'd90'] as const) {
      const x = f[w];
      if (x && x.due <= dueBy) {
        followUp[w].due++;
        if (x.done) followUp[w].done++;
      }
    }
  }
  const establishments = [...est.values()]
    .sort((a, b) => byCode(a.finess, b.finess))
    .map(({ keys, ...r }) => ({ ...r, patients: keys.size, rcpShare: r.ppp === 0 ? 0 : round(r.pppWithRcp / r.ppp, 3) }));
  const patients = new Set(mine.map((p) => p.truth.patientKey)).size;
  const sum = (f: (e: ExpectedEstablishment) => number): number => establishments.reduce((s, e) => s + f(e), 0);
  const ppp = sum((e) => e.ppp);
  const withRcp = sum((e) => e.pppWithRcp);
  const recommendations = sum((e) => e.recommendations);
  const active = { MT: new Set<string>(), PHO: new Set<string>() };
  for (const p of ppps) {
    if (!p.events || !scoped(p.truth, period)) continue;
    for (const u of p.events.uses) if (within(u.at.slice(0, 10), period)) active[u.role].add(u.role === 'MT' ? p.truth.mt.rpps : p.truth.pho!.rpps);
  }
  return {
    period: { from: period.from, to: period.to },
    ...(period.finess !== undefined ? { establishment: period.finess } : {}),
    total: {
      ppp,
      pppWithRcp: withRcp,
      rcpShare: ppp === 0 ? 0 : round(withRcp / ppp, 3),
      rcpSync: sum((e) => e.rcpSync),
      rcpAsync: sum((e) => e.rcpAsync),
      byEntryDoor: { hopital: sum((e) => e.byEntryDoor.hopital), ville: sum((e) => e.byEntryDoor.ville) },
      recommendationsPerPatient: patients === 0 ? 0 : round(recommendations / patients, 2),
      patients,
      recommendations,
    },
    establishments,
    decisions: { mt: decisions.MT, pho: decisions.PHO },
    followUp,
    activeProfessionals: { mt: active.MT.size, pho: active.PHO.size },
    months: [...months.entries()].sort((a, b) => byCode(a[0], b[0])).map(([month, n]) => ({ month, ppp: n })),
  };
}

function zero(): DecisionCounts {
  return { retenu: 0, nonRetenu: 0, retenuModifie: 0, pending: 0, declined: 0 };
}

/** A billing line as agreed, without the patient's pseudonym (a keyed hash: checked for consistency instead). */
export interface ExpectedBillingLine {
  ppp_id: string;
  pathway: string;
  establishment_finess: string;
  establishment_name: string;
  /** The patient's key in the truth (not a column): lines of the same patient must share one pseudonym. */
  patientKey: string;
  rcp_date: string;
  rcp_mode: 'sync' | 'async';
  role: Role;
  rpps: string;
  professional_name: string;
  pharmacy_finess: string | null;
  amount_eur: number | null;
  tariff_year: number;
}

/** The billing lines of `period` (PPPs by RCP day), in the agreed order, and their summary. */
export function expectedBilling(ppps: readonly PlannedPpp[], period: Period): { lines: ExpectedBillingLine[]; summary: { lines: number; byRole: Record<Role, number>; amountEur: number; phoWithoutPharmacy: number; yearsWithoutTariff: number[] } } {
  const lines: ExpectedBillingLine[] = [];
  for (const p of ppps) {
    const t = p.truth;
    if (!t.rcp || !within(t.rcp.day, period) || !scoped(t, period)) continue;
    const year = Number(t.rcp.day.slice(0, 4));
    for (const b of t.billable) {
      lines.push({
        ppp_id: t.pppId,
        pathway: t.pathway,
        establishment_finess: t.finess,
        establishment_name: t.establishmentName,
        patientKey: t.patientKey,
        rcp_date: t.rcp.day,
        rcp_mode: t.rcp.mode,
        role: b.role,
        rpps: b.rpps,
        professional_name: b.name,
        pharmacy_finess: b.pharmacyFiness ?? null,
        amount_eur: tariffOf(year, b.role),
        tariff_year: year,
      });
    }
  }
  const roleRank: Record<Role, number> = { DAH: 0, MT: 1, PHO: 2 };
  lines.sort((a, b) => byCode(a.establishment_finess, b.establishment_finess) || byCode(a.rcp_date, b.rcp_date) || byCode(a.ppp_id, b.ppp_id) || roleRank[a.role] - roleRank[b.role]);
  const byRole: Record<Role, number> = { DAH: 0, MT: 0, PHO: 0 };
  for (const l of lines) byRole[l.role]++;
  const missing = [...new Set(lines.filter((l) => l.amount_eur === null).map((l) => l.tariff_year))].sort();
  return {
    lines,
    summary: {
      lines: lines.length,
      byRole,
      amountEur: lines.reduce((s, l) => s + (l.amount_eur ?? 0), 0),
      phoWithoutPharmacy: lines.filter((l) => l.role === 'PHO' && l.pharmacy_finess === null).length,
      yearsWithoutTariff: missing,
    },
  };
}

export interface ExpectedProfessional {
  rpps: string;
  role: 'MT' | 'PHO';
  name: string;
  /** FINESS of the PPPs whose links they used in the period, sorted. */
  establishments: string[];
  pppAnswered: number;
  firstUse: string;
  lastUse: string;
}

/**
 * The professionals who used a link in the period (UTC day of the use), with the PPPs they answered: a decision
 * (other than pending) whose day is in the period, on a PPP of the scope — recorded through the link or carried by
 * the document (then credited to the PPP's MT / PHO). Sorted by RPPS then role.
 */
export function expectedProfessionals(ppps: readonly PlannedPpp[], period: Period & { role?: 'MT' | 'PHO' }): ExpectedProfessional[] {
  const out = new Map<string, ExpectedProfessional>();
  const memberOf = (t: PppTruth, role: 'MT' | 'PHO'): Person | undefined => (role === 'MT' ? t.mt : t.pho);
  for (const p of ppps) {
    if (!p.events || !scoped(p.truth, period)) continue;
    for (const u of p.events.uses) {
      const day = u.at.slice(0, 10);
      if (!within(day, period) || (period.role && u.role !== period.role)) continue;
      const who = memberOf(p.truth, u.role)!;
      const key = `${who.rpps}|${u.role}`;
      const row = out.get(key) ?? { rpps: who.rpps, role: u.role, name: nameOf(who), establishments: [], pppAnswered: 0, firstUse: day, lastUse: day };
      if (!row.establishments.includes(p.truth.finess)) row.establishments.push(p.truth.finess);
      if (day < row.firstUse) row.firstUse = day;
      if (day > row.lastUse) row.lastUse = day;
      out.set(key, row);
    }
  }
  for (const row of out.values()) {
    row.establishments.sort(byCode);
    row.pppAnswered = ppps.filter(
      (p) => scoped(p.truth, period) && memberOf(p.truth, row.role)?.rpps === row.rpps && p.truth.decisions.some((d) => d.actor === row.role && d.state !== 'pending' && within(d.day, period)),
    ).length;
  }
  return [...out.values()].sort((a, b) => byCode(a.rpps, b.rpps) || byCode(a.role, b.role));
}
