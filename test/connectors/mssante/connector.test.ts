// The mssante connector's decisions around the send: what is refused before anything goes out (a payload refused at
// enqueue, a Message-ID that is not the message's key), what reaches the sender (the composed bytes, to the one
// recipient), and how the sender's failures become the outbox's (retry or dead).
import { readFileSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { mssanteConnector } from '../../../src/connectors/mssante/connector.js';
import { mssanteConfigSchema } from '../../../src/connectors/mssante/config.js';
import { mssanteMessageId } from '../../../src/connectors/mssante/message.js';
import type { MssantePayload } from '../../../src/connectors/mssante/payload.js';
import { SmtpSendError, type Envelope, type MailSender } from '../../../src/connectors/mssante/transport.js';
import { documentIds } from '../../../src/documents/ids.js';
import { loadDocumentSettings } from '../../../src/documents/settings.js';
import { DeliveryError } from '../../../src/outbox/connector.js';
import { outboxConfigSchema, type MssanteDestinationConfig } from '../../../src/outbox/config.js';
import type { OutboxMessage } from '../../../src/store/outbox-repository.js';

const settings = loadDocumentSettings();
const mssante = mssanteConfigSchema.parse({
  address: 'passerelle@ch-test.mssante.fr',
  tls: { pkcs12: 'missing.p12', ca: 'missing.pem' },
  smtp: { host: '127.0.0.1' },
});
const destination = outboxConfigSchema.parse({ destinations: { mss: { kind: 'mssante' } } }).destinations.mss as MssanteDestinationConfig;
const TO = 'laurent.knock@medecin.demo.mssante.fr';

function message(mssantePart: MssantePayload['mssante'], key?: string): OutboxMessage {
  const document = JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as { id: string; patient: MssantePayload['patient'] };
  const ids = documentIds('1.2.250.1.999.42', 'ppp', '760000018', document.id, 1);
  const payload: MssantePayload = {
    event: 'ppp.stored',
    kind: 'ppp',
    document,
    patient: document.patient,
    ids,
    effectiveTime: '2026-11-22T09:00:00.000Z',
    masking: [],
    resource: 'CarePlan/x',
    versionId: '1',
    mssante: mssantePart,
  };
  return {
    id: 'm1',
    seq: 1,
    destination: 'mss',
    orderingKey: 'Patient/p',
    idempotencyKey: key ?? mssanteMessageId(ids.id, 1, [TO], 'ch-test.mssante.fr'),
    payload,
    state: 'inflight',
    attempts: 1,
    nextAttemptAt: '2026-11-22T09:00:00.000Z',
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

const deliver = (sender: MailSender, m: OutboxMessage) =>
  mssanteConnector(destination, mssante, { settings, sourceId: '1.2.250.1.999.42.0', sender }).deliver(m, { signal: new AbortController().signal });

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    return err as DeliveryError;
  }
  throw new Error('delivered');
}

describe('mssanteConnector', () => {
  it('sends the composed message to its one recipient; the Message-ID is the key; two attempts, the same bytes', async () => {
    const sender = recorder();
    const m = message({ recipient: { role: 'medecin-traitant', address: TO }, receipt: true });
    await deliver(sender, m);
    await deliver(sender, m);
    expect(sender.sent.map((s) => s.envelope)).toEqual([
      { from: 'passerelle@ch-test.mssante.fr', to: [TO] },
      { from: 'passerelle@ch-test.mssante.fr', to: [TO] },
    ]);
    expect(sender.sent[1].raw.equals(sender.sent[0].raw)).toBe(true);
    const mail = await simpleParser(sender.sent[0].raw);
    expect(mail.messageId).toBe(m.idempotencyKey);
    expect(mail.date?.toISOString()).toBe('2026-11-22T09:00:00.000Z');
  }, 60_000);

  it('a payload refused at enqueue, or without an address, is dead without building or sending', async () => {
    const sender = recorder();
    const refused = await failure(deliver(sender, message({ recipient: { role: 'pharmacien-officine', rpps: '10100628170' }, receipt: true, refused: 'no MSSanté address known' }, 'refused:x')));
    expect(refused).toMatchObject({ transient: false, message: 'no MSSanté address known' });
    const bare = await failure(deliver(sender, message({ recipient: { role: 'pharmacien-officine' }, receipt: true }, 'k')));
    expect(bare.transient).toBe(false);
    expect(sender.sent).toHaveLength(0);
  });

  it('a Message-ID that is not the key (the mailbox changed since enqueue) is dead: nothing sent twice under two ids', async () => {
    const sender = recorder();
    const err = await failure(deliver(sender, message({ recipient: { role: 'medecin-traitant', address: TO }, receipt: true }, '<other@ch-test.mssante.fr>')));
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(/differs from the message's key/);
    expect(sender.sent).toHaveLength(0);
  }, 60_000);

  it("the sender's classification decides: transient retried, permanent dead, with its message", async () => {
    const m = message({ recipient: { role: 'medecin-traitant', address: TO }, receipt: true });
    expect(await failure(deliver(recorder(() => new SmtpSendError('SMTP 451 (RCPT TO): try later', true, 451)), m))).toMatchObject({ transient: true, message: 'SMTP 451 (RCPT TO): try later' });
    expect(await failure(deliver(recorder(() => new SmtpSendError('SMTP 550 (RCPT TO): no such user', false, 550)), m))).toMatchObject({ transient: false });
  }, 60_000);

  it('an unreadable organisation certificate is a transient failure (fixing the file needs no restart)', async () => {
    const m = message({ recipient: { role: 'medecin-traitant', address: TO }, receipt: true });
    const connector = mssanteConnector(destination, mssante, { settings, sourceId: '1.2.250.1.999.42.0', env: {} });
    const err = await failure(connector.deliver(m, { signal: new AbortController().signal }));
    expect(err.transient).toBe(true);
    expect(err.message).toMatch(/^mssante: missing\.p12/);
    await connector.close();
  }, 60_000);
});
