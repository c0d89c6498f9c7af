// The data set of bench/fhir-api.bench.ts: a SQLite store of N French Patients (FR Core, as the gateway maps them)
// plus one PPP CarePlan per 20 Patients with the resources its `supportingInfo` names, written through the store
// API in large transactions, cached under the temp directory and keyed by whatever changes the stored rows.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Bundle, CarePlan, Composition, DetectedIssue, Identifier, Resource } from '@medplum/fhirtypes';
import { parseDocument } from '../src/domain/parse.js';
import { mapDocument } from '../src/fhir/bundle.js';
import { CANONICAL_BASE, CS } from '../src/fhir/canonical.js';
import { idFor } from '../src/fhir/ids.js';
import { openStore } from '../src/store/open.js';
import { iterateIdentities, toFhirPatient } from '../test/support/identity-generator.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (path: string): unknown => JSON.parse(readFileSync(join(root, path), 'utf8'));

/** One CarePlan (with 2 DetectedIssues and a BMO Composition in its supportingInfo) per this many Patients. */
export const PATIENTS_PER_CAREPLAN = 20;
/** Resources per Patient in the data set: 1 + 4 / 20. */
export const RESOURCES_PER_PATIENT = 1 + 4 / PATIENTS_PER_CAREPLAN;
const SEED = 20261205;
const TX_SIZE = 5_000;

// ---- the cache key ------------------------------------------------------------------------------------------

/**
 * What the stored rows would be: the first Patients and CarePlan groups of the data set written by this version of
 * the store into a scratch file (clock fixed), the schema and the rows hashed. A change of the migrations or of how
 * the store writes resources changes the key; a change elsewhere does not. The search index is left out: the store
 * rebuilds the rows of a type whose indexing changed when it opens the file (search_index_state), as in production.
 */
export async function datasetKey(dir: string): Promise<string> {
  const scratch = join(dir, `key-${process.pid}.db`);
  try {
    const store = await openStore({ file: scratch, now: () => new Date(0) });
    const resources = [...generate(Math.min(200, 10 * PATIENTS_PER_CAREPLAN))];
    await store.transaction(async (tx) => {
      for (const r of resources) await tx.put(r);
    });
    await store.close();
    const db = new Database(scratch, { readonly: true });
    const h = createHash('sha256');
    try {
      const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all() as { name: string; sql: string }[];
      for (const t of tables) {
        h.update(t.sql).update('\0');
        if (!/^CREATE TABLE/i.test(t.sql) || /^search_index/.test(t.name)) continue;
        const rows = (db.prepare(`SELECT * FROM "${t.name}"`).all() as unknown[]).map((r) => JSON.stringify(r)).sort();
        for (const r of rows) h.update(r).update('\n');
      }
    } finally {
      db.close();
    }
    return h.digest('hex').slice(0, 12);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
  }
}

// ---- templates ----------------------------------------------------------------------------------------------

const ppp = readJson('test/fixtures/ppp/ppp-12-medicines.expected.json') as Bundle;
const ctm = readJson('test/fixtures/ctm/admission-divergences.expected.json') as Bundle;
const resourcesOf = (b: Bundle): Resource[] => (b.entry ?? []).map((e) => e.resource as Resource);
const first = <T extends Resource>(b: Bundle, type: T['resourceType'], pick: (r: T) => boolean = () => true): T =>
  resourcesOf(b).find((r): r is T => r.resourceType === type && pick(r as T)) as T;

/** Organisations, practitioners and their roles named by the templates: written once, shared by every CarePlan. */
const ACTORS: Resource[] = [...resourcesOf(ppp), ...resourcesOf(ctm)].filter((r) =>
  ['Organization', 'Practitioner', 'PractitionerRole'].includes(r.resourceType),
);

