// Entries of transaction-response Bundles: one shape for every write, whether it came through POST /fhir
// or a domain endpoint (POST /ppp, /ctm, /bpm).
import { STATUS_CODES } from 'node:http';
import type { BundleEntry, Resource } from '@medplum/fhirtypes';

export const statusLine = (status: number): string => `${status} ${STATUS_CODES[status] ?? ''}`.trim();

/** The response entry for a stored resource: location with version, ETag and Last-Modified. */
export function writtenEntry(fhirBase: string, resource: Resource, status: number): BundleEntry {
  const { versionId, lastUpdated } = resource.meta ?? {};
  const ref = `${resource.resourceType}/${resource.id}`;
  return {
    fullUrl: `${fhirBase}/${ref}`,
    resource,
    response: {
      status: statusLine(status),
      location: versionId ? `${ref}/_history/${versionId}` : ref,
      ...(versionId ? { etag: `W/"${versionId}"` } : {}),
      ...(lastUpdated ? { lastModified: lastUpdated } : {}),
    },
  };
}
