// Enqueueing a clinical document for the DMP (ITI-41) or a PDSm endpoint (ITI-65), in the submission's transaction.
// The DMP rules are applied here, before anything is sent: the patient's identity must be certain and qualified
// (QUAL, with its INS), and the patient must not have objected. A refusal is not an error of the submission (the
// document is stored all the same): it is audited and reported back as a warning naming the reason.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { DocumentKind, DocumentOf } from '../domain/parse.js';
import type { DmpOptions } from '../domain/dmp.js';
import { documentIds } from '../documents/ids.js';
import type { DocumentMessage } from '../documents/message.js';
import type { MaskingCode, SourceDocument } from '../documents/model.js';
import { documentOrganization } from '../documents/settings.js';
import { isDocumentDestination, type DmpDestinationConfig, type MssanteDestinationConfig, type OutboxConfig, type OutboxEvent, type PdsmDestinationConfig } from '../outbox/config.js';
import { notifyEnqueued } from '../outbox/events.js';
import type { FederatedIdentityRecord } from '../identity/records.js';
import type { DocumentIds } from '../documents/model.js';
import type { PatientIdentity } from '../domain/identity.js';
import type { MssanteConfig } from '../connectors/mssante/config.js';
import type { DirectoryRepository } from '../store/directory-repository.js';
import type { StoreTransaction } from '../store/repository.js';
import { enqueueMssante } from './mssante-delivery.js';

export interface DocumentsSettings {
  /** OID root of document ids (`documents.oidRoot`). */
  oidRoot: string;
}

export interface DocumentDelivery {
  tx: StoreTransaction;
  outbox: OutboxConfig;
  documents: DocumentsSettings;
  event: OutboxEvent;
  kind: DocumentKind;
  document: DocumentOf<DocumentKind>;
  /** The patient's federated identity, and whether the registry is certain of the link (no open review). */
  federatedId: string;
  settled: boolean;
  /** The stored FHIR root resource (`CarePlan/…`, `Composition/…`) and its version. */
  resource: string;
  versionId: string;
  /** Document creation time (ISO 8601): the submission's clock reading. */
  now: string;
  actor: string;
  requestId?: string;
  /** The gateway's MSSanté mailbox (`mssante` section): needed when an `mssante` destination is routed. */
  mssante?: MssanteConfig;
  /** The local MSSanté directory (committed data, read outside the transaction): recipients' addresses by RPPS. */
  directory?: Pick<DirectoryRepository, 'byRpps'>;
}

/** The XDS uniqueId is the message's idempotency key at document destinations. */
const keyOf = (uniqueId: string): string => `urn:oid:${uniqueId}`;

/**
 * The patient's qualified identity, or why the document may not go out for this patient: the DMP's rules (opposition,
 * a certain and qualified identity), or only the identity ones (`dmp` undefined: MSSanté, whose XDM carries the
 * same XDS metadata, filed under the INS). `to` names where, in the reason.
 */
export async function qualifiedPatient(d: DocumentDelivery, dmp: DmpOptions | undefined, to = 'the DMP'): Promise<{ federated: FederatedIdentityRecord } | { refusal: string }> {
  if (dmp?.opposition) return { refusal: 'the patient objected to feeding their DMP (dmp.opposition)' };
  if (!d.settled) return { refusal: `the patient identity is not certain yet (an identity review is open): documents go to ${to} only for a qualified INS` };
  const federated = await d.tx.identities.getFederated(d.federatedId);
  if (!federated) return { refusal: `federated identity ${d.federatedId} not found` };
  if (federated.status !== 'QUAL' || !federated.traits.ins) {
    return { refusal: `the patient identity is ${federated.status}, not qualified (QUAL with its INS): documents go to ${to} only for a qualified INS` };
  }
  return { federated };
}

/** The document's establishment (or pharmacy) FINESS: part of its ids. */
export const establishmentOf = (d: DocumentDelivery): string => documentOrganization({ kind: d.kind, document: d.document } as SourceDocument).finess;

