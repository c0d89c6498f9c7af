/**
 * MSSanté acknowledgements as data (issue 17, point 4).
 *
 * - `buildMdn`: an RFC 8098 MDN (`multipart/report; report-type=disposition-notification`) answering an
 *   incoming message, with the MSSanté application error codes (`processed/Error: <code>^<label>`) and the
 *   MSSanté subject rule (`[KO Intégration système !][<code>] ` prefix on failure).
 * - `parseReport`: recognises an MDN (RFC 8098) or a DSN (RFC 3464) and returns its data; undefined for an
 *   ordinary message or anything it cannot read. Never throws.
 * - `wantsMdn` / `mdnRequestOf`: whether an incoming (mailparser-parsed) message asked for a receipt.
 *
 * The MIME tree is built with nodemailer's MimeNode (MailComposer always picks a multipart/mixed or
 * alternative root, it cannot produce multipart/report). Only the bodies of the report parts (lists of
 * header-like fields) are written here, from validated values that cannot carry CR/LF.
 */
import { hostname } from 'node:os';
import MimeNode from 'nodemailer/lib/mime-node';
import { simpleParser, type ParsedMail, type AddressObject } from 'mailparser';

/** MSSanté application error codes used in an MDN (fr-interop §3.4). */
export enum MssanteErrorCode {
  UnknownPatient = 902,
  InsAbsent = 903,
  InsTraitsMismatch = 904,
  IncompleteTraits = 905,
  Other = 906,
}

/**
 * French labels. The reference (fr-interop §3.4) gives the meaning of each code, not an official wording;
 * these labels are ours. Only ASCII goes into the `Disposition` field (see `dispositionLabel`).
 */
export const MSSANTE_ERROR_LABELS: Readonly<Record<MssanteErrorCode, string>> = {
  [MssanteErrorCode.UnknownPatient]: 'Patient inconnu',
  [MssanteErrorCode.InsAbsent]: 'INS absent du document CDA',
  [MssanteErrorCode.InsTraitsMismatch]: "Incohérence entre l'INS et les traits d'identité",
  [MssanteErrorCode.IncompleteTraits]: "Traits d'identité INS incomplets",
  [MssanteErrorCode.Other]: 'Autre erreur',
};

export const MSSANTE_KO_PREFIX = '[KO Intégration système !]';

/** A refused input: the value would break the message (CR/LF, control characters, too long, bad syntax). */
export class MdnInputError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`MDN input ${field}: ${reason}`);
    this.name = 'MdnInputError';
  }
}

export interface MdnInput {
  /** Our mailbox (the recipient of the original message), used for From and Final-Recipient. */
  ourMailbox: string;
  /** The original message's Disposition-Notification-To address (the MDN's To). */
  to: string;
  /** The original message's Message-ID (with or without angle brackets). */
  originalMessageId: string;
  /** The original message's subject (the MDN subject is built from it). */
  originalSubject?: string;
  /** The original recipient as written in the original envelope, when known. */
  originalRecipient?: string;
  /** Absent: `processed`. Present: `processed/Error: <code>^<label>`. */
  error?: { code: MssanteErrorCode; label?: string };
  /** Reporting-UA product name; defaults to `Passerelle`. */
  reportingUa?: string;
  /** Host name in Reporting-UA; defaults to the OS host name when it is a valid one. */
  reportingHost?: string;
  /** Message-ID for the MDN itself; generated when absent. */
  messageId?: string;
  date?: Date;
  /** The original message, attached as the third part (message/rfc822) when given. */
  originalMessage?: Buffer;
}

export type Disposition = 'processed' | 'displayed' | 'deleted' | 'dispatched' | 'failed' | 'denied' | string;

export interface MdnReport {
  kind: 'mdn';
  originalMessageId?: string;
  finalRecipient?: string;
  disposition: Disposition;
  /** `automatic-action/MDN-sent-automatically` and the like. */
  dispositionMode?: string;
  error?: { code: number; label: string };
}

export interface DsnRecipient {
  address: string;
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded' | string;
  status: string;
  diagnosticCode?: string;
}

export interface DsnReport {
  kind: 'dsn';
  originalMessageId?: string;
  recipients: DsnRecipient[];
}

export type Report = MdnReport | DsnReport;

const MAX_FIELD = 998;
const MAX_LABEL = 200;
const MAX_SUBJECT = 900;

/* ------------------------------------------------------------------ validation */

