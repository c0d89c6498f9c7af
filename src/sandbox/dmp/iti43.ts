// ITI-43 Retrieve Document Set on the local DMP peer: the registered bytes, unchanged, as MTOM attachments. A
// document of another patient than the VIHF's is answered as unknown, like a document that does not exist.
import { VIHF_ATTRIBUTE } from '../../connectors/dmp/vihf.js';
import { ACTIONS, NS, REGISTRY_STATUS } from '../../connectors/dmp/xds-constants.js';
import { child, children, textOf } from '../../connectors/dmp/xml-dom.js';
import type { PeerContext, TransactionRequest, TransactionResponse } from './context.js';
import { registryErrorList, type RegistryError } from './registry-error.js';
import { escapeXml } from '../../connectors/dmp/soap.js';
import { SoapFault } from './soap.js';
import type { StoredDocument } from './store.js';

export function retrieveDocumentSet(ctx: PeerContext, req: TransactionRequest): TransactionResponse {
  const payload = req.soap.payload;
  if (payload.namespaceURI !== NS.xdsb || payload.localName !== 'RetrieveDocumentSetRequest') {
    throw new SoapFault('Sender', undefined, `body: expected xdsb:RetrieveDocumentSetRequest, got ${payload.localName}`);
  }
  const requests = children(payload, NS.xdsb, 'DocumentRequest');
  if (requests.length === 0) throw new SoapFault('Sender', undefined, 'RetrieveDocumentSetRequest: no DocumentRequest');
  const resourceId = req.vihf.attributes[VIHF_ATTRIBUTE.resourceId]?.[0] ?? '';
  const errors: RegistryError[] = [];
  const found: StoredDocument[] = [];
  for (const r of requests) {
    const repository = textOf(child(r, NS.xdsb, 'RepositoryUniqueId'));
    const uniqueId = textOf(child(r, NS.xdsb, 'DocumentUniqueId'));
    if (repository !== ctx.repositoryUniqueId) {
      errors.push({ errorCode: 'XDSUnknownRepositoryId', codeContext: `RepositoryUniqueId ${repository} is not this repository (${ctx.repositoryUniqueId})`, location: uniqueId });
      continue;
    }
    const doc = ctx.store.byUniqueId(uniqueId);
    if (!doc || doc.patientId !== resourceId) {
      errors.push({ errorCode: 'XDSDocumentUniqueIdError', codeContext: `DocumentUniqueId ${uniqueId} is not in this repository for the VIHF patient`, location: uniqueId });
      continue;
    }
    found.push(doc);
  }
  const status = errors.length === 0 ? REGISTRY_STATUS.success : found.length > 0 ? REGISTRY_STATUS.partialSuccess : REGISTRY_STATUS.failure;
  // Content-IDs numbered after the envelope's 0.1, as DRIMbox numbers the parts of a request.
  const attachments = found.map((d, i) => ({ contentId: `0.${i + 2}`, contentType: d.mimeType, body: d.content }));
  const responses = found
    .map(
      (d, i) =>
        `<xdsb:DocumentResponse>` +
        `<xdsb:RepositoryUniqueId>${escapeXml(ctx.repositoryUniqueId)}</xdsb:RepositoryUniqueId>` +
        `<xdsb:DocumentUniqueId>${escapeXml(d.uniqueId)}</xdsb:DocumentUniqueId>` +
        `<xdsb:mimeType>${escapeXml(d.mimeType)}</xdsb:mimeType>` +
        `<xdsb:Document><xop:Include xmlns:xop="${NS.xop}" href="cid:${attachments[i].contentId}"/></xdsb:Document>` +
        `</xdsb:DocumentResponse>`,
    )
    .join('');
  return {
    action: ACTIONS.iti43Response,
    bodyXml:
      `<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="${NS.xdsb}" xmlns:rs="${NS.rs}">` +
      `<rs:RegistryResponse status="${status}">${registryErrorList(errors)}</rs:RegistryResponse>` +
      responses +
      `</xdsb:RetrieveDocumentSetResponse>`,
    attachments,
    errorCodes: errors.map((e) => e.errorCode),
  };
}
