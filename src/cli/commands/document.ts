// `passerelle document <pdf|cda|iti41|xdm|mime> <ppp|ctm|bpm> <input.json> -o <file>`: writes an artefact exactly as
// the DMP or MSSanté route would send it — the PDF, the CDA R2 N1 wrapping it, the whole ITI-41 request (SOAP envelope
// with the documents inline, or the MTOM multipart), the IHE_XDM.ZIP, or the whole MSSanté message (.eml) — so
// integrators can check it with their own tools.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../config.js';
import { vihfOf } from '../../connectors/dmp/connector.js';
import { buildIti41Request } from '../../connectors/dmp/iti41.js';
import { loadOrganisationCredentials, type OrganisationCredentials } from '../../connectors/dmp/tls.js';
import { composeMssanteMessage, MssanteMessageRefused } from '../../connectors/mssante/message.js';
import { InputError, parseDocument, type DocumentKind } from '../../domain/parse.js';
import { buildCdaN1 } from '../../documents/cda-n1.js';
import { documentHeader } from '../../documents/header.js';
import { documentIds, submissionSourceId } from '../../documents/ids.js';
import type { DocumentRequest, SourceDocument } from '../../documents/model.js';
import { buildDocument } from '../../documents/pipeline.js';
import { renderPdf } from '../../documents/pdf.js';
import { buildXdmPackage, type XdmSoftware } from '../../documents/xdm.js';
import { documentOrganization, DocumentSettingsError, loadDocumentSettings, referencedCodeMaps, withCodeMaps } from '../../documents/settings.js';
import { loadMappingSet } from '../../mappings/load.js';
import { packagedMappingFile } from '../../mapping-files.js';
import { issuesText, OperationOutcomeError } from '../../fhir/outcome.js';
import { outboxConfigSchema, type DmpDestinationConfig } from '../../outbox/config.js';
import { ensureTestPki } from '../../sandbox/pki.js';
import { DEMO_MAILBOXES } from '../../sandbox/mssante/mailboxes.js';

const ARTEFACTS = ['pdf', 'cda', 'iti41', 'xdm', 'mime'] as const;
type Artefact = (typeof ARTEFACTS)[number];
const KINDS = ['ppp', 'ctm', 'bpm'] as const satisfies readonly DocumentKind[];

interface DocumentOptions {
  output: string;
  config?: string;
  now?: string;
  docVersion: string;
  replaces?: string;
  encoding: 'mtom' | 'inline';
  pkcs12?: string;
  passphrase?: string;
  to?: string[];
  from: string;
  organization?: string;
  nil: string;
  receipt?: boolean;
  forbidReply?: boolean;
}

/**
 * Demo defaults of the MSSanté artefacts: TEST addresses (the BAL APP of the gateway, the GP and the pharmacist of
 * the demo), never real mailboxes. A deployment passes its own with --from / --to.
 */
export const DEMO_MSSANTE = {
  from: DEMO_MAILBOXES.gateway,
  to: [DEMO_MAILBOXES.mt, DEMO_MAILBOXES.pho],
  nil: 'PASSERELLE-TEST',
} as const;

const SOFTWARE: XdmSoftware = {
  name: 'Passerelle',
  version: (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
  vendor: 'Passerelle',
};

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return value as T;
  };

function positive(value: string): string {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a version number 1, 2, …');
  return value;
}

class UsageError extends Error {}

/** The configured `dmp` destination, if any. */
function dmpDestinationOf(config: Config): DmpDestinationConfig | undefined {
  return Object.values(config.outbox.destinations).find((d): d is DmpDestinationConfig => d.kind === 'dmp');
}

