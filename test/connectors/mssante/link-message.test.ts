// The pathway's link letter (connectors/mssante/link-message.ts) and the mssante connector's handling of its payload:
// French text with an HTML alternative, the same bytes on every attempt, the Message-ID the key; hostile content
// (header injection, bidirectional characters, a non-http link, a bad address) is refused as dead, nothing sent.
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { mssanteConnector } from '../../../src/connectors/mssante/connector.js';
import { mssanteConfigSchema } from '../../../src/connectors/mssante/config.js';
import { composeLinkMessage, LINK_PAYLOAD_KIND, linkMessageId, type LinkMessagePayload } from '../../../src/connectors/mssante/link-message.js';
import { SmtpSendError, type Envelope, type MailSender } from '../../../src/connectors/mssante/transport.js';
import { loadDocumentSettings } from '../../../src/documents/settings.js';
import { DeliveryError } from '../../../src/outbox/connector.js';
import { outboxConfigSchema, type MssanteDestinationConfig } from '../../../src/outbox/config.js';
import type { OutboxMessage } from '../../../src/store/outbox-repository.js';

const mssante = mssanteConfigSchema.parse({ address: 'passerelle@ch-test.mssante.fr', tls: { pkcs12: 'missing.p12', ca: 'missing.pem' }, smtp: { host: '127.0.0.1' } });
const destination = outboxConfigSchema.parse({ destinations: { mss: { kind: 'mssante' } } }).destinations.mss as MssanteDestinationConfig;
const TO = 'laurent.knock@medecin.demo.mssante.fr';
const URL_ = 'https://passerelle.example.fr/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

const payload = (change: Partial<LinkMessagePayload['link']> = {}): LinkMessagePayload => ({
  kind: LINK_PAYLOAD_KIND,
  resource: 'CarePlan/cp-1',
  link: {
    recipient: { address: TO, role: 'MT', rpps: '10100512341', name: 'Laurent KNOCK', source: 'document' },
    purpose: 'decision',
    patientLabel: 'Emma BOVARY née ROUAULT, née le 14/03/1940',
    organization: 'CHU de Rouen',
    url: URL_,
    expires: '2027-01-05T10:00:00.000Z',
    date: '2026-12-06T10:00:00.000Z',
    ...change,
  },
});

function message(p: LinkMessagePayload, key?: string): OutboxMessage {
  return {
    id: 'm1',
    seq: 1,
    destination: 'mss',
    orderingKey: 'CarePlan/cp-1',
    idempotencyKey: key ?? linkMessageId(p.link.url, p.link.recipient.address ?? '', 'ch-test.mssante.fr'),
    payload: p,
    state: 'inflight',
    attempts: 1,
    nextAttemptAt: '2026-12-06T10:00:00.000Z',
  } as OutboxMessage;
}

function recorder(fail?: () => Error): MailSender & { sent: { raw: Buffer; envelope: Envelope }[] } {
  const sent: { raw: Buffer; envelope: Envelope }[] = [];
  return {
    sent,
    async send(raw, envelope) {
      sent.push({ raw, envelope });
      if (fail) throw fail();
      return { accepted: [...envelope.to], rejected: [], response: '250 OK' };
    },
    async close() {},
  };
}

const deliver = (sender: MailSender, m: OutboxMessage, started?: () => Promise<void>) =>
  mssanteConnector(destination, mssante, { settings: loadDocumentSettings(), sourceId: '1.2.250.1.999.42.0', sender }).deliver(m, { signal: new AbortController().signal, ...(started ? { started } : {}) });

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('delivered');
}

