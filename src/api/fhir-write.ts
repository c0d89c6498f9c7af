// Checks every FHIR write goes through, shared by the CRUD handlers and Bundle processing: the body is a
// resource of the expected type, passes profile validation, and carries a well-formed id.
import { isResourceType } from '../fhir/search-params.js';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, invalid, invalidIssues, issue, outcome } from '../fhir/outcome.js';
import { validateResource } from '../fhir/validate.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';

/** A JSON object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** 400 unless `type` names an R4 resource type. */
export function assertResourceType(type: string, expression?: string): void {
  if (!isResourceType(type)) throw invalid(`Unknown resource type "${type}"`, expression);
}

export function assertId(id: string, expression?: string): void {
  if (!FHIR_ID.test(id)) throw invalid(`Invalid resource id "${id}": 1-64 characters among A-Z a-z 0-9 - .`, expression);
}

/**
 * The body as a resource of `expectedType`. `prefix` is where the resource sits in the request
 * (`Bundle.entry[2].resource`); without it, expressions start with the bare field (`resourceType`).
 */
export function asResource(body: unknown, expectedType: string, prefix?: string): Resource {
  const at = (field: string): string => (prefix ? `${prefix}.${field}` : field);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('Expected a FHIR resource (a JSON object)', prefix);
  }
  const rt = (body as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string') throw invalid('Missing resourceType', at('resourceType'));
  if (rt !== expectedType) {
    throw invalid(`resourceType "${rt}" does not match the type "${expectedType}" in the URL`, at('resourceType'));
  }
  return body as Resource;
}

/** Re-anchor expressions of issues from `Type.field` to `prefix.field`. */
export function reanchor(issues: OperationOutcomeIssue[], resourceType: string, prefix: string): OperationOutcomeIssue[] {
  return issues.map((i) => ({
    ...i,
    ...(i.expression
      ? {
          expression: i.expression.map((e) =>
            e === resourceType || e.startsWith(`${resourceType}.`) || e.startsWith(`${resourceType}[`)
              ? prefix + e.slice(resourceType.length)
              : `${prefix}.${e}`,
          ),
        }
      : {}),
  }));
}

const isError = (i: OperationOutcomeIssue): boolean => i.severity === 'error' || i.severity === 'fatal';

/** Profile-validate; throws 400 listing every issue when any is an error. */
export function assertValidResource(resource: Resource, prefix?: string): void {
  const issues = validateResource(resource);
  if (!issues.some(isError)) return;
  const errors = issues.filter(isError);
  throw invalidIssues(prefix ? reanchor(errors, resource.resourceType, prefix) : errors);
}

/** Parse `If-Match: W/"3"` (or `"3"`, or `3`) into the version id. */
export function parseIfMatch(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(?:W\/)?"?([A-Za-z0-9\-.]{1,64})"?$/.exec(header.trim());
  if (!m) throw invalid(`Malformed If-Match header "${header}"; expected W/"<versionId>"`);
  return m[1];
}

/** 412: the client's precondition (If-Match, or a conditional request) does not hold. */
export function preconditionFailed(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('conflict', text)], 'precondition-failed'));
}

/** 410: the resource existed and was deleted. */
export function gone(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('deleted', text)], 'gone'));
}

/** Fails with 412 when `ifMatch` is given and differs from the current version. */
export async function assertIfMatch(
  tx: Pick<StoreTransaction, 'read'>,
  resourceType: string,
  id: string,
  ifMatch: string | undefined,
): Promise<void> {
  if (ifMatch === undefined) return;
  const current = await tx.read(resourceType, id);
  if (!current) throw preconditionFailed(`If-Match given but ${resourceType}/${id} does not exist`);
  if (current.meta?.versionId !== ifMatch) {
    throw preconditionFailed(`${resourceType}/${id} is at version ${current.meta?.versionId ?? '?'}, not ${ifMatch}`);
  }
}

/** True when the latest version of `Type/id` is a deletion marker (read then says 410, not 404). */
export async function isDeleted(store: ResourceStore, resourceType: string, id: string): Promise<boolean> {
  const versions = await store.history(resourceType, id);
  return versions[0]?.deleted === true;
}
