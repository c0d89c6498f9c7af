// smtpSender against a real SMTP server over real TLS (test PKI): the organisation's certificate is presented and the
// server's is verified; failures are classified as the outbox needs them (retry or dead).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mssanteConfigSchema, type MssanteConfig } from '../../../src/connectors/mssante/config.js';
import { smtpSender, SmtpSendError, type MailTls } from '../../../src/connectors/mssante/transport.js';
import { generateTestPki, type TestPki } from '../../../src/sandbox/pki.js';
import { smtpReply, startSmtpPeer, type SmtpPeer } from '../../support/smtp-peer.js';

let dir: string;
let pki: TestPki;
let org: MailTls;
const peers: SmtpPeer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-smtp-'));
  pki = await generateTestPki({ dir: path.join(dir, 'pki') });
  org = { key: pki.pem.orgKey, cert: pki.pem.org, chain: [pki.pem.intermediateCa], ca: pki.pem.ca };
}, 60_000);

afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function peer(options: Partial<Parameters<typeof startSmtpPeer>[0]> = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer({ key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca, ...options });
  peers.push(p);
  return p;
}

const config = (port: number, smtp: Record<string, unknown> = {}): MssanteConfig =>
  mssanteConfigSchema.parse({
    address: 'passerelle@ch-test.mssante.fr',
    tls: { pkcs12: 'unused.p12', ca: 'unused.pem' },
    smtp: { host: '127.0.0.1', port, timeoutMs: 5000, ...smtp },
  });

const RAW = Buffer.from('From: passerelle@ch-test.mssante.fr\r\nTo: dr@medecin.mssante.fr\r\nSubject: test\r\nMessage-ID: <x.1@ch-test.mssante.fr>\r\n\r\nBonjour\r\n');
const envelope = { from: 'passerelle@ch-test.mssante.fr', to: ['dr@medecin.mssante.fr'] };

async function failure(p: Promise<unknown>): Promise<SmtpSendError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SmtpSendError);
    return err as SmtpSendError;
  }
  throw new Error('the send succeeded');
}

describe('smtpSender', () => {
  it('sends the raw bytes unchanged over implicit TLS with the organisation certificate', async () => {
    const p = await peer();
    const sender = smtpSender(config(p.port), org);
    try {
      const r = await sender.send(RAW, envelope);
      expect(r.accepted).toEqual(['dr@medecin.mssante.fr']);
      expect(r.rejected).toEqual([]);
      expect(r.response).toMatch(/^250/);
    } finally {
      await sender.close();
    }
    expect(p.received).toHaveLength(1);
    expect(p.received[0]).toMatchObject({ from: envelope.from, to: envelope.to });
    expect(p.received[0].raw.toString('utf8').trimEnd()).toBe(RAW.toString('utf8').trimEnd());
  });

  it('works with STARTTLS (required: the upgrade happens before anything is sent)', async () => {
    const p = await peer({ security: 'starttls' });
    const sender = smtpSender(config(p.port, { security: 'starttls' }), org);
    try {
      await sender.send(RAW, envelope);
    } finally {
      await sender.close();
    }
    expect(p.received).toHaveLength(1);
  });

  it('authenticates with the password read from the configured environment variable', async () => {
    const p = await peer({ auth: { user: 'bal-app', pass: 's3cret' } });
    const ok = smtpSender(config(p.port, { user: 'bal-app', passwordEnv: 'MSS_SMTP_PASSWORD' }), org, { MSS_SMTP_PASSWORD: 's3cret' });
    try {
      await ok.send(RAW, envelope);
    } finally {
      await ok.close();
    }
    expect(p.received).toHaveLength(1);
    const file = path.join(dir, 'smtp-password');
    writeFileSync(file, 'wrong\n');
    const bad = smtpSender(config(p.port, { user: 'bal-app', passwordFile: file }), org);
    try {
      const err = await failure(bad.send(RAW, envelope));
      // Our credentials, not the message: retried (and fixed by the operator meanwhile).
      expect(err.transient).toBe(true);
      expect(err.message).toMatch(/535|Authentication/);
    } finally {
      await bad.close();
    }
  });

  it('refuses a server whose certificate is from an unknown CA: transient, nothing sent', async () => {
    const p = await peer({ key: pki.pem.intruderKey, cert: pki.pem.intruder });
    const sender = smtpSender(config(p.port), org);
    try {
      const err = await failure(sender.send(RAW, envelope));
      expect(err.transient).toBe(true);
      expect(err.message).toMatch(/certificate|self.signed|issuer/i);
    } finally {
      await sender.close();
    }
    expect(p.received).toHaveLength(0);
  });

  it('a client certificate the server does not trust is refused in the handshake: transient', async () => {
    const p = await peer();
    const intruder: MailTls = { key: pki.pem.intruderKey, cert: pki.pem.intruder, chain: [], ca: pki.pem.ca };
    const sender = smtpSender(config(p.port), intruder);
    try {
      const err = await failure(sender.send(RAW, envelope));
      expect(err.transient).toBe(true);
      // The reason points the operator at the certificate, whatever the TLS layer let through.
      expect(err.message).toMatch(/organisation certificate|certificate|alert/i);
    } finally {
      await sender.close();
    }
    expect(p.received).toHaveLength(0);
  });

  it('5xx replies are permanent, 4xx transient, with the server reply as the reason', async () => {
    const p = await peer();
    const sender = smtpSender(config(p.port), org);
    try {
      p.behaviour.rcpt = () => smtpReply(550, 'No such user here');
      const rcpt = await failure(sender.send(RAW, envelope));
      expect(rcpt).toMatchObject({ transient: false, responseCode: 550 });
      expect(rcpt.message).toContain('No such user here');

      p.behaviour.rcpt = () => smtpReply(451, 'Try again later');
      const later = await failure(sender.send(RAW, envelope));
      expect(later).toMatchObject({ transient: true, responseCode: 451 });

      p.behaviour.rcpt = undefined;
      p.behaviour.data = () => smtpReply(554, 'Message refused: virus');
      const data = await failure(sender.send(RAW, envelope));
      expect(data).toMatchObject({ transient: false, responseCode: 554 });
      expect(data.message).toContain('virus');

      // Some recipients refused, others accepted: permanent, naming the refused and the reply.
      p.behaviour.data = undefined;
      p.behaviour.rcpt = (a) => (a.startsWith('nobody') ? smtpReply(550, 'Unknown mailbox') : undefined);
      const partial = await failure(sender.send(RAW, { from: envelope.from, to: ['dr@medecin.mssante.fr', 'nobody@medecin.mssante.fr'] }));
      expect(partial.transient).toBe(false);
      expect(partial.message).toMatch(/nobody@medecin\.mssante\.fr.*Unknown mailbox/);
    } finally {
      await sender.close();
    }
  });

  it('no server listening: transient; an aborted send stops at once', async () => {
    const p = await peer();
    await p.close();
    peers.splice(peers.indexOf(p), 1);
    const sender = smtpSender(config(p.port), org);
    try {
      expect((await failure(sender.send(RAW, envelope))).transient).toBe(true);
      const aborted = await failure(sender.send(RAW, envelope, { signal: AbortSignal.abort(new Error('lease lost')) }));
      expect(aborted.transient).toBe(true);
    } finally {
      await sender.close();
    }
  });
});
