// ITI-41 Provide and Register Document Set-b on the local DMP peer: every check a strict DMP makes (schema, metadata
// rules, CDA ↔ metadata, VIHF patient, XAdES signature, RPLC target, uniqueId re-use), then registration. Nothing is
// stored unless the whole submission is accepted; an identical re-send is a Success without a second copy.
import { randomUUID } from 'node:crypto';
import { resolveXopIncludes } from '../../connectors/dmp/mtom.js';
import { VIHF_ATTRIBUTE } from '../../connectors/dmp/vihf.js';
import { verifySubmissionSignature } from '../../connectors/dmp/xades.js';
import { ACTIONS, NS, SLOT, SUBMISSION_SET_IDENTIFIER } from '../../connectors/dmp/xds-constants.js';
import { children, serializeXml } from '../../connectors/dmp/xml-dom.js';
import { checkCdaAgainstEntry } from './cda.js';
import { checkSubmission, type AcceptedEntry, type CheckedSubmission } from './checks.js';
import type { PeerContext, TransactionRequest, TransactionResponse } from './context.js';
import { registryResponse, type RegistryError } from './registry-error.js';
import { SoapFault } from './soap.js';
import type { StoredDocument, StoredSubmissionSet } from './store.js';
import { identifierValue, MalformedSubmission, readProvideAndRegister, slotValue, type RimObject } from './submission.js';

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function schemaErrors(ctx: PeerContext, req: TransactionRequest): Promise<RegistryError[]> {
  if (!ctx.schemas) return [];
  let xml: string;
  try {
    xml = resolveXopIncludes(serializeXml(req.soap.payload), req.parts);
  } catch {
    // A dangling xop:Include: the metadata checks report it as XDSMissingDocument with the document's id.
    return [];
  }
  const messages = await ctx.schemas.validate(xml);
  return messages.slice(0, 5).map((m) => ({ errorCode: 'XDSRegistryMetadataError', codeContext: `XSD (XDS.b / ebRIM 3.0): ${m}` }));
}

function signatureErrors(ctx: PeerContext, checked: CheckedSubmission): RegistryError[] {
  const signatures = checked.entries.filter((e) => e.isSignature);
  const documents = checked.entries.filter((e) => !e.isSignature);
  if (signatures.length === 0) {
    return ctx.requireSubmissionSignature
      ? [{ errorCode: 'XDSRegistryMetadataError', codeContext: 'SubmissionSet: no XAdES signature DocumentEntry (classCode Digital Signature), which this DMP requires' }]
      : [];
  }
  if (signatures.length > 1) return [{ errorCode: 'XDSRegistryMetadataError', codeContext: 'SubmissionSet: more than one signature DocumentEntry' }];
  const sig = signatures[0];
  const result = verifySubmissionSignature(sig.content, ctx.signatureTrust, {
    submissionSetUniqueId: checked.submissionSetUniqueId,
    documents: documents.map((d) => ({ uniqueId: d.uniqueId, content: d.content })),
    now: ctx.now(),
  });
  if (result.ok) return [];
  const codeContext = `DocumentEntry ${sig.entry.id}: XAdES signature of the submission set: ${result.reason ?? 'invalid'}`;
  return [{ errorCode: 'XDSRegistryMetadataError', codeContext, location: sig.entry.id }];
}

/** Checks against what is registered; returns the errors and the entries that are new (not an identical re-send). */
function registryErrors(ctx: PeerContext, checked: CheckedSubmission): { errors: RegistryError[]; fresh: AcceptedEntry[] } {
  const errors: RegistryError[] = [];
  const fresh: AcceptedEntry[] = [];
  for (const e of checked.entries) {
    const existing = ctx.store.byUniqueId(e.uniqueId);
    if (existing) {
      if (existing.hash !== e.hash) {
        errors.push({
          errorCode: 'XDSNonIdenticalHash',
          codeContext: `DocumentEntry ${e.entry.id}: uniqueId ${e.uniqueId} is already registered with another hash (${existing.hash}, received ${e.hash})`,
          location: e.entry.id,
        });
      } else if (existing.patientId !== e.patientId) {
        errors.push({ errorCode: 'XDSPatientIdDoesNotMatch', codeContext: `DocumentEntry ${e.entry.id}: uniqueId ${e.uniqueId} is registered for another patient`, location: e.entry.id });
      }
      continue;
    }
    if (UUID_URN.test(e.entry.id) && ctx.store.byEntryUuid(e.entry.id.toLowerCase())) {
      errors.push({ errorCode: 'XDSRegistryMetadataError', codeContext: `DocumentEntry ${e.entry.id}: this entryUUID is already registered under another uniqueId`, location: e.entry.id });
      continue;
    }
    fresh.push(e);
  }
  const freshIds = new Set(fresh.map((e) => e.entry.id));
  for (const r of checked.replacements) {
    // An identical re-send of a replacement: the replacing entry is registered, the RPLC already applied.
    if (!freshIds.has(r.entryId)) continue;
    const target = ctx.store.byEntryUuid(r.replacedEntryUuid);
    const refuse = (errorCode: RegistryError['errorCode'], why: string): void => {
      errors.push({ errorCode, codeContext: `DocumentEntry ${r.entryId}: RPLC target ${r.replacedEntryUuid} ${why}`, location: r.entryId });
    };
    if (!target) refuse('XDSRegistryError', 'is not in the registry');
    else if (target.status !== 'Approved') refuse('XDSRegistryError', `is ${target.status}, only an Approved entry can be replaced`);
    else if (target.patientId !== checked.patientId) refuse('XDSPatientIdDoesNotMatch', 'belongs to another patient');
  }
  return { errors, fresh };
}

