// Type-level search: the query parsed by src/fhir/search-params.ts, run through the store, answered as a
// searchset Bundle with total, paging links, `_include` / `_revinclude` resources, the matches cut by `_summary` /
// `_elements`, and an `outcome` entry saying what the server changed or ignored (`_count` capped, unknown parameters
// under `Prefer: handling=lenient`).
import { allOk } from '@medplum/core';
import type { Bundle, BundleEntry, BundleLink, Resource } from '@medplum/fhirtypes';
import { invalid, outcome } from '../fhir/outcome.js';
import { subsetResource, type Subset } from '../fhir/resource-subset.js';
import { parseIncludes, parseSearchParams, parseSearchRequest, referencesOf, type IncludeSpec, type SearchRequest } from '../fhir/search-params.js';
import type { StoreTransaction } from '../store/repository.js';
import { MAX_OR_VALUES } from '../store/search-sql.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';
import { assertResourceType } from './fhir-write.js';
import { storeFor } from '../services/access/visibility.js';

type Reader = Pick<StoreTransaction, 'search' | 'read'>;

/** How many rounds of `:iterate` includes we follow before stopping (cycles are cut by `seen` anyway). */
const MAX_INCLUDE_DEPTH = 4;
/** Included resources per page, so one page cannot pull the whole database. */
const MAX_INCLUDED = 1000;

/** Up to two resources matching a conditional query (`ifNoneExist`, conditional update or reference). */
export async function findMatches(reader: Pick<StoreTransaction, 'search'>, type: string, queryString: string, expression: string): Promise<Resource[]> {
  const query = parseSearchParams(type, new URLSearchParams(queryString));
  if (query.predicates.length === 0) throw invalid(`Conditional query "${queryString}" has no search criterion`, expression);
  const { resources } = await reader.search({ ...query, count: 2, offset: 0, total: false });
  return resources;
}

const keyOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

async function included(reader: Reader, matches: Resource[], include: IncludeSpec[], revinclude: IncludeSpec[]): Promise<Resource[]> {
  const seen = new Set(matches.map(keyOf));
  const out: Resource[] = [];
  let frontier = matches;
  for (let depth = 0; depth < MAX_INCLUDE_DEPTH && frontier.length > 0 && out.length < MAX_INCLUDED; depth++) {
    const next: Resource[] = [];
    const add = (r: Resource): void => {
      if (seen.has(keyOf(r)) || out.length >= MAX_INCLUDED) return;
      seen.add(keyOf(r));
      out.push(r);
      next.push(r);
    };
    // Round 0 applies every spec to the matches; later rounds only `:iterate` specs to what was just included.
    const active = (s: IncludeSpec): boolean => depth === 0 || s.iterate;
    for (const spec of include.filter(active)) {
      for (const r of frontier) {
        if (r.resourceType !== spec.sourceType) continue;
        for (const ref of referencesOf(r, spec.param, spec.targetType)) {
          if (seen.has(ref)) continue;
          const [type, id] = ref.split('/');
          const target = await reader.read(type, id);
          if (target) add(target);
        }
      }
    }
    for (const spec of revinclude.filter(active)) {
      const targets = frontier.map(keyOf).filter((k) => !spec.targetType || k.startsWith(`${spec.targetType}/`));
      // A page holds up to 1000 matches; one search takes at most MAX_OR_VALUES alternatives.
      for (let from = 0; from < targets.length && out.length < MAX_INCLUDED; from += MAX_OR_VALUES) {
        const { resources } = await reader.search({
          resourceType: spec.sourceType,
          predicates: [{ param: spec.param, prefix: 'eq', values: targets.slice(from, from + MAX_OR_VALUES) }],
          count: MAX_INCLUDED,
          offset: 0,
          total: false,
        });
        resources.forEach(add);
      }
    }
    frontier = next;
  }
  return out;
}

/** The self, next (when `more`) and previous links of a page of `base` (`…/fhir/Patient`, `…/Patient/1/$everything`). */
export function pageLinks(base: string, params: URLSearchParams, count: number, offset: number, more: boolean, ignored: readonly string[] = []): BundleLink[] {
  const url = (at: number): string => {
    const p = new URLSearchParams();
    for (const [k, v] of params) if (k !== '_count' && k !== '_offset' && !ignored.includes(k)) p.append(k, v);
    p.set('_count', String(count));
    p.set('_offset', String(at));
    return `${base}?${p.toString()}`;
  };
  const link: BundleLink[] = [{ relation: 'self', url: url(offset) }];
  if (count > 0) {
    if (more) link.push({ relation: 'next', url: url(offset + count) });
    if (offset > 0) link.push({ relation: 'previous', url: url(Math.max(0, offset - count)) });
  }
  return link;
}

export interface SearchOptions {
  /** `Prefer: handling=lenient`: unknown parameters are ignored and reported in the Bundle instead of refused. */
  lenient?: boolean;
}

/** How `_summary` / `_elements` cut the matches; undefined when they are returned whole. */
function subsetOf(request: SearchRequest): Subset | undefined {
  if (request.elements) return { elements: request.elements };
  const s = request.summary;
  return s === 'true' || s === 'text' || s === 'data' ? { summary: s } : undefined;
}

/**
 * Run a search and build the searchset Bundle. `_summary` and `_elements` apply to the matches only: included
 * resources come whole (R5 says so explicitly; R4 leaves it open), so a client can always follow them.
 */
export async function searchBundle(ctx: FhirContext, reader: Reader, type: string, params: URLSearchParams, options: SearchOptions = {}): Promise<Bundle> {
  const request = parseSearchRequest(type, params, options);
  const { query, ignored } = request;
  const { include, revinclude } = parseIncludes(type, params);
  const result = await reader.search({ ...query, total: query.total ?? true });
  const extra = await included(reader, result.resources, include, revinclude);
  const subset = subsetOf(request);

  const { count, offset } = query;
  const more = result.total !== undefined ? offset + count < result.total : result.resources.length === count;
  const link = pageLinks(`${ctx.fhirBase}/${type}`, params, count, offset, more, ignored);
  const entry: BundleEntry[] = [
    ...result.resources.map(
      (r): BundleEntry => ({ fullUrl: `${ctx.fhirBase}/${keyOf(r)}`, resource: subset ? subsetResource(r, subset) : r, search: { mode: 'match' } }),
    ),
    ...extra.map((r): BundleEntry => ({ fullUrl: `${ctx.fhirBase}/${keyOf(r)}`, resource: r, search: { mode: 'include' } })),
  ];
  if (request.notes.length > 0) entry.push({ resource: outcome(request.notes), search: { mode: 'outcome' } });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total !== undefined ? { total: result.total } : {}),
    link,
    entry,
  };
}

/** Whether a `Prefer` header asks for lenient handling (`handling=lenient`, among other preferences). */
export function prefersLenient(prefer: string | undefined): boolean {
  if (!prefer) return false;
  return prefer
    .split(/[,;]/)
    .map((p) => p.trim().toLowerCase().replace(/\s*=\s*/, '=').replace(/"/g, ''))
    .some((p) => p === 'handling=lenient');
}

export function searchHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    assertResourceType(req.params.type);
    return [allOk, await searchBundle(ctx, storeFor(ctx.store, req.client), req.params.type, req.query, { lenient: prefersLenient(req.headers.prefer) })];
  };
}
