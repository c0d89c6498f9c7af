// Instance and type level handlers: create, read, vread, update, delete, history.
import { randomUUID } from 'node:crypto';
import { allOk, created } from '@medplum/core';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { invalid, notFound } from '../fhir/outcome.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';
import { assertReferencesResolve } from './fhir-references.js';
import { findMatches } from './fhir-search.js';
import { mayRead, mayReadKey, scopedReader, storeFor, transactionGrants } from '../services/access/visibility.js';
import { deleteThroughFhir, putThroughFhir, type FhirWriteContext } from './fhir-writes.js';
import type { FhirRequest } from './fhir-router.js';
import {
  asResource,
  assertId,
  assertResourceType,
  assertValidResource,
  gone,
  isDeleted,
  parseIfMatch,
  preconditionFailed,
} from './fhir-write.js';

/** The write context of a request outside any Bundle. */
export const writer = (ctx: FhirContext, req: FhirRequest): FhirWriteContext => ({
  ctx,
  client: req.client,
  requestId: req.requestId,
  ...(req.query.get('_cascade') === 'delete' ? { cascade: true } : {}),
});

function typeAndId(params: Record<string, string>): { type: string; id: string } {
  assertResourceType(params.type);
  if (params.id !== undefined) assertId(params.id);
  return { type: params.type, id: params.id };
}

export function createHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type } = typeAndId(req.params);
    const body = asResource(req.body, type);
    // The server assigns the id of a created resource; a client id in the body is ignored (FHIR create).
    const resource: Resource = { ...body, id: randomUUID() };
    assertValidResource(resource);
    return ctx.store.transaction(async (tx) => {
      if (req.headers.ifNoneExist) {
        const matches = await findMatches(scopedReader(tx, req.client, transactionGrants(tx)), type, req.headers.ifNoneExist, 'If-None-Exist');
        if (matches.length > 1) throw preconditionFailed(`If-None-Exist "${req.headers.ifNoneExist}" matches ${matches.length} ${type} resources`);
        if (matches.length === 1) return [allOk, matches[0]];
      }
      await assertReferencesResolve(tx, resource, ctx.fhirBase);
      // A Patient lands at the id derived from its identifier: the same source identity posted again is an update.
      const result = await putThroughFhir(tx, resource, writer(ctx, req), { assignedId: true });
      const stored = result.resource;
      if (result.changed) {
        await tx.audit({
          action: result.created ? 'fhir.create' : 'fhir.update',
          actor: req.client.id,
          entities: [`${type}/${stored.id}`],
          outcome: 'success',
          requestId: req.requestId,
        });
      }
      return [result.created ? created : allOk, stored];
    });
  };
}

export function updateHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = typeAndId(req.params);
    const resource = asResource(req.body, type);
    if (resource.id === undefined) throw invalid(`Resource id is required and must equal the id "${id}" in the URL`, 'id');
    if (resource.id !== id) throw invalid(`Resource id "${resource.id}" does not match the id "${id}" in the URL`, 'id');
    const ifMatch = parseIfMatch(req.headers.ifMatch);
    assertValidResource(resource);
    return ctx.store.transaction(async (tx) => {
      await assertReferencesResolve(tx, resource, ctx.fhirBase);
      const result = await putThroughFhir(tx, resource, writer(ctx, req), { ifMatch });
      if (result.changed) {
        await tx.audit({
          action: result.created ? 'fhir.create' : 'fhir.update',
          actor: req.client.id,
          entities: [`${type}/${id}`],
          outcome: 'success',
          requestId: req.requestId,
        });
      }
      return [result.created ? created : allOk, result.resource];
    });
  };
}

export function readHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = typeAndId(req.params);
    // Another tenant's resource answers as a missing one (existence does not leak), deleted ones too.
    const resource = await storeFor(ctx.store, req.client).read(type, id);
    if (resource) return [allOk, resource];
    if ((await isDeleted(ctx.store, type, id)) && (await mayReadKey(ctx.store, req.client, type, id))) throw gone(`${type}/${id} has been deleted`);
    throw notFound(`${type}/${id} not found`);
  };
}

export function vreadHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = typeAndId(req.params);
    const vid = req.params.vid;
    assertId(vid);
    const version = await ctx.store.vread(type, id, vid);
    if (!version || !(await mayReadKey(ctx.store, req.client, type, id)) || (!version.deleted && !(await mayRead(ctx.store.security, req.client, version.resource)))) {
      throw notFound(`${type}/${id}/_history/${vid} not found`);
    }
    if (version.deleted) throw gone(`${type}/${id} was deleted in version ${vid}`);
    return [allOk, version.resource];
  };
}

export function deleteHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = typeAndId(req.params);
    await ctx.store.transaction(async (tx) => {
      if (await deleteThroughFhir(tx, type, id, writer(ctx, req))) {
        await tx.audit({ action: 'fhir.delete', actor: req.client.id, entities: [`${type}/${id}`], outcome: 'success', requestId: req.requestId });
      }
    });
    // Deleting what is absent or already deleted succeeds too (FHIR delete is idempotent).
    return [allOk];
  };
}

export function historyHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = typeAndId(req.params);
    const all = await ctx.store.history(type, id);
    // Only the versions the principal may see (each judged on its own content), and none of another tenant's resource.
    const versions = (await mayReadKey(ctx.store, req.client, type, id))
      ? (await Promise.all(all.map(async (v) => ((v.deleted || (await mayRead(ctx.store.security, req.client, v.resource))) ? v : undefined)))).filter(
          (v): v is (typeof all)[number] => v !== undefined,
        )
      : [];
    if (versions.length === 0) throw notFound(`${type}/${id} not found`);
    const entry: BundleEntry[] = versions.map((v, i) => {
      const { versionId, lastUpdated } = v.resource.meta ?? {};
      const first = i === versions.length - 1;
      return {
        fullUrl: `${ctx.fhirBase}/${type}/${id}`,
        ...(v.deleted ? {} : { resource: v.resource }),
        request: { method: v.deleted ? 'DELETE' : first ? 'POST' : 'PUT', url: first && !v.deleted ? type : `${type}/${id}` },
        response: {
          status: v.deleted ? '204 No Content' : first ? '201 Created' : '200 OK',
          ...(versionId ? { etag: `W/"${versionId}"` } : {}),
          ...(lastUpdated ? { lastModified: lastUpdated } : {}),
        },
      };
    });
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total: versions.length,
      link: [{ relation: 'self', url: `${ctx.fhirBase}/${type}/${id}/_history` }],
      entry,
    };
    return [allOk, bundle];
  };
}
