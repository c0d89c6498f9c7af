// MSSanté intake (issue 17, points 3–4): a mail that reached the gateway's applicative mailbox becomes a stored BPM,
// or an error with its MSSanté code (902–906), or a receipt applied to a message we sent — and the intake row that
// says so commits in the SAME transaction as what it stored, keyed by Message-ID, so a crash never takes a mail in
// twice. Every mail is hostile until read: size, MIME, zip, XML and JSON are checked before anything is written.
// The MDN the sender asked for is sent after the commit; losing it never undoes the intake. docs/mssante.md.
import { createHash } from 'node:crypto';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { MssanteConfig } from '../connectors/mssante/config.js';
import { buildMdn, MdnInputError, mdnRequestOf, MssanteErrorCode, parseReport } from '../connectors/mssante/mdn.js';
import { XDM_ATTACHMENT } from '../connectors/mssante/message.js';
import type { MailSender, MailTls } from '../connectors/mssante/transport.js';
import { ImapMailbox, type ImapDisposition, type ImapMessage } from '../connectors/mssante/imap.js';
import { loadOrganisationCredentials } from '../connectors/dmp/tls.js';
import { ConfigError, readSecret } from '../config.js';
import { child, children, parseXml } from '../connectors/dmp/xml-dom.js';
import { NS } from '../connectors/dmp/xds-constants.js';
import { INS_OIDS } from '../domain/identity.js';
import { InputError, parseDocument } from '../domain/parse.js';
import { unsupportedQualIssues } from '../domain/identity-support.js';
import { readXdmPackage, XdmRefused } from '../documents/xdm.js';
import { issuesText, OperationOutcomeError } from '../fhir/outcome.js';
import { metrics as processMetrics, type Metrics } from '../observability/metrics.js';
import type { OutboxConfig } from '../outbox/config.js';
import type { IntakeRecord } from '../store/mssante-repository.js';
import type { ResourceStore } from '../store/repository.js';
import type { DocumentsSettings } from './document-delivery.js';
import { applyReport } from './mssante-receipts.js';
import { identityServiceFor } from './patient-identity.js';
import { prepareSubmission, storeSubmission, type PreparedSubmission } from './submission.js';

export type IntakeOutcomeState = 'processed' | 'error' | 'report' | 'duplicate';

export interface IntakeOutcome {
  state: IntakeOutcomeState;
  /** The key the intake is recorded under: the Message-ID, or `sha256:<hex>` of the raw bytes when it has none. */
  messageId: string;
  code?: MssanteErrorCode;
  detail?: string;
  /** What the mail became: `CarePlan/…` of the BPM. */
  resource?: string;
  /** The MDN built for the sender (sent after the commit, when a sender is given). */
  mdn?: Buffer;
}

/** Moments a crash test stops the process at (`PASSERELLE_CRASH_AT=mssante-intake-<point>`, read by `serve`). */
export type IntakeCheckpoint = 'before-commit' | 'after-commit';

export interface IntakeContext {
  /** Folder the mail was read from, and its IMAP UID. */
  mailbox: string;
  uid?: number;
  now: string;
  config: MssanteConfig;
  /** Sends the MDNs; absent: they are built (`IntakeOutcome.mdn`) and not sent. */
  sender?: MailSender;
  /**
   * The poller's: the MDN is handed to this queue and sent in the background, `takeIn` returning without waiting for
   * the send (still after the commit). Absent: the MDN is sent before `takeIn` returns.
   */
  mdnQueue?: BackgroundQueue;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Like POST /bpm: the outbox routes of `bpm.stored`, document settings, and the FHIR base of the fullUrls. */
  submission?: { fhirBase?: string; outbox?: OutboxConfig; documents?: DocumentsSettings };
  /** Test seam: called at each checkpoint (the crash tests kill the process there). */
  checkpoint?: (point: IntakeCheckpoint) => void;
  /**
   * Vendor formats (issue 19): maps an attachment whose file name or media type selects a BPM format to the canonical
   * BPM (`{ document, format }`), or answers undefined when none does; throws an Error whose message names the mapping,
   * rule and input path when the run fails. Injected by `serve` (src/mappings/attachments.ts).
   */
  attachments?: AttachmentMapper;
}

export type AttachmentMapper = (attachment: { fileName?: string; contentType?: string; content: Buffer }) => Promise<{ document: unknown; format: string } | undefined>;