function printableAscii(field: string, value: string, max = MAX_FIELD): string {
  if (value.length === 0) throw new MdnInputError(field, 'empty');
  if (value.length > max) throw new MdnInputError(field, `longer than ${max} characters`);
  if (!/^[\x20-\x7e]+$/.test(value)) throw new MdnInputError(field, 'control or non-ASCII character');
  return value;
}

function normaliseMessageId(field: string, value: string): string {
  const v = printableAscii(field, value.trim(), 250);
  const inner = v.startsWith('<') && v.endsWith('>') ? v.slice(1, -1) : v;
  if (!/^[\x21-\x3b\x3d\x3f-\x7e]+$/.test(inner)) throw new MdnInputError(field, 'not a Message-ID');
  return `<${inner}>`;
}

function mailbox(field: string, value: string): string {
  const v = printableAscii(field, value.trim(), 254);
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v)) {
    throw new MdnInputError(field, 'not a mailbox address');
  }
  return v;
}

function token(field: string, value: string): string {
  const v = printableAscii(field, value, 100);
  if (!/^[A-Za-z0-9._+-]+$/.test(v)) throw new MdnInputError(field, 'not a token');
  return v;
}

/** The label as written in the Disposition field: diacritics dropped, printable ASCII only, no `;`. */
export function dispositionLabel(label: string): string {
  const folded = label.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
  const v = printableAscii('error.label', folded.trim(), MAX_LABEL);
  if (v.includes(';')) throw new MdnInputError('error.label', "';' not allowed");
  return v;
}

function subjectOf(input: MdnInput): string {
  const original = input.originalSubject ?? '';
  if (original.length > MAX_SUBJECT) throw new MdnInputError('originalSubject', 'too long');
  if (/[\x00-\x1f\x7f]/.test(original)) throw new MdnInputError('originalSubject', 'control character');
  const base = original.trim() === '' ? 'Accusé de traitement' : original;
  return input.error ? `${MSSANTE_KO_PREFIX}[${input.error.code}] ${base}` : base;
}

function isErrorCode(code: unknown): code is MssanteErrorCode {
  return typeof code === 'number' && code in MSSANTE_ERROR_LABELS;
}

/* ------------------------------------------------------------------ build */

/** Builds the MDN answering a message. Throws MdnInputError on an input that would break the message. */
export async function buildMdn(input: MdnInput): Promise<Buffer> {
  const ours = mailbox('ourMailbox', input.ourMailbox);
  const to = mailbox('to', input.to);
  const originalId = normaliseMessageId('originalMessageId', input.originalMessageId);
  const originalRecipient = input.originalRecipient === undefined ? undefined : mailbox('originalRecipient', input.originalRecipient);
  const ua = token('reportingUa', input.reportingUa ?? 'Passerelle');
  const osHost = hostname();
  const host = input.reportingHost !== undefined ? token('reportingHost', input.reportingHost) : /^[A-Za-z0-9.-]{1,100}$/.test(osHost) ? osHost : 'localhost';
  const ownId = input.messageId === undefined ? undefined : normaliseMessageId('messageId', input.messageId);

  let disposition = 'processed';
  let humanError = '';
  if (input.error !== undefined) {
    if (!isErrorCode(input.error.code)) throw new MdnInputError('error.code', 'not an MSSanté MDN error code (902-906)');
    const label = input.error.label ?? MSSANTE_ERROR_LABELS[input.error.code];
    if (/[\x00-\x1f\x7f]/.test(label)) throw new MdnInputError('error.label', 'control character');
    disposition = `processed/Error: ${input.error.code}^${dispositionLabel(label)}`;
    humanError = `${input.error.code} ${label}`;
  }
  const subject = subjectOf(input);

  const fields = [
    `Reporting-UA: ${host}; ${ua}`,
    ...(originalRecipient ? [`Original-Recipient: rfc822;${originalRecipient}`] : []),
    `Final-Recipient: rfc822;${ours}`,
    `Original-Message-ID: ${originalId}`,
    `Disposition: automatic-action/MDN-sent-automatically; ${disposition}`,
  ];
  for (const f of fields) printableAscii('disposition-notification field', f);

  const human = input.error
    ? [
        `Le message ${originalId} adressé à ${ours} a été reçu mais n'a pas pu être intégré.`,
        `Erreur ${humanError}.`,
        '',
        'Ce message est un accusé de traitement automatique (MSSanté, RFC 8098).',
      ]
    : [
        `Le message ${originalId} adressé à ${ours} a été reçu et intégré.`,
        '',
        'Ce message est un accusé de traitement automatique (MSSanté, RFC 8098).',
      ];

  const root = new MimeNode('multipart/report; report-type=disposition-notification');
  if (input.date) root.date = input.date;
  root.setHeader({
    From: ours,
    To: to,
    Subject: subject,
    'In-Reply-To': originalId,
    References: originalId,
    'Auto-Submitted': 'auto-replied',
  });
  if (ownId) root.setHeader('Message-ID', ownId);
  root.createChild('text/plain; charset=utf-8').setContent(human.join('\r\n') + '\r\n');
  root.createChild('message/disposition-notification').setContent(fields.join('\r\n') + '\r\n');
  if (input.originalMessage) root.createChild('message/rfc822').setContent(input.originalMessage);
  return root.build();
}

