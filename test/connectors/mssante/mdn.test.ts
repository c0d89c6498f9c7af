import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import {
  buildMdn,
  dispositionLabel,
  MdnInputError,
  mdnRequestOf,
  MSSANTE_ERROR_LABELS,
  MSSANTE_KO_PREFIX,
  MssanteErrorCode,
  parseReport,
  wantsMdn,
  type MdnInput,
} from '../../../src/connectors/mssante/mdn.js';

const BASE: MdnInput = {
  ourMailbox: 'passerelle@chu-exemple.mssante.fr',
  to: 'pharmacie.centrale@pharmacien.mssante.fr',
  originalMessageId: '<bpm-1234.5678@pharmacie.example>',
  originalSubject: 'XDM/1.0/DDM+Bilan partagé de médication',
  reportingHost: 'passerelle.chu-exemple.fr',
  date: new Date('2026-12-06T00:00:00Z'),
};

const CODES = [
  MssanteErrorCode.UnknownPatient,
  MssanteErrorCode.InsAbsent,
  MssanteErrorCode.InsTraitsMismatch,
  MssanteErrorCode.IncompleteTraits,
  MssanteErrorCode.Other,
];

describe('buildMdn → parseReport round trip', () => {
  it('success: processed', async () => {
    const raw = await buildMdn(BASE);
    expect(await parseReport(raw)).toEqual({
      kind: 'mdn',
      originalMessageId: '<bpm-1234.5678@pharmacie.example>',
      finalRecipient: 'passerelle@chu-exemple.mssante.fr',
      disposition: 'processed',
      dispositionMode: 'automatic-action/MDN-sent-automatically',
    });
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe('XDM/1.0/DDM+Bilan partagé de médication');
  });

  it.each(CODES)('error %i: processed/Error: code^label, KO subject prefix', async (code) => {
    const raw = await buildMdn({ ...BASE, error: { code } });
    const report = await parseReport(raw);
    expect(report).toEqual({
      kind: 'mdn',
      originalMessageId: '<bpm-1234.5678@pharmacie.example>',
      finalRecipient: 'passerelle@chu-exemple.mssante.fr',
      disposition: 'processed',
      dispositionMode: 'automatic-action/MDN-sent-automatically',
      error: { code, label: dispositionLabel(MSSANTE_ERROR_LABELS[code]) },
    });
    const mail = await simpleParser(raw);
    expect(mail.subject).toBe(`${MSSANTE_KO_PREFIX}[${code}] XDM/1.0/DDM+Bilan partagé de médication`);
    expect(mail.text).toContain(`${code} ${MSSANTE_ERROR_LABELS[code]}`);
  });

  it('has the RFC 8098 MIME structure', async () => {
    const original = Buffer.from('From: a@b.fr\r\nMessage-ID: <bpm-1234.5678@pharmacie.example>\r\nSubject: x\r\n\r\nbody\r\n');
    const raw = await buildMdn({ ...BASE, error: { code: MssanteErrorCode.UnknownPatient }, originalRecipient: 'passerelle@chu-exemple.mssante.fr', originalMessage: original, messageId: 'mdn-1@chu-exemple.fr' });
    const mail = await simpleParser(raw);
    const ct = mail.headers.get('content-type') as { value: string; params: Record<string, string> };
    expect(ct.value).toBe('multipart/report');
    expect(ct.params['report-type']).toBe('disposition-notification');
    expect(mail.inReplyTo).toBe('<bpm-1234.5678@pharmacie.example>');
    expect(mail.references).toBe('<bpm-1234.5678@pharmacie.example>');
    expect(mail.messageId).toBe('<mdn-1@chu-exemple.fr>');
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined).toBe('pharmacie.centrale@pharmacien.mssante.fr');
    expect(mail.from?.value[0]?.address).toBe('passerelle@chu-exemple.mssante.fr');
    expect(mail.headers.get('auto-submitted')).toBe('auto-replied');
    const dn = mail.attachments.find((a) => a.contentType === 'message/disposition-notification');
    expect(dn).toBeDefined();
    const lines = dn!.content.toString('utf8').trimEnd().split('\r\n');
    expect(lines).toEqual([
      'Reporting-UA: passerelle.chu-exemple.fr; Passerelle',
      'Original-Recipient: rfc822;passerelle@chu-exemple.mssante.fr',
      'Final-Recipient: rfc822;passerelle@chu-exemple.mssante.fr',
      'Original-Message-ID: <bpm-1234.5678@pharmacie.example>',
      'Disposition: automatic-action/MDN-sent-automatically; processed/Error: 902^Patient inconnu',
    ]);
    const attached = mail.attachments.find((a) => a.contentType === 'message/rfc822');
    expect(attached?.content.toString('utf8')).toBe(original.toString('utf8'));
    // parts in order: human text first, then the report
    const body = raw.toString('utf8');
    expect(body.indexOf('text/plain')).toBeLessThan(body.indexOf('message/disposition-notification'));
  });

  it('a custom label goes out folded to ASCII and comes back as sent', async () => {
    const raw = await buildMdn({ ...BASE, error: { code: MssanteErrorCode.Other, label: 'Pièce jointe illisible' } });
    const report = await parseReport(raw);
    expect(report).toMatchObject({ kind: 'mdn', error: { code: 906, label: 'Piece jointe illisible' } });
  });
});

