// The outbox connector of a DMP destination: renders the document the message describes (the same bytes on every
// attempt), registers it by ITI-41 and turns the registry's answer into the outbox's terms — delivered, retry later
// (no answer, 5xx, busy registry), or dead with the RegistryError codes as the reason.
import { v5 as uuidv5 } from 'uuid';
import { documentRequestOf } from '../../documents/message.js';
import type { BuiltDocument } from '../../documents/pipeline.js';
import { DocumentBuilderUnavailable, inThreadDocumentBuilder, type DocumentBuilder } from '../../documents/isolated-build.js';
import type { DocumentSettings } from '../../documents/settings.js';
import { DeliveryError, type Connector } from '../../outbox/connector.js';
import type { DmpDestinationConfig } from '../../outbox/config.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import { queryIti18FindDocuments, sendIti41 } from './client.js';
import { AVAILABILITY_STATUS } from './xds-constants.js';
import { structureOfCertificate } from './certificate.js';
import { buildIti41Request } from './iti41.js';
import { loadOrganisationCredentials, type OrganisationCredentials } from './tls.js';
import type { Iti41Vihf } from './iti41.js';
import type { DocumentHeader, DocumentRequest, XdsSubmission } from '../../documents/model.js';

/** What every document destination needs besides its own settings. */
export interface DocumentConnectorDeps {
  settings: DocumentSettings;
  /** XDS SubmissionSet sourceId (`documents.sourceId`). */
  sourceId: string;
  /** Clock of the VIHF; default: the system clock. (The submission set is signed at the document's time.) */
  now?: () => Date;
  /** Builds documents where their content cannot take the gateway down (a worker pool); default: in this thread. */
  builder?: DocumentBuilder;
  /**
   * Called once the document is built, before anything is sent: records it (services/document-resources.ts stores
   * the Binaries and the DocumentReference). Its failure fails the attempt as a transient failure: nothing is sent
   * that was not recorded, and the next attempt tries again.
   */
  onBuilt?: (message: OutboxMessage, request: DocumentRequest, built: BuiltDocument) => Promise<void>;
}

/**
 * Builds the document a message describes, then has it recorded (`deps.onBuilt`). Only what the message fixed at
 * enqueue time goes in (its request, the document's time), so every attempt builds the same bytes. A failure of the
 * builder itself is transient; a document that cannot be built, or that blows the builder's limits, will fail the
 * same way again; a document that could not be recorded is not sent (transient).
 */
export async function buildMessageDocument(
  message: OutboxMessage,
  deps: DocumentConnectorDeps,
  started: () => Promise<void> = async () => undefined,
): Promise<{ request: DocumentRequest; built: BuiltDocument }> {
  let request: DocumentRequest;
  let built: BuiltDocument;
  try {
    request = documentRequestOf(message.payload);
    const options = { sourceId: deps.sourceId };
    built = await (deps.builder ?? inThreadDocumentBuilder).build(request, deps.settings, options, started);
  } catch (err) {
    const transient = err instanceof DocumentBuilderUnavailable;
    throw new DeliveryError(`document cannot be built: ${(err as Error).message}`, transient);
  }
  if (deps.onBuilt) {
    try {
      await deps.onBuilt(message, request, built);
    } catch (err) {
      throw new DeliveryError(`document built, but it could not be stored: ${(err as Error).message}`, true);
    }
  }
  return { request, built };
}

/** Namespace of the WS-Addressing MessageIDs (one per message attempt). */
const MESSAGE_ID_NAMESPACE = '3b8e6c1a-52f4-4f0e-8d7a-2c9b1e6f4a73';

/**
 * The VIHF of a document: the sending organisation and the author stand behind it. It speaks for the document's
 * structure (Identifiant_Structure), so Secteur_Activite is that structure's sector — the healthcare facility type
 * of the document header (TRE_R02, as `SA33^1.2.250.1.71.4.2.4` in the ANS samples): a BPM sent for a community
 * pharmacy names SA33 whatever the gateway's own establishment is. The destination's configured `secteurActivite`
 * stays the sector of the gateway's own establishment, used when the document's structure is `ownStructure` (the
 * IdNat_Struct of the organisation certificate, see `structureOfCertificate`).
 */
export function vihfOf(d: DmpDestinationConfig, header: DocumentHeader, ownStructure?: string): Iti41Vihf {
  const structure = header.organization.idNatStruct;
  const facility = header.healthcareFacilityTypeCode;
  return {
    version: d.vihf.version,
    nameId: d.vihf.nameId ?? header.author.idnps,
    subjectId: d.vihf.subjectId,
    roles: [d.vihf.role],
    secteurActivite: structure === ownStructure ? d.vihf.secteurActivite : `${facility.code}^${facility.codeSystem}`,
    identifiantStructure: structure,
    lps: d.vihf.lps,
    authenticationMode: 'INDIRECTE',
  };
}

