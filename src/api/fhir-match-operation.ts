// `POST /fhir/Patient/$match` (FHIR R4 Patient-match): Parameters with `resource` (a Patient, FR Core style),
// `onlyCertainMatches` and `count`; answers a searchset Bundle of federated Patients, best first, each with
// `search.mode` match, `search.score` and the match-grade extension. Matching writes nothing.
import { maySeeFederated } from '../domain/access/model.js';
import { storeFor } from '../services/access/visibility.js';
import { allOk } from '@medplum/core';
import type { Bundle, BundleEntry, BundleEntrySearch, Parameters, ParametersParameter, Patient } from '@medplum/fhirtypes';
import { invalid, invalidIssues, issue } from '../fhir/outcome.js';
import { patientIdentityFromFhir } from '../fhir/fhir-patient.js';
import type { MatchGrade, MatchResult } from '../identity/types.js';
import { identityServiceFor } from '../services/patient-identity.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';
import { withJsonText } from './fhir-response.js';

export const MATCH_GRADE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/match-grade';
export const DEFAULT_MATCH_COUNT = 10;
export const MAX_MATCH_COUNT = 100;

const GRADE_RANK: Record<MatchGrade, number> = { certain: 0, probable: 1, possible: 2, 'certainly-not': 3 };

interface MatchRequest {
  patient: Patient;
  onlyCertainMatches: boolean;
  count: number;
}

/** The answer's order: grade first (a certain match is never listed after a probable one), then score; the first `count`. */
export function rankMatches(results: MatchResult[], count: number): MatchResult[] {
  return results.sort((a, b) => GRADE_RANK[a.grade] - GRADE_RANK[b.grade] || b.score - a.score).slice(0, count);
}

function parseMatchParameters(body: unknown): MatchRequest {
  if ((body as { resourceType?: unknown } | undefined)?.resourceType !== 'Parameters') {
    throw invalid('Expected a Parameters resource with a "resource" parameter holding a Patient', 'resourceType');
  }
  const params: ParametersParameter[] = (body as Parameters).parameter ?? [];
  const named = (name: string): ParametersParameter[] => params.filter((p) => p.name === name);
  const resource = named('resource');
  if (resource.length !== 1 || resource[0].resource?.resourceType !== 'Patient') {
    throw invalid('Parameter "resource" must occur once and hold a Patient', "Parameters.parameter.where(name='resource')");
  }
  const only = named('onlyCertainMatches')[0];
  if (only && typeof only.valueBoolean !== 'boolean') {
    throw invalid('Parameter "onlyCertainMatches" must be a valueBoolean', "Parameters.parameter.where(name='onlyCertainMatches')");
  }
  const countParam = named('count')[0];
  const count = countParam?.valueInteger ?? countParam?.valuePositiveInt;
  if (countParam && (typeof count !== 'number' || !Number.isInteger(count) || count < 1)) {
    throw invalid('Parameter "count" must be a valueInteger of at least 1', "Parameters.parameter.where(name='count')");
  }
  return {
    patient: resource[0].resource as Patient,
    onlyCertainMatches: only?.valueBoolean === true,
    count: Math.min(count ?? DEFAULT_MATCH_COUNT, MAX_MATCH_COUNT),
  };
}

export function matchOperationHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { patient, onlyCertainMatches, count } = parseMatchParameters(req.body);
    const read = patientIdentityFromFhir(patient, { requireSource: false });
    if (!read.ok) {
      // Every missing or bad trait at once, each named, so the caller fixes the query in one go.
      throw invalidIssues(read.issues.map((i) => issue(i.code, `Patient/$match: ${i.message}`, i.expression)));
    }
    const service = identityServiceFor(ctx.store);
    // The registry orders by score; the grade comes first here (a certain match is never listed after a probable
    // one), so ask for everything and cut after sorting.
    const ranked = rankMatches(await service.match(read.identity, onlyCertainMatches ? { onlyCertain: true } : { count: Number.MAX_SAFE_INTEGER }), count);
    // The federated Patients in one read, as their stored JSON text: spliced into the answer unparsed (a parse and a
    // re-serialisation per Patient were most of this handler's time and allocation).
    const stored = await ctx.store.readJson('Patient', ranked.map((r) => r.federatedId));
    // What the router's audit row names (the entries' keys); the answer itself is `texts`.
    const entry: BundleEntry<Patient>[] = [];
    const texts: string[] = [];
    const add = (id: string, json: string, search: BundleEntrySearch): void => {
      const fullUrl = `${ctx.fhirBase}/Patient/${id}`;
      entry.push({ fullUrl, resource: { resourceType: 'Patient', id }, search });
      // The key order of the entry as JSON.stringify would write it: the same answer, byte for byte.
      texts.push(`{"fullUrl":${JSON.stringify(fullUrl)},"resource":${json},"search":${JSON.stringify(search)}}`);
    };
    // Identitovigilance gets the federated Patients; any other principal only the source Patients of each matched
    // identity that its tenant may see (never a federated Patient, never another tenant's patient).
    const federated = maySeeFederated(req.client);
    const visible = storeFor(ctx.store, req.client);
    for (const r of ranked) {
      const json = stored.get(r.federatedId);
      if (json === undefined) continue;
      const search: BundleEntrySearch = { mode: 'match', score: Math.round(r.score * 1e6) / 1e6, extension: [{ url: MATCH_GRADE_EXTENSION, valueCode: r.grade }] };
      if (federated) {
        add(r.federatedId, json, search);
        continue;
      }
      for (const l of (JSON.parse(json) as Patient).link ?? []) {
        const ref = l.other?.reference;
        if (l.type !== 'seealso' || !ref?.startsWith('Patient/')) continue;
        const source = await visible.read<Patient>('Patient', ref.slice('Patient/'.length));
        if (source?.id) add(source.id, JSON.stringify(source), search);
      }
    }
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
    const json = `{"resourceType":"Bundle","type":"searchset","total":${entry.length},"entry":[${texts.join(',')}]}`;
    return [allOk, withJsonText(bundle, json)];
  };
}