/** The ids of version `version` of the submitted document (replacing `replaces` when given). */
export const idsOf = (d: DocumentDelivery, version: number, replaces?: number): DocumentIds => documentIds(d.documents.oidRoot, d.kind, establishmentOf(d), d.document.id, version, replaces);

/**
 * The outbox payload of a document destination: everything needed to build the document again, identically. The
 * registry's qualified traits and INS, with the sender's own patient id (its IPP goes in the CDA and in XDS
 * sourcePatientId; the reference traits may have come from another establishment).
 */
export function documentMessage(d: DocumentDelivery, traits: PatientIdentity, ids: DocumentIds, masking: MaskingCode[]): DocumentMessage {
  return {
    event: d.event,
    kind: d.kind,
    document: d.document,
    patient: { ...traits, sourceId: d.document.patient.sourceId },
    ids,
    effectiveTime: d.now,
    masking,
    resource: d.resource,
    versionId: d.versionId,
  };
}

/**
 * Enqueues the document for every document destination routed from `event`. Returns a warning per refused
 * destination (empty when everything was enqueued or nothing is routed).
 */
export async function enqueueDocuments(d: DocumentDelivery): Promise<OperationOutcomeIssue[]> {
  const routes: { name: string; destination: DmpDestinationConfig | PdsmDestinationConfig }[] = [];
  const mail: { name: string; destination: MssanteDestinationConfig }[] = [];
  for (const r of d.outbox.routes) {
    const destination = d.outbox.destinations[r.destination];
    if (r.on !== d.event || !isDocumentDestination(destination)) continue;
    if (destination.kind === 'mssante') mail.push({ name: r.destination, destination });
    else routes.push({ name: r.destination, destination });
  }
  if (routes.length === 0 && mail.length === 0) return [];
  const dmp = (d.document as { dmp?: DmpOptions }).dmp;
  const issues: OperationOutcomeIssue[] = [];
  let created = 0;
  // MSSanté: one message per recipient (mssante-delivery.ts).
  for (const { name, destination } of mail) {
    const r = await enqueueMssante(d, name, destination);
    issues.push(...r.issues);
    created += r.created;
  }
  const patient = routes.length > 0 ? await qualifiedPatient(d, dmp) : { refusal: '' };
  const version = Number(d.versionId);
  for (const { name, destination } of routes) {
    if ('refusal' in patient) {
      const { refusal } = patient;
      issues.push({
        severity: 'warning',
        code: 'business-rule',
        details: { text: `not sent to ${name}: ${refusal}` },
        expression: [dmp?.opposition ? `${d.kind}.dmp.opposition` : `${d.kind}.patient`],
      });
      await d.tx.audit({
        action: 'document.refused',
        actor: d.actor,
        entities: [d.resource, `Patient/${d.federatedId}`],
        outcome: 'failure',
        detail: `${name}: ${refusal}`,
        ...(d.requestId ? { requestId: d.requestId } : {}),
      });
      continue;
    }
    // The latest earlier version enqueued here is the one this version replaces (RPLC); a version refused or never
    // routed here was never registered, so it cannot be replaced.
    let replaces: number | undefined;
    for (let v = version - 1; v >= 1 && replaces === undefined; v--) {
      const earlier = await d.tx.outbox.find(name, keyOf(idsOf(d, v).id));
      if (earlier && earlier.state !== 'dead') replaces = v;
    }
    const ids = idsOf(d, version, replaces);
    const masking: MaskingCode[] = [...new Set([...destination.masking, ...(dmp?.masking ?? [])])];
    const payload = documentMessage(d, patient.federated.traits, ids, masking);
    const r = await d.tx.outbox.enqueue({
      destination: name,
      orderingKey: `Patient/${d.federatedId}`,
      idempotencyKey: keyOf(ids.id),
      payload,
      ...(d.requestId ? { requestId: d.requestId } : {}),
    });
    if (r.created) created++;
  }
  if (created > 0) notifyEnqueued(d.tx);
  return issues;
}