describe('the link letter', () => {
  it('is plain French text with an HTML alternative: the patient, what is asked, the link and its expiry (Paris time)', async () => {
    const { raw, messageId } = await composeLinkMessage({ payload: payload(), from: { address: mssante.address, name: 'Passerelle' }, nil: 'NIL-1', messageIdDomain: 'ch-test.mssante.fr' });
    const mail = await simpleParser(raw);
    expect(mail.messageId).toBe(messageId);
    expect(mail.subject).toBe('Plan pharmaceutique personnalisé : vos décisions sont attendues');
    expect(mail.text).toContain('Bonjour Laurent KNOCK,');
    expect(mail.text).toContain('Emma BOVARY née ROUAULT, née le 14/03/1940');
    expect(mail.text).toContain('transmis par CHU de Rouen, en tant que médecin traitant');
    expect(mail.text).toContain(URL_);
    expect(mail.text).toContain('expire le 5 janvier 2027 à 11:00');
    expect(mail.html).toContain(`<a href="${URL_}">Ouvrir le PPP et donner mes décisions</a>`);
    expect(mail.attachments).toEqual([]);
    expect(mail.headers.get('x-mss-nil')).toBe('NIL-1');
  });

  it('at D90, asks the PHO for the current prescription', async () => {
    const p = payload({ purpose: 'prescription', window: 'd90', recipient: { address: TO, role: 'PHO', rpps: '10100628170' } });
    const mail = await simpleParser((await composeLinkMessage({ payload: p, from: { address: mssante.address }, nil: 'N', messageIdDomain: 'x.fr' })).raw);
    expect(mail.subject).toBe('Suivi J90 du plan pharmaceutique personnalisé : ordonnance en cours');
    expect(mail.text).toMatch(/^Bonjour,/);
    expect(mail.text).toContain("l'ordonnance en cours");
    expect(mail.html).toContain("Transmettre l&#39;ordonnance");
  });

  it('escapes what it is given in the HTML', async () => {
    const p = payload({ patientLabel: 'Jean <script>alert(1)</script> & "fils"' });
    const mail = await simpleParser((await composeLinkMessage({ payload: p, from: { address: mssante.address }, nil: 'N', messageIdDomain: 'x.fr' })).raw);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('Jean &#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;fils&#34;');
  });
});

describe('mssanteConnector with a link payload', () => {
  it('sends the letter to its one recipient, the same bytes each attempt, the Message-ID the key; the attempt is marked started', async () => {
    const sender = recorder();
    const m = message(payload());
    let started = 0;
    await deliver(sender, m, async () => void started++);
    await deliver(sender, m);
    expect(started).toBe(1);
    expect(sender.sent.map((s) => s.envelope)).toEqual([
      { from: mssante.address, to: [TO] },
      { from: mssante.address, to: [TO] },
    ]);
    expect(sender.sent[1]!.raw.equals(sender.sent[0]!.raw)).toBe(true);
    expect((await simpleParser(sender.sent[0]!.raw)).messageId).toBe(m.idempotencyKey);
  });

  const HOSTILE: [string, Partial<LinkMessagePayload['link']>][] = [
    ['a CR LF in the recipient name', { recipient: { address: TO, role: 'MT', rpps: '10100512341', name: 'KNOCK\r\nBcc: x@evil.fr' } }],
    ['a bidi override in the patient', { patientLabel: 'Emma \u202eBOVARY' }],
    ['an address with a header', { recipient: { address: `${TO}\r\nBcc: x@evil.fr`, role: 'MT', rpps: '10100512341' } }],
    ['no address', { recipient: { role: 'MT', rpps: '10100512341' } }],
    ['a javascript: link', { url: 'javascript:alert(1)' }],
    ['a link with spaces', { url: 'https://x.fr/p/a b' }],
  ];
  for (const [name, change] of HOSTILE) {
    it(`refuses ${name}: dead, nothing sent`, async () => {
      const sender = recorder();
      const err = await failure(deliver(sender, message(payload(change), '<k@ch-test.mssante.fr>')));
      expect(err.transient).toBe(false);
      expect(sender.sent).toHaveLength(0);
    });
  }

  it('a link refused at enqueue is dead with its reason; a Message-ID that is not the key is dead', async () => {
    const sender = recorder();
    const refused = await failure(deliver(sender, message(payload({ refused: 'aucune adresse' }), 'refused-link:x')));
    expect(refused).toMatchObject({ transient: false, message: 'aucune adresse' });
    const other = await failure(deliver(sender, message(payload(), '<other@ch-test.mssante.fr>')));
    expect(other.message).toMatch(/differs from the message's key/);
    expect(sender.sent).toHaveLength(0);
  });

  it('the SMTP server: a 4xx is retried, a 5xx is dead', async () => {
    const transient = await failure(deliver(recorder(() => new SmtpSendError('451 try later', true)), message(payload())));
    expect(transient.transient).toBe(true);
    const permanent = await failure(deliver(recorder(() => new SmtpSendError('550 no such user', false)), message(payload())));
    expect(permanent.transient).toBe(false);
  });
});
