// `GET /fhir/Patient/{id}/$everything`: the patient and its compartment, one paged searchset.
// The compartment is every resource whose `patient` (else `subject`) search parameter refers to the patient — the
// parameters of src/fhir/search-params.ts, so a type that gains one joins the compartment. For a federated Patient
// (the SRI's, `link` seealso → its sources), the compartment is the person's: the federated Patient, each source
// Patient and everything that refers to any of them. For a source Patient, its own compartment, with its federated
// Patient (its `link`) as an included resource. Each page also includes the Practitioners, PractitionerRoles and
// Organizations its resources refer to (one read each, at most MAX_INCLUDED).
import { mayReadKey, storeFor, type Reader } from '../services/access/visibility.js';
import { allOk } from '@medplum/core';
import type { Bundle, BundleEntry, Parameters, Patient, Resource } from '@medplum/fhirtypes';
import { pageLinks } from './fhir-search.js';
import { invalid, notFound } from '../fhir/outcome.js';
import {
  DEFAULT_COUNT,
  MAX_COUNT,
  R4_RESOURCE_TYPES,
  dateCriterion,
  parseReference,
  searchParamsOf,
  type SearchPredicate,
} from '../fhir/search-params.js';
import { MAX_OR_VALUES } from '../store/search-sql.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';
import { findReferences } from './fhir-references.js';
import { assertId, gone, isDeleted } from './fhir-write.js';

const PARAMS = new Set(['_count', '_offset', '_since', '_type', '_format', '_pretty']);
/** Referenced resources included with each page (the actors of the patient's care). */
const INCLUDED_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Organization']);
const MAX_INCLUDED = 1000;

/** A resource type of the compartment and the parameter that ties it to the patient. */
export interface CompartmentSection {
  type: string;
  param: string;
}

/** Types with a `patient` reference parameter (else `subject`), from the search parameter table. */
export function patientCompartment(): CompartmentSection[] {
  const out: CompartmentSection[] = [];
  for (const type of [...R4_RESOURCE_TYPES].sort()) {
    if (type === 'Patient') continue;
    const params = searchParamsOf(type);
    for (const code of ['patient', 'subject']) {
      const def = params.get(code);
      if (def?.type === 'reference' && (def.target === undefined || def.target === 'Patient')) {
        out.push({ type, param: code });
        break;
      }
    }
  }
  return out;
}

function integer(name: string, value: string | null, fallback: number, max: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,10}$/.test(value)) throw invalid(`${name}: expected a non-negative integer, got "${value}"`, name);
  return Math.min(Number(value), max);
}

interface Options {
  count: number;
  offset: number;
  since?: string;
  types?: Set<string>;
}

function parseOptions(query: URLSearchParams): Options {
  for (const name of query.keys()) {
    if (!PARAMS.has(name)) throw invalid(`$everything: parameter "${name}" is not supported (_count, _offset, _since, _type)`, name);
  }
  const since = query.get('_since') ?? undefined;
  if (since) dateCriterion('_since', since);
  let types: Set<string> | undefined;
  const typeList = query.get('_type');
  if (typeList) {
    types = new Set(typeList.split(',').map((t) => t.trim()).filter(Boolean));
    for (const t of types) if (!R4_RESOURCE_TYPES.has(t)) throw invalid(`_type: unknown resource type "${t}"`, '_type');
  }
  return {
    count: integer('_count', query.get('_count'), DEFAULT_COUNT, MAX_COUNT),
    offset: integer('_offset', query.get('_offset'), 0, 1_000_000_000),
    ...(since ? { since } : {}),
    ...(types ? { types } : {}),
  };
}

/** The patient and, for a federated one, its source Patients (still stored). */
async function members(store: Reader, patient: Patient): Promise<Patient[]> {
  const out = [patient];
  for (const link of patient.link ?? []) {
    if (link.type !== 'seealso' || !link.other.reference) continue;
    const ref = parseReference(link.other.reference);
    if (ref?.type !== 'Patient' || ref.id === patient.id) continue;
    const source = await store.read<Patient>('Patient', ref.id);
    if (source) out.push(source);
  }
  return out;
}

