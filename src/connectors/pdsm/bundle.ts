// PDSm (ANS profile of IHE MHD) ITI-65 "Provide Document Bundle": the same submission as an ITI-41 — SubmissionSet
// List, one DocumentReference and one Binary per document — as a FHIR transaction Bundle. Built from the XDS model,
// so both routes carry the same metadata (uniqueId = masterIdentifier, entryUUID = identifier, hash, size, codes).
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Coding, DocumentReference, Identifier, List, Organization, Patient, Practitioner, Reference } from '@medplum/fhirtypes';
import { v5 as uuidv5 } from 'uuid';
import type { Coded, XdsAuthor, XdsDocumentEntry, XdsSubmission } from '../../documents/model.js';

const PDSM = 'https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition';
const MHD = 'https://profiles.ihe.net/ITI/MHD';
const RFC3986 = 'urn:ietf:rfc:3986';

const coding = (c: Coded): Coding => ({ system: `urn:oid:${c.codeSystem}`, code: c.code, display: c.display });

/** `YYYYMMDDhhmmss` (UTC) → FHIR instant. */
function instantOf(ts: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?$/.exec(ts);
  if (!m) throw new Error(`not an XDS time: ${ts}`);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}Z`;
}

/** CX `<id>^^^&<oid>&ISO^<type>` → a logical reference by identifier. */
function patientOf(cx: string): Reference<Patient> {
  const m = /^([^^]+)\^\^\^&([0-9.]+)&ISO\^/.exec(cx);
  if (!m) throw new Error(`not a CX patient id: ${cx}`);
  return { identifier: { system: `urn:oid:${m[2]}`, value: m[1] } };
}

/** XCN (person) and XON (institution) → logical references by identifier, with a display. */
function authorsOf(authors: readonly XdsAuthor[]): Reference<Practitioner | Organization>[] {
  const out: Reference<Practitioner | Organization>[] = [];
  for (const a of authors) {
    if (a.person) {
      const [id, family, given] = a.person.split('^');
      const oid = /&([0-9.]+)&ISO/.exec(a.person)?.[1];
      out.push({ type: 'Practitioner', identifier: { ...(oid ? { system: `urn:oid:${oid}` } : {}), value: id }, display: [given, family].filter(Boolean).join(' ') });
    }
    for (const xon of a.institution) {
      const parts = xon.split('^');
      const oid = /&([0-9.]+)&ISO/.exec(xon)?.[1];
      out.push({ type: 'Organization', identifier: { ...(oid ? { system: `urn:oid:${oid}` } : {}), value: parts[9] ?? parts[0] }, display: parts[0] });
    }
  }
  return out;
}

/** Namespace of the Binary ids (a Binary is named after its document's uniqueId, so retries reuse it). */
const BINARY_NAMESPACE = '0f4b5a52-7d2e-4c57-9a55-4e0f2b6f3a10';

function documentReference(e: XdsDocumentEntry, binaryUrl: string, replaced: string | undefined): DocumentReference {
  const identifier: Identifier[] = [{ use: 'official', system: RFC3986, value: e.entryUuid }];
  const [confidentiality, ...masking] = e.confidentialityCodes;
  return {
    resourceType: 'DocumentReference',
    meta: { profile: [`${PDSM}/pdsm-comprehensive-document-reference`] },
    masterIdentifier: { system: RFC3986, value: `urn:oid:${e.uniqueId}` },
    identifier,
    status: 'current',
    type: { coding: [coding(e.typeCode)] },
    category: [{ coding: [coding(e.classCode)] }],
    subject: patientOf(e.patientId),
    date: instantOf(e.creationTime),
    author: authorsOf(e.authors),
    securityLabel: [confidentiality, ...masking].filter(Boolean).map((c) => ({ coding: [coding(c)] })),
    content: [
      {
        attachment: {
          contentType: e.mimeType,
          language: e.languageCode,
          url: binaryUrl,
          size: e.size,
          // FHIR attachment.hash is the base64 of the SHA-1 bytes (XDS carries the same digest in hex).
          hash: Buffer.from(e.hash, 'hex').toString('base64'),
          title: e.title,
          creation: instantOf(e.creationTime),
        },
        format: { system: `urn:oid:${e.formatCode.codeSystem}`, code: e.formatCode.code, display: e.formatCode.display },
      },
    ],
    context: {
      ...(e.serviceStartTime ? { period: { start: instantOf(e.serviceStartTime), ...(e.serviceStopTime ? { end: instantOf(e.serviceStopTime) } : {}) } } : {}),
      facilityType: { coding: [coding(e.healthcareFacilityTypeCode)] },
      practiceSetting: { coding: [coding(e.practiceSettingCode)] },
      sourcePatientInfo: patientOf(e.sourcePatientId),
    },
    ...(replaced ? { relatesTo: [{ code: 'replaces', target: { identifier: { system: RFC3986, value: replaced } } }] } : {}),
  };
}

/** The ITI-65 transaction Bundle of `sub`. `replacedUniqueIds`: entryUUID → uniqueId of the documents replaced. */
export function provideDocumentBundle(sub: XdsSubmission, replacedUniqueIds: ReadonlyMap<string, string> = new Map()): Bundle {
  const ss = sub.submissionSet;
  const entries: BundleEntry[] = [];
  const listEntries: { item: Reference }[] = [];
  for (const { entry, content } of sub.documents) {
    if (createHash('sha1').update(content).digest('hex') !== entry.hash || content.length !== entry.size) {
      throw new Error(`document ${entry.uniqueId}: hash or size does not match its content`);
    }
    const binaryUrl = `urn:uuid:${uuidv5(entry.uniqueId, BINARY_NAMESPACE)}`;
    const replacement = sub.replacements.find((r) => r.documentEntryUuid === entry.entryUuid);
    const replaced = replacement ? (replacedUniqueIds.get(replacement.replacedEntryUuid) ?? replacement.replacedEntryUuid) : undefined;
    entries.push({
      fullUrl: entry.entryUuid,
      resource: documentReference(entry, binaryUrl, replaced),
      request: { method: 'POST', url: 'DocumentReference' },
    });
    entries.push({ fullUrl: binaryUrl, resource: { resourceType: 'Binary', contentType: entry.mimeType, data: content.toString('base64') }, request: { method: 'POST', url: 'Binary' } });
    listEntries.push({ item: { reference: entry.entryUuid } });
  }
  const list: List = {
    resourceType: 'List',
    meta: { profile: [`${PDSM}/pdsm-submissionset-comprehensive`] },
    extension: [
      { url: `${MHD}/StructureDefinition/ihe-sourceId`, valueIdentifier: { value: `urn:oid:${ss.sourceId}` } },
      { url: `${MHD}/StructureDefinition/ihe-designationType`, valueCodeableConcept: { coding: [coding(ss.contentTypeCode)] } },
    ],
    identifier: [
      { use: 'usual', system: RFC3986, value: `urn:oid:${ss.uniqueId}` },
      { use: 'official', system: RFC3986, value: ss.entryUuid },
    ],
    status: 'current',
    mode: 'working',
    code: { coding: [{ system: `${MHD}/CodeSystem/MHDlistTypes`, code: 'submissionset' }] },
    subject: patientOf(ss.patientId),
    date: instantOf(ss.submissionTime),
    ...(ss.title ? { title: ss.title } : {}),
    entry: listEntries,
  };
  return {
    resourceType: 'Bundle',
    meta: { profile: [`${PDSM}/pdsm-comprehensive-provide-document-bundle`] },
    type: 'transaction',
    entry: [{ fullUrl: ss.entryUuid, resource: list, request: { method: 'POST', url: 'List' } }, ...entries],
  };
}