/**
 * The ExtrinsicObject as the registry keeps it: its entryUUID as id (references to a symbolic id rewritten), the
 * repositoryUniqueId slot added, no status (set when read).
 */
function registeredMetadata(o: RimObject, entryUuid: string, repositoryUniqueId: string): string {
  const el = o.element.cloneNode(true) as Element;
  const oldId = o.id;
  el.setAttribute('id', entryUuid);
  el.removeAttribute('status');
  const walk = (n: Element): void => {
    for (const a of ['classifiedObject', 'registryObject']) if (n.getAttribute(a) === oldId) n.setAttribute(a, entryUuid);
    for (const c of children(n, NS.rim, 'Classification')) walk(c);
    for (const c of children(n, NS.rim, 'ExternalIdentifier')) walk(c);
  };
  walk(el);
  if (!o.slots.has(SLOT.repositoryUniqueId)) {
    // Slots come first in an ebRIM RegistryObject: insert before the first element that is not a Slot.
    const doc = el.ownerDocument;
    const slot = doc.createElementNS(NS.rim, 'rim:Slot');
    slot.setAttribute('name', SLOT.repositoryUniqueId);
    const list = doc.createElementNS(NS.rim, 'rim:ValueList');
    const value = doc.createElementNS(NS.rim, 'rim:Value');
    value.appendChild(doc.createTextNode(repositoryUniqueId));
    list.appendChild(value);
    slot.appendChild(list);
    let before: Node | null = el.firstChild;
    while (before && !(before.nodeType === 1 && (before as Element).localName !== 'Slot')) before = before.nextSibling;
    el.insertBefore(slot, before);
  }
  return serializeXml(el);
}

export async function provideAndRegister(ctx: PeerContext, req: TransactionRequest): Promise<TransactionResponse> {
  let submission;
  try {
    submission = readProvideAndRegister(req.soap.payload, req.parts);
  } catch (err) {
    if (err instanceof MalformedSubmission) throw new SoapFault('Sender', undefined, err.message);
    throw err;
  }
  const respond = (errors: RegistryError[]): TransactionResponse => ({
    action: ACTIONS.iti41Response,
    bodyXml: registryResponse(errors),
    errorCodes: errors.map((e) => e.errorCode),
  });

  const xsd = await schemaErrors(ctx, req);
  const checked = checkSubmission(submission);
  const errors = [...xsd, ...checked.errors];
  for (const e of checked.entries) if (!e.isSignature) errors.push(...checkCdaAgainstEntry(e));
  const resourceId = req.vihf.attributes[VIHF_ATTRIBUTE.resourceId]?.[0];
  if (checked.patientId && resourceId !== checked.patientId) {
    errors.push({ errorCode: 'XDSPatientIdDoesNotMatch', codeContext: `VIHF resource-id ${resourceId ?? '(none)'} is not the SubmissionSet patientId ${checked.patientId}` });
  }
  if (errors.length === 0) errors.push(...signatureErrors(ctx, checked));
  if (errors.length > 0) return respond(errors);

  // From here on, synchronous: the registry read-check-write cannot interleave with another request.
  const registry = registryErrors(ctx, checked);
  if (registry.errors.length > 0) return respond(registry.errors);
  const now = ctx.now().toISOString();
  const ss = checked.submissionSet as RimObject;
  const ssUniqueId = checked.submissionSetUniqueId as string;
  const ssEntryUuid = UUID_URN.test(ss.id) ? ss.id.toLowerCase() : `urn:uuid:${randomUUID()}`;
  const storedSet: StoredSubmissionSet = {
    uniqueId: ssUniqueId,
    entryUuid: ssEntryUuid,
    patientId: checked.patientId as string,
    sourceId: identifierValue(ss, SUBMISSION_SET_IDENTIFIER.sourceId) ?? '',
    submissionTime: slotValue(ss, SLOT.submissionTime) ?? '',
    metadataXml: registeredMetadata(ss, ssEntryUuid, ctx.repositoryUniqueId),
    registeredAt: now,
  };
  const entryUuids = new Map(registry.fresh.map((e) => [e.entry.id, UUID_URN.test(e.entry.id) ? e.entry.id.toLowerCase() : `urn:uuid:${randomUUID()}`]));
  const documents: StoredDocument[] = registry.fresh.map((e) => {
    const entryUuid = entryUuids.get(e.entry.id) as string;
    const replaces = checked.replacements.find((r) => r.entryId === e.entry.id)?.replacedEntryUuid;
    return {
      entryUuid,
      uniqueId: e.uniqueId,
      patientId: e.patientId,
      status: 'Approved',
      hash: e.hash,
      size: e.content.length,
      mimeType: e.entry.mimeType ?? 'text/xml',
      submissionSetUniqueId: ssUniqueId,
      metadataXml: registeredMetadata(e.entry, entryUuid, ctx.repositoryUniqueId),
      content: e.content,
      ...(replaces ? { replaces } : {}),
      registeredAt: now,
    };
  });
  ctx.store.register(storedSet, documents);
  ctx.logger.info(
    { submissionSet: ssUniqueId, registered: documents.map((d) => d.uniqueId), alreadyRegistered: checked.entries.length - documents.length },
    'ITI-41 accepted',
  );
  return respond([]);
}