/** Loads the organisation's PKCS#12 once (again after a failure, so fixing the file needs no restart). */
export function credentialsLoader(tls: DmpDestinationConfig['tls']): () => Promise<OrganisationCredentials> {
  let loading: Promise<OrganisationCredentials> | undefined;
  return () => {
    loading ??= loadOrganisationCredentials({ pkcs12Path: tls.pkcs12, passphrase: tls.passphrase, ...(tls.ca ? { caPath: tls.ca } : {}) }).catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
}

export function dmpConnector(d: DmpDestinationConfig, deps: DocumentConnectorDeps): Connector {
  const credentials = credentialsLoader(d.tls);
  const now = deps.now ?? (() => new Date());
  return {
    // The attempt starts when the document build leaves the builder's queue, not when it is claimed.
    staged: true,
    async deliver(message: OutboxMessage, { signal, started }) {
      const { request: docRequest, built } = await buildMessageDocument(message, deps, started);
      let creds: OrganisationCredentials;
      try {
        creds = await credentials();
      } catch (err) {
        throw new DeliveryError(`organisation certificate: ${(err as Error).message}`, true);
      }
      const vihf = vihfOf(d, built.header, structureOfCertificate(creds.cert));
      const request = buildIti41Request(built.submission, creds, vihf, {
        to: d.url,
        encoding: d.encoding,
        messageId: uuidv5(`${message.id}:${message.attempts}`, MESSAGE_ID_NAMESPACE),
        now: now(),
        // Fixed at enqueue: with RSA PKCS#1 v1.5 the signature document is then the same bytes on every attempt, so
        // the registry sees an identical re-send after a crash, not a different document under our uniqueId.
        signingTime: new Date(docRequest.effectiveTime),
        algorithm: d.signatureAlgorithm,
      });
      const outcome = await sendIti41(request, {
        url: d.url,
        credentials: creds,
        timeoutMs: d.timeoutMs,
        signal,
      });
      if (outcome.disposition === 'success' || outcome.disposition === 'already-registered') return;
      if (outcome.errors.some((e) => e.errorCode === NON_IDENTICAL_HASH)) {
        // Our uniqueId, registered with another hash: an earlier attempt may have got through before the gateway
        // could record it (and, before retries were byte-identical, been signed differently). Ask the registry.
        const check = await registeredAsSent(built.submission, creds, vihf, { url: registryUrlOf(d), timeoutMs: d.timeoutMs, signal, algorithm: d.signatureAlgorithm });
        if (check === true) return;
        if (check !== false) throw new DeliveryError(`${outcome.reason ?? 'XDSNonIdenticalHash'}; checking the registry (ITI-18) failed: ${check.reason}`, true);
      }
      throw new DeliveryError(outcome.reason ?? `registry status ${outcome.status}`, outcome.disposition === 'transient');
    },
  };
}

const NON_IDENTICAL_HASH = 'XDSNonIdenticalHash';

/** The registry (ITI-18) endpoint: configured, or the repository's URL with `repository` replaced by `registry`. */
export function registryUrlOf(d: DmpDestinationConfig): string {
  return d.registryUrl ?? d.url.replace(/repository(?=[^/]*$)/, 'registry');
}

/**
 * Whether the registry holds every clinical document of `submission` under its uniqueId with the very hash we send
 * (then the document is at the DMP and the message is delivered; the signature entry of an earlier attempt may
 * differ, it proves nothing about the document). `false`: a document is missing or differs; `{ reason }`: the
 * query failed.
 */
export async function registeredAsSent(
  submission: XdsSubmission,
  signing: OrganisationCredentials,
  vihf: Iti41Vihf,
  call: { url: string; timeoutMs: number; signal: AbortSignal; algorithm: DmpDestinationConfig['signatureAlgorithm'] },
): Promise<boolean | { reason: string }> {
  const found = await queryIti18FindDocuments(submission.submissionSet.patientId, {
    url: call.url,
    credentials: signing,
    timeoutMs: call.timeoutMs,
    signal: call.signal,
    signing,
    algorithm: call.algorithm,
    vihf,
    statuses: [AVAILABILITY_STATUS.approved, AVAILABILITY_STATUS.deprecated],
  });
  if (found.status !== 'Success') return { reason: found.reason ?? `registry status ${found.status}` };
  const registered = new Map(found.documents.map((f) => [f.uniqueId, f.hash?.toLowerCase()]));
  return submission.documents.every((doc) => registered.get(doc.entry.uniqueId) === doc.entry.hash.toLowerCase());
}
