// Document ids as OIDs under the configured root, derived from the business identifier (establishment + local id +
// kind), so that re-sending a document version gives the same CDA id and XDS uniqueId (the DMP's idempotency key),
// and a later version can name the one it replaces without asking anyone.
import { createHash } from 'node:crypto';
import type { ClinicalDocumentKind, DocumentIds } from './model.js';

const KIND_ARC: Record<ClinicalDocumentKind, number> = { ppp: 1, ctm: 2, bpm: 3 };
/** XDS: a uniqueId is at most 64 characters. */
const MAX_UNIQUE_ID = 64;

/** 64 bits of SHA-256 of the business identifier, as a decimal OID arc. */
function arcOf(establishment: string, localId: string): string {
  const digest = createHash('sha256').update(`${establishment}\u001f${localId}`).digest();
  return digest.readBigUInt64BE(0).toString(10);
}

function checked(oid: string): string {
  if (oid.length > MAX_UNIQUE_ID) throw new Error(`document id ${oid} is longer than ${MAX_UNIQUE_ID} characters: choose a shorter documents.oidRoot`);
  return oid;
}

/** The stable id of a document across its versions (CDA setId). */
export function documentSetId(oidRoot: string, kind: ClinicalDocumentKind, establishment: string, localId: string): string {
  return checked(`${oidRoot}.${KIND_ARC[kind]}.${arcOf(establishment, localId)}`);
}

/** The id of version `version` of the document `setId` (CDA id, XDS uniqueId). */
export function documentVersionId(setId: string, version: number): string {
  return checked(`${setId}.${version}`);
}

/** Ids of version `version` (1, 2, …), replacing version `replacesVersion` when given. */
export function documentIds(
  oidRoot: string,
  kind: ClinicalDocumentKind,
  establishment: string,
  localId: string,
  version: number,
  replacesVersion?: number,
): DocumentIds {
  const setId = documentSetId(oidRoot, kind, establishment, localId);
  return {
    id: documentVersionId(setId, version),
    setId,
    version,
    ...(replacesVersion !== undefined ? { replaces: documentVersionId(setId, replacesVersion) } : {}),
  };
}

/** The XDS SubmissionSet sourceId, OID of this sending system: `documents.sourceId`, else `<documents.oidRoot>.0`. */
export function submissionSourceId(documents: { oidRoot: string; sourceId?: string }): string {
  return documents.sourceId ?? `${documents.oidRoot}.0`;
}

/** The XDS SubmissionSet uniqueId of a document version's submission (the same on every retry). */
export function submissionSetUniqueId(ids: DocumentIds): string {
  return checked(`${ids.id}.1`);
}