/** A JSON BPM attachment may weigh this much; deeper or longer than below it is refused before the schema sees it. */
export const MAX_JSON_BYTES = 2 * 1024 * 1024;
export const MAX_JSON_DEPTH = 32;
export const MAX_JSON_STRING = 32 * 1024;
const MAX_DETAIL = 1000;

/** A refusal with its MSSanté code: nothing is stored but the intake row. */
export class IntakeRefused extends Error {
  override readonly name = 'IntakeRefused';
  constructor(
    readonly code: MssanteErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Tasks run in the background, at most `limit` at a time: `add` waits for a free slot (so a slow SMTP server slows the
 * intake down rather than piling MDNs up in memory), `drain` for all of them to settle. A task logs its own errors.
 */
export class BackgroundQueue {
  private readonly running = new Set<Promise<void>>();
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit = 16) {}

  get size(): number {
    return this.running.size;
  }

  /** Starts `task` once fewer than `limit` run; resolves when it has started, not when it ends. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const p: Promise<void> = task()
      .catch(() => undefined)
      .finally(() => {
        this.running.delete(p);
        this.waiting.shift()?.();
      });
    this.running.add(p);
  }

  /** True once every task started has settled; false when `timeoutMs` passed first. */
  async drain(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const settled = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
      return true as const;
    })();
    try {
      return await Promise.race([settled, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Raised in the transaction when another process recorded the same Message-ID first: rolls everything back. */
class AlreadyTaken extends Error {}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const clip = (s: string): string => (s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL - 1)}…` : s);
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, ' ');

let intakeCounter: Counter<'state' | 'code'> | undefined;
function counted(m: Metrics, outcome: IntakeOutcome): void {
  if (m !== processMetrics) return;
  intakeCounter ??= new Counter({
    name: 'passerelle_mssante_intake_total',
    help: 'MSSanté mails taken in, by state (processed, error, report, duplicate) and MSSanté error code',
    labelNames: ['state', 'code'],
    registers: [m.registry],
  });
  intakeCounter.inc({ state: outcome.state, code: outcome.code ? String(outcome.code) : '' });
}

/* ------------------------------------------------------------------ hostile JSON */

/** Why a character may not be in received text (C0/C1 controls but tab and line ends, bidi formatting, zero-width). */
function badCharacter(s: string): string | undefined {
  const m = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/.exec(s);
  if (m) return `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)) return 'an unpaired surrogate';
  return undefined;
}

/** Walks parsed JSON without recursion: depth, string length and characters, before any schema code runs. */
function checkJsonShape(value: unknown, where: string): void {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '$' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop() as { v: unknown; depth: number; path: string };
    if (depth > MAX_JSON_DEPTH) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: JSON nested more than ${MAX_JSON_DEPTH} levels`);
    if (typeof v === 'string') {
      if (v.length > MAX_JSON_STRING) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: ${path} is longer than ${MAX_JSON_STRING} characters`);
      const bad = badCharacter(v);
      if (bad) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: ${path} holds ${bad} (control, bidirectional or zero-width character)`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, depth: depth + 1, path: `${path}[${i}]` }));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k.length > 64 || badCharacter(k)) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: ${path} has a bad property name`);
        stack.push({ v: x, depth: depth + 1, path: `${path}.${k}` });
      }
    }
  }
}

/** Bracket depth of JSON text, counted before JSON.parse (whose recursion a deep enough text would exhaust). */
function jsonTextDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return max;
}

