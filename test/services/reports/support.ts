// Shared by the reports' tests (billing, professionals, API, CLI): PPP variants of the hospital-sync-rcp fixture
// submitted as pathway cases — with or without RCP, synchronous or asynchronous with or without the MT's and the PHO's
// messages, at several RCP years and two establishments — a directory that knows some pharmacies, and link uses.
import { readFileSync } from 'node:fs';
import type { Bundle, CarePlan } from '@medplum/fhirtypes';
import type { DirectoryRow } from '../../../src/store/directory-repository.js';
import { issueLinks, resolveLink } from '../../../src/services/pathway/links.js';
import { submitDocument } from '../../../src/services/submission.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { pppFixture } from '../pathway/followup-support.js';

export const EST_A = '800000317';
export const EST_B = '990000010';
export const RPPS = { DAH: '10100890259', MT: '10101634078', PHO: '10101523388', PHO2: '10100628170' } as const;
/** The pharmacy the sync fixture's PHO names, with a name that needs CSV quoting. */
export const PHARMACY = { finess: '800001562', name: 'Pharmacie du Beffroi, "centre"' } as const;
/** The FINESS structure the directory attaches the PHO's RPPS to. */
export const PHARMACY_BY_RPPS = { finess: '800009999', name: 'Pharmacie de la Gare' } as const;

type Doc = Record<string, unknown>;
type Member = { role: string; practitioner: Record<string, unknown> };

const townPatient = (): unknown => (JSON.parse(readFileSync('test/fixtures/ppp/town-async-rcp.json', 'utf8')) as Doc).patient;
const msg = (id: string, fromRpps: string, date: string, toRpps: string[] = []) => ({ id, fromRpps, toRpps, date, text: `message ${id}` });
const team = (doc: Doc): Member[] => doc.team as Member[];
const pho = (doc: Doc): Member => team(doc).find((m) => m.role === 'pharmacien-officine')!;
const noDecisions = (doc: Doc, keep: string[] = []): void => {
  for (const r of doc.recommendations as { decisions: { actor: string }[] }[]) r.decisions = r.decisions.filter((d) => keep.includes(d.actor));
};

/** The report's PPPs: id → how the fixture is changed. */
export const VARIANTS: Record<string, (doc: Doc) => void> = {
  // Sync RCP 2025-05-14 at A: DAH, MT, PHO (pharmacy named by the PPP); decisions by MT and PHO on 2025-05-16.
  'B-1-SYNC': () => undefined,
  // No RCP: nothing billable.
  'B-2-NORCP': (d) => {
    delete d.rcp;
    d.noRcpReason = 'Patient sorti avant la RCP';
    noDecisions(d);
  },
  // Async RCP 2024-12-31 (another patient): the PHO wrote, the MT did not; the PPP names no pharmacy (directory by RPPS).
  'B-3-ASYNC': (d) => {
    d.patient = townPatient();
    d.created = '2024-12-20T10:00:00+01:00';
    d.sentAt = '2025-01-10T10:00:00+01:00';
    delete pho(d).practitioner.organizationFiness;
    d.rcp = {
      mode: 'async',
      date: '2024-12-31T09:00:00+01:00',
      deadline: '2025-01-08T23:59:00+01:00',
      messages: [msg('a1', '10100890259', '2024-12-31T09:00:00+01:00', [RPPS.MT, RPPS.PHO]), msg('a2', RPPS.PHO, '2025-01-02T18:00:00+01:00', ['10100890259'])],
    };
    noDecisions(d);
  },
  // Async RCP 2025-01-01, only the hospital wrote: the DAH alone.
  'B-4-ASYNC': (d) => {
    d.created = '2024-12-28T10:00:00+01:00';
    d.rcp = { mode: 'async', date: '2025-01-01T09:00:00+01:00', messages: [msg('a1', '10100890259', '2025-01-01T09:00:00+01:00', [RPPS.MT, RPPS.PHO])] };
    noDecisions(d);
  },
  // Sync RCP 2028-02-01 (no default tariff): another PHO, neither in the PPP nor in the directory.
  'B-5-2028': (d) => {
    d.created = '2028-01-25T10:00:00+01:00';
    d.sentAt = '2028-02-02T10:00:00+01:00';
    const p = pho(d);
    p.practitioner = { rpps: RPPS.PHO2, family: 'HOMAIS', given: 'Marguerite', profession: 'pharmacien' };
    (d.rcp as Doc).date = '2028-02-01T12:30:00+01:00';
    (d.rcp as Doc).messages = [];
    noDecisions(d);
  },
  // Sync RCP 2025-03-03 at B: its PHO's pharmacy has no name in the directory; the MT decided on 2025-05-16.
  'B-6-ESTB': (d) => {
    d.establishment = { finess: EST_B, name: 'Clinique B' };
    d.created = '2025-03-01T10:00:00+01:00';
    pho(d).practitioner.organizationFiness = '990001111';
    (d.rcp as Doc).date = '2025-03-03T12:30:00+01:00';
    noDecisions(d, ['MT']);
  },
};

export async function submit(store: ResourceStore, id: string): Promise<string> {
  const doc = pppFixture(id, VARIANTS[id]);
  const bundle: Bundle = await submitDocument(store, 'ppp', doc, { now: new Date().toISOString(), actor: 'test', fhirBase: 'http://localhost/fhir' });
  return (bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan).id as string;
}

/** Every variant submitted; their CarePlan ids by PPP id. */
export async function submitAll(store: ResourceStore): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const id of Object.keys(VARIANTS)) ids[id] = await submit(store, id);
  return ids;
}

export async function importDirectory(store: ResourceStore): Promise<void> {
  const rows: DirectoryRow[] = [
    { line: 1, address: 'contact@beffroi.pharmacie.mssante.fr', balType: 'ORG', structureId: PHARMACY.finess, structureIdKind: 'FINESS', structureName: PHARMACY.name },
    { line: 2, address: 'm.forestier@pharmacien.mssante.fr', balType: 'PER', ppId: RPPS.PHO, ppIdKind: 'RPPS', family: 'FORESTIER', given: 'Madeleine', structureId: '123456789', structureIdKind: 'SIRET', structureName: 'SELARL Forestier' },
    { line: 3, address: 'forestier@gare.pharmacie.mssante.fr', balType: 'PER', ppId: RPPS.PHO, ppIdKind: 'RPPS', family: 'FORESTIER', given: 'Madeleine', structureId: PHARMACY_BY_RPPS.finess, structureIdKind: 'FINESS', structureName: PHARMACY_BY_RPPS.name },
  ];
  const generation = await store.directory.beginImport('test');
  await store.directory.addBatch(generation, rows);
  await store.directory.finishImport(generation);
}

/** Issues the MT's and PHO's decision links of a case at `issued`; answers a function using one at an instant. */
export async function links(store: ResourceStore, carePlan: string, issued: string, recipients: { role: 'MT' | 'PHO'; rpps: string }[]): Promise<(role: 'MT' | 'PHO', at: string) => Promise<void>> {
  const issuedLinks = await store.transaction((tx) => issueLinks(tx, { carePlan, recipients, purpose: 'decision', now: new Date(issued), ttlDays: 60, baseUrl: 'http://x' }));
  return async (role, at) => {
    const link = issuedLinks.find((l) => l.role === role)!;
    const r = await resolveLink(store, link.url.split('/p/')[1]!, { now: new Date(at) });
    if (!r.ok) throw new Error(`link of ${role} refused at ${at}`);
  };
}
