// A clinical document we produced (the PDF, and the CDA R2 N1 wrapping it that goes to the DMP / a PDSm) as FHIR
// resources: one Binary per distinct byte sequence and one DocumentReference per document version, carrying the XDS
// metadata (uniqueId, type and class codes, dates, author) and, per destination, the delivery status. Pure: the
// caller passes the facts, the ids and the clock reading.
import type {
  Attachment,
  Binary,
  CodeableConcept,
  Coding,
  DocumentReference,
  DocumentReferenceContent,
  Extension,
  Organization,
  Practitioner,
  Reference,
} from '@medplum/fhirtypes';
import { cs, sd, SYSTEM } from './canonical.js';
import { idFor } from './ids.js';

/** Extension (complex, one per destination) on a DocumentReference: how its delivery to that destination stands. */
export const DOCUMENT_DELIVERY_EXTENSION = sd('passerelle-document-delivery');
/** Code system of the delivery status (the `status` sub-extension). */
export const DOCUMENT_DELIVERY_STATUS_SYSTEM = cs('document-delivery-status');

/**
 * - `pending`: built, waiting for the receiver's answer (new, retrying after a transient failure, or redriven);
 * - `sent`: handed over, the receiver's acceptance comes later (MSSanté: SMTP accepted, MDN awaited);
 * - `accepted`: the receiver registered it (DMP `Success` or our own uniqueId already registered; PDSm 2xx);
 * - `refused`: failed for good at once, the receiver said no (RegistryError, SOAP Sender fault, HTTP 4xx): `reason`;
 * - `dead`: the last attempt allowed failed without a verdict (no answer, busy registry…): `reason`.
 */