/** The organisation certificate: --pkcs12, else the configured `dmp` destination's, else the sandbox test PKI. */
async function credentialsFor(config: Config, dmp: DmpDestinationConfig | undefined, opts: DocumentOptions): Promise<{ credentials: OrganisationCredentials; to: string }> {
  if (opts.to && opts.to.length > 1) throw new UsageError('iti41: --to takes one URL');
  const to = opts.to?.[0] ?? (dmp ? dmp.url : 'https://localhost:8443/si-dmp-server/v2/services/repository');
  if (opts.pkcs12) return { credentials: await loadOrganisationCredentials({ pkcs12Path: opts.pkcs12, passphrase: opts.passphrase ?? '' }), to };
  if (dmp) {
    return { credentials: await loadOrganisationCredentials({ pkcs12Path: dmp.tls.pkcs12, passphrase: dmp.tls.passphrase, ...(dmp.tls.ca ? { caPath: dmp.tls.ca } : {}) }), to };
  }
  const pki = await ensureTestPki({ dir: path.resolve(config.sandbox.dmp.certs ?? path.join(config.dataDir, 'certs')) });
  process.stderr.write(`signing with the TEST organisation certificate ${pki.files.orgP12}\n`);
  return { credentials: await loadOrganisationCredentials({ pkcs12Path: pki.files.orgP12, passphrase: pki.passphrase }), to };
}

async function write(artefact: Artefact, kind: DocumentKind, file: string, opts: DocumentOptions): Promise<void> {
  const config = loadConfig({ file: opts.config, env: process.env });
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const source = { kind, document: parseDocument(kind, input) } as SourceDocument;
  const version = Number(opts.docVersion);
  const replaces = opts.replaces !== undefined ? Number(opts.replaces) : undefined;
  if (replaces !== undefined && replaces >= version) throw new UsageError(`--replaces ${replaces}: a version replaces an earlier one (use --doc-version > ${replaces})`);
  const req: DocumentRequest = {
    source,
    patient: source.document.patient,
    ids: documentIds(config.documents.oidRoot, kind, documentOrganization(source).finess, source.document.id, version, replaces),
    effectiveTime: opts.now ?? new Date().toISOString(),
    masking: source.document.dmp?.masking ?? [],
  };
  let settings = loadDocumentSettings(config.documents.settings);
  if (referencedCodeMaps(settings).length > 0) {
    // Code maps named by the settings (documents.yaml `codeMaps`), read from the configured mappings folder.
    const set = await loadMappingSet(config.mappings.dir ?? path.dirname(packagedMappingFile('documents.yaml')));
    settings = withCodeMaps(settings, { get: (n) => set.codeMaps.get(n) });
  }
  if (artefact === 'pdf') {
    writeFileSync(opts.output, await renderPdf(req, documentHeader(req, settings)));
    return;
  }
  if (artefact === 'cda') {
    const header = documentHeader(req, settings);
    writeFileSync(opts.output, buildCdaN1(header, await renderPdf(req, header)), 'utf8');
    return;
  }
  if (artefact === 'xdm' || artefact === 'mime') {
    // The XDS metadata needs the patient's INS (as the DMP route does); the message's X-MSS-INS says whether it is qualified.
    const built = await buildDocument(req, settings, { sourceId: submissionSourceId(config.documents) });
    const date = opts.now ? new Date(opts.now) : new Date();
    const organization = opts.organization ?? documentOrganization(source).name;
    if (artefact === 'xdm') {
      writeFileSync(opts.output, await buildXdmPackage({ built, sender: { name: opts.from, organization, address: opts.from }, software: SOFTWARE, date }));
      return;
    }
    const message = await composeMssanteMessage({
      built,
      from: { address: opts.from, organization },
      to: opts.to ?? DEMO_MSSANTE.to,
      nil: opts.nil,
      software: SOFTWARE,
      date,
      ...(opts.receipt ? { receipt: true } : {}),
      ...(opts.forbidReply ? { noReply: true } : {}),
    });
    writeFileSync(opts.output, message.raw);
    process.stderr.write(`Message-ID: ${message.messageId}\n`);
    return;
  }
  const { status, ins } = source.document.patient;
  if (status !== 'QUAL' || !ins) throw new UsageError(`${kind}.patient: the identity is ${status}; documents go to the DMP only for a qualified INS (QUAL)`);
  const dmp = dmpDestinationOf(config);
  const { credentials, to } = await credentialsFor(config, dmp, opts);
  const built = await buildDocument(req, settings, { sourceId: submissionSourceId(config.documents) });
  // Without a configured one, the defaults of a `dmp` destination (signature algorithm, VIHF) sending to `to`.
  const destination = dmp ?? (outboxConfigSchema.parse({ destinations: { dmp: { kind: 'dmp', url: to, tls: { pkcs12: '-' } } } }).destinations.dmp as DmpDestinationConfig);
  const request = buildIti41Request(built.submission, credentials, vihfOf(destination, built.header), {
    to,
    encoding: opts.encoding,
    messageId: randomUUID(),
    now: new Date(),
    algorithm: destination.signatureAlgorithm,
  });
  writeFileSync(opts.output, request.body);
  // The multipart boundary is only in the HTTP header: print it for tools that replay the request.
  process.stderr.write(`Content-Type: ${request.contentType}\n`);
}

