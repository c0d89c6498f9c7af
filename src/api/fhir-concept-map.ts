// ConceptMaps compiled from the code maps of `mappings/codemaps/` (issue 19, docs/mappings.md "Code maps"): read,
// search and `$translate`, from the mapping set in service (`FhirContext.mappings`), never from the store. Read-only:
// writes to ConceptMap answer 405 (the type has routes of its own, so the generic write routes do not take it).
import { allOk } from '@medplum/core';
import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { invalid, notFound } from '../fhir/outcome.js';
import { conceptMapOf, translate } from '../mappings/concept-map.js';
import type { CodeMap } from '../mappings/model.js';
import type { FhirContext, FhirHandler, FhirRequest, FhirRoute, RouteSearchParam } from './fhir-router.js';
import { canonicalParamMatches, searchInMemory } from './fhir-conformance.js';
import { assertId } from './fhir-write.js';

const SEARCH_PARAMS: RouteSearchParam[] = [
  { name: '_id', type: 'token', documentation: 'Resource.id (the code map\'s name)' },
  { name: 'url', type: 'uri', documentation: 'The canonical url (a |version suffix must match the version)' },
  { name: 'name', type: 'string', documentation: 'The code map\'s name, case-insensitive, starts with' },
  { name: 'source-system', type: 'uri', documentation: 'The system of the source codes (group.source)' },
  { name: 'target-system', type: 'uri', documentation: 'The system of the target codes (group.target)' },
  { name: 'version', type: 'token', documentation: 'Business version (the sha256 of the file)' },
];
const RESULT_PARAMS = new Set(['_format', '_pretty', '_count', '_offset']);
const MAX_PARAM_LENGTH = 1024;

const codeMapsOf = (ctx: FhirContext): ReadonlyMap<string, CodeMap> => ctx.mappings?.current().codeMaps ?? new Map();

function matches(m: CodeMap, name: string, values: string[]): boolean {
  return values.some(
    (v) =>
      canonicalParamMatches({ id: m.name, url: m.url, name: m.name, version: m.version }, name, v) ??
      (name === 'source-system' ? m.sourceSystem === v : name === 'target-system' ? m.targetSystem === v : false),
  );
}

function readHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    assertId(req.params.id);
    const m = codeMapsOf(ctx).get(req.params.id);
    if (!m) throw notFound(`ConceptMap/${req.params.id} not found`);
    return [allOk, conceptMapOf(m)];
  };
}

function searchHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const maps = [...codeMapsOf(ctx).values()].sort((a, b) => a.name.localeCompare(b.name));
    return [allOk, searchInMemory(ctx, req, 'ConceptMap', maps, SEARCH_PARAMS, matches, (m) => ({ id: m.name, resource: conceptMapOf(m) as Resource }))];
  };
}

/** The `$translate` input parameters read (R4 ConceptMap-translate); the others answer 400. */
const TRANSLATE_INPUTS = new Set(['url', 'conceptMapVersion', 'code', 'system', 'version', 'coding', 'targetsystem', 'reverse']);

interface TranslateInput {
  url?: string;
  conceptMapVersion?: string;
  code: string;
  system?: string;
  targetsystem?: string;
}

const checkText = (name: string, v: unknown): string => {
  if (typeof v !== 'string' || v === '') throw invalid(`Parameter "${name}" must be a non-empty string`, name);
  if (v.length > MAX_PARAM_LENGTH) throw invalid(`Parameter "${name}" is longer than ${MAX_PARAM_LENGTH} characters`, name);
  return v;
};

function fromQuery(q: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of q) {
    if (RESULT_PARAMS.has(name)) continue;
    if (!TRANSLATE_INPUTS.has(name) || name === 'coding') throw invalid(`Unknown or unsupported $translate parameter "${name}" (url, conceptMapVersion, code, system, version, targetsystem, reverse)`, name);
    if (name in out) throw invalid(`Parameter "${name}" is repeated`, name);
    out[name] = value;
  }
  return out;
}

function fromParameters(body: unknown): Record<string, unknown> {
  if ((body as { resourceType?: unknown } | undefined)?.resourceType !== 'Parameters') throw invalid('Expected a Parameters resource', 'resourceType');
  const params = (body as Parameters).parameter;
  if (params !== undefined && !Array.isArray(params)) throw invalid('Parameters.parameter must be an array', 'Parameters.parameter');
  const out: Record<string, unknown> = {};
  for (const p of (params ?? []) as ParametersParameter[]) {
    const name = typeof p?.name === 'string' ? p.name : '';
    if (!TRANSLATE_INPUTS.has(name)) throw invalid(`Unknown or unsupported $translate parameter "${name}"`, `Parameters.parameter.where(name='${name}')`);
    if (name in out) throw invalid(`Parameter "${name}" is repeated`, name);
    const value =
      name === 'coding' ? p.valueCoding : name === 'reverse' ? p.valueBoolean : (p.valueUri ?? p.valueCode ?? p.valueString ?? p.valueCanonical);
    if (value === undefined) throw invalid(`Parameter "${name}" has no value of the expected type`, name);
    out[name] = value;
  }
  return out;
}

