// Documents are resources: every clinical document the outbox builds for the DMP, a PDSm or MSSanté is stored once as FHIR
// Binaries (the CDA R2 N1 and the PDF it wraps, the exact bytes sent) with a DocumentReference per version, and the
// DocumentReference says how its delivery to each destination stands (pending, accepted, refused with the reason,
// dead; for MSSanté, per recipient mailbox). The one owner of DocumentReference and Binary: nothing else writes them.
//
// When: at dispatch, once the document is built and before it is sent (`recordBuilt`, through the connectors'
// `onBuilt`), and when the attempt's outcome is known, just before the outbox records it (`recordOutcome`, through the
// dispatcher's `onOutcome`, while the attempt still holds its lease). Both are idempotent: a retry that rebuilds the
// same bytes writes nothing, the same outcome recorded twice writes nothing. A failure of either fails the attempt as
// a transient failure, so nothing is sent unrecorded and no outcome is left unrecorded.
import { createHash } from 'node:crypto';
import type { DocumentReference } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { documentVersionId } from '../documents/ids.js';
import { documentMessageOf } from '../documents/message.js';
import type { DocumentPerson, DocumentRequest } from '../documents/model.js';
import type { BuiltDocument } from '../documents/pipeline.js';
import {
  deliveryOf,
  documentBinaries,
  documentReferenceId,
  documentReferenceOf,
  mergeBuilt,
  withDelivery,
  withReplaces,
  type DeliveryStatus,
  type DocumentFacts,
} from '../fhir/document-reference.js';
import { organizationId, patientId, practitionerId } from '../fhir/ids.js';
import { systemUri } from '../fhir/map-common.js';
import { OperationOutcomeError } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type { AttemptOutcome } from '../outbox/dispatcher.js';
import type { OutboxMessage } from '../store/outbox-repository.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';

export interface DocumentResourcesOptions {
  /** The configured destinations: their kind (`dmp`, `pdsm`) is named in the delivery status. */
  destinations: Readonly<Record<string, { kind: string }>>;
  /** Clock of the delivery status times (default: the system clock). */
  now?: () => Date;
  logger?: Logger;
}

export interface DocumentResources {
  /** Stores the built document (Binaries, DocumentReference), its delivery to the message's destination pending. */
  recordBuilt(message: OutboxMessage, request: DocumentRequest, built: BuiltDocument): Promise<void>;
  /** Records the outcome of an attempt of `message` on its DocumentReference, if `owner` still holds the message. */
  recordOutcome(message: OutboxMessage, outcome: AttemptOutcome, owner: string): Promise<void>;
}

/** The audit's actor for what the dispatcher records. */
const ACTOR = 'outbox';

/** Another transaction wrote the same DocumentReference first (PostgreSQL, several processes or destinations). */
class ConcurrentWrite extends Error {
  override readonly name = 'ConcurrentWrite';
}

/** Worth running the transaction again: a concurrent writer won (If-Match, creation race, PostgreSQL deadlock). */
function isConcurrentWrite(err: unknown): boolean {
  if (err instanceof ConcurrentWrite) return true;
  if (err instanceof OperationOutcomeError) return err.outcome.issue?.some((i) => i.code === 'conflict') ?? false;
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

async function transaction(store: ResourceStore, fn: (tx: StoreTransaction) => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(fn);
    } catch (err) {
      if (attempt >= 5 || !isConcurrentWrite(err)) throw err;
    }
  }
}

/** The mailbox an `mssante` message is for (its deliveries are kept per recipient); undefined for the others. */
function recipientOf(message: OutboxMessage): string | undefined {
  const address = (message.payload as { mssante?: { recipient?: { address?: unknown } } } | null)?.mssante?.recipient?.address;
  return typeof address === 'string' ? address : undefined;
}

/** RPPS of a document person (IDNPS = 8 + RPPS), naming the Practitioner the submission stored. */
const rppsOf = (p: DocumentPerson): string => p.idnps.slice(1);
const nameOf = (p: DocumentPerson): string => [p.given, p.family].filter(Boolean).join(' ');

