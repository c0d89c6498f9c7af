// The MSSanté message that carries a secure link of the pathway (docs/pathway.md "Sending the PPP"): not a clinical
// document (no XDM, no attachment) but a short French letter to one professional — the patient, what is asked of them
// (their decisions on the PPP's recommendations, or at D45/D90 the current prescription), the link and its expiry — as
// plain text with a simple HTML alternative. Composed by nodemailer's MailComposer from the outbox payload, the same
// bytes on every attempt; its Message-ID, computed at enqueue, is the message's idempotency key.
import { createHash } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { MssanteMessageRefused } from './message.js';

/** The outbox payload kind of a link message (a document message has none). */
export const LINK_PAYLOAD_KIND = 'pathway-link';

export interface LinkMessagePayload {
  kind: typeof LINK_PAYLOAD_KIND;
  /** `CarePlan/<id>` of the PPP (audit entities). */
  resource: string;
  link: {
    recipient: {
      /** Absent when the send was refused at enqueue (the message is then written dead). */
      address?: string;
      role: 'MT' | 'PHO';
      rpps: string;
      name?: string;
      source?: 'document' | 'directory';
    };
    purpose: 'decision' | 'prescription';
    window?: 'd45' | 'd90';
    patientLabel: string;
    /** The establishment that sends the PPP. */
    organization?: string;
    url: string;
    expires: string;
    /** The message's Date, fixed at enqueue. */
    date: string;
    /** Why nothing will be sent; the message is dead from the start. */
    refused?: string;
  };
}

export function isLinkPayload(payload: unknown): payload is LinkMessagePayload {
  const p = payload as Partial<LinkMessagePayload> | null;
  return typeof p === 'object' && p !== null && p.kind === LINK_PAYLOAD_KIND && typeof p.link === 'object' && p.link !== null;
}

/** `<link.<hash>@domain>`: the same link to the same mailbox always gives the same id. */
export function linkMessageId(url: string, to: string, domain: string): string {
  const hash = createHash('sha256').update(`${url}\n${to.toLowerCase()}`).digest('hex').slice(0, 32);
  return `<link.${hash}@${domain}>`;
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

const clean = (field: string, value: string): string => {
  if (CONTROL.test(value)) throw new MssanteMessageRefused('header-injection', `${field}: control or bidirectional characters are not allowed`);
  return value;
};

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** "12 janvier 2027 à 10:00" (Paris time). */
export function frenchDateTime(iso: string): string {
  const d = new Date(iso);
  const date = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', day: 'numeric', month: 'long', year: 'numeric' }).format(d);
  const time = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(d);
  return `${date} à ${time}`;
}

const ROLE_TEXT = { MT: 'médecin traitant', PHO: "pharmacien d'officine" } as const;
const WINDOW_TEXT = { d45: 'J45', d90: 'J90' } as const;

export interface LinkLetter {
  subject: string;
  /** Paragraphs; the link stands alone in its own. */
  paragraphs: string[];
  url: string;
  /** The text of the link in the HTML alternative. */
  action: string;
}

/** What the message says, in French, from the payload. */
export function linkLetter(l: LinkMessagePayload['link']): LinkLetter {
  const who = l.recipient.name ? `Bonjour ${l.recipient.name},` : 'Bonjour,';
  const from = l.organization ? ` par ${l.organization}` : '';
  const expiry = `Ce lien vous est personnel : ne le transmettez pas. Il expire le ${frenchDateTime(l.expires)} ; un nouvel envoi le remplace.`;
  if (l.purpose === 'prescription') {
    const window = WINDOW_TEXT[l.window ?? 'd45'];
    return {
      subject: `Suivi ${window} du plan pharmaceutique personnalisé : ordonnance en cours`,
      paragraphs: [
        who,
        `Le plan pharmaceutique personnalisé (PPP) de votre patient(e) ${l.patientLabel}, transmis${from}, arrive à son suivi à ${window}.`,
        "Merci de nous transmettre l'ordonnance en cours (PDF ou lignes de traitement), ou d'indiquer qu'elle n'a pas changé, en suivant ce lien :",
        l.url,
        expiry,
        'Ce message a été envoyé automatiquement depuis une boîte applicative MSSanté.',
      ],
      url: l.url,
      action: "Transmettre l'ordonnance",
    };
  }
  return {
    subject: 'Plan pharmaceutique personnalisé : vos décisions sont attendues',
    paragraphs: [
      who,
      `Le plan pharmaceutique personnalisé (PPP) de votre patient(e) ${l.patientLabel} vous est transmis${from}, en tant que ${ROLE_TEXT[l.recipient.role]}.`,
      'Merci d’indiquer votre décision sur chacune de ses recommandations (retenue, non retenue, retenue avec modification) en suivant ce lien :',
      l.url,
      expiry,
      'Ce message a été envoyé automatiquement depuis une boîte applicative MSSanté.',
    ],
    url: l.url,
    action: 'Ouvrir le PPP et donner mes décisions',
  };
}

export interface LinkMessageInput {
  payload: LinkMessagePayload;
  from: { address: string; name?: string };
  /** X-MSS-NIL: the product reference of the convergence.esante.gouv.fr declaration. */
  nil: string;
  messageIdDomain: string;
}

/** The whole RFC 5322 message (text + HTML alternative) and its Message-ID. */
export async function composeLinkMessage(input: LinkMessageInput): Promise<{ raw: Buffer; messageId: string; to: string }> {
  const l = input.payload.link;
  const to = clean('To', l.recipient.address ?? '');
  if (to.length > 254 || !ADDRESS.test(to)) throw new MssanteMessageRefused('invalid-address', `To: ${JSON.stringify(to)} is not a mail address`);
  const from = clean('From', input.from.address);
  if (!/^https?:\/\/[^\s<>"]+$/.test(l.url)) throw new MssanteMessageRefused('invalid-address', 'the link is not an http(s) URL');
  for (const [field, value] of [['recipient name', l.recipient.name ?? ''], ['patient', l.patientLabel], ['organisation', l.organization ?? ''], ['From name', input.from.name ?? '']] as const) {
    clean(field, value.replace(/[\t\n]/g, ' '));
  }
  const letter = linkLetter(l);
  const messageId = linkMessageId(l.url, to, input.messageIdDomain);
  const text = `${letter.paragraphs.join('\r\n\r\n')}\r\n`;
  const htmlBody = letter.paragraphs
    .map((p) => (p === letter.url ? `<p><a href="${escapeHtml(p)}">${escapeHtml(letter.action)}</a><br>${escapeHtml(p)}</p>` : `<p>${escapeHtml(p)}</p>`))
    .join('\n');
  const html = `<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>${escapeHtml(letter.subject)}</title></head><body>\n${htmlBody}\n</body></html>\n`;
  const mail = {
    from: input.from.name ? { name: input.from.name, address: from } : from,
    to: [to],
    subject: letter.subject,
    text,
    html,
    date: new Date(l.date),
    messageId,
    headers: { 'X-MSS-NIL': clean('X-MSS-NIL', input.nil) },
    baseBoundary: createHash('sha256').update(messageId).digest('hex').slice(0, 24),
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const node = new MailComposer(mail).compile();
  const raw = await new Promise<Buffer>((resolve, reject) => node.build((err, buf) => (err ? reject(err) : resolve(buf))));
  return { raw, messageId, to };
}
