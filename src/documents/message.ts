// The outbox payload of a clinical document bound for the DMP or a PDSm endpoint: everything needed to render it
// again, identically, at delivery (the canonical document, the registry's patient traits, ids and time), so a retry
// sends the same bytes under the same uniqueId.
import { z } from 'zod';
import { PatientIdentity } from '../domain/identity.js';
import { parseDocument } from '../domain/parse.js';
import { MASKING_CODES, type DocumentRequest, type SourceDocument } from './model.js';

const documentMessageSchema = z.object({
  event: z.string(),
  kind: z.enum(['ppp', 'ctm', 'bpm']),
  /** The canonical document as stored (re-parsed at delivery). */
  document: z.unknown(),
  /** The federated identity's reference traits (QUAL, with the INS). */
  patient: PatientIdentity,
  ids: z.object({ id: z.string(), setId: z.string(), version: z.number().int().positive(), replaces: z.string().optional() }),
  effectiveTime: z.string(),
  confidentiality: z.enum(['N', 'R', 'V']).default('N'),
  masking: z.array(z.enum(MASKING_CODES)).default([]),
  /** The stored FHIR root resource and its version (for logs and operators). */
  resource: z.string(),
  versionId: z.string(),
});
export type DocumentMessage = z.input<typeof documentMessageSchema>;

/** The message a payload holds, checked; throws when the payload is not one (a message written by hand). */
export function documentMessageOf(payload: unknown): z.output<typeof documentMessageSchema> {
  return documentMessageSchema.parse(payload);
}

/** The document request a payload describes; throws when the payload is not one (a message written by hand). */
export function documentRequestOf(payload: unknown): DocumentRequest {
  const m = documentMessageOf(payload);
  const source = { kind: m.kind, document: parseDocument(m.kind, m.document) } as SourceDocument;
  return {
    source,
    patient: m.patient,
    ids: m.ids,
    effectiveTime: m.effectiveTime,
    confidentiality: m.confidentiality,
    masking: m.masking,
  };
}