export function register(program: Command): void {
  program
    .command('document')
    .description('write a document artefact exactly as it is sent: the PDF, its CDA R2 N1, the ITI-41 request (DMP), the IHE_XDM.ZIP or the whole message (MSSanté)')
    .argument('<artefact>', `what to write: ${ARTEFACTS.join(' | ')}`, oneOf(ARTEFACTS))
    .argument('<kind>', `document kind: ${KINDS.join(' | ')}`, oneOf(KINDS))
    .argument('<input>', 'JSON file holding the canonical document')
    .requiredOption('-o, --output <file>', 'file to write')
    .option('-c, --config <file>', 'YAML configuration (documents.oidRoot, document settings, the dmp destination)')
    .option('--now <datetime>', 'document time (ISO 8601; default: now)', (v: string) => {
      if (Number.isNaN(Date.parse(v))) throw new InvalidArgumentError('expected an ISO 8601 date-time');
      return v;
    })
    .option('--doc-version <n>', 'document version (CDA versionNumber)', positive, '1')
    .option('--replaces <n>', 'the version this one replaces (CDA relatedDocument RPLC, XDS RPLC association)', positive)
    .option('--encoding <encoding>', 'iti41: mtom (multipart/related, as sent to the DMP) or inline (base64 in the envelope)', oneOf(['mtom', 'inline'] as const), 'mtom')
    .option('--pkcs12 <file>', 'iti41: organisation certificate (default: the configured dmp destination, else the test PKI)')
    .option('--passphrase <text>', 'iti41: passphrase of --pkcs12 (env PASSERELLE_DMP_PASSPHRASE)', process.env.PASSERELLE_DMP_PASSPHRASE)
    .option('--to <address>', 'iti41: WS-Addressing To URL (default: the configured dmp destination); mime: a recipient MSSanté address, repeatable (default: the demo GP and pharmacist)', collect)
    .option('--from <address>', 'xdm, mime: the sending applicative mailbox (BAL APP)', DEMO_MSSANTE.from)
    .option('--organization <name>', "xdm, mime: the sender's organisation (default: the document's establishment or pharmacy)")
    .option('--nil <reference>', 'mime: X-MSS-NIL, the product reference of the convergence declaration', DEMO_MSSANTE.nil)
    .option('--receipt', 'mime: ask for a receipt (Disposition-Notification-To)')
    .option('--forbid-reply', 'mime: to a patient who must not reply (X-MSS-MES: FIN)')
    .addHelpText(
      'after',
      '\nExamples:\n  passerelle document pdf ppp test/fixtures/ppp/hospital-sync-rcp.json -o ppp.pdf\n' +
        '  passerelle document iti41 ppp test/fixtures/ppp/hospital-sync-rcp.json -o iti41.mime   # Content-Type on stderr\n' +
        '  passerelle document xdm ppp test/fixtures/ppp/hospital-sync-rcp.json -o IHE_XDM.ZIP\n' +
        '  passerelle document mime ppp test/fixtures/ppp/hospital-sync-rcp.json -o ppp.eml --to dr.martin@medecin.mssante.fr   # Message-ID on stderr\n' +
        'Exit code 2 on invalid input (one line per field), when the patient is not qualified (iti41) or has no INS (xdm, mime),\n' +
        'or when the message is refused (bad address, patient address without a qualified INS).',
    )
    .action(async (artefact: Artefact, kind: DocumentKind, file: string, opts: DocumentOptions) => {
      try {
        await write(artefact, kind, file, opts);
      } catch (err) {
        let message: string;
        if (err instanceof InputError) message = err.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
        else if (err instanceof OperationOutcomeError) message = issuesText(err.outcome.issue, '\n');
        else if (err instanceof UsageError || err instanceof ConfigError || err instanceof DocumentSettingsError || err instanceof MssanteMessageRefused) message = err.message;
        else throw err;
        process.stderr.write(`${message}\n`);
        process.exitCode = 2;
      }
    });
}
