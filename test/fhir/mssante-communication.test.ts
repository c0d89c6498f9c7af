// The Communication of an MSSanté message (fhir/mssante-communication.ts): valid R4 whoever the recipient is (a
// professional known by RPPS, one known only by address, the patient), its FHIR status following the mail's, and a
// new state that keeps what the message was (recipient, about, sent) and the first delivery time.
import type { Communication } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { communicationStatus, mailStateOf, mssanteCommunication, mssanteCommunicationId, withMailState, type MailFacts } from '../../src/fhir/mssante-communication.js';
import { validateResource } from '../../src/fhir/validate.js';

const facts = (recipient: MailFacts['recipient']): MailFacts => ({
  messageId: '<1.2.250.1.999.1.1.abc@chu.mssante.fr>',
  outboxId: 'd0c7c6a2-4f0e-4d8e-9a43-3c1f2a9e5b10',
  destination: 'mssante',
  kind: 'bpm',
  subject: 'Patient/9b2f0a52-3c1d-5e8f-a4b7-2d6c9e0f1a3b',
  about: ['CarePlan/4d7e9f10-2a3b-5c4d-8e5f-6a7b8c9d0e1f'],
  recipient,
  sender: 'Passerelle <passerelle@chu.mssante.fr>',
  sent: '2026-11-22T09:05:00.000Z',
});
const errors = (c: Communication): unknown[] => validateResource(c).filter((i) => i.severity === 'error' || i.severity === 'fatal');

describe('mssanteCommunication', () => {
  it('names the patient as recipient of a mail to their own mailbox, a professional without RPPS by address', () => {
    const patient = mssanteCommunication(facts({ address: '138112A00405796@patient.mssante.fr', role: 'patient' }), { status: 'sent', at: '2026-11-22T09:05:00.000Z', accepted: true });
    expect(patient.recipient).toEqual([{ reference: 'Patient/9b2f0a52-3c1d-5e8f-a4b7-2d6c9e0f1a3b', display: '138112A00405796@patient.mssante.fr' }]);
    expect(patient.payload).toEqual([{ contentString: 'BPM envoyé par MSSanté à 138112A00405796@patient.mssante.fr' }]);
    expect(errors(patient)).toEqual([]);
    const unknown = mssanteCommunication(facts({ address: 'secretariat@cabinet.mssante.fr', role: 'medecin-traitant' }), { status: 'sent', at: '2026-11-22T09:05:00.000Z', accepted: true });
    expect(unknown.recipient).toEqual([{ display: 'secretariat@cabinet.mssante.fr' }]);
    expect(errors(unknown)).toEqual([]);
    expect(unknown.id).toBe(mssanteCommunicationId('<1.2.250.1.999.1.1.abc@chu.mssante.fr>'));
  });

  it('maps the mail status: sent in-progress, delivered and read completed, failed stopped (not-done when never accepted)', () => {
    expect(communicationStatus({ status: 'sent', accepted: true })).toBe('in-progress');
    expect(communicationStatus({ status: 'delivered', accepted: true })).toBe('completed');
    expect(communicationStatus({ status: 'read', accepted: true })).toBe('completed');
    expect(communicationStatus({ status: 'failed', accepted: true })).toBe('stopped');
    expect(communicationStatus({ status: 'failed', accepted: false })).toBe('not-done');
  });

  it('a new state keeps the message and reads back', () => {
    const sent = mssanteCommunication(facts({ address: 'a@b.mssante.fr', role: 'pharmacien-officine', rpps: '10101523388', name: 'Madeleine FORESTIER' }), {
      status: 'sent',
      at: '2026-11-22T09:05:00.000Z',
      accepted: true,
    });
    const failed = withMailState(sent, { status: 'failed', detail: '902 Patient inconnu', at: '2026-11-22T09:20:00.000Z', accepted: true });
    expect(failed).toMatchObject({ status: 'stopped', statusReason: { text: '902 Patient inconnu' }, recipient: sent.recipient, about: sent.about, sent: sent.sent });
    expect(mailStateOf(failed)).toEqual({ status: 'failed', detail: '902 Patient inconnu', at: '2026-11-22T09:20:00.000Z', accepted: true });
    expect(errors(failed)).toEqual([]);
    const read = withMailState(failed, { status: 'read', at: '2026-11-22T10:00:00.000Z', received: '2026-11-22T09:10:00.000Z', accepted: true });
    expect(read.statusReason).toBeUndefined();
    expect(read).toMatchObject({ status: 'completed', received: '2026-11-22T09:10:00.000Z' });
  });
});
