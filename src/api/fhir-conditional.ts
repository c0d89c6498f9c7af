// Conditional update and delete (`PUT/DELETE /fhir/{type}?search`): the search picks the resource, then the write
// is an ordinary update or delete through the one FHIR write path, in the same transaction as the search.
// Several matches answer 412 and write nothing (conditional delete is `single`).
import { randomUUID } from 'node:crypto';
import { allOk, created } from '@medplum/core';
import { conflict, invalid, issue, outcome } from '../fhir/outcome.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';
import { writer } from './fhir-crud.js';
import { assertReferencesResolve } from './fhir-references.js';
import { findMatches } from './fhir-search.js';
import { scopedReader, transactionGrants } from '../services/access/visibility.js';
import { asResource, assertId, assertResourceType, assertValidResource, parseIfMatch, preconditionFailed } from './fhir-write.js';
import { deleteThroughFhir, putThroughFhir } from './fhir-writes.js';

/** Where a refused criterion is named when no single parameter is to blame. */
const QUERY = '(query)';
/** Query parameters that shape the answer or the write, not the search. */
const NOT_CRITERIA = new Set(['_format', '_pretty', '_cascade']);

/** The search part of the URL, as the query string `findMatches` reads. */
export function conditionalCriteria(query: URLSearchParams): string {
  const criteria = new URLSearchParams();
  for (const [k, v] of query) if (!NOT_CRITERIA.has(k)) criteria.append(k, v);
  return criteria.toString();
}

export function conditionalUpdateHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const type = req.params.type;
    assertResourceType(type);
    const criteria = conditionalCriteria(req.query);
    const resource = asResource(req.body, type);
    if (resource.id !== undefined) assertId(resource.id, 'id');
    const ifMatch = parseIfMatch(req.headers.ifMatch);
    assertValidResource(resource);
    return ctx.store.transaction(async (tx) => {
      const matches = await findMatches(scopedReader(tx, req.client, transactionGrants(tx)), type, criteria, QUERY);
      if (matches.length > 1) {
        throw preconditionFailed(`Conditional update: "${type}?${criteria}" matches several ${type} resources; refine the search`);
      }
      let id: string;
      if (matches.length === 1) {
        id = matches[0].id as string;
        if (resource.id !== undefined && resource.id !== id) {
          throw invalid(`Resource id "${resource.id}" differs from ${type}/${id}, the one "${type}?${criteria}" matches`, 'id');
        }
      } else if (resource.id !== undefined) {
        // No match, but the client names an existing resource: updating it would bypass the search (FHIR R4 §3.1.0.4.3).
        if (await tx.read(type, resource.id)) {
          throw conflict(`No ${type} matches "${criteria}", yet ${type}/${resource.id} exists and does not match`, 'id');
        }
        id = resource.id;
      } else {
        id = randomUUID();
      }
      const toWrite = { ...resource, id };
      await assertReferencesResolve(tx, toWrite, ctx.fhirBase);
      // A server-chosen id lets the write path place a Patient at the id its identifier derives.
      const assignedId = matches.length === 0 && resource.id === undefined;
      const result = await putThroughFhir(tx, toWrite, writer(ctx, req), { ifMatch, assignedId });
      if (result.changed) {
        await tx.audit({
          action: result.created ? 'fhir.create' : 'fhir.update',
          actor: req.client.id,
          entities: [`${type}/${result.resource.id}`],
          outcome: 'success',
          requestId: req.requestId,
        });
      }
      return [result.created ? created : allOk, result.resource];
    });
  };
}

export function conditionalDeleteHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const type = req.params.type;
    assertResourceType(type);
    const criteria = conditionalCriteria(req.query);
    const ifMatch = parseIfMatch(req.headers.ifMatch);
    const deleted = await ctx.store.transaction(async (tx) => {
      const matches = await findMatches(scopedReader(tx, req.client, transactionGrants(tx)), type, criteria, QUERY);
      if (matches.length > 1) {
        throw preconditionFailed(`Conditional delete: "${type}?${criteria}" matches several ${type} resources; this server deletes one at a time`);
      }
      if (matches.length === 0) return undefined;
      const id = matches[0].id as string;
      if (await deleteThroughFhir(tx, type, id, writer(ctx, req), { ifMatch })) {
        await tx.audit({ action: 'fhir.delete', actor: req.client.id, entities: [`${type}/${id}`], outcome: 'success', requestId: req.requestId });
      }
      return `${type}/${id}`;
    });
    const text = deleted ? `Deleted ${deleted}` : `No ${type} matches "${criteria}": nothing deleted`;
    return [outcome([issue('informational', text, undefined, 'information')], allOk.id)];
  };
}
