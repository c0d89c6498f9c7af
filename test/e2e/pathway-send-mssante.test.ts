// Sending the PPP end to end over MSSanté, on real sockets: the local peer (SMTP with mutual TLS in front of a real
// Dovecot) with the demo mailboxes, and a gateway (HTTP, outbox dispatcher, SQLite) pointing to it. POST /ppp, then
// POST /ppp/{id}/send: the MT's and the PHO's mailboxes each receive one plain French letter (text + HTML) whose
// Message-ID is the outbox message's key, naming the patient, what is asked and the expiry, and holding the URL that
// opens /p/<token> (the token resolves); a new send mails new links and the old ones no longer open.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { simpleParser, type ParsedMail } from 'mailparser';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom, type Config } from '../../src/config.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { DEMO_MAILBOXES } from '../../src/sandbox/mssante/mailboxes.js';
import { readMailbox, startMssantePeer, type MailboxMessage, type MssantePeer } from '../../src/sandbox/mssante/peer.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { resolveLink } from '../../src/services/pathway/links.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';
import { available } from '../support/shared.js';

const haveDovecot = available('Dovecot (/usr/sbin/dovecot with dovecot-imapd and dovecot-lmtpd)', dovecotInstalled(), 'the pathway send over MSSanté end to end');

const BAL = DEMO_MAILBOXES.gateway;
const MT = DEMO_MAILBOXES.mt;
const PHO = DEMO_MAILBOXES.pho;
const json = { 'content-type': 'application/json' };

interface SendAnswer {
  links: { role: 'MT' | 'PHO'; rpps: string; url: string; expires: string }[];
  deliveries: { role: string; state: string; address?: string; outboxId?: string; messageId?: string }[];
}

function demoPpp(id: string): Record<string, unknown> {
  const doc = JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as Record<string, unknown> & { team: { role: string; practitioner: Record<string, unknown> }[] };
  doc.id = id;
  delete doc.sentAt;
  for (const t of doc.team) {
    if (t.role === 'medecin-traitant') t.practitioner.email = MT;
    else if (t.role === 'pharmacien-officine') t.practitioner.email = PHO;
    else delete t.practitioner.email;
  }
  return doc;
}

