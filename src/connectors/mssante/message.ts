// The outgoing MSSanté message of a built document (fr-interop §3.3–3.5): from the gateway's applicative mailbox (BAL
// APP), subject `XDM/1.0/DDM+<title>`, a short French body, the PDF and IHE_XDM.ZIP attached, and the X-MSS-* headers.
// The MIME is composed by nodemailer's MailComposer (never by hand). The Message-ID is derived from the document
// version and the recipient set: it is the idempotency key of a send, and composing twice gives the same message.
import { createHash } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { PatientIdentity } from '../../domain/identity.js';
import type { BuiltDocument } from '../../documents/pipeline.js';
import { buildXdmPackage, type XdmSoftware } from '../../documents/xdm.js';

export const XDM_SUBJECT_PREFIX = 'XDM/1.0/DDM+';
export const PATIENT_DOMAIN = 'patient.mssante.fr';
export const XDM_ATTACHMENT = 'IHE_XDM.ZIP';

export interface MssanteMessageInput {
  /** The document as the DMP route builds it (`buildDocument`): header, PDF, CDA and XDS submission. */
  built: Pick<BuiltDocument, 'header' | 'pdf' | 'submission'>;
  /** The gateway's applicative mailbox (BAL APP): the From address. */
  from: { address: string; name?: string; organization: string };
  /** MSSanté addresses of the recipients (professionals, or `<INS matricule>@patient.mssante.fr`). */
  to: readonly string[];
  /** X-MSS-NIL: the product reference of the convergence.esante.gouv.fr declaration. */
  nil: string;
  software: XdmSoftware;
  /** The message's Date (and the XDM entries' time). */
  date: Date;
  /** Ask for a receipt: `Disposition-Notification-To` = the From address. */
  receipt?: boolean;
  /** Writing to a patient who must not reply: X-MSS-MES: FIN (only with a patient recipient). */
  noReply?: boolean;
  /** Right part of the Message-ID; default the From address's domain. */
  messageIdDomain?: string;
}

export interface MssanteMessage {
  /** The whole RFC 5322 message, CRLF line ends, exactly as it would be sent. */
  raw: Buffer;
  /** `<…@…>` */
  messageId: string;
  /** The headers this module sets (X-MSS-*, Disposition-Notification-To, Subject, From, To). */
  headers: Record<string, string>;
  /** The IHE_XDM.ZIP attached. */
  xdm: Buffer;
}

export type MssanteRefusalReason = 'invalid-address' | 'header-injection' | 'patient-not-qualified' | 'no-recipient' | 'no-reply-without-patient';

/** The only error `composeMssanteMessage` throws for bad input. */
export class MssanteMessageRefused extends Error {
  override readonly name = 'MssanteMessageRefused';
  constructor(
    readonly reason: MssanteRefusalReason,
    message: string,
  ) {
    super(`MSSanté message refused (${reason}): ${message}`);
  }
}

// A bare addr-spec: dot-atom local part and domain, no quoting, no comments, no display name.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const ADDRESS = new RegExp(`^${ATOM}(\\.${ATOM})*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$`);
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;

function headerValue(field: string, value: string): string {
  if (CONTROL.test(value)) throw new MssanteMessageRefused('header-injection', `${field}: control characters (CR, LF…) are not allowed`);
  return value;
}

function address(field: string, value: string): string {
  headerValue(field, value);
  if (value.length > 254 || !ADDRESS.test(value)) throw new MssanteMessageRefused('invalid-address', `${field}: ${JSON.stringify(value)} is not a mail address`);
  return value;
}

export const isPatientAddress = (a: string): boolean => a.toLowerCase().endsWith(`@${PATIENT_DOMAIN}`);

/**
 * fr-interop §3.4 (ECO.2.4.2): `O` when the CDA carries a qualified INS — matricule + OID and the traits birth name,
 * first given name, birth date and sex — else `N`.
 */
export function xMssIns(p: PatientIdentity): 'O' | 'N' {
  const traits = !!p.birthName && !!p.firstBirthGivenName && p.birthDate.length === 10 && (p.sex === 'F' || p.sex === 'M');
  return p.status === 'QUAL' && !!p.ins?.matricule && !!p.ins.oid && traits ? 'O' : 'N';
}