/* ------------------------------------------------------------------ request */

export interface MdnRequest {
  to: string;
  originalMessageId: string;
  originalSubject?: string;
}

function firstAddress(value: unknown): string | undefined {
  const objects = (Array.isArray(value) ? value : [value]) as AddressObject[];
  for (const o of objects) {
    for (const a of o?.value ?? []) {
      if (typeof a.address === 'string' && a.address) return a.address;
    }
  }
  return undefined;
}

/** The receipt an incoming message asked for (Disposition-Notification-To), or undefined. */
export function mdnRequestOf(mail: ParsedMail): MdnRequest | undefined {
  const header = mail.headers.get('disposition-notification-to');
  if (header === undefined) return undefined;
  let to = firstAddress(header);
  if (to === undefined && typeof header === 'string') to = header.trim() || undefined;
  if (to === undefined || mail.messageId === undefined) return undefined;
  return { to, originalMessageId: mail.messageId, ...(mail.subject !== undefined ? { originalSubject: mail.subject } : {}) };
}

/** Whether an incoming message asked for a receipt. */
export function wantsMdn(mail: ParsedMail): boolean {
  return mdnRequestOf(mail) !== undefined;
}

/* ------------------------------------------------------------------ parse */

/** Maximum size of a report accepted by parseReport (bigger: undefined). */
export const MAX_REPORT_BYTES = 10 * 1024 * 1024;
const MAX_PART_BYTES = 64 * 1024;
const MAX_VALUE = 4096;
const MAX_RECIPIENTS = 1000;

type Fields = Map<string, string>;

/**
 * Parses the body of a message/disposition-notification or message/delivery-status part: blocks of
 * header-like fields separated by blank lines, with folding. Keys lower-cased; the first occurrence wins.
 */
export function parseFieldBlocks(text: string): Fields[] {
  const blocks: Fields[] = [];
  let current: Fields | undefined;
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (current && current.size > 0) blocks.push(current);
      current = undefined;
      last = undefined;
      continue;
    }
    current ??= new Map();
    if (/^[ \t]/.test(line)) {
      if (last !== undefined) {
        const joined = `${current.get(last) ?? ''} ${line.trim()}`;
        current.set(last, joined.slice(0, MAX_VALUE));
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    const key = line.slice(0, colon).trim().toLowerCase();
    if (!/^[a-z0-9-]+$/.test(key)) {
      last = undefined;
      continue;
    }
    if (current.has(key)) {
      last = undefined;
      continue;
    }
    current.set(key, line.slice(colon + 1).trim().slice(0, MAX_VALUE));
    last = key;
  }
  if (current && current.size > 0) blocks.push(current);
  return blocks;
}

/** `rfc822;a@b` → `a@b` (address type dropped, angle brackets and comments tolerated). */
function addressOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  let v = (semi >= 0 ? value.slice(semi + 1) : value).replace(/\([^)]*\)/g, '').trim();
  if (v.startsWith('<') && v.endsWith('>')) v = v.slice(1, -1).trim();
  return v === '' ? undefined : v;
}

function messageIdOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /<[^<>\s]+>/.exec(value);
  if (m) return m[0];
  const v = value.trim();
  return v && !/\s/.test(v) ? `<${v}>` : undefined;
}