describe.skipIf(!haveDovecot)('sending the PPP over MSSanté end to end (local peer: SMTP + Dovecot)', () => {
  let dir: string;
  let pki: TestPki;
  let peer: MssantePeer;
  let org: { key: string; cert: string };
  let config: Config;
  let store: ResourceStore;
  let server: { url: string; close(): Promise<void> };
  let dispatcher: RunningDispatcher;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'passerelle-send-mss-'));
    await chmod(dir, 0o755); // Dovecot's own users walk down to the maildirs
    pki = await generateTestPki({ dir: path.join(dir, 'pki') });
    org = { key: pki.pem.orgKey, cert: pki.pem.org };
    peer = await startMssantePeer({ dir: path.join(dir, 'peer'), pki, mailboxes: [{ address: BAL, password: 'bal-app-secret' }, { address: MT }, { address: PHO }] });
    config = configFrom({
      port: 0,
      dataDir: path.join(dir, 'gateway'),
      log: { level: 'silent' },
      mssante: {
        address: BAL,
        nil: 'PASSERELLE-E2E',
        tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
        smtp: { host: peer.smtp.host, port: peer.smtp.port, security: 'implicit', timeoutMs: 5000 },
      },
      outbox: {
        pollMs: 50,
        // No route: the PPP document itself is not mailed here, only the links.
        destinations: { mssante: { kind: 'mssante', baseDelayMs: 50, maxDelayMs: 100, maxAttempts: 5, circuit: { failureThreshold: 1000, openMs: 1000 } } },
      },
    });
    await mkdir(config.dataDir, { recursive: true });
    store = await openSqliteStore({ file: config.database });
    server = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings: loadDocumentSettings(), sourceId: `${config.documents.oidRoot}.0` }, mssante: { config: config.mssante as NonNullable<Config['mssante']> } });
  }, 60_000);

  afterAll(async () => {
    await dispatcher?.stop(100);
    await server?.close();
    await store?.close();
    await peer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const inbox = (address: string): Promise<MailboxMessage[]> => readMailbox(peer, address, { tls: org });
  const tokenOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);
  let carePlan: string;
  let firstLinks: SendAnswer['links'];

  it('the MT and the PHO each receive a letter with their own link, in French, text and HTML, its Message-ID the outbox key', async () => {
    const posted = await fetch(`${server.url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(demoPpp('PPP-E2E-SEND-1')) });
    expect(posted.status).toBe(200);
    carePlan = ((await posted.json()) as Bundle).entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;

    const res = await fetch(`${server.url}/ppp/${carePlan}/send`, { method: 'POST' });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as SendAnswer;
    firstLinks = answer.links;
    expect(answer.deliveries.map((d) => [d.role, d.state, d.address])).toEqual([
      ['MT', 'queued', MT],
      ['PHO', 'queued', PHO],
    ]);

    await waitFor(async () => (await inbox(MT)).length >= 1 && (await inbox(PHO)).length >= 1, 30_000, 'the links in the MT and PHO mailboxes');
    for (const [address, role] of [[MT, 'MT'], [PHO, 'PHO']] as const) {
      const box = await inbox(address);
      expect(box, address).toHaveLength(1);
      const mail: ParsedMail = await simpleParser(box[0]!.raw);
      const delivery = answer.deliveries.find((d) => d.role === role)!;
      const link = answer.links.find((l) => l.role === role)!;
      expect(mail.messageId).toBe(delivery.messageId);
      expect((await store.outbox.get(delivery.outboxId as string))?.state).toBe('delivered');
      expect(mail.from?.value[0]?.address).toBe(BAL);
      expect(mail.subject).toBe('Plan pharmaceutique personnalisé : vos décisions sont attendues');
      expect(mail.headers.get('x-mss-nil')).toBe('PASSERELLE-E2E');
      expect(mail.attachments).toEqual([]);
      const text = mail.text ?? '';
      expect(text).toContain('Emma BOVARY née ROUAULT, née le 14/03/1940');
      expect(text).toContain(role === 'MT' ? 'en tant que médecin traitant' : "en tant que pharmacien d'officine");
      expect(text).toMatch(/décision sur chacune de ses recommandations/);
      expect(text).toMatch(/expire le \d{1,2} \p{L}+ \d{4} à \d{2}:\d{2}/u);
      // The body holds the URL that opens /p/<token>, and that token is this professional's live link.
      const urls = text.match(/https?:\/\/\S+/g) ?? [];
      expect(urls).toEqual([link.url]);
      expect(new URL(link.url).pathname).toMatch(/^\/p\/[A-Za-z0-9_-]{43}$/);
      expect(link.url.startsWith(server.url)).toBe(true);
      expect(typeof mail.html === 'string' && mail.html.includes(`href="${link.url}"`)).toBe(true);
      const resolved = await resolveLink(store, tokenOf(urls[0]!), { now: new Date(), carePlan, purpose: 'decision' });
      expect(resolved).toMatchObject({ ok: true, link: { role, rpps: link.rpps } });
    }
  }, 60_000);

  it('a new send mails new links; the old ones no longer open', async () => {
    const res = await fetch(`${server.url}/ppp/${carePlan}/send`, { method: 'POST', headers: json, body: JSON.stringify({ recipients: ['MT'] }) });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as SendAnswer;
    expect(answer.links.map((l) => l.role)).toEqual(['MT']);
    await waitFor(async () => (await inbox(MT)).length >= 2, 30_000, 'the second link in the MT mailbox');
    const mails = await Promise.all((await inbox(MT)).map((m) => simpleParser(m.raw)));
    const latest = mails.find((m) => m.messageId === answer.deliveries[0]!.messageId);
    expect(latest?.text).toContain(answer.links[0]!.url);
    const oldMt = firstLinks.find((l) => l.role === 'MT')!;
    expect(await resolveLink(store, tokenOf(oldMt.url), { now: new Date(), carePlan, purpose: 'decision' })).toEqual({ ok: false });
    expect((await resolveLink(store, tokenOf(answer.links[0]!.url), { now: new Date(), carePlan, purpose: 'decision' })).ok).toBe(true);
    // The PHO's link was not sent again: it still opens, and its mailbox holds one letter.
    const pho = firstLinks.find((l) => l.role === 'PHO')!;
    expect((await resolveLink(store, tokenOf(pho.url), { now: new Date(), carePlan, purpose: 'decision' })).ok).toBe(true);
    expect(await inbox(PHO)).toHaveLength(1);
  }, 60_000);
});