export const DELIVERY_STATUSES = ['pending', 'sent', 'accepted', 'refused', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A coded value as XDS carries it: the coding scheme is an OID. */
export interface OidCoded {
  code: string;
  codeSystem: string;
  display: string;
}

/** One stored byte sequence of the document. */
export interface DocumentPart {
  /** The exact bytes sent. */
  bytes: Buffer;
  /** SHA-1 of `bytes`, lower-case hex (XDS hash). */
  sha1: string;
}

/** Everything the DocumentReference says, from the document header and the XDS entry built for it. */
export interface DocumentFacts {
  /** XDS uniqueId = CDA id (an OID). */
  uniqueId: string;
  /** CDA setId (stable across versions). */
  setId: string;
  version: number;
  /** XDS entryUUID (`urn:uuid:…`). */
  entryUuid: string;
  title: string;
  /** Document time (CDA effectiveTime, XDS creationTime), ISO 8601 with offset. */
  effectiveTime: string;
  typeCode: OidCoded;
  classCode: OidCoded;
  /** Format of the CDA (XDS formatCode: `urn:ihe:iti:xds-sd:pdf:2008`). */
  formatCode: OidCoded;
  healthcareFacilityTypeCode: OidCoded;
  practiceSettingCode: OidCoded;
  confidentiality: OidCoded;
  serviceStart: string;
  serviceStop?: string;
  /** `Patient/<id>`: the sender's own Patient, subject of the resource the document renders. */
  subject: string;
  /** The author and their organisation, and the legal authenticator, as stored resources (ids) with a display. */
  author: { practitioner: string; display: string };
  organization: { id: string; display: string };
  authenticator: { practitioner: string; display: string };
  /** `CarePlan/<id>` or `Composition/<id>`: what the document renders. */
  related: string;
  cda: DocumentPart;
  pdf: DocumentPart;
}

const OID_SYSTEMS: Readonly<Record<string, string>> = {
  '2.16.840.1.113883.6.1': SYSTEM.loinc,
  '2.16.840.1.113883.5.25': 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
};

/** FHIR system of an XDS coding scheme: the FHIR URI where HL7 publishes one, else `urn:oid:` (as the ANS examples). */
export function systemOfOid(oid: string): string {
  return OID_SYSTEMS[oid] ?? `urn:oid:${oid}`;
}

const codingOf = (c: OidCoded): Coding => ({ system: systemOfOid(c.codeSystem), code: c.code, display: c.display });
const conceptOf = (c: OidCoded): CodeableConcept => ({ coding: [codingOf(c)] });

/** IHE format code of a content whose MIME type says it all (the bare PDF). */
const MIME_TYPE_SUFFICIENT: OidCoded = { code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient', codeSystem: '1.3.6.1.4.1.19376.1.2.3', display: 'mimeType Sufficient' };

/**
 * MIME type of the CDA Binary: `text/xml`, the XDS mimeType the DMP registers it under (CI-SIS), so the attachment
 * describes exactly the registered document (`application/hl7-v3+xml` was never registered with IANA).
 */
export const CDA_CONTENT_TYPE = 'text/xml';
export const PDF_CONTENT_TYPE = 'application/pdf';

/** Id of a document version's DocumentReference: from its uniqueId, so every attempt and destination names the same one. */
export const documentReferenceId = (uniqueId: string): string => idFor('DocumentReference', uniqueId);

/**
 * Id of a Binary: from the document's uniqueId, the part and the SHA-1 of its bytes. A retry rebuilds the same bytes,
 * hence the same id and no new version; a destination that was sent other bytes under the same uniqueId (a CDA naming
 * another replaced version) gets its own Binary instead of overwriting what another destination received.
 */
export const documentBinaryId = (uniqueId: string, part: 'cda' | 'pdf', sha1: string): string => idFor('Binary', uniqueId, part, sha1);

/** The Binaries of a document version: the CDA and the PDF it wraps. */
export function documentBinaries(facts: DocumentFacts): { cda: Binary; pdf: Binary } {
  const binary = (part: 'cda' | 'pdf', p: DocumentPart, contentType: string): Binary => ({
    resourceType: 'Binary',
    id: documentBinaryId(facts.uniqueId, part, p.sha1),
    contentType,
    data: p.bytes.toString('base64'),
  });
  return { cda: binary('cda', facts.cda, CDA_CONTENT_TYPE), pdf: binary('pdf', facts.pdf, PDF_CONTENT_TYPE) };
}

/** FHIR `instant` of an ISO 8601 time (normalised to UTC, so equal times compare equal). */
const instantOf = (iso: string): string => new Date(iso).toISOString();

function contentOf(facts: DocumentFacts, part: 'cda' | 'pdf'): DocumentReferenceContent {
  const p = facts[part];
  const attachment: Attachment = {
    contentType: part === 'cda' ? CDA_CONTENT_TYPE : PDF_CONTENT_TYPE,
    language: 'fr-FR',
    url: `Binary/${documentBinaryId(facts.uniqueId, part, p.sha1)}`,
    size: p.bytes.length,
    // FHIR Attachment.hash: base64 of the SHA-1 digest (XDS carries the same digest in hex).
    hash: Buffer.from(p.sha1, 'hex').toString('base64'),
    title: part === 'cda' ? facts.title : `${facts.title} (PDF)`,
    creation: instantOf(facts.effectiveTime),
  };
  return { attachment, format: codingOf(part === 'cda' ? facts.formatCode : MIME_TYPE_SUFFICIENT) };
}

const URI = SYSTEM.uuid; // urn:ietf:rfc:3986

/** The DocumentReference of a document version as first built (status `current`, no delivery recorded yet). */
export function documentReferenceOf(facts: DocumentFacts): DocumentReference {
  const author: Reference<Practitioner | Organization>[] = [
    { reference: `Practitioner/${facts.author.practitioner}`, display: facts.author.display },
    { reference: `Organization/${facts.organization.id}`, display: facts.organization.display },
  ];
  return {
    resourceType: 'DocumentReference',
    id: documentReferenceId(facts.uniqueId),
    masterIdentifier: { system: URI, value: `urn:oid:${facts.uniqueId}` },
    identifier: [
      { use: 'official', system: URI, value: facts.entryUuid },
      // Every version of the document shares it: `identifier=urn:ietf:rfc:3986|urn:oid:<setId>` finds them all.
      { use: 'secondary', type: { text: 'setId' }, system: URI, value: `urn:oid:${facts.setId}` },
    ],
    status: 'current',
    docStatus: 'final',
    type: conceptOf(facts.typeCode),
    category: [conceptOf(facts.classCode)],
    subject: { reference: facts.subject },
    date: instantOf(facts.effectiveTime),
    author,
    authenticator: { reference: `Practitioner/${facts.authenticator.practitioner}`, display: facts.authenticator.display },
    custodian: { reference: `Organization/${facts.organization.id}`, display: facts.organization.display },
    description: `${facts.title}, version ${facts.version}`,
    securityLabel: [conceptOf(facts.confidentiality)],
    content: [contentOf(facts, 'cda'), contentOf(facts, 'pdf')],
    context: {
      period: { start: instantOf(facts.serviceStart), ...(facts.serviceStop ? { end: instantOf(facts.serviceStop) } : {}) },
      facilityType: conceptOf(facts.healthcareFacilityTypeCode),
      practiceSetting: conceptOf(facts.practiceSettingCode),
      related: [{ reference: facts.related }],
    },
  };
}

// ---- merging what several attempts and destinations built ---------------------------------------------------

/**
 * `existing` with what another build of the same version adds: attachments of bytes not seen yet (another
 * destination's CDA), and `replaces` links it did not name. Everything else stays as first stored.
 */
export function mergeBuilt(existing: DocumentReference, built: DocumentReference): DocumentReference {
  const urls = new Set(existing.content.map((c) => c.attachment.url));
  const added = built.content.filter((c) => !urls.has(c.attachment.url));
  const targets = new Set((existing.relatesTo ?? []).map((r) => r.target.reference));
  const relates = (built.relatesTo ?? []).filter((r) => !targets.has(r.target.reference));
  if (added.length === 0 && relates.length === 0) return existing;
  return {
    ...existing,
    content: [...existing.content, ...added],
    ...(relates.length > 0 ? { relatesTo: [...(existing.relatesTo ?? []), ...relates] } : {}),
  };
}

/** `doc` replacing the DocumentReference `replacedId` (the previous version of the same document). */
export function withReplaces(doc: DocumentReference, replacedId: string): DocumentReference {
  const target = `DocumentReference/${replacedId}`;
  if (doc.relatesTo?.some((r) => r.code === 'replaces' && r.target.reference === target)) return doc;
  return { ...doc, relatesTo: [...(doc.relatesTo ?? []), { code: 'replaces', target: { reference: target } }] };
}

// ---- delivery status ------------------------------------------------------------------------------------

export interface Delivery {
  /** The configured destination name (`outbox.destinations.<name>`). */
  destination: string;
  /** Its kind: `dmp`, `pdsm`, `mssante`. */
  kind: string;
  /** The mailbox of an `mssante` delivery (one per recipient at the same destination). */
  recipient?: string;
  status: DeliveryStatus;
  /** Why it was refused or is dead. */
  reason?: string;
  /** When the status was last changed (instant). */
  time: string;
  /** The outbox message carrying it (`passerelle outbox show <id>`). */
  message: string;
  /** `Binary/<id>`: the CDA this destination was sent (destinations may differ in the version their CDA replaces). */
  sent?: string;
}

function deliveryExtension(d: Delivery): Extension {
  return {
    url: DOCUMENT_DELIVERY_EXTENSION,
    extension: [
      { url: 'destination', valueString: d.destination },
      { url: 'kind', valueCode: d.kind },
      ...(d.recipient ? [{ url: 'recipient', valueString: d.recipient }] : []),
      { url: 'status', valueCoding: { system: DOCUMENT_DELIVERY_STATUS_SYSTEM, code: d.status } },
      ...(d.reason ? [{ url: 'reason', valueString: d.reason }] : []),
      { url: 'time', valueInstant: d.time },
      { url: 'message', valueString: d.message },
      ...(d.sent ? [{ url: 'sent', valueReference: { reference: d.sent } }] : []),
    ],
  };
}

const isDeliveryStatus = (s: string | undefined): s is DeliveryStatus => (DELIVERY_STATUSES as readonly (string | undefined)[]).includes(s);

/** Every delivery recorded on `doc`, in destination order. */
export function deliveriesOf(doc: DocumentReference): Delivery[] {
  const out: Delivery[] = [];
  for (const e of doc.extension ?? []) {
    if (e.url !== DOCUMENT_DELIVERY_EXTENSION) continue;
    const sub = (url: string): Extension | undefined => e.extension?.find((x) => x.url === url);
    const status = sub('status')?.valueCoding?.code;
    const destination = sub('destination')?.valueString;
    if (!destination || !isDeliveryStatus(status)) continue;
    const reason = sub('reason')?.valueString;
    const sent = sub('sent')?.valueReference?.reference;
    const recipient = sub('recipient')?.valueString;
    out.push({
      destination,
      kind: sub('kind')?.valueCode ?? '',
      ...(recipient ? { recipient } : {}),
      status,
      ...(reason ? { reason } : {}),
      time: sub('time')?.valueInstant ?? '',
      message: sub('message')?.valueString ?? '',
      ...(sent ? { sent } : {}),
    });
  }
  return out;
}

/** The delivery to `destination` (and, for MSSanté, to the mailbox `recipient`) recorded on `doc`, if any. */
export function deliveryOf(doc: DocumentReference, destination: string, recipient?: string): Delivery | undefined {
  return deliveriesOf(doc).find((d) => d.destination === destination && d.recipient === recipient);
}

const deliveryKey = (d: Pick<Delivery, 'destination' | 'recipient'>): string => `${d.destination}\u0000${d.recipient ?? ''}`;

/** `doc` with the delivery to `d.destination` (and `d.recipient`) set to `d` (the others kept; sorted by destination name). */
export function withDelivery(doc: DocumentReference, d: Delivery): DocumentReference {
  const others = (doc.extension ?? []).filter((e) => e.url !== DOCUMENT_DELIVERY_EXTENSION);
  const key = deliveryKey(d);
  const deliveries = [...deliveriesOf(doc).filter((x) => deliveryKey(x) !== key), d].sort((a, b) => (deliveryKey(a) < deliveryKey(b) ? -1 : deliveryKey(a) > deliveryKey(b) ? 1 : 0));
  return { ...doc, extension: [...others, ...deliveries.map(deliveryExtension)] };
}
