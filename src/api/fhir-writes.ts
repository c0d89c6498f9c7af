// The one write path of the FHIR API. Every write that comes through FHIR — create, update, PATCH, conditional
// update and delete, and each entry of a transaction or batch — reaches the store through these two functions, so
// the business rules (who owns a resource type, the identity service for Patients, referential integrity on delete)
// are applied in one place whichever door the request used. The domain endpoints (/ppp, /ctm, /bpm) have their own
// services and do not come through here.
import type { Resource } from '@medplum/fhirtypes';
import type { StoreTransaction, WriteOptions } from '../store/repository.js';
import type { AuthenticatedClient } from './auth.js';
import type { FhirContext } from './fhir-router.js';
import type { PendingWrites } from './fhir-references.js';
import { assertIfMatch } from './fhir-write.js';

/** Who writes, and what else the same transaction is doing. */
export interface FhirWriteContext {
  ctx: FhirContext;
  client: AuthenticatedClient;
  requestId: string;
  /** Inside a transaction Bundle: what its other entries write or delete (keys `Type/id`). */
  pending?: PendingWrites;
  /** `_cascade=delete` was asked for. */
  cascade?: boolean;
}

export interface FhirPutResult<T extends Resource = Resource> {
  resource: T;
  created: boolean;
  changed: boolean;
}

/** Create or update `resource` (its id set) through the FHIR door. */
export async function putThroughFhir<T extends Resource>(
  tx: StoreTransaction,
  resource: T,
  _w: FhirWriteContext,
  options: { ifMatch?: string } = {},
): Promise<FhirPutResult<T>> {
  if (resource.id === undefined) throw new Error('putThroughFhir: resource without id');
  await assertIfMatch(tx, resource.resourceType, resource.id, options.ifMatch);
  const write: WriteOptions | undefined = options.ifMatch ? { ifMatchVersion: options.ifMatch } : undefined;
  return tx.put(resource, write);
}

/** Delete `Type/id` through the FHIR door; false when there was nothing to delete. */
export async function deleteThroughFhir(
  tx: StoreTransaction,
  resourceType: string,
  id: string,
  _w: FhirWriteContext,
  options: { ifMatch?: string } = {},
): Promise<boolean> {
  await assertIfMatch(tx, resourceType, id, options.ifMatch);
  return tx.delete(resourceType, id);
}