describe('buildMdn refuses inputs that would break the message', () => {
  const bad: Array<[string, Partial<MdnInput>]> = [
    ['CR/LF in the Message-ID', { originalMessageId: '<a@b>\r\nBcc: evil@x.fr' }],
    ['LF in the subject', { originalSubject: 'XDM\nBcc: evil@x.fr' }],
    ['CR/LF in the To', { to: 'a@b.fr\r\nBcc: evil@x.fr' }],
    ['a display name as our mailbox', { ourMailbox: 'Evil <e@x.fr>' }],
    ['space in the Message-ID', { originalMessageId: '<a b@c>' }],
    ['huge Message-ID', { originalMessageId: `<${'a'.repeat(5000)}@b>` }],
    ['CR in the label', { error: { code: MssanteErrorCode.Other, label: 'x\rDisposition: displayed' } }],
    ['; in the label', { error: { code: MssanteErrorCode.Other, label: 'a; b' } }],
    ['an unknown code', { error: { code: 900 as MssanteErrorCode } }],
    ['a bad Reporting-UA', { reportingUa: 'Passerelle\r\nX: y' }],
  ];
  it.each(bad)('%s', async (_name, patch) => {
    await expect(buildMdn({ ...BASE, ...patch })).rejects.toBeInstanceOf(MdnInputError);
  });
});

const THUNDERBIRD_MDN = [
  'Return-Path: <dr.martin@medecin.mssante.fr>',
  'Message-ID: <5f1c2a3b-mdn@medecin.mssante.fr>',
  'Date: Fri, 4 Dec 2026 10:12:33 +0100',
  'MIME-Version: 1.0',
  'From: Dr Martin <dr.martin@medecin.mssante.fr>',
  'To: passerelle@chu-exemple.mssante.fr',
  'Subject: =?UTF-8?Q?Accus=C3=A9_de_lecture?= (displayed) XDM/1.0/DDM+PPP',
  'In-Reply-To: <ppp-42@chu-exemple.fr>',
  'Content-Type: multipart/report; REPORT-TYPE="disposition-notification";',
  ' boundary="------------A1B2C3"',
  '',
  'This is a multi-part message in MIME format.',
  '--------------A1B2C3',
  'Content-Type: text/plain; charset=UTF-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Ceci est un accusé de lecture pour le message envoyé le 04/12/2026.',
  '',
  '--------------A1B2C3',
  'Content-Type: message/disposition-notification; name="MDNPart2.txt"',
  'Content-Disposition: inline',
  'Content-Transfer-Encoding: 7bit',
  '',
  'reporting-ua: medecin.mssante.fr; Mozilla Thunderbird',
  'final-recipient: RFC822; dr.martin@medecin.mssante.fr',
  'original-message-id:',
  '   <ppp-42@chu-exemple.fr>',
  'disposition: manual-action/MDN-sent-manually;',
  '  displayed',
  '',
  '--------------A1B2C3',
  'Content-Type: text/rfc822-headers; name="MDNPart3.txt"',
  'Content-Transfer-Encoding: 7bit',
  '',
  'Message-ID: <ppp-42@chu-exemple.fr>',
  'Subject: XDM/1.0/DDM+PPP',
  '',
  '--------------A1B2C3--',
  '',
].join('\r\n');

