// The outbox connector of a DMP destination: renders the document the message describes (the same bytes on every
// attempt), registers it by ITI-41 and turns the registry's answer into the outbox's terms — delivered, retry later
// (no answer, 5xx, busy registry), or dead with the RegistryError codes as the reason.
import { v5 as uuidv5 } from 'uuid';
import { documentRequestOf } from '../../documents/message.js';
import { buildDocument } from '../../documents/pipeline.js';
import type { DocumentSettings } from '../../documents/settings.js';
import { DeliveryError, type Connector } from '../../outbox/connector.js';
import type { DmpDestinationConfig } from '../../outbox/config.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import { sendIti41 } from './client.js';
import { buildIti41Request } from './iti41.js';
import { loadOrganisationCredentials, type OrganisationCredentials } from './tls.js';
import type { Iti41Vihf } from './iti41.js';
import type { DocumentHeader } from '../../documents/model.js';

/** What every document destination needs besides its own settings. */
export interface DocumentConnectorDeps {
  settings: DocumentSettings;
  /** XDS SubmissionSet sourceId (`documents.sourceId`). */
  sourceId: string;
  /** Clock of the signatures (VIHF, submission set); default: the system clock. */
  now?: () => Date;
}

/** Namespace of the WS-Addressing MessageIDs (one per message attempt). */
const MESSAGE_ID_NAMESPACE = '3b8e6c1a-52f4-4f0e-8d7a-2c9b1e6f4a73';

/** The VIHF of a document: the sending organisation and the author stand behind it. */
export function vihfOf(d: DmpDestinationConfig, header: DocumentHeader): Iti41Vihf {
  return {
    version: d.vihf.version,
    nameId: d.vihf.nameId ?? header.author.idnps,
    subjectId: d.vihf.subjectId,
    roles: [d.vihf.role],
    secteurActivite: d.vihf.secteurActivite,
    identifiantStructure: header.organization.idNatStruct,
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
    async deliver(message: OutboxMessage, { signal }) {
      let built;
      try {
        built = await buildDocument(documentRequestOf(message.payload), deps.settings, { sourceId: deps.sourceId });
      } catch (err) {
        // The same payload will never render differently: no point retrying.
        throw new DeliveryError(`document cannot be built: ${(err as Error).message}`, false);
      }
      let creds: OrganisationCredentials;
      try {
        creds = await credentials();
      } catch (err) {
        throw new DeliveryError(`organisation certificate: ${(err as Error).message}`, true);
      }
      const request = buildIti41Request(built.submission, creds, vihfOf(d, built.header), {
        to: d.url,
        encoding: d.encoding,
        messageId: uuidv5(`${message.id}:${message.attempts}`, MESSAGE_ID_NAMESPACE),
        now: now(),
        algorithm: d.signatureAlgorithm,
      });
      const outcome = await sendIti41(request, {
        url: d.url,
        credentials: creds,
        timeoutMs: d.timeoutMs,
        signal,
      });
      if (outcome.disposition === 'success' || outcome.disposition === 'already-registered') return;
      throw new DeliveryError(outcome.reason ?? `registry status ${outcome.status}`, outcome.disposition === 'transient');
    },
  };
}