/** References from the page to the actors of care, and a Patient's own links (its federated Patient). */
async function included(store: Reader, page: Resource[], seen: Set<string>): Promise<Resource[]> {
  const wanted = new Set<string>();
  for (const r of page) {
    for (const ref of findReferences(r)) {
      const target = parseReference(ref.value);
      if (!target) continue;
      const viaLink = r.resourceType === 'Patient' && target.type === 'Patient' && ref.path.startsWith('Patient.link');
      if (INCLUDED_TYPES.has(target.type) || viaLink) wanted.add(`${target.type}/${target.id}`);
    }
  }
  const out: Resource[] = [];
  for (const key of wanted) {
    if (seen.has(key) || out.length >= MAX_INCLUDED) continue;
    const [type, id] = key.split('/');
    const resource = await store.read(type, id);
    if (resource) out.push(resource);
  }
  return out;
}

/** `POST …/$everything` takes its parameters in a Parameters body (FHIR operations may always be POSTed). */
function parametersAsQuery(body: unknown, query: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams(query);
  if (body === undefined) return out;
  if ((body as { resourceType?: unknown } | null)?.resourceType !== 'Parameters') throw invalid('Expected a Parameters resource', 'resourceType');
  for (const [i, p] of ((body as Parameters).parameter ?? []).entries()) {
    const value = Object.entries(p).find(([k]) => k.startsWith('value'))?.[1];
    if (typeof p.name !== 'string' || !['string', 'number'].includes(typeof value)) {
      throw invalid(`Parameter ${p.name ?? i} must have a primitive value`, `Parameters.parameter[${i}]`);
    }
    out.append(p.name, String(value));
  }
  return out;
}

export function everythingHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const id = req.params.id;
    assertId(id);
    // Links of a POSTed call carry its parameters in the URL: a GET of them is the same call.
    const query = req.method === 'POST' ? parametersAsQuery(req.body, req.query) : req.query;
    const { count, offset, since, types } = parseOptions(query);
    // What the principal may see: another tenant's Patient answers 404, and the sections are filtered in the query.
    const store = storeFor(ctx.store, req.client);
    const patient = await store.read<Patient>('Patient', id);
    if (!patient) {
      if ((await isDeleted(ctx.store, 'Patient', id)) && (await mayReadKey(ctx.store, req.client, 'Patient', id))) throw gone(`Patient/${id} has been deleted`);
      throw notFound(`Patient/${id} not found`);
    }
    const patients = await members(store, patient);
    const refs = patients.map((p) => `Patient/${p.id}`).slice(0, MAX_OR_VALUES);
    const sinceDate = since ? Date.parse(dateCriterion('_since', since).start) : undefined;
    const listedPatients = (!types || types.has('Patient') ? patients : []).filter(
      (p) => sinceDate === undefined || Date.parse(p.meta?.lastUpdated ?? '') >= sinceDate,
    );

    const sinceFilter: SearchPredicate[] = since ? [{ param: '_lastUpdated', prefix: 'ge', values: [since] }] : [];
    const sections = patientCompartment()
      .filter((s) => !types || types.has(s.type))
      .map((s) => ({ ...s, predicates: [{ param: s.param, prefix: 'eq' as const, values: refs }, ...sinceFilter] }));
    // One count per type, then only the types the page overlaps are read.
    const totals = await Promise.all(
      sections.map(async (s) => (await store.search({ resourceType: s.type, predicates: s.predicates, count: 0, offset: 0, total: true })).total ?? 0),
    );
    const total = listedPatients.length + totals.reduce((a, b) => a + b, 0);

    const page: Resource[] = listedPatients.slice(offset, offset + count);
    let skip = Math.max(0, offset - listedPatients.length);
    for (let i = 0; i < sections.length && page.length < count; i++) {
      if (skip >= totals[i]) {
        skip -= totals[i];
        continue;
      }
      const { resources } = await store.search({
        resourceType: sections[i].type,
        predicates: sections[i].predicates,
        count: count - page.length,
        offset: skip,
        total: false,
      });
      page.push(...resources);
      skip = 0;
    }
    const keyOf = (r: Resource): string => `${r.resourceType}/${r.id}`;
    const extra = await included(store, page, new Set(page.map(keyOf)));

    const link = pageLinks(`${ctx.fhirBase}/Patient/${id}/$everything`, query, count, offset, offset + count < total);
    const entry: BundleEntry[] = [
      ...page.map((r): BundleEntry => ({ fullUrl: `${ctx.fhirBase}/${keyOf(r)}`, resource: r, search: { mode: 'match' } })),
      ...extra.map((r): BundleEntry => ({ fullUrl: `${ctx.fhirBase}/${keyOf(r)}`, resource: r, search: { mode: 'include' } })),
    ];
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total, link, entry };
    return [allOk, bundle];
  };
}