function readJson(bytes: Buffer, where: string): unknown {
  if (bytes.length > MAX_JSON_BYTES) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: more than ${MAX_JSON_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new IntakeRefused(MssanteErrorCode.Other, `${where}: not UTF-8`);
  }
  if (jsonTextDepth(text) > MAX_JSON_DEPTH) throw new IntakeRefused(MssanteErrorCode.Other, `${where}: JSON nested more than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch (err) {
    throw new IntakeRefused(MssanteErrorCode.Other, `${where}: not JSON (${(err as Error).message.slice(0, 200)})`);
  }
  checkJsonShape(value, where);
  return value;
}

/* ------------------------------------------------------------------ the BPM and its patient */

const STRICT_TRAITS = ['birthName', 'firstBirthGivenName', 'birthDate', 'sex'] as const;

/**
 * The MSSanté code of a BPM the schema refuses: the INS a qualified identity lacks → 903; a strict trait missing, or
 * a QUAL identity without the five → 905; anything else (wrong types, unknown fields, bad characters) → 906.
 */
function codeOfIssues(input: unknown, issues: readonly { path: string; message: string }[]): MssanteErrorCode {
  const patient = (input as { patient?: Record<string, unknown> } | null)?.patient;
  const only = (test: (i: { path: string; message: string }) => boolean) => issues.length > 0 && issues.every(test);
  if (only((i) => i.path === 'bpm.patient.ins' && /must carry its INS/.test(i.message))) return MssanteErrorCode.InsAbsent;
  const missingTrait = (i: { path: string; message: string }) =>
    (STRICT_TRAITS.some((t) => i.path === `bpm.patient.${t}`) && patient !== undefined && patient !== null && typeof patient === 'object' && patient[i.path.slice('bpm.patient.'.length)] === undefined) ||
    (i.path === 'bpm.patient.status' && /five strict traits/.test(i.message)) ||
    (i.path === 'bpm.patient.ins' && /must carry its INS/.test(i.message));
  if (only(missingTrait)) return MssanteErrorCode.IncompleteTraits;
  return MssanteErrorCode.Other;
}

function prepareBpm(input: unknown, now: string, where: string): PreparedSubmission {
  try {
    const parsed = parseDocument('bpm', input);
    // The MSSanté profile keeps refusing a QUAL its traits do not support, with its own codes (903 / 905); the other
    // doors register it at a lower status (identity-support.ts).
    const unsupported = unsupportedQualIssues(parsed.patient).map((i) => ({ path: `bpm.patient.${i.path}`, message: i.message }));
    if (unsupported.length > 0) throw new InputError(unsupported);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new IntakeRefused(codeOfIssues(input, err.issues), clip(`${where}: ${err.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`));
  }
  try {
    return prepareSubmission('bpm', input, now);
  } catch (err) {
    if (err instanceof OperationOutcomeError) throw new IntakeRefused(MssanteErrorCode.Other, clip(`${where}: ${issuesText(err.outcome.issue)}`));
    throw err;
  }
}

/** An identity retrieved from INSi (RECUP) or qualified (QUAL) comes with its INS: without it, 903. */
function checkIns(prepared: PreparedSubmission, insHeader: string | undefined): void {
  const p = prepared.patient;
  if (p.ins) return;
  if (p.status === 'RECUP' || p.status === 'QUAL') throw new IntakeRefused(MssanteErrorCode.InsAbsent, `bpm.patient.ins: a ${p.status} identity must carry its INS`);
  if (insHeader === 'O') throw new IntakeRefused(MssanteErrorCode.InsAbsent, 'X-MSS-INS: O announces a qualified INS, the BPM carries none');
}

/**
 * INS present and the registry holds that INS with other strict traits (the SRI would raise a potential collision,
 * COLP): 904, nothing stored — the sender checks the identity (INSi) and sends again.
 */
async function checkInsTraits(store: ResourceStore, prepared: PreparedSubmission): Promise<void> {
  if (!prepared.patient.ins) return;
  const results = await identityServiceFor(store).match(prepared.patient, { count: 10 });
  const colp = results.find((r) => r.flag === 'COLP');
  if (colp) {
    const fields = colp.comparisons.filter((c) => c.field !== 'ins' && c.field !== 'usedName' && c.level !== 'missing' && !/^(exact|same|exact-default|same-country)$/.test(c.level)).map((c) => c.field);
    throw new IntakeRefused(MssanteErrorCode.InsTraitsMismatch, `the INS is known with other strict traits (${fields.join(', ') || 'strict traits'} differ)`);
  }
}

/* ------------------------------------------------------------------ attachments */

const isXdm = (a: ParsedMail['attachments'][number]): boolean =>
  (a.filename ?? '').toUpperCase() === XDM_ATTACHMENT || ['application/zip', 'application/x-zip-compressed'].includes((a.contentType ?? '').toLowerCase());
const isJson = (a: ParsedMail['attachments'][number]): boolean => /\.json$/i.test(a.filename ?? '') || /^application\/(.+\+)?json$/i.test(a.contentType ?? '');
const firstByte = (b: Buffer): string => b.toString('latin1', 0, Math.min(b.length, 64)).replace(/^[\s\ufeff\u00ef\u00bb\u00bf]+/, '').charAt(0);

/** A CDA R2 as received: parses (no DTD, bounded depth) and has the ClinicalDocument root; its recordTarget INS. */
function readCda(bytes: Buffer, where: string): { hasIns: boolean } {
  let doc: Document;
  try {
    doc = parseXml(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new IntakeRefused(MssanteErrorCode.Other, clip(`${where}: the CDA does not parse (${(err as Error).message})`));
  }
  const root = doc.documentElement;
  if (root.namespaceURI !== NS.hl7v3 || root.localName !== 'ClinicalDocument') {
    throw new IntakeRefused(MssanteErrorCode.Other, `${where}: not a CDA R2 (root ${root.localName})`);
  }
  const insOids = new Set<string>(Object.values(INS_OIDS));
  const role = children(root, NS.hl7v3, 'recordTarget').map((r) => child(r, NS.hl7v3, 'patientRole')).find((r) => r !== undefined);
  const hasIns = role !== undefined && children(role, NS.hl7v3, 'id').some((id) => insOids.has(id.getAttribute('root') ?? '') && (id.getAttribute('extension') ?? '') !== '');
  return { hasIns };
}

/**
 * The BPM a mail carries: one canonical JSON BPM, attached (`*.json`, application/json) or as a document of the
 * IHE_XDM.ZIP. Every CDA of the XDM must parse. An XDM with a CDA and no JSON BPM is refused: the canonical BPM needs
 * its medication list and the MT, which a CDA header does not give (903 when even the INS is missing from it).
 */
async function bpmOf(mail: ParsedMail, config: MssanteConfig, mapper?: AttachmentMapper): Promise<{ input: unknown; where: string }> {
  const found: { input: unknown; where: string }[] = [];
  let cdas = 0;
  let cdaWithoutIns = false;
  for (const a of mail.attachments) {
    const name = clean(a.filename ?? a.contentType ?? 'attachment').slice(0, 100);
    if (isXdm(a)) {
      let xdm;
      try {
        xdm = await readXdmPackage(a.content, config.limits);
      } catch (err) {
        if (err instanceof XdmRefused) throw new IntakeRefused(MssanteErrorCode.Other, clip(`${name}: ${clean(err.message)}`));
        throw err;
      }
      for (const d of xdm.documents) {
        const where = `${name}/${d.path}`;
        if (/\.json$/i.test(d.path) || firstByte(d.bytes) === '{') found.push({ input: readJson(d.bytes, where), where });
        else if (/\.xml$/i.test(d.path) || firstByte(d.bytes) === '<') {
          cdas++;
          if (!readCda(d.bytes, where).hasIns) cdaWithoutIns = true;
        }
      }
    } else {
      let mapped: Awaited<ReturnType<AttachmentMapper>>;
      try {
        mapped = mapper ? await mapper({ ...(a.filename ? { fileName: a.filename } : {}), ...(a.contentType ? { contentType: a.contentType } : {}), content: a.content }) : undefined;
      } catch (err) {
        throw new IntakeRefused(MssanteErrorCode.Other, clip(`${name}: ${clean((err as Error).message)}`));
      }
      if (mapped) found.push({ input: mapped.document, where: `${name} (format ${mapped.format})` });
      else if (isJson(a)) found.push({ input: readJson(a.content, name), where: name });
    }
  }
  if (found.length > 1) throw new IntakeRefused(MssanteErrorCode.Other, `${found.length} BPM documents in one message (${found.map((f) => f.where).join(', ')}); send one BPM per message`);
  if (found.length === 1) return found[0];
  if (cdas > 0) {
    if (cdaWithoutIns) throw new IntakeRefused(MssanteErrorCode.InsAbsent, 'the CDA recordTarget carries no INS');
    throw new IntakeRefused(
      MssanteErrorCode.Other,
      'the IHE_XDM.ZIP carries a CDA and no structured BPM: the canonical BPM needs its medication list and the MT, which the CDA header does not give; attach the BPM as JSON (bpm.schema.json), in the XDM or beside it',
    );
  }
  throw new IntakeRefused(MssanteErrorCode.Other, `no BPM in the message: expected ${XDM_ATTACHMENT} or a JSON BPM attachment`);
}

/* ------------------------------------------------------------------ intake */

function fromAddress(mail: ParsedMail): string | undefined {
  const a = mail.from?.value.find((v) => typeof v.address === 'string' && v.address !== '')?.address;
  return a && a.length <= 254 && !badCharacter(a) && !/\s/.test(a) ? a.toLowerCase() : undefined;
}

function messageKey(mail: ParsedMail | undefined, raw: Buffer): string {
  const id = mail?.messageId?.trim();
  if (id && id.length <= 250 && /^<?[\x21-\x7e]+>?$/.test(id)) return id;
  return `sha256:${sha256(raw)}`;
}

async function recordAlone(store: ResourceStore, row: IntakeRecord): Promise<boolean> {
  return store.transaction((tx) => tx.mssante.recordIntake(row));
}

/**
 * Takes one raw mail in. Throws only for what is not the mail's fault (the database is down…): the caller leaves the
 * mail where it is and tries again later.
 */
export async function takeIn(store: ResourceStore, raw: Buffer, ctx: IntakeContext, metrics: Metrics = processMetrics): Promise<IntakeOutcome> {
  const outcome = await intake(store, raw, ctx);
  counted(metrics, outcome.outcome);
  ctx.logger?.info({ messageId: outcome.outcome.messageId, uid: ctx.uid, state: outcome.outcome.state, code: outcome.outcome.code, resource: outcome.outcome.resource }, 'mssante: mail taken in');
  if (outcome.mail && outcome.outcome.state !== 'duplicate' && outcome.outcome.state !== 'report') {
    const mdn = await mdnFor(outcome.mail, outcome.outcome, ctx);
    if (mdn) {
      outcome.outcome.mdn = mdn.raw;
      const sender = ctx.sender;
      if (sender) {
        const messageId = outcome.outcome.messageId;
        const send = async (): Promise<void> => {
          try {
            await sender.send(mdn.raw, { from: ctx.config.address, to: [mdn.to] });
          } catch (err) {
            ctx.logger?.warn({ messageId, err: (err as Error).message }, 'mssante: the MDN could not be sent (the intake stands)');
          }
        };
        if (ctx.mdnQueue) await ctx.mdnQueue.add(send);
        else await send();
      }
    }
  }
  return outcome.outcome;
}

async function intake(store: ResourceStore, raw: Buffer, ctx: IntakeContext): Promise<{ outcome: IntakeOutcome; mail?: ParsedMail }> {
  const base = { mailbox: ctx.mailbox, ...(ctx.uid !== undefined ? { uid: ctx.uid } : {}), received: ctx.now };
  const refuse = async (messageId: string, sender: string | undefined, err: IntakeRefused, mail?: ParsedMail): Promise<{ outcome: IntakeOutcome; mail?: ParsedMail }> => {
    const detail = clip(clean(err.message));
    const recorded = await recordAlone(store, { ...base, messageId, ...(sender ? { sender } : {}), state: 'error', code: String(err.code), detail });
    if (!recorded) return { outcome: { state: 'duplicate', messageId } };
    ctx.checkpoint?.('after-commit');
    return { outcome: { state: 'error', messageId, code: err.code, detail }, ...(mail ? { mail } : {}) };
  };

  if (raw.length > ctx.config.limits.maxMessageBytes) {
    const messageId = `sha256:${sha256(raw)}`;
    if (await store.mssante.intake(messageId)) return { outcome: { state: 'duplicate', messageId } };
    return refuse(messageId, undefined, new IntakeRefused(MssanteErrorCode.Other, `the message is ${raw.length} bytes, more than ${ctx.config.limits.maxMessageBytes}`));
  }
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, maxHtmlLengthToParse: 1024 * 1024 });
  } catch (err) {
    const messageId = `sha256:${sha256(raw)}`;
    if (await store.mssante.intake(messageId)) return { outcome: { state: 'duplicate', messageId } };
    return refuse(messageId, undefined, new IntakeRefused(MssanteErrorCode.Other, `malformed MIME: ${(err as Error).message.slice(0, 200)}`));
  }
  const messageId = messageKey(mail, raw);
  const sender = fromAddress(mail);
  if (await store.mssante.intake(messageId)) return { outcome: { state: 'duplicate', messageId } };

  const report = await parseReport(raw);
  if (report) {
    // applyReport writes the record of the message sent in its own transaction; applying a receipt twice (a crash
    // before the intake row below) sets the same status again.
    const applied = await applyReport(store, report, ctx.now);
    const about = applied.messageId ?? report.originalMessageId;
    const ok = await store.transaction(async (tx) => {
      const written = await tx.mssante.recordIntake({
        ...base,
        messageId,
        ...(sender ? { sender } : {}),
        state: 'report',
        detail: clip(clean(`${report.kind}${applied.status ? ` ${applied.status}` : ''}${about ? ` about ${about}` : ''}`)),
      });
      ctx.checkpoint?.('before-commit');
      return written;
    });
    if (!ok) return { outcome: { state: 'duplicate', messageId } };
    ctx.checkpoint?.('after-commit');
    return { outcome: { state: 'report', messageId, detail: report.kind } };
  }

  try {
    if (!sender) throw new IntakeRefused(MssanteErrorCode.Other, 'no usable From address');
    const { input, where } = await bpmOf(mail, ctx.config, ctx.attachments);
    const prepared = prepareBpm(input, ctx.now, where);
    const insHeader = mail.headers.get('x-mss-ins');
    checkIns(prepared, typeof insHeader === 'string' ? insHeader.trim().toUpperCase() : undefined);
    await checkInsTraits(store, prepared);
    let resource: string | undefined;
    let held = false;
    try {
      await storeSubmission(store, prepared, {
        now: ctx.now,
        actor: `mssante:${sender}`,
        requestId: messageId.slice(0, 128),
        fhirBase: ctx.submission?.fhirBase ?? '/fhir',
        ...(ctx.submission?.outbox ? { outbox: ctx.submission.outbox } : {}),
        ...(ctx.submission?.documents ? { documents: ctx.submission.documents } : {}),
        inTransaction: async (tx, info) => {
          // No candidate at all in the registry: the gateway does not know this patient (no PPP, no identity).
          if (info.registration.decision === 'new') throw new IntakeRefused(MssanteErrorCode.UnknownPatient, 'no identity of the registry matches the patient');
          resource = info.root;
          held = !info.settled;
          const ok = await tx.mssante.recordIntake({
            ...base,
            messageId,
            sender,
            state: 'processed',
            ...(info.settled ? {} : { detail: 'held: awaiting identity' }),
            ...(info.root ? { resource: info.root } : {}),
          });
          if (!ok) throw new AlreadyTaken();
          ctx.checkpoint?.('before-commit');
        },
      });
    } catch (err) {
      if (err instanceof AlreadyTaken) return { outcome: { state: 'duplicate', messageId } };
      if (err instanceof OperationOutcomeError) throw new IntakeRefused(MssanteErrorCode.Other, clip(issuesText(err.outcome.issue)));
      throw err;
    }
    ctx.checkpoint?.('after-commit');
    return { outcome: { state: 'processed', messageId, ...(resource ? { resource } : {}), ...(held ? { detail: 'held: awaiting identity' } : {}) }, mail };
  } catch (err) {
    if (err instanceof IntakeRefused) return refuse(messageId, sender, err, mail);
    throw err;
  }
}

/**
 * The MDN the mail asked for (Disposition-Notification-To), answering only the From address: the gateway is no
 * reflector sending receipts to a third party a mail names.
 */
async function mdnFor(mail: ParsedMail, outcome: IntakeOutcome, ctx: IntakeContext): Promise<{ raw: Buffer; to: string } | undefined> {
  const request = mdnRequestOf(mail);
  if (!request) return undefined;
  const from = fromAddress(mail);
  if (!from || request.to.toLowerCase() !== from) {
    ctx.logger?.warn({ messageId: outcome.messageId }, 'mssante: receipt asked for another address than the sender, none sent');
    return undefined;
  }
  const input = {
    ourMailbox: ctx.config.address,
    to: request.to,
    originalMessageId: request.originalMessageId,
    originalRecipient: ctx.config.address,
    date: new Date(ctx.now),
    ...(outcome.state === 'error' && outcome.code ? { error: { code: outcome.code } } : {}),
  };
  try {
    return { raw: await buildMdn({ ...input, ...(request.originalSubject !== undefined ? { originalSubject: request.originalSubject } : {}) }), to: request.to };
  } catch (err) {
    if (!(err instanceof MdnInputError)) throw err;
    try {
      // A subject that cannot be echoed (control characters, too long): the MDN goes without it.
      return { raw: await buildMdn(input), to: request.to };
    } catch (again) {
      ctx.logger?.warn({ messageId: outcome.messageId, err: (again as Error).message }, 'mssante: no MDN can be built for this mail');
      return undefined;
    }
  }
}

/**
 * A message too big to download (`limits.maxMessageBytes`): refused unread with 906, keyed by its Message-ID from the
 * server's envelope (else by folder, UID and size). No MDN: its headers were not read.
 */
export async function refuseUnread(store: ResourceStore, m: { uid: number; size: number; messageId?: string }, ctx: IntakeContext, metrics: Metrics = processMetrics): Promise<IntakeOutcome> {
  const id = m.messageId?.trim();
  const messageId = id && id.length <= 250 && /^<?[\x21-\x7e]+>?$/.test(id) ? id : `imap:${ctx.mailbox}:${m.uid}:${m.size}`;
  let outcome: IntakeOutcome;
  if (await store.mssante.intake(messageId)) outcome = { state: 'duplicate', messageId };
  else {
    const detail = `the message is ${m.size} bytes, more than ${ctx.config.limits.maxMessageBytes}: not downloaded`;
    const ok = await recordAlone(store, { messageId, mailbox: ctx.mailbox, uid: m.uid, received: ctx.now, state: 'error', code: String(MssanteErrorCode.Other), detail });
    outcome = ok ? { state: 'error', messageId, code: MssanteErrorCode.Other, detail } : { state: 'duplicate', messageId };
  }
  counted(metrics, outcome);
  ctx.logger?.warn({ messageId, uid: m.uid, size: m.size, state: outcome.state }, 'mssante: message over the size limit refused unread');
  return outcome;
}

/* ------------------------------------------------------------------ the poller */

export interface MssanteIntakeOptions {
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Sends the MDNs (`smtpSender` of the same mailbox). */
  sender?: MailSender;
  metrics?: Metrics;
  submission?: IntakeContext['submission'];
  checkpoint?: IntakeContext['checkpoint'];
  attachments?: IntakeContext['attachments'];
  /** Where PASSERELLE_MSSANTE_PASSPHRASE and the IMAP password's variable are read (default: the process's). */
  env?: Record<string, string | undefined>;
  /** The organisation's credentials already loaded (default: read from `config.tls`). */
  tls?: MailTls;
  /** MDNs sent at once in the background (default 16): the intake waits when that many are in flight. */
  mdnConcurrency?: number;
  /** How long `stop()` waits for the MDNs still queued (default 30 s). */
  mdnDrainMs?: number;
}

export interface RunningIntake {
  /**
   * Stops polling: the message being taken in is finished, the batch's messages taken in are moved, and the MDNs
   * queued are sent (waited for up to `mdnDrainMs`) first.
   */
  stop(): Promise<void>;
  /** Polls now (tests); resolves when that poll is over. */
  pollNow(): Promise<void>;
}

/** Failures of one message (not its fault: the database…) before it is refused with 906 and moved to `error`. */
const MAX_ATTEMPTS = 5;
const MAX_BACKOFF_MS = 5 * 60_000;

/** The organisation's credentials for the mailbox, from `config.tls` (PKCS#12 and CA files). */
export async function loadMailTls(config: MssanteConfig, env: Record<string, string | undefined> = process.env): Promise<MailTls> {
  const creds = await loadOrganisationCredentials({ pkcs12Path: config.tls.pkcs12, passphrase: env.PASSERELLE_MSSANTE_PASSPHRASE ?? config.tls.passphrase, caPath: config.tls.ca });
  return { key: creds.key, cert: creds.cert, chain: creds.chain, ca: creds.ca as string };
}

/**
 * Polls the BAL APP's folder every `imap.pollMs` and takes each mail in (`takeIn`), then moves it to `processed` or
 * `error` — only after the commit (in batches: one FETCH of several sources, one MOVE per folder after their commits).
 * The MDNs are sent in the background, after each commit (`BackgroundQueue`; `stop()` waits for them). A crash before the commit leaves the mail in the folder (taken in by the next
 * poll); a crash after it, before the move, makes it a duplicate next time (moved, nothing else). Never throws from
 * the loop: a lost connection is retried with a growing delay.
 */
export async function startMssanteIntake(store: ResourceStore, config: MssanteConfig, options: MssanteIntakeOptions): Promise<RunningIntake> {
  const imap = config.imap;
  if (!imap) throw new ConfigError('mssante.imap: the section is required to take mail in');
  const env = options.env ?? process.env;
  const password = readSecret({ file: imap.passwordFile, env: imap.passwordEnv }, 'mssante.imap password', env);
  if (password === undefined) throw new ConfigError('mssante.imap: set passwordFile or passwordEnv (the mailbox password)');
  let tls: MailTls;
  try {
    tls = options.tls ?? (await loadMailTls(config, env));
  } catch (err) {
    throw new ConfigError(`mssante.tls: ${(err as Error).message}`);
  }
  const { logger } = options;
  const metrics = options.metrics ?? processMetrics;
  const box = new ImapMailbox({
    host: imap.host,
    port: imap.port,
    security: imap.security,
    user: imap.user ?? config.address,
    password,
    tls,
    ...(config.tls.servername ? { servername: config.tls.servername } : {}),
    mailbox: imap.mailbox,
    processed: imap.processed,
    error: imap.error,
    timeoutMs: imap.timeoutMs,
    maxMessageBytes: config.limits.maxMessageBytes,
  });
  const attempts = new Map<number, number>();
  // The MDNs go out in the background: the next mail is taken in while the last one's receipt is being sent.
  const mdns = new BackgroundQueue(options.mdnConcurrency ?? 16);
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;

  const context = (uid: number): IntakeContext => ({
    mailbox: imap.mailbox,
    uid,
    now: new Date().toISOString(),
    config,
    logger,
    ...(options.sender ? { sender: options.sender, mdnQueue: mdns } : {}),
    ...(options.submission ? { submission: options.submission } : {}),
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    ...(options.attachments ? { attachments: options.attachments } : {}),
  });
  const folderOf = async (outcome: IntakeOutcome): Promise<ImapDisposition> => {
    if (outcome.state === 'error') return 'error';
    if (outcome.state !== 'duplicate') return 'processed';
    return (await store.mssante.intake(outcome.messageId))?.state === 'error' ? 'error' : 'processed';
  };
  const handle = async (m: ImapMessage): Promise<ImapDisposition> => {
    const ctx = context(m.uid);
    try {
      const outcome = m.raw ? await takeIn(store, m.raw, ctx, metrics) : await refuseUnread(store, m, ctx, metrics);
      attempts.delete(m.uid);
      return await folderOf(outcome);
    } catch (err) {
      const n = (attempts.get(m.uid) ?? 0) + 1;
      attempts.set(m.uid, n);
      logger.error({ uid: m.uid, attempt: n, err: (err as Error).message }, 'mssante: taking a mail in failed; it stays in the folder');
      if (n < MAX_ATTEMPTS) return 'keep';
      // Always failing: refused so that it does not block the folder; a person looks at the Error folder.
      try {
        const messageId = m.messageId?.trim() || `imap:${imap.mailbox}:${m.uid}:${m.size}`;
        await recordAlone(store, { messageId, mailbox: imap.mailbox, uid: m.uid, received: ctx.now, state: 'error', code: String(MssanteErrorCode.Other), detail: clip(`failed ${n} times: ${clean((err as Error).message)}`) });
        attempts.delete(m.uid);
        return 'error';
      } catch {
        return 'keep';
      }
    }
  };
  const once = async (): Promise<void> => {
    try {
      await box.poll(handle, () => stopped);
      failures = 0;
    } catch (err) {
      failures++;
      logger.warn({ err: (err as Error).message, failures }, 'mssante: IMAP poll failed; reconnecting later');
      await box.close().catch(() => undefined);
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    const delay = failures === 0 ? imap.pollMs : Math.min(imap.pollMs * 2 ** Math.min(failures, 10), MAX_BACKOFF_MS);
    timer = setTimeout(() => void run(), delay);
  };
  const run = async (): Promise<void> => {
    if (stopped || current) return current;
    clearTimeout(timer);
    current = once().finally(() => {
      current = undefined;
      schedule();
    });
    return current;
  };
  void run();
  logger.info({ mailbox: imap.mailbox, host: imap.host, port: imap.port, pollMs: imap.pollMs }, 'mssante: taking mail in');
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
      await box.close().catch(() => undefined);
      const pending = mdns.size;
      if (!(await mdns.drain(options.mdnDrainMs ?? 30_000))) logger.warn({ pending: mdns.size, queued: pending }, 'mssante: stopped before every MDN queued was sent');
    },
    async pollNow() {
      await current;
      await run();
    },
  };
}
