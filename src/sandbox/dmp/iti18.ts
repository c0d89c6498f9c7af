// ITI-18 Registry Stored Query on the local DMP peer: FindDocuments (patient + status) and GetDocuments (by uniqueId
// or entryUUID), answering LeafClass (the registered ExtrinsicObjects) or ObjectRef. The VIHF patient limits what
// can be seen: a query for another patient is refused, documents of another patient are never returned.
import { VIHF_ATTRIBUTE } from '../../connectors/dmp/vihf.js';
import { ACTIONS, AVAILABILITY_STATUS, NS, STORED_QUERY } from '../../connectors/dmp/xds-constants.js';
import { child, children, parseXml, serializeXml, textOf } from '../../connectors/dmp/xml-dom.js';
import type { PeerContext, TransactionRequest, TransactionResponse } from './context.js';
import { registryErrorList, statusOf, type RegistryError } from './registry-error.js';
import { SoapFault } from './soap.js';
import type { EntryStatus, StoredDocument } from './store.js';

/** GetDocuments (ITI TF-2 3.18.4.1.2.3.7.5). */
const GET_DOCUMENTS = 'urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4';

const STATUS_BY_URN: Readonly<Record<string, EntryStatus>> = {
  [AVAILABILITY_STATUS.approved]: 'Approved',
  [AVAILABILITY_STATUS.deprecated]: 'Deprecated',
};
const URN_BY_STATUS: Readonly<Record<EntryStatus, string>> = { Approved: AVAILABILITY_STATUS.approved, Deprecated: AVAILABILITY_STATUS.deprecated };

/** Stored-query values: `'x'`, `('x','y')` or several Value elements; quotes and parentheses removed. */
export function queryValues(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of raw) {
    const inner = v.trim().replace(/^\(/, '').replace(/\)$/, '');
    for (const m of inner.matchAll(/'((?:[^']|'')*)'|([^,\s][^,]*)/g)) out.push((m[1] ?? m[2] ?? '').replace(/''/g, "'").trim());
  }
  return out.filter((v) => v !== '');
}

function parameters(adhocQuery: Element): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of children(adhocQuery, NS.rim, 'Slot')) {
    const list = child(s, NS.rim, 'ValueList');
    const raw = list ? children(list, NS.rim, 'Value').map((v) => textOf(v)) : [];
    out.set(s.getAttribute('name') ?? '', queryValues(raw));
  }
  return out;
}

/** The registered ExtrinsicObject with its current availability status. */
function leafClass(doc: StoredDocument): string {
  const parsed = parseXml(doc.metadataXml);
  parsed.documentElement.setAttribute('status', URN_BY_STATUS[doc.status]);
  return serializeXml(parsed);
}

export function registryStoredQuery(ctx: PeerContext, req: TransactionRequest): TransactionResponse {
  const payload = req.soap.payload;
  if (payload.namespaceURI !== NS.query || payload.localName !== 'AdhocQueryRequest') {
    throw new SoapFault('Sender', undefined, `body: expected query:AdhocQueryRequest, got ${payload.localName}`);
  }
  const returnType = child(payload, NS.query, 'ResponseOption')?.getAttribute('returnType') ?? 'ObjectRef';
  const adhoc = child(payload, NS.rim, 'AdhocQuery');
  if (!adhoc) throw new SoapFault('Sender', undefined, 'AdhocQueryRequest: no rim:AdhocQuery');
  const queryId = adhoc.getAttribute('id') ?? '';
  const params = parameters(adhoc);
  const resourceId = req.vihf.attributes[VIHF_ATTRIBUTE.resourceId]?.[0] ?? '';
  const errors: RegistryError[] = [];
  let found: StoredDocument[] = [];

  if (!['LeafClass', 'ObjectRef'].includes(returnType)) {
    errors.push({ errorCode: 'XDSRegistryError', codeContext: `ResponseOption returnType "${returnType}" is not LeafClass or ObjectRef` });
  } else if (queryId === STORED_QUERY.findDocuments) {
    const patient = params.get('$XDSDocumentEntryPatientId') ?? [];
    const statuses = params.get('$XDSDocumentEntryStatus') ?? [];
    const unsupported = [...params.keys()].filter((k) => k !== '$XDSDocumentEntryPatientId' && k !== '$XDSDocumentEntryStatus');
    if (patient.length !== 1) errors.push({ errorCode: 'XDSStoredQueryParamNumber', codeContext: `FindDocuments: $XDSDocumentEntryPatientId must have one value, has ${patient.length}` });
    if (statuses.length === 0) errors.push({ errorCode: 'XDSStoredQueryParamNumber', codeContext: 'FindDocuments: $XDSDocumentEntryStatus is required' });
    // A filter silently ignored would return more than asked: refuse it instead.
    for (const k of unsupported) errors.push({ errorCode: 'XDSRegistryError', codeContext: `FindDocuments: parameter ${k} is not supported by the sandbox DMP` });
    if (patient.length === 1 && patient[0] !== resourceId) {
      errors.push({ errorCode: 'XDSPatientIdDoesNotMatch', codeContext: `FindDocuments: $XDSDocumentEntryPatientId ${patient[0]} is not the VIHF resource-id ${resourceId}` });
    }
    if (errors.length === 0) {
      const known = statuses.map((s) => STATUS_BY_URN[s]).filter((s): s is EntryStatus => s !== undefined);
      found = ctx.store.findByPatient(patient[0], known);
    }
  } else if (queryId === GET_DOCUMENTS) {
    const uniqueIds = params.get('$XDSDocumentEntryUniqueId') ?? [];
    const entryUuids = params.get('$XDSDocumentEntryEntryUUID') ?? [];
    if ((uniqueIds.length === 0) === (entryUuids.length === 0)) {
      errors.push({ errorCode: 'XDSStoredQueryParamNumber', codeContext: 'GetDocuments: give either $XDSDocumentEntryUniqueId or $XDSDocumentEntryEntryUUID' });
    } else {
      const docs = [...uniqueIds.map((u) => ctx.store.byUniqueId(u)), ...entryUuids.map((u) => ctx.store.byEntryUuid(u.toLowerCase()))];
      found = docs.filter((d): d is StoredDocument => d !== undefined && d.patientId === resourceId);
    }
  } else {
    errors.push({ errorCode: 'XDSUnknownStoredQuery', codeContext: `stored query ${queryId} is not supported (FindDocuments, GetDocuments)` });
  }

  const objects = returnType === 'LeafClass' ? found.map(leafClass).join('') : found.map((d) => `<rim:ObjectRef id="${d.entryUuid}"/>`).join('');
  const status = statusOf(errors);
  return {
    action: ACTIONS.iti18Response,
    bodyXml:
      `<query:AdhocQueryResponse xmlns:query="${NS.query}" xmlns:rim="${NS.rim}" xmlns:rs="${NS.rs}" status="${status}">` +
      registryErrorList(errors) +
      `<rim:RegistryObjectList>${objects}</rim:RegistryObjectList>` +
      `</query:AdhocQueryResponse>`,
    errorCodes: errors.map((e) => e.errorCode),
  };
}
