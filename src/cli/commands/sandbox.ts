// `passerelle sandbox dmp`: runs the local DMP peer alone (ITI-41 / ITI-18 / ITI-43 over mutual TLS), generating the
// test PKI first when the certificate directory has none, so a gateway or a person can send it documents.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { pino } from 'pino';
import { ensureTestPki } from '../../sandbox/pki.js';
import { SANDBOX_REPOSITORY_ID } from '../../sandbox/dmp/with-gateway.js';
import { startDmpPeer } from '../../sandbox/dmp/index.js';

interface DmpSandboxOptions {
  port: number;
  host: string;
  certs: string;
  data: string;
  schemas?: string;
  repositoryId: string;
  requireSignature: boolean;
  logLevel: string;
}


function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

export function register(program: Command): void {
  const sandbox = program.command('sandbox').description('local stand-ins for the national services, for tests and demos (never production)');
  sandbox
    .command('dmp')
    .description('run a strict local DMP peer (XDS.b ITI-41, ITI-18, ITI-43; SOAP 1.2, MTOM, VIHF, mutual TLS)')
    .option('-p, --port <number>', 'port to listen on (0: any free port)', port, 8443)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--certs <dir>', 'test PKI directory (generated there when missing; see certs.example/README.md)', 'var/certs')
    .option('--data <file>', 'SQLite file of what the peer registers', 'var/dmp-sandbox.sqlite')
    .option('--schemas <dir>', 'directory of the XDS.b / ebRIM XSDs (IHE/, ebRS/, w3c/); without it the XSD check is skipped')
    .option('--repository-id <oid>', 'repositoryUniqueId of the peer', SANDBOX_REPOSITORY_ID)
    .option('--require-signature', 'refuse submissions without a XAdES submission-set signature', false)
    .option('--log-level <level>', 'pino log level (the peer logs ids, never INS or document content, at info)', 'info')
    .action(async (opts: DmpSandboxOptions) => {
      const logger = pino({ level: opts.logLevel });
      const pki = await ensureTestPki({ dir: opts.certs });
      if (pki.generated) logger.info({ dir: pki.dir }, 'test PKI generated (TEST certificates, never for production)');
      mkdirSync(path.dirname(path.resolve(opts.data)), { recursive: true });
      const peer = await startDmpPeer({
        port: opts.port,
        host: opts.host,
        tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
        vihfTrust: pki.pem.ca,
        dataFile: opts.data,
        ...(opts.schemas ? { schemaDir: opts.schemas } : {}),
        repositoryUniqueId: opts.repositoryId,
        requireSubmissionSignature: opts.requireSignature,
        logger,
      });
      logger.info(
        {
          iti41: peer.iti41Url,
          iti43: peer.iti43Url,
          iti18: peer.iti18Url,
          repositoryUniqueId: peer.repositoryUniqueId,
          clientPkcs12: pki.files.orgP12,
          trust: pki.files.ca,
          data: path.resolve(opts.data),
        },
        `DMP sandbox listening on ${peer.url}`,
      );
      const stop = (signal: string): void => {
        logger.info({ signal }, 'DMP sandbox stopping');
        peer.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'error while stopping the DMP sandbox');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
