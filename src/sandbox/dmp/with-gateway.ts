// `passerelle serve --sandbox-dmp` (and `npm start`): the local DMP peer runs beside the gateway, with a test PKI
// generated on first use, and the gateway routes its documents there unless the configuration names its own `dmp`
// destination. This is what makes the whole flow visible on a laptop: PPP → outbox → ITI-41 over mutual TLS.
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { outboxConfigSchema, type OutboxConfig, type OutboxEvent } from '../../outbox/config.js';
import { ensureTestPki } from '../pki.js';
import { startDmpPeer, type DmpPeer } from './server.js';

/** Repository uniqueId of the sandbox (a TEST OID arc). */
export const SANDBOX_REPOSITORY_ID = '1.2.250.1.999.42.9.1';
const DOCUMENT_EVENTS: readonly OutboxEvent[] = ['ppp.stored', 'ctm.stored', 'bpm.stored'];

export interface GatewaySandbox {
  peer: DmpPeer;
  /** The outbox configuration with the sandbox destination and routes added (when the config had no `dmp`). */
  outbox: OutboxConfig;
  certsDir: string;
}

export async function startGatewaySandbox(config: Config, logger: Logger, options: { schemaDir?: string } = {}): Promise<GatewaySandbox> {
  const certsDir = path.resolve(config.sandbox.dmp.certs ?? path.join(config.dataDir, 'certs'));
  const pki = await ensureTestPki({ dir: certsDir });
  if (pki.generated) logger.info({ certs: certsDir }, 'DMP sandbox: test PKI generated (TEST certificates, never for production)');
  const peer = await startDmpPeer({
    port: config.sandbox.dmp.port,
    tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
    vihfTrust: pki.pem.ca,
    dataFile: path.join(config.dataDir, 'dmp-sandbox.sqlite'),
    repositoryUniqueId: SANDBOX_REPOSITORY_ID,
    logger: logger.child({ component: 'dmp-sandbox' }),
    requireSubmissionSignature: true,
    ...(options.schemaDir ? { schemaDir: options.schemaDir } : {}),
  });
  logger.info({ iti41: peer.iti41Url, iti18: peer.iti18Url }, `DMP sandbox listening on ${peer.url}`);
  if (config.outbox.destinations.dmp) return { peer, outbox: config.outbox, certsDir };
  const outbox = outboxConfigSchema.parse({
    ...config.outbox,
    destinations: {
      ...config.outbox.destinations,
      dmp: { kind: 'dmp', url: peer.iti41Url, tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca }, baseDelayMs: 500, maxDelayMs: 30_000 },
    },
    routes: [...config.outbox.routes, ...DOCUMENT_EVENTS.map((on) => ({ on, destination: 'dmp' }))],
  });
  return { peer, outbox, certsDir };
}