/** The facts of the DocumentReference, from the built document and the message that asked for it. */
export function documentFacts(request: DocumentRequest, built: BuiltDocument, related: string): DocumentFacts {
  const h = built.header;
  const entry = built.submission.documents[0]?.entry;
  if (!entry) throw new Error(`document ${h.ids.id}: the submission has no document entry`);
  const source = request.source.document.patient.sourceId;
  return {
    uniqueId: h.ids.id,
    setId: h.ids.setId,
    version: h.ids.version,
    entryUuid: entry.entryUuid,
    title: h.title,
    effectiveTime: h.effectiveTime,
    typeCode: h.typeCode,
    classCode: h.classCode,
    formatCode: h.formatCode,
    healthcareFacilityTypeCode: h.healthcareFacilityTypeCode,
    practiceSettingCode: h.practiceSettingCode,
    confidentiality: h.confidentiality,
    serviceStart: h.serviceEvent.start,
    ...(h.serviceEvent.stop ? { serviceStop: h.serviceEvent.stop } : {}),
    // The Patient the submission stored for the sender (as the CarePlan / Composition name it), not the federated one.
    subject: `Patient/${patientId(systemUri(source.system), source.value)}`,
    author: { practitioner: practitionerId(rppsOf(h.author)), display: nameOf(h.author) },
    organization: { id: organizationId(h.organization.finess), display: h.organization.name },
    authenticator: { practitioner: practitionerId(rppsOf(h.legalAuthenticator)), display: nameOf(h.legalAuthenticator) },
    related,
    // The CDA's SHA-1 is the XDS hash the registry checks; the PDF's is computed here.
    cda: { bytes: built.cda, sha1: entry.hash.toLowerCase() },
    pdf: { bytes: built.pdf, sha1: createHash('sha1').update(built.pdf).digest('hex') },
  };
}

/** The nearest earlier version of the same document that has a DocumentReference. */
async function previousVersion(tx: StoreTransaction, facts: DocumentFacts): Promise<DocumentReference | undefined> {
  for (let v = facts.version - 1; v >= 1; v--) {
    const doc = await tx.read<DocumentReference>('DocumentReference', documentReferenceId(documentVersionId(facts.setId, v)));
    if (doc) return doc;
  }
  return undefined;
}

/**
 * The nearest later version's DocumentReference, when one was built first (destinations deliver in order each, not
 * together: another destination may be versions ahead). Looks up to the current version of the rendered resource.
 */
async function laterVersion(tx: StoreTransaction, facts: DocumentFacts): Promise<DocumentReference | undefined> {
  const [type, id] = facts.related.split('/');
  const latest = Number((await tx.read(type ?? '', id ?? ''))?.meta?.versionId ?? facts.version);
  for (let v = facts.version + 1; v <= latest; v++) {
    const doc = await tx.read<DocumentReference>('DocumentReference', documentReferenceId(documentVersionId(facts.setId, v)));
    if (doc) return doc;
  }
  return undefined;
}

const versionOf = (doc: DocumentReference): { ifMatchVersion: string } | undefined => (doc.meta?.versionId ? { ifMatchVersion: doc.meta.versionId } : undefined);

