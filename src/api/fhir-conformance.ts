// Passerelle's own definitions, served read-only: the StructureDefinitions, CodeSystems and ValueSets of profiles/
// (generated from src/fhir/profiles/specs.ts by `npm run profiles`; the validator reads the same files) and the
// OperationDefinitions of the operations we route. Read by id and searched by url, name, status, version or _id;
// they are not in the store, and writes to these types answer 405.
import { allOk } from '@medplum/core';
import type { Bundle, CodeSystem, OperationDefinition, Resource, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { readFileSync, readdirSync } from 'node:fs';
import { invalid, notFound } from '../fhir/outcome.js';
import type { FhirContext, FhirHandler, FhirRequest, FhirRoute, RouteSearchParam } from './fhir-router.js';
import { OPERATION_DEFINITIONS } from './fhir-operation-definitions.js';
import { assertId } from './fhir-write.js';

type Definition = StructureDefinition | CodeSystem | ValueSet | OperationDefinition;

export const DEFINITION_TYPES = ['StructureDefinition', 'CodeSystem', 'ValueSet', 'OperationDefinition'] as const;

const PROFILES_DIR = new URL('../../profiles/', import.meta.url);

let loaded: Map<string, Map<string, Definition>> | undefined;

/** Definitions by type, then id; profiles/ is read once, on first use. */
function definitions(): Map<string, Map<string, Definition>> {
  if (loaded) return loaded;
  const byType = new Map<string, Map<string, Definition>>(DEFINITION_TYPES.map((t) => [t, new Map()]));
  for (const file of readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const r = JSON.parse(readFileSync(new URL(file, PROFILES_DIR), 'utf8')) as Definition;
    if (r.id) byType.get(r.resourceType)?.set(r.id, r);
  }
  for (const od of OPERATION_DEFINITIONS.values()) byType.get('OperationDefinition')?.set(od.id as string, od);
  loaded = byType;
  return byType;
}

const SEARCH_PARAMS: RouteSearchParam[] = [
  { name: '_id', type: 'token', documentation: 'Resource.id' },
  { name: 'url', type: 'uri', documentation: 'The canonical url (a |version suffix must match the version)' },
  { name: 'name', type: 'string', documentation: 'Computer name, case-insensitive, starts with' },
  { name: 'status', type: 'token', documentation: 'draft | active | retired | unknown' },
  { name: 'version', type: 'token', documentation: 'Business version' },
];
const RESULT_PARAMS = new Set(['_format', '_pretty', '_count', '_offset']);

/**
 * The search parameters every canonical resource answers (`_id`, `url` with an optional `|version`, `name` starting
 * with, any case, `version`); undefined for another parameter.
 */
export function canonicalParamMatches(r: { id?: string; url?: string; name?: string; version?: string }, name: string, v: string): boolean | undefined {
  switch (name) {
    case '_id':
      return r.id === v;
    case 'url': {
      const [url, version] = v.split('|');
      return r.url === url && (version === undefined || r.version === version);
    }
    case 'name':
      return (r.name ?? '').toLowerCase().startsWith(v.toLowerCase());
    case 'version':
      return r.version === v;
    default:
      return undefined;
  }
}

function matches(r: Definition, name: string, values: string[]): boolean {
  return values.some((v) => canonicalParamMatches(r as { id?: string; url?: string; name?: string; version?: string }, name, v) ?? (name === 'status' ? r.status === v : false));
}

function readDefinitionHandler(type: string): FhirHandler {
  return async (req) => {
    assertId(req.params.id);
    const r = definitions().get(type)?.get(req.params.id);
    if (!r) throw notFound(`${type}/${req.params.id} not found`);
    return [allOk, r as Resource];
  };
}

/**
 * A search over resources held in memory (the packaged definitions, the ConceptMaps of the code maps): each query
 * parameter filters with `matches` (comma = or), unknown ones are a 400, `_count`/`_offset` page; a searchset Bundle.
 */
export function searchInMemory<T>(
  ctx: FhirContext,
  req: FhirRequest,
  type: string,
  items: readonly T[],
  params: readonly RouteSearchParam[],
  matches: (item: T, name: string, values: string[]) => boolean,
  entryOf: (item: T) => { id: string; resource: Resource },
): Bundle {
  const known = new Set(params.map((p) => p.name));
  let found = [...items];
  for (const [name, value] of req.query) {
    if (RESULT_PARAMS.has(name)) continue;
    if (!known.has(name)) throw invalid(`Unknown search parameter "${name}" for ${type} (${[...known].join(', ')})`, name);
    const values = value.split(',').filter((v) => v !== '');
    if (values.length) found = found.filter((r) => matches(r, name, values));
  }
  const num = (name: string, fallback: number): number => {
    const v = req.query.get(name);
    if (v === null || v === '') return fallback;
    if (!/^\d{1,9}$/.test(v)) throw invalid(`${name}: expected a non-negative integer, got "${v}"`, name);
    return Number(v);
  };
  const count = Math.min(num('_count', 100), 1000);
  const offset = num('_offset', 0);
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: found.length,
    link: [{ relation: 'self', url: `${ctx.fhirBase}/${type}${req.query.size ? `?${req.query.toString()}` : ''}` }],
    entry: found.slice(offset, offset + count).map((item) => {
      const { id, resource } = entryOf(item);
      return { fullUrl: `${ctx.fhirBase}/${type}/${id}`, resource, search: { mode: 'match' as const } };
    }),
  };
}

function searchDefinitionsHandler(ctx: FhirContext, type: string): FhirHandler {
  return async (req) => [
    allOk,
    searchInMemory(ctx, req, type, [...(definitions().get(type)?.values() ?? [])], SEARCH_PARAMS, matches, (r) => ({ id: r.id as string, resource: r as Resource })),
  ];
}

/** Read and search routes of the definition types; listed before the generic `/:type` routes. */
export function definitionRoutes(ctx: FhirContext): FhirRoute[] {
  return DEFINITION_TYPES.flatMap((type): FhirRoute[] => [
    { method: 'GET', path: `/${type}/:id`, interactions: ['read'], scope: 'fhir.read', handler: readDefinitionHandler(type) },
    { method: 'GET', path: `/${type}`, interactions: ['search-type'], scope: 'fhir.read', searchParams: SEARCH_PARAMS, handler: searchDefinitionsHandler(ctx, type) },
  ]);
}
