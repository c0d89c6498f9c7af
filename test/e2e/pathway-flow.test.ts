// The whole pathway of issue 18, end to end over real sockets, on the embedded SQLite store and on PostgreSQL: the DMP
// peer (ITI-41, mutual TLS), the MSSanté peer (SMTP + Dovecot IMAP), a DPI's HTTP endpoint receiving FHIR Subscription
// notifications, headless Chromium for the MT. The demo population's hospital PPP (a qualified patient) is included
// (criteria on its CarePlan) → sent (links mailed) → the MT opens the link from their mailbox and decides with the
// keyboard only, the PHO answers through the same page over HTTP → the decisions are on the PPP over FHIR and notified
// to the DPI → the scheduler regenerates the document, which replaces the DMP copy (RPLC) → at D45 the PHO's
// prescription request arrives by mail, the PHO types the current prescription, proposals are computed, the case
// manager records the outcomes → at D90 the PHO answers "no change", outcomes recorded, the pathway is closed and its
// links revoked.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, Task } from '@medplum/fhirtypes';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountPathwayRoutes } from '../../src/api/pathway-routes.js';
import { configFrom, type Config } from '../../src/config.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { CS, EXT } from '../../src/fhir/canonical.js';
import { mountPages } from '../../src/pages/mount.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { DEMO_MAILBOXES } from '../../src/sandbox/mssante/mailboxes.js';
import { readMailbox, startMssantePeer, type MailboxMessage, type MssantePeer } from '../../src/sandbox/mssante/peer.js';
import { startDmpPeer, type DmpPeer } from '../../src/sandbox/dmp/server.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { followupOutcomesOf, pathwayStatusOf } from '../../src/services/pathway/careplan-state.js';
import { startPathwayScheduler, type RunningScheduler } from '../../src/services/pathway/scheduler.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openPgStore } from '../../src/store/pg-store.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';
import { browserAvailable, launchBrowser, screenshot } from '../support/browser.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const haveDovecot = available('Dovecot (/usr/sbin/dovecot with dovecot-imapd and dovecot-lmtpd)', dovecotInstalled(), 'the whole pathway end to end');
const haveBrowser = browserAvailable('the whole pathway end to end (the MT decides in Chromium)');
const REPOSITORY = '1.2.250.1.999.42.9.8';
const BAL = DEMO_MAILBOXES.gateway;
const MT = 'pierre.benassis@medecin.demo.mssante.fr';
const PHO = DEMO_MAILBOXES.pho;
const json = { 'content-type': 'application/json' };
const DAY = 86_400_000;

/** The demo population's hospital PPP (demo/pathway), its PHO given the sandbox pharmacy's address. */
function demoPpp(): Record<string, unknown> {
  const doc = JSON.parse(readFileSync('demo/pathway/hopital-ppp-falcone.json', 'utf8')) as Record<string, unknown> & { team: { role: string; practitioner: Record<string, unknown> }[] };
  for (const t of doc.team) if (t.role === 'pharmacien-officine') t.practitioner.email = PHO;
  return doc;
}

interface Notification {
  method: string;
  url: string;
  body: string;
}

async function startDpiEndpoint(): Promise<{ url: string; received: Notification[]; close(): Promise<void> }> {
  const received: Notification[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Presses Tab until the focused element matches (at most 80 presses). */
async function tabUntil(page: Page, what: string, matches: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(matches)) return;
  }
  throw new Error(`Tab never reached ${what}`);
}

async function enter(page: Page): Promise<void> {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
}

