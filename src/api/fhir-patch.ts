// `PATCH /fhir/{type}/{id}` with a JSON Patch (RFC 6902, `application/json-patch+json`): the patch is checked as
// a whole, applied (rfc6902) to the current version, and the result written like any update — validated, its
// references resolved, through the one FHIR write path — in one transaction, so a refused patch writes nothing.
import { mayReadKey, scopedReader, transactionGrants } from '../services/access/visibility.js';
import { allOk } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { applyPatch, type Operation } from 'rfc6902';
import { OperationOutcomeError, invalid, issue, notFound, outcome } from '../fhir/outcome.js';
import type { FhirContext, FhirHandler, FhirResponse } from './fhir-router.js';
import { writer } from './fhir-crud.js';
import { assertReferencesResolve } from './fhir-references.js';
import { assertId, assertIfMatch, assertResourceType, assertValidResource, gone, isDeleted, isObject, parseIfMatch } from './fhir-write.js';
import { putThroughFhir } from './fhir-writes.js';

export const JSON_PATCH_TYPE = 'application/json-patch+json';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
/** Elements the server owns: a patch may not touch them (the id and type come from the URL, meta from the store). */
const PROTECTED = new Set(['resourceType', 'id']);
/** Tokens that would reach an object's prototype rather than its data. */
const UNSAFE_TOKENS = new Set(['__proto__', 'constructor', 'prototype']);

/** 422: the patch is well-formed but does not apply to the current resource (missing target, failed `test`). */
function patchConflict(text: string, expression: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('processing', text, expression)], 'business-rule'));
}


function checkPointer(value: unknown, at: string, member: 'path' | 'from'): string {
  if (typeof value !== 'string') throw invalid(`Operation ${at}: "${member}" must be a JSON Pointer string`, `${at}.${member}`);
  if (value !== '' && !value.startsWith('/')) throw invalid(`Operation ${at}: "${member}" "${value}" is not a JSON Pointer (it starts with "/")`, `${at}.${member}`);
  if (/~[^01]|~$/.test(value)) throw invalid(`Operation ${at}: "${member}" "${value}" has an invalid "~" escape`, `${at}.${member}`);
  const tokens = value.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (tokens.some((t) => UNSAFE_TOKENS.has(t))) throw invalid(`Operation ${at}: "${member}" "${value}" names no FHIR element`, `${at}.${member}`);
  return value;
}

/**
 * The body as a list of JSON Patch operations, or 400 naming the first bad member (`[2].path`): not an array, an
 * operation that is not an object, an unknown `op`, a missing or malformed `path`/`from`, a missing `value`, or an
 * operation on the resource itself, `id` or `resourceType`.
 */
export function parseJsonPatch(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw invalid('A JSON Patch body is an array of operations', '(body)');
  if (body.length === 0) throw invalid('The JSON Patch has no operation', '(body)');
  return body.map((op: unknown, i): Operation => {
    const at = `[${i}]`;
    if (!isObject(op)) throw invalid(`Operation ${at} is not an object`, at);
    if (typeof op.op !== 'string' || !OPS.has(op.op)) {
      throw invalid(`Operation ${at}: "op" must be one of add, remove, replace, move, copy, test`, `${at}.op`);
    }
    const path = checkPointer(op.path, at, 'path');
    const from = op.op === 'move' || op.op === 'copy' ? checkPointer(op.from, at, 'from') : undefined;
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !Object.hasOwn(op, 'value')) {
      throw invalid(`Operation ${at}: "${op.op}" needs a "value"`, `${at}.value`);
    }
    const top = (pointer: string): string => pointer.split('/')[1]?.replace(/~1/g, '/').replace(/~0/g, '~') ?? '';
    const writes = op.op !== 'test';
    if (writes && (path === '' || PROTECTED.has(top(path)))) {
      throw invalid(`Operation ${at}: ${path === '' ? 'the whole resource' : `"${top(path)}"`} cannot be patched (it is given by the URL)`, `${at}.path`);
    }
    if (op.op === 'move' && from !== undefined && (from === '' || PROTECTED.has(top(from)))) {
      throw invalid(`Operation ${at}: "${top(from)}" cannot be moved away`, `${at}.from`);
    }
    return op as unknown as Operation;
  });
}

/** Applies `ops` to a copy of `resource`; 422 naming the first operation that does not apply. */
export function applyJsonPatch<T extends Resource>(resource: T, ops: Operation[]): T {
  const target = structuredClone(resource);
  ops.forEach((op, i) => {
    let error: Error | null;
    try {
      [error] = applyPatch(target, [op]);
    } catch (e) {
      // rfc6902 throws on a pointer it cannot parse; parseJsonPatch should have refused it already.
      throw invalid(`Operation [${i}]: ${(e as Error).message}`, `[${i}].path`);
    }
    if (!error) return;
    if (error.name === 'TestError') throw patchConflict(`Operation [${i}]: test failed at "${op.path}": the value differs`, `[${i}].value`);
    const member = error.name === 'MissingError' && 'from' in op && (error as Error & { path?: string }).path === op.from ? 'from' : 'path';
    const where = member === 'from' ? (op as { from: string }).from : op.path;
    throw patchConflict(`Operation [${i}] (${op.op}): no value at "${where}"`, `[${i}].${member}`);
  });
  if (!isObject(target)) throw invalid('The patch did not leave a resource', '(body)');
  return target;
}

export function patchHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const { type, id } = req.params;
    assertResourceType(type);
    assertId(id);
    const ops = parseJsonPatch(req.body);
    const ifMatch = parseIfMatch(req.headers.ifMatch);
    const response = await ctx.store.transaction(async (tx): Promise<FhirResponse | undefined> => {
      // Another tenant's resource answers as a missing one.
      const current = await scopedReader(tx, req.client, transactionGrants(tx)).read(type, id);
      if (!current) return undefined;
      await assertIfMatch(tx, type, id, ifMatch); // a stale version is said before anything about the patch
      const patched = applyJsonPatch(current, ops);
      if (patched.resourceType !== type || patched.id !== id) throw invalid('The patch changed the resource id or type', '(body)');
      assertValidResource(patched);
      await assertReferencesResolve(tx, patched, ctx.fhirBase);
      // Without If-Match, the version read above is the one patched: a concurrent write in between is a conflict.
      const result = await putThroughFhir(tx, patched, writer(ctx, req), { ifMatch: ifMatch ?? current.meta?.versionId });
      if (result.changed) {
        await tx.audit({ action: 'fhir.patch', actor: req.client.id, entities: [`${type}/${id}`], outcome: 'success', requestId: req.requestId });
      }
      return [allOk, result.resource];
    });
    if (response) return response;
    if ((await isDeleted(ctx.store, type, id)) && (await mayReadKey(ctx.store, req.client, type, id))) throw gone(`${type}/${id} has been deleted`);
    throw notFound(`${type}/${id} not found`);
  };
}