const RFC3464_DSN = [
  'Date: Thu, 3 Dec 2026 23:59:01 +0100',
  'From: Mail Delivery Subsystem <MAILER-DAEMON@relay.mssante.fr>',
  'Message-Id: <202612032259.AA01@relay.mssante.fr>',
  'Subject: Returned mail: User unknown',
  'To: <passerelle@chu-exemple.mssante.fr>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status;',
  '    boundary="JAA13167.773673707/relay.mssante.fr"',
  '',
  '--JAA13167.773673707/relay.mssante.fr',
  'content-type: text/plain; charset=us-ascii',
  '',
  '   ----- The following addresses had permanent fatal errors -----',
  '<inconnu@medecin.mssante.fr>',
  '',
  '--JAA13167.773673707/relay.mssante.fr',
  'content-type: message/delivery-status',
  '',
  'Reporting-MTA: dns; relay.mssante.fr',
  'Arrival-Date: Thu, 3 Dec 2026 23:58:59 +0100',
  '',
  'Original-Recipient: rfc822;inconnu@medecin.mssante.fr',
  'Final-Recipient: RFC822; inconnu@medecin.mssante.fr',
  'Action: failed',
  'Status: 5.1.1 (user unknown)',
  'Remote-MTA: dns; mx.medecin.mssante.fr',
  'Diagnostic-Code: smtp; 550 5.1.1 <inconnu@medecin.mssante.fr>...',
  '    User unknown',
  '',
  'Final-Recipient: rfc822; pharmacie@pharmacien.mssante.fr',
  'Action: Delivered (relayed)',
  'Status: 2.0.0',
  '',
  '--JAA13167.773673707/relay.mssante.fr',
  'content-type: text/rfc822-headers',
  '',
  'Date: Thu, 3 Dec 2026 23:58:50 +0100',
  'From: passerelle@chu-exemple.mssante.fr',
  'Message-ID: <ppp-43@chu-exemple.fr>',
  'Subject: XDM/1.0/DDM+PPP',
  '',
  '--JAA13167.773673707/relay.mssante.fr--',
  '',
].join('\r\n');

describe('parseReport on reports from elsewhere', () => {
  it('reads an MDN from another MUA (case, folding, manual mode)', async () => {
    expect(await parseReport(Buffer.from(THUNDERBIRD_MDN))).toEqual({
      kind: 'mdn',
      originalMessageId: '<ppp-42@chu-exemple.fr>',
      finalRecipient: 'dr.martin@medecin.mssante.fr',
      disposition: 'displayed',
      dispositionMode: 'manual-action/MDN-sent-manually',
    });
  });

  it('reads an RFC 3464 DSN with several recipients', async () => {
    expect(await parseReport(Buffer.from(RFC3464_DSN))).toEqual({
      kind: 'dsn',
      originalMessageId: '<ppp-43@chu-exemple.fr>',
      recipients: [
        {
          address: 'inconnu@medecin.mssante.fr',
          action: 'failed',
          status: '5.1.1',
          diagnosticCode: 'smtp; 550 5.1.1 <inconnu@medecin.mssante.fr>... User unknown',
        },
        { address: 'pharmacie@pharmacien.mssante.fr', action: 'delivered', status: '2.0.0' },
      ],
    });
  });

  it('reads a minimal DSN (delayed, no returned headers, no Original-Message-ID)', async () => {
    const text = [
      'From: postmaster@relay.mssante.fr',
      'Content-Type: Multipart/Report; Report-Type=Delivery-Status; boundary=zz',
      '',
      '--zz',
      'Content-Type: text/plain',
      '',
      'Delivery delayed.',
      '--zz',
      'Content-Type: Message/Delivery-Status',
      '',
      'Reporting-MTA: dns; relay.mssante.fr',
      '',
      'FINAL-RECIPIENT: rfc822;<lent@medecin.mssante.fr>',
      'ACTION: Delayed',
      'STATUS: 4.4.7',
      '',
      '--zz--',
      '',
    ].join('\r\n');
    expect(await parseReport(Buffer.from(text))).toEqual({
      kind: 'dsn',
      recipients: [{ address: 'lent@medecin.mssante.fr', action: 'delayed', status: '4.4.7' }],
    });
  });

  it('falls back on In-Reply-To when the MDN has no Original-Message-ID', async () => {
    const text = THUNDERBIRD_MDN.replace('original-message-id:\r\n   <ppp-42@chu-exemple.fr>\r\n', '');
    expect(await parseReport(Buffer.from(text))).toMatchObject({ kind: 'mdn', originalMessageId: '<ppp-42@chu-exemple.fr>', disposition: 'displayed' });
  });
});