const carePlanTemplate = ((): CarePlan => {
  // References to resources of the PPP this data set does not hold (its Tasks, MedicationRequests, CareTeam,
  // Encounter) are left out rather than left dangling.
  const { activity: _a, careTeam: _c, encounter: _e, supportingInfo: _s, ...rest } = first<CarePlan>(ppp, 'CarePlan');
  return rest;
})();
const issueTemplates = resourcesOf(ppp)
  .filter((r): r is DetectedIssue => r.resourceType === 'DetectedIssue')
  .slice(0, 2)
  .map(({ implicated: _i, ...rest }): DetectedIssue => rest);
const bmoTemplate = ((): Composition => {
  const c = first<Composition>(ctm, 'Composition', (r) => r.type.coding?.[0]?.code === '80820-4');
  // The BMO's sections keep their titles and codes; their entries (MedicationStatements, the FCT) are not in the set.
  return { ...c, section: (c.section ?? []).map(({ entry: _e, ...s }) => ({ ...s, text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${s.title ?? ''}</div>` } })) };
})();

function withIds<T extends Resource>(template: T, id: string, patientRef: string, replace: Record<string, unknown>): T {
  const json = JSON.stringify(template).replaceAll(template.id as string, id).replaceAll(/Patient\/[0-9a-f-]{36}/g, patientRef);
  return { ...(JSON.parse(json) as T), ...replace };
}

/** The CarePlan group of Patient `patientId` (the `k`th group): CarePlan, its two DetectedIssues, its BMO. */
function carePlanGroup(k: number, patientId: string): Resource[] {
  const patientRef = `Patient/${patientId}`;
  const issues = issueTemplates.map((t, j) => withIds(t, idFor('DetectedIssue', 'bench', String(k), String(j)), patientRef, {}));
  const bmo = withIds(bmoTemplate, idFor('Composition', 'bench', String(k)), patientRef, {
    identifier: { system: 'https://fhir.passerelle.fr/identifier/bench/bmo', value: `BMO-${k}` },
  });
  const carePlanId = idFor('CarePlan', 'bench', String(k));
  const carePlan = withIds(carePlanTemplate, carePlanId, patientRef, {
    identifier: [
      { use: 'official', system: 'https://fhir.passerelle.fr/identifier/bench/ppp', value: `PPP-${k}` },
      { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${carePlanId}` },
    ],
    supportingInfo: [...issues, bmo].map((r) => ({ reference: `${r.resourceType}/${r.id}` })),
  });
  return [carePlan, ...issues, bmo];
}

/** The data set in writing order: the shared actors, then the Patients, a CarePlan group after every 20th. */
function* generate(patients: number): Generator<Resource, void, undefined> {
  yield* ACTORS;
  let made = 0;
  // ~10 % of the Patients are further source records of a person already in the set (another hospital, a doublon).
  for (const g of iterateIdentities({ seed: SEED, persons: Math.ceil(patients * 0.93) + 10, duplicateRate: 0.1 })) {
    if (made === patients) return;
    const patient = toFhirPatient(g.identity);
    yield patient;
    made++;
    if (made % PATIENTS_PER_CAREPLAN === 0) yield* carePlanGroup(made / PATIENTS_PER_CAREPLAN - 1, patient.id);
  }
  throw new Error(`identity generator gave ${made} Patients, ${patients} wanted`);
}

// ---- the store file -----------------------------------------------------------------------------------------

export interface Dataset {
  file: string;
  patients: number;
  resources: number;
  /** Seconds spent writing it in this run; undefined when the cached file was used. */
  loadSeconds?: number;
  bytes: number;
}

/** The cached store file for `patients`, built first when absent (progress on stderr). */
export async function dataset(patients: number, log: (line: string) => void): Promise<Dataset> {
  const dir = join(tmpdir(), 'passerelle-bench-fhir-api');
  mkdirSync(dir, { recursive: true });
  const key = await datasetKey(dir);
  const name = `store-${patients}-${key}.db`;
  const file = join(dir, name);
  const resources = patients + 4 * Math.floor(patients / PATIENTS_PER_CAREPLAN) + ACTORS.length;
  if (existsSync(file)) return { file, patients, resources, bytes: statSync(file).size };
  // Files of another key are stale (several GB each at 1M), and so is an interrupted build of this one.
  for (const f of readdirSync(dir)) {
    const m = /^(?:building-)?store-\d+-([0-9a-f]+)\.db/.exec(f);
    if (m && (m[1] !== key || f.startsWith(`building-${name}`))) rmSync(join(dir, f), { force: true });
  }

  const building = join(dir, `building-${name}`);
  log(`building the data set: ${patients.toLocaleString('en')} Patients, ${resources.toLocaleString('en')} resources → ${file}`);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const store = await openStore({ file: building });
  let written = 0;
  let batch: Resource[] = [];
  const flush = async (): Promise<void> => {
    const rs = batch;
    batch = [];
    await store.transaction(async (tx) => {
      for (const r of rs) await tx.put(r);
    });
    written += rs.length;
    if (Math.floor((written - rs.length) / 100_000) !== Math.floor(written / 100_000)) {
      const s = (performance.now() - started) / 1000;
      log(`  ${written.toLocaleString('en')} resources in ${s.toFixed(0)} s (${(written / s).toFixed(0)}/s)`);
    }
  };
  for (const r of generate(patients)) {
    batch.push(r);
    if (batch.length >= TX_SIZE) await flush();
  }
  if (batch.length > 0) await flush();
  await store.close();
  renameSync(building, file);
  const loadSeconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  log(`  done: ${written.toLocaleString('en')} resources in ${loadSeconds.toFixed(0)} s (${(written / loadSeconds).toFixed(0)}/s), ${((user + system) / 1e6).toFixed(0)} s of CPU`);
  return { file, patients, resources: written, loadSeconds, bytes: statSync(file).size };
}

// ---- what the scenarios ask for -----------------------------------------------------------------------------

export interface Samples {
  patientIds: string[];
  /** Patients that have a CarePlan. */
  carePlanPatientIds: string[];
  /** Family names and given names as stored (upper case, accents, hyphens, spaces). */
  names: string[];
  /** Resources in the file, bench transactions of earlier runs included. */
  stored: number;
}

/** Random ids and names drawn from the file (a read-only connection, closed before the gateway opens it). */
export function samples(file: string, n: number): Samples {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const { stored } = db.prepare('SELECT count(*) AS stored FROM resources').get() as { stored: number };
    const patients = db
      .prepare(
        `SELECT id, json ->> '$.name[0].family' AS family, json ->> '$.name[0].given[0]' AS given FROM resources
         WHERE type = 'Patient' AND deleted = 0 ORDER BY random() LIMIT ?`,
      )
      .all(n) as { id: string; family: string | null; given: string | null }[];
    const carePlans = db
      .prepare(`SELECT json ->> '$.subject.reference' AS ref FROM resources WHERE type = 'CarePlan' AND deleted = 0 ORDER BY random() LIMIT ?`)
      .all(n) as { ref: string }[];
    return {
      patientIds: patients.map((p) => p.id),
      carePlanPatientIds: carePlans.map((c) => c.ref.replace(/^Patient\//, '')),
      names: patients.flatMap((p) => [p.family, p.given].filter((s): s is string => !!s)),
      stored,
    };
  } finally {
    db.close();
  }
}

/**
 * What a user types in a DPI's patient search: the first 3 to 8 letters of a family or given name (all of it
 * when shorter), half of the time in lower case without accents.
 */
export function namePrefixes(names: readonly string[], n: number, random: () => number = Math.random): string[] {
  const out: string[] = [];
  for (let i = 0; i < n && names.length > 0; i++) {
    const name = names[Math.floor(random() * names.length)]!;
    let len = Math.min(name.length, 3 + Math.floor(random() * 6));
    // "DE LA", "JEAN-": a prefix does not end on a separator.
    while (len < name.length && /[ '-]/.test(name[len - 1]!)) len++;
    const prefix = name.slice(0, len);
    out.push(random() < 0.5 ? prefix : prefix.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase());
  }
  return out;
}

// ---- the transaction scenario -------------------------------------------------------------------------------

const pppInput = readJson('test/fixtures/ppp/ppp-12-medicines.json') as Record<string, unknown>;
const ACTOR_TYPES: ReadonlySet<string> = new Set(['Organization', 'Practitioner', 'PractitionerRole']);

/**
 * Without what marks a resource as a Passerelle document's (docs/api.md, "Who writes what"): its profile, the
 * document's identifier, the PPP category of the CarePlan, the Passerelle task type of a Task.
 */
function unmarked(resource: Resource): Resource {
  const { meta: _meta, ...r } = structuredClone(resource) as Resource & { identifier?: Identifier[] };
  if (r.identifier) r.identifier = r.identifier.filter((i) => !i.system?.startsWith(`${CANONICAL_BASE}/identifier/`));
  if (r.resourceType === 'CarePlan' && r.category) {
    r.category = r.category.filter((c) => !(c.coding ?? []).some((k) => k.system === CS.careplanCategory));
  }
  if (r.resourceType === 'Task' && (r.code?.coding ?? []).some((k) => k.system === CS.taskType)) delete r.code;
  return r;
}

/**
 * The PPP's 55 resources as a hospital's software would send them through the FHIR API (the PPP's own Bundle,
 * with its Passerelle marks, is refused there: it is written by POST /ppp): without those marks, created with POST and `urn:uuid:` references, the establishment and
 * the team by conditional create (`ifNoneExist` on their identifier). The Patient keeps its FR Core identity: source
 * identifier, birth name, given names, birth date, sex, INS; the gateway registers it with the identity service.
 */
export function dpiTransaction(ppp: Bundle): Bundle {
  const uuids = new Map<string, string>();
  for (const e of ppp.entry ?? []) uuids.set(`${e.resource!.resourceType}/${e.resource!.id}`, `urn:uuid:${idFor('bench-urn', e.resource!.resourceType, e.resource!.id!, ppp.timestamp ?? '')}`);
  const entry = (ppp.entry ?? []).map((e) => {
    const r = e.resource!;
    const key = `${r.resourceType}/${r.id}`;
    let json = JSON.stringify(r.resourceType === 'Patient' ? r : unmarked(r));
    for (const [ref, urn] of uuids) json = json.replaceAll(`"${ref}"`, `"${urn}"`);
    const { id: _id, ...resource } = JSON.parse(json) as Resource;
    const identifier = (resource as { identifier?: { system?: string; value?: string }[] }).identifier?.find((i) => i.system && i.value);
    const conditional = ACTOR_TYPES.has(r.resourceType) && identifier ? { ifNoneExist: `identifier=${identifier.system}|${identifier.value}` } : {};
    return { fullUrl: uuids.get(key)!, resource: resource as Resource, request: { method: 'POST' as const, url: r.resourceType, ...conditional } };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/**
 * Transaction Bundles of 55 resources built from a canonical PPP (12 medicines) by `mapDocument` and `dpiTransaction`:
 * each its own PPP and its own new patient (a source identity), the team and establishment shared with the others.
 */
export function* pppTransactions(runStamp: string): Generator<string, never, undefined> {
  const seed = Number.parseInt(createHash('sha256').update(runStamp).digest('hex').slice(0, 8), 16);
  let i = 0;
  for (const g of iterateIdentities({ seed, persons: 10_000_000, duplicateRate: 0 })) {
    const input = { ...pppInput, id: `BENCH-${runStamp}-${i++}`, patient: g.identity };
    const bundle = mapDocument('ppp', parseDocument('ppp', input), { now: new Date().toISOString() });
    yield JSON.stringify(dpiTransaction(bundle));
  }
  throw new Error('pppTransactions: identity stream exhausted');
}
