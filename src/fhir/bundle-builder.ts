// Transaction Bundle assembly: one PUT entry per resource (ids are deterministic, so a re-send updates),
// in insertion order, each resource once even when several parts of a document name it.
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';

/** Inputs of a mapping that are not in the document: the clock and where the resources will live. */
export interface MapContext {
  /** Mapping time (ISO 8601 dateTime); the only clock a mapping ever sees. */
  now: string;
  /** FHIR base of the server the Bundle is meant for (absolute `fullUrl`s); relative `Type/id` otherwise. */
  baseUrl?: string;
}

/**
 * A literal reference `Type/id` inside the Bundle. Deliberately untyped by target: it is assignable to any
 * `Reference<T>` of @medplum/fhirtypes; the profiles check the target types.
 */
export interface Ref {
  reference: string;
}

/** A resource with its id set, as every mapped resource is. */
export type IdentifiedResource = Resource & { id: string };

export function ref(resourceType: Resource['resourceType'], id: string): Ref {
  return { reference: `${resourceType}/${id}` };
}

export class BundleBuilder {
  private readonly resources = new Map<string, IdentifiedResource>();

  /** Adds a resource unless one with the same type and id is already there (first wins); returns its reference. */
  add<T extends IdentifiedResource>(resource: T): Ref {
    const key = `${resource.resourceType}/${resource.id}`;
    if (!this.resources.has(key)) this.resources.set(key, resource);
    return { reference: key };
  }

  has(resourceType: string, id: string): boolean {
    return this.resources.has(`${resourceType}/${id}`);
  }

  get size(): number {
    return this.resources.size;
  }

  build(ctx: MapContext): Bundle {
    const base = ctx.baseUrl ? ctx.baseUrl.replace(/\/+$/, '') + '/' : '';
    const entry: BundleEntry[] = [];
    for (const [key, resource] of this.resources) {
      entry.push({ fullUrl: base + key, resource, request: { method: 'PUT', url: key } });
    }
    return { resourceType: 'Bundle', type: 'transaction', timestamp: ctx.now, entry };
  }
}
