// The outbox connector of a PDSm destination (IHE MHD ITI-65): the same document as the DMP route, as a FHIR
// transaction Bundle POSTed to the configured FHIR endpoint (with the organisation's client certificate when one is
// configured). 2xx: delivered; 408/425/429, 5xx or no answer: retried; any other status: dead, with the
// OperationOutcome's text as the reason.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { issuesText } from '../../fhir/outcome.js';
import { DeliveryError, isTransientStatus, type Connector } from '../../outbox/connector.js';
import type { PdsmDestinationConfig } from '../../outbox/config.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import { buildMessageDocument, credentialsLoader, type DocumentConnectorDeps } from '../dmp/connector.js';
import { provideDocumentBundle } from './bundle.js';

interface Answer {
  status: number;
  body: string;
}

/** TLS client key and chain, PEM (a pfx would also make Node trust the CAs inside it). */
type ClientTls = { key: string; cert: string; chain: readonly string[]; ca?: string };

function post(url: URL, body: Buffer, headers: Record<string, string>, tls: ClientTls | undefined, signal: AbortSignal): Promise<Answer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', 'content-length': body.length, ...headers },
        ...(tls && url.protocol === 'https:' ? { key: tls.key, cert: [tls.cert, ...tls.chain].join('\n'), ...(tls.ca ? { ca: tls.ca } : {}), minVersion: 'TLSv1.2' as const } : {}),
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The readable part of a FHIR error answer: the OperationOutcome's issue texts, or the start of the body. */
function reasonOf(answer: Answer): string {
  try {
    const outcome = JSON.parse(answer.body) as OperationOutcome;
    if (outcome.resourceType === 'OperationOutcome' && outcome.issue?.length) {
      return issuesText(outcome.issue);
    }
  } catch {
    // not JSON: fall through
  }
  return answer.body.slice(0, 200);
}

export function pdsmConnector(d: PdsmDestinationConfig, deps: DocumentConnectorDeps): Connector {
  const credentials = d.tls ? credentialsLoader(d.tls) : undefined;
  const url = new URL(d.url);
  return {
    // The attempt starts when the document build leaves the builder's queue, not when it is claimed.
    staged: true,
    async deliver(message: OutboxMessage, { signal, started }) {
      const { request: req, built } = await buildMessageDocument(message, deps, started);
      let bundle;
      try {
        const replaced = new Map(built.submission.replacements.map((r) => [r.replacedEntryUuid, `urn:oid:${req.ids.replaces ?? ''}`]));
        bundle = provideDocumentBundle(built.submission, replaced);
      } catch (err) {
        throw new DeliveryError(`document cannot be built: ${(err as Error).message}`, false);
      }
      let tls: ClientTls | undefined;
      if (credentials) {
        try {
          tls = await credentials();
        } catch (err) {
          throw new DeliveryError(`organisation certificate: ${(err as Error).message}`, true);
        }
      }
      let answer: Answer;
      try {
        answer = await post(url, Buffer.from(JSON.stringify(bundle)), { ...(message.requestId ? { 'x-request-id': message.requestId } : {}), ...d.headers }, tls, AbortSignal.any([signal, AbortSignal.timeout(d.timeoutMs)]));
      } catch (err) {
        throw new DeliveryError(`no answer from ${url.host}: ${(err as Error).message}`, true);
      }
      if (answer.status >= 200 && answer.status < 300) return;
      throw new DeliveryError(`HTTP ${answer.status}: ${reasonOf(answer)}`, isTransientStatus(answer.status));
    },
  };
}