export function documentResources(store: ResourceStore, options: DocumentResourcesOptions): DocumentResources {
  const now = options.now ?? (() => new Date());
  const kindOf = (destination: string): string => options.destinations[destination]?.kind ?? destination;

  return {
    async recordBuilt(message, request, built) {
      const payload = documentMessageOf(message.payload);
      const facts = documentFacts(request, built, payload.resource);
      const binaries = documentBinaries(facts);
      const fresh = documentReferenceOf(facts);
      for (const r of [binaries.cda, binaries.pdf, fresh]) assertValid(r);
      await transaction(store, async (tx) => {
        // Unchanged bytes (a retry, another destination) write no new version.
        await tx.put(binaries.cda);
        await tx.put(binaries.pdf);
        const existing = await tx.read<DocumentReference>('DocumentReference', fresh.id as string);
        let doc = existing ? mergeBuilt(existing, fresh) : fresh;
        if (!existing) {
          const previous = await previousVersion(tx, facts);
          if (previous) {
            doc = withReplaces(doc, previous.id as string);
            if (previous.status === 'current') await tx.put({ ...previous, status: 'superseded' }, versionOf(previous));
          }
          const later = await laterVersion(tx, facts);
          if (later) {
            doc = { ...doc, status: 'superseded' };
            await tx.put(withReplaces(later, doc.id as string), versionOf(later));
          }
        }
        // Pending for this destination, unless already answered; a refused or dead one is being attempted again
        // (redriven), so it is pending again.
        const recipient = recipientOf(message);
        const delivery = deliveryOf(doc, message.destination, recipient);
        if (!delivery || delivery.status === 'refused' || delivery.status === 'dead') {
          doc = withDelivery(doc, {
            destination: message.destination,
            kind: kindOf(message.destination),
            ...(recipient ? { recipient } : {}),
            status: 'pending',
            time: now().toISOString(),
            message: message.id,
            sent: `Binary/${binaries.cda.id}`,
          });
        }
        const written = await tx.put(doc, existing ? versionOf(existing) : undefined);
        if (!existing && !written.created) throw new ConcurrentWrite(`DocumentReference/${doc.id} was created meanwhile`);
        if (!existing) {
          await tx.audit({
            action: 'document.stored',
            actor: ACTOR,
            entities: [`DocumentReference/${doc.id}`, facts.related, facts.subject],
            outcome: 'success',
            detail: `${facts.uniqueId} (version ${facts.version}) for ${message.destination}`,
            ...(message.requestId ? { requestId: message.requestId } : {}),
          });
        }
      });
    },

    async recordOutcome(message, outcome, owner) {
      // A transient failure leaves the delivery pending: the outbox keeps the attempts and their errors.
      if (outcome.state === 'retry') return;
      let uniqueId: string;
      try {
        uniqueId = documentMessageOf(message.payload).ids.id;
      } catch {
        return; // not a document message: nothing of ours to record
      }
      const status: DeliveryStatus = outcome.state === 'delivered' ? 'accepted' : outcome.permanent ? 'refused' : 'dead';
      const reason = outcome.state === 'dead' ? outcome.error : undefined;
      await transaction(store, async (tx) => {
        // Only the attempt that holds the message records its outcome: one whose lease another process took over
        // is stale (that process's attempt decides).
        const held = await tx.outbox.find(message.destination, message.idempotencyKey);
        if (!held || held.state !== 'inflight' || held.leaseOwner !== owner) return;
        const doc = await tx.read<DocumentReference>('DocumentReference', documentReferenceId(uniqueId));
        if (!doc) return; // never built (the build failed): no document to speak of
        const recipient = recipientOf(message);
        const current = deliveryOf(doc, message.destination, recipient);
        // The receiver holds it: nothing that comes later for the same uniqueId takes that back.
        if (current?.status === 'accepted') return;
        if (current?.status === status && current.reason === reason) return;
        const time = now().toISOString();
        await tx.put(
          withDelivery(doc, {
            destination: message.destination,
            kind: kindOf(message.destination),
            ...(recipient ? { recipient } : {}),
            status,
            ...(reason ? { reason } : {}),
            time,
            message: message.id,
            ...(current?.sent ? { sent: current.sent } : {}),
          }),
          versionOf(doc),
        );
        await tx.audit({
          action: 'document.delivery',
          actor: ACTOR,
          entities: [`DocumentReference/${doc.id}`],
          outcome: status === 'accepted' ? 'success' : 'failure',
          detail: `${message.destination}${recipient ? ` (${recipient})` : ''}: ${status}${reason ? `: ${reason}` : ''}`,
          ...(message.requestId ? { requestId: message.requestId } : {}),
        });
      });
    },
  };
}
