// One XDS registry error as rs:RegistryError carries it, and the rs:RegistryResponse that reports them. The
// codeContext always names the field at fault so a sender can tell what to fix without reading the peer's code.
import { ERROR_SEVERITY, NS, REGISTRY_STATUS } from '../../connectors/dmp/xds-constants.js';
import { escapeXml } from '../../connectors/dmp/soap.js';

export type XdsErrorCode =
  | 'XDSRegistryMetadataError'
  | 'XDSRepositoryMetadataError'
  | 'XDSMissingDocument'
  | 'XDSMissingDocumentMetadata'
  | 'XDSNonIdenticalHash'
  | 'XDSPatientIdDoesNotMatch'
  | 'XDSUnknownPatientId'
  | 'XDSRegistryError'
  | 'XDSRegistryBusy'
  | 'XDSRepositoryBusy'
  | 'XDSRegistryOutOfResources'
  | 'XDSRepositoryOutOfResources'
  | 'XDSUnknownStoredQuery'
  | 'XDSStoredQueryParamNumber'
  | 'XDSUnknownRepositoryId'
  | 'XDSDocumentUniqueIdError'
  | 'XDSRepositoryError';

export interface RegistryError {
  errorCode: XdsErrorCode;
  codeContext: string;
  /** The registry object concerned (its id in the request), when there is one. */
  location?: string;
  severity?: 'Error' | 'Warning';
}

export function registryErrorList(errors: readonly RegistryError[]): string {
  if (errors.length === 0) return '';
  const items = errors
    .map(
      (e) =>
        `<rs:RegistryError errorCode="${e.errorCode}" codeContext="${escapeXml(e.codeContext)}"` +
        ` severity="${e.severity === 'Warning' ? ERROR_SEVERITY.warning : ERROR_SEVERITY.error}"` +
        (e.location ? ` location="${escapeXml(e.location)}"` : '') +
        '/>',
    )
    .join('');
  return `<rs:RegistryErrorList>${items}</rs:RegistryErrorList>`;
}

/** Overall status: Failure when any error has Error severity. */
export function statusOf(errors: readonly RegistryError[]): string {
  return errors.some((e) => e.severity !== 'Warning') ? REGISTRY_STATUS.failure : REGISTRY_STATUS.success;
}

/** `rs:RegistryResponse` (the ITI-41 response body). */
export function registryResponse(errors: readonly RegistryError[]): string {
  return `<rs:RegistryResponse xmlns:rs="${NS.rs}" status="${statusOf(errors)}">${registryErrorList(errors)}</rs:RegistryResponse>`;
}