/** `<uniqueId.version.hash@domain>`: the same document version to the same recipients always gives the same id. */
export function mssanteMessageId(uniqueId: string, version: number, to: readonly string[], domain: string): string {
  const set = [...new Set(to.map((a) => a.toLowerCase()))].sort();
  const hash = createHash('sha256').update(set.join('\n')).digest('hex').slice(0, 16);
  return `<${uniqueId}.${version}.${hash}@${domain}>`;
}

function body(input: MssanteMessageInput): string {
  const { header } = input.built;
  return [
    'Bonjour,',
    '',
    `Vous trouverez ci-joint le document « ${header.title} » transmis par ${input.from.organization}.`,
    '',
    'Pièces jointes :',
    '- le document lisible (PDF) ;',
    `- le document structuré ${XDM_ATTACHMENT} (IHE XDM, CDA R2), intégrable dans votre logiciel.`,
    '',
    'Ce message a été envoyé automatiquement depuis une boîte applicative MSSanté.',
    ...(input.noReply ? ['Merci de ne pas y répondre.'] : []),
    '',
  ].join('\r\n');
}

export async function composeMssanteMessage(input: MssanteMessageInput): Promise<MssanteMessage> {
  const { header } = input.built;
  const from = address('From', input.from.address);
  if (input.to.length === 0) throw new MssanteMessageRefused('no-recipient', 'To: at least one recipient');
  const to = input.to.map((a) => address('To', a));
  if (input.from.name !== undefined) headerValue('From name', input.from.name);
  headerValue('X-MSS-NIL', input.nil);
  const title = headerValue('Subject (document title)', header.title);
  const domain = headerValue('Message-ID domain', input.messageIdDomain ?? from.slice(from.lastIndexOf('@') + 1));
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new MssanteMessageRefused('invalid-address', `Message-ID domain: ${JSON.stringify(domain)}`);

  const patients = to.filter(isPatientAddress);
  if (patients.length > 0) {
    const p = header.patient;
    if (p.status !== 'QUAL' || !p.ins) {
      throw new MssanteMessageRefused('patient-not-qualified', `patient messaging (@${PATIENT_DOMAIN}) needs a qualified INS; the identity is ${p.status}`);
    }
    const own = `${p.ins.matricule}@${PATIENT_DOMAIN}`.toLowerCase();
    const other = patients.find((a) => a.toLowerCase() !== own);
    if (other) throw new MssanteMessageRefused('patient-not-qualified', `${other} is not the address of the document's patient (INS matricule)`);
  }
  if (input.noReply && patients.length === 0) throw new MssanteMessageRefused('no-reply-without-patient', 'X-MSS-MES applies only to a message to a patient');

  const xdm = await buildXdmPackage({
    built: input.built,
    sender: { name: input.from.name ?? from, organization: input.from.organization, address: from },
    software: input.software,
    date: input.date,
  });
  const messageId = mssanteMessageId(header.ids.id, header.ids.version, to, domain);
  const headers: Record<string, string> = {
    'X-MSS-CODECDA': headerValue('X-MSS-CODECDA', header.typeCode.code),
    'X-MSS-INS': xMssIns(header.patient),
    'X-MSS-NIL': input.nil,
  };
  if (input.noReply) headers['X-MSS-MES'] = 'FIN';
  if (input.receipt) headers['Disposition-Notification-To'] = from;

  const mail = {
    from: input.from.name ? { name: input.from.name, address: from } : from,
    to: [...to],
    subject: `${XDM_SUBJECT_PREFIX}${title}`,
    text: body(input),
    date: input.date,
    messageId,
    headers,
    attachments: [
      { filename: `${header.kind.toUpperCase()}.pdf`, content: input.built.pdf, contentType: 'application/pdf' },
      { filename: XDM_ATTACHMENT, content: xdm, contentType: 'application/zip' },
    ],
    // Deterministic boundaries: the same input gives the same bytes.
    baseBoundary: createHash('sha256').update(messageId).digest('hex').slice(0, 24),
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const node = new MailComposer(mail).compile();
  const raw = await new Promise<Buffer>((resolve, reject) => node.build((err, buf) => (err ? reject(err) : resolve(buf))));
  return {
    raw,
    messageId,
    headers: { From: from, To: to.join(', '), Subject: mail.subject, 'Message-ID': messageId, ...headers },
    xdm,
  };
}