/** `automatic-action/MDN-sent-automatically; processed/Error: 902^Patient inconnu` */
export function parseDisposition(value: string): Pick<MdnReport, 'disposition' | 'dispositionMode' | 'error'> | undefined {
  const semi = value.indexOf(';');
  const mode = semi >= 0 ? value.slice(0, semi).trim() : undefined;
  const rest = (semi >= 0 ? value.slice(semi + 1) : value).trim();
  const type = /^([A-Za-z-]+)/.exec(rest);
  if (!type) return undefined;
  const disposition = type[1]!.toLowerCase();
  const out: Pick<MdnReport, 'disposition' | 'dispositionMode' | 'error'> = { disposition };
  if (mode) out.dispositionMode = mode;
  const err = /\/\s*error\s*:\s*(\d{1,4})\s*\^\s*(.*)$/i.exec(rest.slice(type[1]!.length));
  if (err) out.error = { code: Number(err[1]), label: err[2]!.trim() };
  return out;
}

function partText(content: Buffer): string | undefined {
  if (content.length > MAX_PART_BYTES) return undefined;
  return content.toString('utf8');
}

/**
 * Recognises an MDN or a DSN. Undefined for an ordinary message, an oversized or unreadable one, or a
 * report whose mandatory fields are missing. Never throws.
 */
export async function parseReport(raw: Buffer): Promise<Report | undefined> {
  try {
    if (!Buffer.isBuffer(raw) || raw.length === 0 || raw.length > MAX_REPORT_BYTES) return undefined;
    const mail = await simpleParser(raw, { keepDeliveryStatus: true, skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    const ct = mail.headers.get('content-type') as { value?: string; params?: Record<string, string> } | undefined;
    if (!ct || typeof ct.value !== 'string' || ct.value.toLowerCase() !== 'multipart/report') return undefined;
    const reportType = (ct.params?.['report-type'] ?? '').toLowerCase();
    const part = (type: string) => mail.attachments.find((a) => a.contentType?.toLowerCase() === type);
    if (reportType === 'disposition-notification' || (reportType === '' && part('message/disposition-notification'))) {
      const p = part('message/disposition-notification') ?? part('message/global-disposition-notification');
      const text = p && partText(p.content);
      if (text === undefined) return undefined;
      const fields = new Map<string, string>();
      for (const block of parseFieldBlocks(text)) for (const [k, v] of block) if (!fields.has(k)) fields.set(k, v);
      const disposition = fields.get('disposition');
      if (disposition === undefined) return undefined;
      const parsed = parseDisposition(disposition);
      if (!parsed) return undefined;
      const report: MdnReport = { kind: 'mdn', ...parsed };
      const originalMessageId = messageIdOf(fields.get('original-message-id')) ?? (typeof mail.inReplyTo === 'string' ? messageIdOf(mail.inReplyTo) : undefined);
      if (originalMessageId) report.originalMessageId = originalMessageId;
      const finalRecipient = addressOf(fields.get('final-recipient'));
      if (finalRecipient) report.finalRecipient = finalRecipient;
      return report;
    }
    if (reportType === 'delivery-status' || (reportType === '' && part('message/delivery-status'))) {
      const p = part('message/delivery-status') ?? part('message/global-delivery-status');
      const text = p && partText(p.content);
      if (text === undefined) return undefined;
      const blocks = parseFieldBlocks(text);
      const recipients: DsnRecipient[] = [];
      for (const block of blocks) {
        const address = addressOf(block.get('final-recipient') ?? block.get('original-recipient'));
        const action = block.get('action');
        if (address === undefined || action === undefined) continue; // per-message block or junk
        if (recipients.length >= MAX_RECIPIENTS) break;
        const r: DsnRecipient = { address, action: action.toLowerCase().split(/[\s(]/)[0]!, status: (block.get('status') ?? '').split(/[\s(]/)[0]! };
        const diag = block.get('diagnostic-code');
        if (diag) r.diagnosticCode = diag;
        recipients.push(r);
      }
      if (recipients.length === 0) return undefined;
      const report: DsnReport = { kind: 'dsn', recipients };
      const originalHeaders = part('text/rfc822-headers') ?? part('message/rfc822') ?? part('message/rfc822-headers');
      let originalMessageId: string | undefined;
      if (originalHeaders) {
        const headerText = partText(originalHeaders.content.subarray(0, MAX_PART_BYTES));
        const headerBlock = headerText === undefined ? undefined : parseFieldBlocks(headerText.split(/\r?\n\r?\n/)[0] ?? '')[0];
        originalMessageId = messageIdOf(headerBlock?.get('message-id'));
      }
      originalMessageId ??= typeof mail.inReplyTo === 'string' ? messageIdOf(mail.inReplyTo) : undefined;
      if (originalMessageId) report.originalMessageId = originalMessageId;
      return report;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