function pathwayFlow(dialect: 'sqlite' | 'postgresql'): void {
  const schema = `flow_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  let pki: TestPki;
  let dmp: DmpPeer;
  let mail: MssantePeer;
  let dpi: Awaited<ReturnType<typeof startDpiEndpoint>>;
  let config: Config;
  let store: ResourceStore;
  let gateway: { url: string; close(): Promise<void> };
  let dispatcher: RunningDispatcher;
  let scheduler: RunningScheduler;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'passerelle-flow-'));
    await chmod(dir, 0o755); // Dovecot's own users walk down to the maildirs
    pki = await generateTestPki({ dir: path.join(dir, 'pki') });
    dmp = await startDmpPeer({
      port: 0,
      tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
      vihfTrust: pki.pem.ca,
      dataFile: path.join(dir, 'dmp.sqlite'),
      repositoryUniqueId: REPOSITORY,
      requireSubmissionSignature: true,
    });
    mail = await startMssantePeer({ dir: path.join(dir, 'mail'), pki, mailboxes: [{ address: BAL, password: 'bal-app-secret' }, { address: MT }, { address: PHO }] });
    dpi = await startDpiEndpoint();
    const retry = { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 20, circuit: { failureThreshold: 1000, openMs: 1000 } };
    config = configFrom({
      port: 0,
      dataDir: path.join(dir, 'gateway'),
      log: { level: 'silent' },
      mssante: {
        address: BAL,
        nil: 'PASSERELLE-FLOW',
        tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
        smtp: { host: mail.smtp.host, port: mail.smtp.port, security: 'implicit', timeoutMs: 5000 },
      },
      outbox: {
        pollMs: 50,
        destinations: {
          dmp: { kind: 'dmp', url: dmp.iti41Url, tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca }, ...retry },
          mssante: { kind: 'mssante', ...retry },
        },
        routes: [{ on: 'ppp.stored', destination: 'dmp' }],
        subscriptions: { endpoints: [`${dpi.url}/notify/`], reloadMs: 200, baseDelayMs: 50, maxDelayMs: 200 },
      },
    });
    await mkdir(config.dataDir, { recursive: true });
    store = dialect === 'sqlite' ? await openSqliteStore({ file: config.database }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
    gateway = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes, mountPathwayRoutes], pages: [mountPages] });
    // Links must open on this gateway: its URL is the base URL of the links.
    config.baseUrl = gateway.url;
    dispatcher = startDispatcher(store, config.outbox, {
      documents: { settings: loadDocumentSettings(), sourceId: `${config.documents.oidRoot}.0` },
      mssante: { config: config.mssante as NonNullable<Config['mssante']> },
    });
    scheduler = startPathwayScheduler({ store, config, logger: pino({ level: 'silent' }), poll: false, workerId: `flow-${dialect}` });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await scheduler?.stop();
    await dispatcher?.stop(100);
    await gateway?.close();
    await dpi?.close();
    await mail?.close();
    await dmp?.close();
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(schema);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const inbox = (address: string): Promise<MailboxMessage[]> => readMailbox(mail, address, { tls: { key: pki.pem.orgKey, cert: pki.pem.org } });
  /** The URLs of the latest mail of a mailbox, once it holds `count` mails. */
  const linkInMail = async (address: string, count: number): Promise<string> => {
    await waitFor(async () => (await inbox(address)).length >= count, 30_000, `mail ${count} in ${address}`);
    const box = await inbox(address);
    const parsed = await simpleParser(box[count - 1]!.raw);
    const urls = (parsed.text ?? '').match(/https?:\/\/\S+/g) ?? [];
    expect(urls).toHaveLength(1);
    return urls[0]!;
  };
  const fhir = async <T>(pathname: string): Promise<T> => {
    const res = await fetch(`${gateway.url}/fhir/${pathname}`);
    expect(res.status, pathname).toBe(200);
    return (await res.json()) as T;
  };
  const readCarePlan = () => fhir<CarePlan>(`CarePlan/${carePlan}`);
  const dmpDocuments = () => dmp.documents().filter((d) => d.content.toString('utf8').includes('<ClinicalDocument'));
  const form = async (url: string, fields: [string, string][]): Promise<Response> => {
    const body = new FormData();
    for (const [k, v] of fields) body.append(k, v);
    return fetch(url, { method: 'POST', body, redirect: 'manual' });
  };
  const csrfOf = (page: string): string => /name="_csrf" value="([^"]+)"/.exec(page)![1]!;

  let carePlan: string;
  let sentAt: Date;
  let sendAnswer: { links: { role: string; url: string }[]; deliveries: { role: string; state: string }[] };

  it('inclusion: the PPP of a qualified patient is stored with its criteria evaluated; v1 goes to the DMP', async () => {
    const sub = await fetch(`${gateway.url}/fhir/Subscription`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Décisions du MT et du PHO',
        criteria: `Task?code=${CS.taskType}|reco-validation&status=completed`,
        channel: { type: 'rest-hook', endpoint: `${dpi.url}/notify/dpi`, payload: 'application/fhir+json' },
      }),
    });
    expect(sub.status, await sub.clone().text()).toBe(201);

    const res = await fetch(`${gateway.url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(demoPpp()) });
    expect(res.status).toBe(200);
    const plan = ((await res.json()) as Bundle).entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;
    carePlan = plan.id as string;
    const inclusion = plan.extension?.find((e) => e.url === EXT.inclusion)?.extension ?? [];
    expect(inclusion.find((e) => e.url === 'eligible')?.valueBoolean).toBe(true);
    expect(inclusion.find((e) => e.url === 'billableDah')?.valueBoolean).toBe(true);
    await waitFor(async () => dmpDocuments().length === 1, 30_000, 'v1 at the DMP');
  }, 60_000);

  it('send: the MT and the PHO get their link by MSSanté, the same as the API answer', async () => {
    sentAt = new Date();
    const res = await fetch(`${gateway.url}/ppp/${carePlan}/send`, { method: 'POST' });
    expect(res.status).toBe(200);
    sendAnswer = (await res.json()) as typeof sendAnswer;
    expect(sendAnswer.deliveries.map((d) => [d.role, d.state])).toEqual([
      ['MT', 'queued'],
      ['PHO', 'queued'],
    ]);
    expect(await linkInMail(MT, 1)).toBe(sendAnswer.links.find((l) => l.role === 'MT')!.url);
    expect(await linkInMail(PHO, 1)).toBe(sendAnswer.links.find((l) => l.role === 'PHO')!.url);
    expect(pathwayStatusOf(await readCarePlan())?.step).toBe('attente-decisions');
  }, 60_000);

  it('decisions: the MT decides in Chromium with the keyboard only, the PHO over HTTP; FHIR shows them, the DPI is told', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(await linkInMail(MT, 1));
    expect(await page.title()).toContain('Décisions sur le PPP');
    if (dialect === 'sqlite') await screenshot(page, 'pathway-flow-mt-decision-page');
    const groups = await page.$$eval('fieldset input[type=radio][value=retenu]', (els) => els.map((e) => (e as HTMLInputElement).id));
    expect(groups.length).toBeGreaterThan(0);
    for (const id of groups) {
      // Tab into each group, Space on its first choice ("Retenu").
      await tabUntil(page, id, `document.activeElement && document.activeElement.name === document.getElementById(${JSON.stringify(id)}).name`);
      for (let i = 0; i < 4 && !(await page.evaluate(`document.activeElement.id === ${JSON.stringify(id)}`)); i++) await page.keyboard.press('ArrowUp');
      await page.keyboard.press('Space');
      expect(await page.isChecked(`#${id}`)).toBe(true);
    }
    await tabUntil(page, 'the send button', `document.activeElement && document.activeElement.id === 'envoyer'`);
    await enter(page);
    expect(await page.textContent('h1')).toContain('Récapitulatif');
    await tabUntil(page, 'the confirm button', `document.activeElement && document.activeElement.id === 'confirmer'`);
    await enter(page);
    expect(await page.textContent('h1')).toContain('Vos décisions sont enregistrées');
    await page.close();

    // The PHO, through the same page over HTTP: the form, the summary, the confirmation.
    const phoUrl = await linkInMail(PHO, 1);
    const first = await (await fetch(phoUrl)).text();
    const recos = [...new Set([...first.matchAll(/name="decision:([^"]+)"/g)].map((m) => m[1]!))];
    const choices = recos.flatMap((r) => [[`decision:${r}`, 'retenu'], [`commentaire:${r}`, '']] as [string, string][]);
    const post = (fields: [string, string][]) => fetch(phoUrl, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    const token = (html: string) => /name="jeton" value="([^"]+)"/.exec(html)![1]!;
    const summary = await post([['jeton', token(first)], ...choices, ['etape', 'resume']]);
    expect(summary.status).toBe(200);
    const confirmed = await post([['jeton', token(await summary.text())], ...choices, ['etape', 'confirmer']]);
    expect(confirmed.status).toBe(303);

    const tasks = await fhir<Bundle<Task>>(`Task?based-on=CarePlan/${carePlan}&code=${encodeURIComponent(`${CS.taskType}|reco-validation`)}&status=completed`);
    expect(tasks.entry?.length).toBe(recos.length * 2);
    for (const e of tasks.entry ?? []) expect(e.resource?.businessStatus?.coding?.[0]?.code).toBe('retenu');
    const notified = async () => new Set(dpi.received.filter((n) => n.method === 'PUT' && n.url.startsWith('/notify/dpi/Task/')).map((n) => n.url)).size;
    await waitFor(async () => (await notified()) === recos.length * 2, 30_000, 'the DPI told of every decision');
    const one = dpi.received.find((n) => n.url.startsWith('/notify/dpi/Task/'))!;
    expect((JSON.parse(one.body) as Task).status).toBe('completed');
  }, 120_000);

  it('the document follows the decisions: regenerated by the scheduler, v2 replaces v1 at the DMP', async () => {
    expect((await scheduler.runDue(new Date())).ran).toBeGreaterThanOrEqual(1);
    await waitFor(async () => dmpDocuments().length === 2, 30_000, 'v2 at the DMP');
    const [v1, v2] = dmpDocuments();
    expect(v2!.replaces).toBe(v1!.entryUuid);
    expect(v1!.status).toMatch(/Deprecated/);
    expect(v2!.content.toString('utf8')).toMatch(/<relatedDocument typeCode="RPLC">/);
    expect(pathwayStatusOf(await readCarePlan())?.step).toBe('suivi-j45');
  }, 60_000);

  it('D45: the PHO is asked for the prescription by mail, types it; the proposals are computed; the case manager records the outcomes', async () => {
    await scheduler.runDue(new Date(sentAt.getTime() + 45 * DAY + 60_000));
    const url = await linkInMail(PHO, 2);
    expect(url).not.toBe(sendAnswer.links.find((l) => l.role === 'PHO')!.url);
    const page = await (await fetch(url)).text();
    expect(page).toContain('J45');
    const answered = await form(url, [
      ['_csrf', csrfOf(page)],
      ['reponse', 'lignes'],
      ['medicament-1', 'ARICEPT 10 mg'],
      ['posologie-1', '1 comprimé le soir'],
    ]);
    expect([200, 303]).toContain(answered.status);
    const proposals = followupOutcomesOf(await readCarePlan()).filter((f) => f.window === 'd45');
    expect(proposals.length).toBeGreaterThan(0);
    expect(proposals.every((p) => p.proposed !== undefined)).toBe(true);

    const outcomes = proposals.map((p) => ({ recommendation: p.recommendation, outcome: p.proposed === 'inconnue' ? 'implementee' : p.proposed }));
    const recorded = await fetch(`${gateway.url}/pathway/${carePlan}/outcomes`, { method: 'POST', headers: json, body: JSON.stringify({ window: 'd45', outcomes }) });
    expect(recorded.status, await recorded.clone().text()).toBe(200);
    expect(pathwayStatusOf(await readCarePlan())?.step).toBe('suivi-j90');
  }, 60_000);

  it('D90: the PHO answers "no change", the outcomes are recorded, the pathway is closed and its links revoked', async () => {
    await scheduler.runDue(new Date(sentAt.getTime() + 90 * DAY + 60_000));
    const url = await linkInMail(PHO, 3);
    const page = await (await fetch(url)).text();
    expect(page).toContain('J90');
    const answered = await form(url, [
      ['_csrf', csrfOf(page)],
      ['reponse', 'aucun-changement'],
    ]);
    expect([200, 303]).toContain(answered.status);
    const d90 = followupOutcomesOf(await readCarePlan()).filter((f) => f.window === 'd90');
    const outcomes = d90.map((p) => ({ recommendation: p.recommendation, outcome: p.proposed ?? 'inconnue' }));
    expect(outcomes.length).toBeGreaterThan(0);
    const recorded = await fetch(`${gateway.url}/pathway/${carePlan}/outcomes`, { method: 'POST', headers: json, body: JSON.stringify({ window: 'd90', outcomes }) });
    expect(recorded.status, await recorded.clone().text()).toBe(200);
    expect(pathwayStatusOf(await readCarePlan())?.step).toBe('clos');
    expect((await store.pathway.getCase(carePlan))?.closedAt).toBeDefined();
    expect(await store.links.live(carePlan, new Date().toISOString())).toEqual([]);
    // A link of the closed pathway opens the one 404 page.
    expect((await fetch(url)).status).toBe(404);
  }, 60_000);
}

describe.skipIf(!haveDovecot || !haveBrowser)('the whole pathway end to end: SQLite', () => pathwayFlow('sqlite'));

const pgDown = await pgUnreachable();
describe.skipIf(!haveDovecot || !haveBrowser || (pgDown !== undefined && process.env.CI !== 'true'))('the whole pathway end to end: PostgreSQL', () => pathwayFlow('postgresql'));
