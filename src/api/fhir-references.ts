// Finding, rewriting and checking the references inside a resource. A relative `Type/id` reference
// must resolve in the store or in the same transaction before anything is committed.
import { isResourceType } from '../fhir/search-params.js';
import type { Resource } from '@medplum/fhirtypes';
import { invalid } from '../fhir/outcome.js';
import type { StoreTransaction } from '../store/repository.js';

export interface FoundReference {
  /** FHIRPath-style location of the `reference` string, e.g. `CarePlan.activity[0].reference.reference`. */
  path: string;
  value: string;
  /** Replace the string in place (used to rewrite `urn:uuid:` references to assigned ids). */
  set(value: string): void;
}

/** Every `reference` string of a resource (Reference.reference), contained resources included. */
export function findReferences(resource: Resource): FoundReference[] {
  const found: FoundReference[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`));
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const obj = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(obj)) {
      if (key.startsWith('_')) continue; // primitive extensions hold no references we resolve
      if (key === 'reference' && typeof value === 'string') {
        found.push({ path: `${path}.reference`, value, set: (v) => (obj.reference = v) });
      } else {
        walk(value, `${path}.${key}`);
      }
    }
  };
  walk(resource, resource.resourceType);
  return found;
}

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^([A-Za-z]+)/(${ID})(?:/_history/(${ID}))?$`);

export type ReferenceKind =
  | { kind: 'local'; resourceType: string; id: string; versionId?: string }
  | { kind: 'contained' }
  | { kind: 'urn'; value: string }
  | { kind: 'conditional'; resourceType: string; query: string }
  | { kind: 'external' }
  | { kind: 'malformed'; reason: string };

/** Classify a reference string; `fhirBase` (e.g. `https://gw/fhir`) makes our own absolute URLs local. */
export function classifyReference(value: string, fhirBase: string): ReferenceKind {
  if (value.startsWith('#')) return { kind: 'contained' };
  if (value.startsWith('urn:uuid:') || value.startsWith('urn:oid:')) return { kind: 'urn', value };
  let rel = value;
  if (/^https?:\/\//.test(value)) {
    if (!value.startsWith(`${fhirBase}/`)) return { kind: 'external' };
    rel = value.slice(fhirBase.length + 1);
  }
  const q = rel.indexOf('?');
  if (q > 0) {
    const resourceType = rel.slice(0, q);
    if (!isResourceType(resourceType)) return { kind: 'malformed', reason: `unknown resource type "${resourceType}"` };
    return { kind: 'conditional', resourceType, query: rel.slice(q + 1) };
  }
  const m = RELATIVE.exec(rel);
  if (!m) return { kind: 'malformed', reason: 'expected Type/id, an absolute URL, urn:uuid: or #contained' };
  if (!isResourceType(m[1])) return { kind: 'malformed', reason: `unknown resource type "${m[1]}"` };
  return { kind: 'local', resourceType: m[1], id: m[2], ...(m[3] ? { versionId: m[3] } : {}) };
}

/** What the current transaction is about to do to `Type/id` keys. */
export type PendingWrites = ReadonlyMap<string, 'write' | 'delete'>;

/**
 * Throws 400 naming the path of the first reference that does not resolve. `exprPrefix` replaces the
 * resource type at the start of paths (e.g. `Bundle.entry[3].resource`).
 */
export async function assertReferencesResolve(
  tx: Pick<StoreTransaction, 'read'>,
  resource: Resource,
  fhirBase: string,
  pending: PendingWrites = new Map(),
  exprPrefix?: string,
): Promise<void> {
  const where = (path: string): string => (exprPrefix ? exprPrefix + path.slice(resource.resourceType.length) : path);
  for (const ref of findReferences(resource)) {
    const k = classifyReference(ref.value, fhirBase);
    switch (k.kind) {
      case 'contained':
      case 'external':
        break;
      case 'malformed':
        throw invalid(`Invalid reference "${ref.value}": ${k.reason}`, where(ref.path));
      case 'urn':
        throw invalid(`Reference "${ref.value}" does not match any fullUrl of the transaction`, where(ref.path));
      case 'conditional':
        throw invalid(`Conditional reference "${ref.value}" is only resolved inside a transaction Bundle`, where(ref.path));
      case 'local': {
        const key = `${k.resourceType}/${k.id}`;
        const state = pending.get(key);
        if (state === 'write') break;
        if (state === 'delete' || !(await tx.read(k.resourceType, k.id))) {
          throw invalid(`Reference "${ref.value}" does not resolve: ${key} is not stored`, where(ref.path));
        }
        break;
      }
    }
  }
}
