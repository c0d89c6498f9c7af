// What the DMP answered, as one outcome: status and RegistryErrors from rs:RegistryResponse (or a SOAP Fault, or
// just an HTTP status), and whether sending again can help. The outbox retries `transient` failures only.
import { isTransientStatus } from '../../outbox/connector.js';
import { readSoapMessage, type SoapMessage } from './soap.js';
import { DUPLICATE_UNIQUE_ID_ERROR, ERROR_SEVERITY, NS, REGISTRY_STATUS, TRANSIENT_XDS_ERRORS } from './xds-constants.js';
import { descendants } from './xml-dom.js';

export type RegistryStatus = 'Success' | 'PartialSuccess' | 'Failure';

export interface RegistryError {
  errorCode: string;
  codeContext: string;
  severity: 'Error' | 'Warning';
  location?: string;
}

/**
 * - `success`: accepted (warnings allowed);
 * - `already-registered`: refused only because the registry already holds these uniqueIds, i.e. an earlier send of
 *   this same submission got through and its answer was lost: treat as delivered (the idempotency key is the
 *   document uniqueId; a different document under the same uniqueId would be XDSNonIdenticalHash, a permanent error);
 * - `transient`: no answer, HTTP 5xx/408/429, a SOAP Receiver fault or a busy registry: send again later;
 * - `permanent`: anything else; sending the same bytes again cannot succeed.
 */
export type Disposition = 'success' | 'already-registered' | 'transient' | 'permanent';

export interface RegistryOutcome {
  status: RegistryStatus;
  errors: RegistryError[];
  disposition: Disposition;
  /** For failures: readable, e.g. `XDSRegistryMetadataError: <codeContext>`. */
  reason?: string;
  httpStatus?: number;
}

function statusOf(uri: string): RegistryStatus {
  if (uri === REGISTRY_STATUS.success || uri.endsWith(':Success')) return 'Success';
  if (uri === REGISTRY_STATUS.partialSuccess || uri.endsWith(':PartialSuccess')) return 'PartialSuccess';
  return 'Failure';
}

/** The rs:RegistryResponse status and errors found in `scope` (the response element or one of its ancestors). */
export function registryResponseOf(scope: Element): { status: RegistryStatus; errors: RegistryError[] } | undefined {
  const response = scope.namespaceURI === NS.rs && scope.localName === 'RegistryResponse' ? scope : descendants(scope, NS.rs, 'RegistryResponse')[0];
  // AdhocQueryResponse carries the same status attribute and error list as RegistryResponse.
  const holder = response ?? (scope.namespaceURI === NS.query && scope.localName === 'AdhocQueryResponse' ? scope : undefined);
  if (!holder) return undefined;
  const errors = descendants(holder, NS.rs, 'RegistryError').map((e): RegistryError => {
    // The severity defaults to Error (ebRS 3.0); some registries write the short form.
    const severity = e.getAttribute('severity') ?? '';
    const location = e.getAttribute('location');
    return {
      errorCode: e.getAttribute('errorCode') ?? '',
      codeContext: e.getAttribute('codeContext') ?? (e.textContent ?? '').trim(),
      severity: severity === ERROR_SEVERITY.warning || severity === 'Warning' ? 'Warning' : 'Error',
      ...(location ? { location } : {}),
    };
  });
  return { status: statusOf(holder.getAttribute('status') ?? ''), errors };
}

/** The disposition of a registry answer (see `Disposition`). */
export function dispositionOf(status: RegistryStatus, errors: readonly RegistryError[]): Pick<RegistryOutcome, 'disposition' | 'reason'> {
  const failures = errors.filter((e) => e.severity === 'Error');
  if (status === 'Success' && failures.length === 0) return { disposition: 'success' };
  const reason = failures.length > 0 ? failures.map((e) => `${e.errorCode}: ${e.codeContext}`).join('; ') : `registry status ${status} without an error`;
  if (failures.length > 0 && failures.every((e) => e.errorCode === DUPLICATE_UNIQUE_ID_ERROR)) return { disposition: 'already-registered', reason };
  if (failures.length > 0 && failures.every((e) => TRANSIENT_XDS_ERRORS.has(e.errorCode))) return { disposition: 'transient', reason };
  return { disposition: 'permanent', reason };
}

/** An outcome for a request that got no HTTP answer (network error, TLS failure, timeout, abort). */
export function noAnswer(reason: string): RegistryOutcome {
  return { status: 'Failure', errors: [], disposition: 'transient', reason };
}

/**
 * Reads an HTTP answer to an XDS transaction. `message` is returned too, so a caller can read the rest of the body
 * (query results, retrieved documents).
 */
export function outcomeOfHttpAnswer(httpStatus: number, contentType: string, payload: Buffer): RegistryOutcome & { message?: SoapMessage } {
  const httpTransient = isTransientStatus(httpStatus);
  let message: SoapMessage;
  try {
    message = readSoapMessage(contentType, payload);
  } catch (err) {
    const start = payload.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
    return { status: 'Failure', errors: [], disposition: httpTransient ? 'transient' : 'permanent', reason: `HTTP ${httpStatus}: ${(err as Error).message}${start ? ` (${start})` : ''}`, httpStatus };
  }
  if (message.fault) {
    const { code, subcodes, reason } = message.fault;
    const errorCode = subcodes.at(-1) ?? code;
    return {
      status: 'Failure',
      errors: [{ errorCode, codeContext: reason, severity: 'Error' }],
      // SOAP 1.2: a Receiver fault is the server's trouble and may pass; a Sender fault is ours and will not.
      disposition: code === 'Receiver' ? 'transient' : 'permanent',
      reason: `SOAP Fault ${[code, ...subcodes].join('/')}: ${reason}`,
      httpStatus,
      message,
    };
  }
  const registry = message.body ? registryResponseOf(message.body) : undefined;
  if (!registry) {
    return { status: 'Failure', errors: [], disposition: httpTransient ? 'transient' : 'permanent', reason: `HTTP ${httpStatus}: no RegistryResponse in the SOAP body`, httpStatus, message };
  }
  return { ...registry, ...dispositionOf(registry.status, registry.errors), httpStatus, message };
}