function translateInput(raw: Record<string, unknown>): TranslateInput {
  const reverse = raw.reverse;
  if (reverse !== undefined && reverse !== false && reverse !== 'false') throw invalid('Parameter "reverse": only false is supported', 'reverse');
  let code = raw.code;
  let system = raw.system;
  if (raw.coding !== undefined) {
    const c = raw.coding as { code?: unknown; system?: unknown };
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw invalid('Parameter "coding" must be a Coding', 'coding');
    if (code !== undefined) throw invalid('Give either "code" (with "system") or "coding", not both', 'coding');
    code = c.code;
    system = c.system;
  }
  if (code === undefined) throw invalid('Parameter "code" (or "coding") is required', 'code');
  const out: TranslateInput = { code: checkText('code', code) };
  if (system !== undefined) out.system = checkText('system', system);
  for (const k of ['url', 'conceptMapVersion', 'targetsystem'] as const) if (raw[k] !== undefined) out[k] = checkText(k, raw[k]);
  if (raw.version !== undefined) checkText('version', raw.version);
  return out;
}

function answer(maps: CodeMap[], input: TranslateInput): Parameters {
  const parameter: ParametersParameter[] = [];
  const messages: string[] = [];
  for (const m of maps) {
    if (input.targetsystem !== undefined && input.targetsystem !== m.targetSystem) {
      messages.push(`ConceptMap ${m.name} maps to ${m.targetSystem}, not ${input.targetsystem}`);
      continue;
    }
    const r = translate(m, input.code, input.system);
    messages.push(r.message);
    if (r.match) {
      parameter.push({
        name: 'match',
        part: [
          { name: 'equivalence', valueCode: r.match.equivalence },
          { name: 'concept', valueCoding: { system: r.match.system, code: r.match.code, ...(r.match.display !== undefined ? { display: r.match.display } : {}) } },
          { name: 'source', valueUri: r.match.source },
        ],
      });
    }
  }
  if (!maps.length) messages.push(`No ConceptMap translates codes of ${input.system ?? '(no system)'}`);
  return {
    resourceType: 'Parameters',
    parameter: [{ name: 'result', valueBoolean: parameter.length > 0 }, { name: 'message', valueString: messages.join('; ') }, ...parameter],
  };
}

function translateHandler(ctx: FhirContext): FhirHandler {
  return async (req: FhirRequest) => {
    const raw = req.method === 'POST' ? fromParameters(req.body) : fromQuery(req.query);
    const input = translateInput(raw);
    const all = codeMapsOf(ctx);
    let maps: CodeMap[];
    if (req.params.id !== undefined) {
      assertId(req.params.id);
      const m = all.get(req.params.id);
      if (!m) throw notFound(`ConceptMap/${req.params.id} not found`);
      if (input.url !== undefined && input.url !== m.url) throw invalid(`Parameter "url" (${input.url}) is not the url of ConceptMap/${m.name} (${m.url})`, 'url');
      maps = [m];
    } else if (input.url !== undefined) {
      const m = [...all.values()].find((x) => x.url === input.url);
      if (!m) throw notFound(`No ConceptMap with url ${input.url}`);
      maps = [m];
    } else {
      if (input.system === undefined) throw invalid('Give "url" (the ConceptMap) or "system" (the source code system)', 'url');
      maps = [...all.values()].filter((m) => m.sourceSystem === input.system).sort((a, b) => a.name.localeCompare(b.name));
    }
    if (input.conceptMapVersion !== undefined && maps.length === 1 && maps[0].version !== input.conceptMapVersion) {
      throw notFound(`ConceptMap ${maps[0].name} is at version ${maps[0].version}, not ${input.conceptMapVersion}`);
    }
    return [allOk, answer(maps, input)];
  };
}

/** Routes of ConceptMap; listed before the generic `/:type` routes. */
export function conceptMapRoutes(ctx: FhirContext): FhirRoute[] {
  const t = translateHandler(ctx);
  const op = { interactions: ['operation' as const], operation: 'translate', scope: 'fhir.read' as const, handler: t };
  return [
    { method: 'GET', path: '/ConceptMap/$translate', ...op },
    { method: 'POST', path: '/ConceptMap/$translate', body: 'json', ...op },
    { method: 'GET', path: '/ConceptMap/:id/$translate', ...op },
    { method: 'POST', path: '/ConceptMap/:id/$translate', body: 'json', ...op },
    { method: 'GET', path: '/ConceptMap/:id', interactions: ['read'], scope: 'fhir.read', handler: readHandler(ctx) },
    { method: 'POST', path: '/ConceptMap/_search', interactions: ['search-type'], scope: 'fhir.read', body: 'form', searchParams: SEARCH_PARAMS, handler: searchHandler(ctx) },
    { method: 'GET', path: '/ConceptMap', interactions: ['search-type'], scope: 'fhir.read', searchParams: SEARCH_PARAMS, handler: searchHandler(ctx) },
  ];
}