describe('parseReport on ordinary and hostile input', () => {
  const cases: Array<[string, Buffer]> = [
    ['an ordinary message', Buffer.from('From: a@b.fr\r\nTo: c@d.fr\r\nSubject: hi\r\n\r\nhello\r\n')],
    ['empty', Buffer.alloc(0)],
    ['garbage bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
    ['multipart/report without a report part', Buffer.from('Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n')],
    ['a report part without Disposition', Buffer.from(THUNDERBIRD_MDN.replace(/disposition: manual-action\/MDN-sent-manually;\r\n {2}displayed\r\n/, ''))],
    ['a DSN without recipients', Buffer.from(RFC3464_DSN.replace(/Original-Recipient[\s\S]*Status: 2\.0\.0\r\n/, ''))],
    ['an unterminated multipart', Buffer.from('Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient')],
    ['a huge report field', Buffer.from(THUNDERBIRD_MDN.replace('reporting-ua:', `x-huge: ${'A'.repeat(200_000)}\r\nreporting-ua:`))],
    ['a message over the size limit', Buffer.concat([Buffer.from(THUNDERBIRD_MDN), Buffer.alloc(11 * 1024 * 1024, 0x41)])],
  ];
  it.each(cases)('%s → undefined', async (_name, raw) => {
    await expect(parseReport(raw)).resolves.toBeUndefined();
  });

  it('a huge folded Disposition does not hang and yields bounded data', async () => {
    const text = THUNDERBIRD_MDN.replace('  displayed\r\n', `  displayed\r\n${'  x\r\n'.repeat(5000)}`);
    const report = await parseReport(Buffer.from(text));
    expect(report).toMatchObject({ kind: 'mdn', disposition: 'displayed' });
  });

  it('never throws on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        const prefix = Buffer.from('Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\n');
        const r = await parseReport(Buffer.concat([prefix, Buffer.from(bytes)]));
        expect(r === undefined || r.kind === 'mdn').toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('receipt requests', () => {
  it('wantsMdn and mdnRequestOf read Disposition-Notification-To', async () => {
    const asked = await simpleParser(Buffer.from('From: a@b.fr\r\nDisposition-Notification-To: "Pharmacie" <pharmacie@pharmacien.mssante.fr>\r\nMessage-ID: <m1@b.fr>\r\nSubject: XDM/1.0/DDM+BPM\r\n\r\nx\r\n'));
    expect(wantsMdn(asked)).toBe(true);
    expect(mdnRequestOf(asked)).toEqual({ to: 'pharmacie@pharmacien.mssante.fr', originalMessageId: '<m1@b.fr>', originalSubject: 'XDM/1.0/DDM+BPM' });
    const plain = await simpleParser(Buffer.from('From: a@b.fr\r\nMessage-ID: <m2@b.fr>\r\n\r\nx\r\n'));
    expect(wantsMdn(plain)).toBe(false);
    const noId = await simpleParser(Buffer.from('From: a@b.fr\r\nDisposition-Notification-To: a@b.fr\r\n\r\nx\r\n'));
    expect(wantsMdn(noId)).toBe(false);
  });
});

describe('property: Message-IDs and labels round-trip or are refused, never injected', () => {
  it('random values', async () => {
    const idChars = fc.oneof(fc.constantFrom(...'abcXYZ019.-_@$<> \r\n\t:;"é'.split('')), fc.string({ maxLength: 1 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(idChars, { minLength: 1, maxLength: 40 }).map((a) => a.join('')),
        fc.string({ maxLength: 60 }),
        fc.constantFrom(...CODES),
        async (id, label, code) => {
          let raw: Buffer;
          try {
            raw = await buildMdn({ ...BASE, originalMessageId: id, error: { code, label } });
          } catch (e) {
            expect(e).toBeInstanceOf(MdnInputError);
            return;
          }
          const mail = await simpleParser(raw);
          // no injected header: exactly the headers we set, no Bcc etc.
          expect([...mail.headers.keys()].sort()).toEqual(
            ['auto-submitted', 'content-type', 'date', 'from', 'in-reply-to', 'message-id', 'mime-version', 'references', 'subject', 'to'].sort(),
          );
          const report = await parseReport(raw);
          const expectedId = id.trim().startsWith('<') && id.trim().endsWith('>') ? id.trim() : `<${id.trim()}>`;
          expect(report).toEqual({
            kind: 'mdn',
            originalMessageId: expectedId,
            finalRecipient: BASE.ourMailbox,
            disposition: 'processed',
            dispositionMode: 'automatic-action/MDN-sent-automatically',
            error: { code, label: dispositionLabel(label) },
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
