// The crash run of issue 13, shared by the CI suite (test/outbox/crash-documents.test.ts, short) and the benchmark
// (bench/crash.bench.ts, longer): real gateway processes (`passerelle serve`) take PPPs over HTTP and deliver each to
// two destinations — the local DMP peer (ITI-41 over mutual TLS) and a webhook — while they are killed with SIGKILL
// at random moments and started again. At the end every message must be delivered, except the DMP message of a
// poison document (its build blows the time limit), which must be dead with its reason; nothing else dead; the
// webhook may see a key twice (at-least-once), the DMP never holds two documents for one uniqueId nor refuses a
// re-send as a different document; every document the DMP accepted is stored as a DocumentReference saying so, whose
// CDA Binary is the very bytes the DMP holds.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Binary, DocumentReference } from '@medplum/fhirtypes';
import { deliveryOf, documentReferenceId } from '../../src/fhir/document-reference.js';
import type { DmpPeer } from '../../src/sandbox/dmp/server.js';
import { startTestPeer } from '../sandbox/dmp-support.js';
import { seededRandom } from './random.js';
import { generateTestPki } from '../../src/sandbox/pki.js';
import { openStore } from '../../src/store/open.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { startReceiver, waitFor, type Receiver } from '../outbox/receiver.js';

export interface CrashRunOptions {
  /** A fresh working folder (data, certificates, configuration). */
  dir: string;
  /** PostgreSQL URL of a fresh database; absent: the SQLite file in `dir`. */
  databaseUrl?: string;
  /** Gateway processes delivering at once (they share the store). */
  processes: number;
  /** PPPs posted, poison ones included. */
  documents: number;
  /** Of which poison (their PDF takes far longer than the time limit). */
  poison: number;
  /** SIGKILLs, each at a random moment during delivery, each followed by a restart. */
  kills: number;
  /** Seed of the random moments and victims. */
  seed?: number;
  /** Most time for every message to settle once the kills are done. */
  settleMs?: number;
  log?: (line: string) => void;
}

export interface CrashRunResult {
  documents: number;
  poison: number;
  processes: number;
  kills: number;
  /** Outbox messages (two per document version: DMP and webhook; a post re-sent after a kill may add a version). */
  messages: number;
  /** Document versions stored (at least `documents`). */
  versions: number;
  delivered: number;
  dead: number;
  /** Dead messages that are not the DMP message of a poison document. */
  falseDead: OutboxMessage[];
  /** DMP messages of poison documents (one per version posted). */
  poisonMessages: number;
  /** Poison DMP messages not dead with a build-limit or did-not-finish reason. */
  poisonNotQuarantined: OutboxMessage[];
  /** Messages neither delivered nor dead at the end. */
  unsettled: OutboxMessage[];
  /** Webhook requests beyond the first per key (allowed: at-least-once). */
  webhookDuplicates: number;
  /** Delivered webhook messages whose key the receiver never saw. */
  webhookMissing: number;
  /** Clinical documents the DMP holds, DMP messages delivered, and delivered DMP messages it does not hold. */
  dmpDocuments: number;
  dmpDelivered: number;
  dmpMissing: number;
  /** uniqueIds the DMP holds more than once (must be 0). */
  dmpDuplicates: number;
  /**
   * DMP messages whose document resources disagree with the outcome: delivered without a DocumentReference saying
   * `accepted` with the CDA the DMP holds, or dead with one saying `accepted`.
   */
  documentsMisrecorded: string[];
  seconds: number;
}

/** A port free on 127.0.0.1 right now (the gateway is given it in its configuration). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const FIXTURES = ['hospital-sync-rcp', 'ppp-12-medicines', 'consultation-born-abroad'];
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/ppp/${name}.json`, 'utf8')) as Record<string, unknown>;

/** The i-th document: a distinct PPP of one of three qualified patients; a poison one carries ~0.9 MB of words in
 * each of (up to) three problems — seconds of rendering per problem, far past the time limit. */
function documentOf(i: number, poison: boolean): Record<string, unknown> {
  const doc = fixture(FIXTURES[i % FIXTURES.length]);
  const id = `CRASH-${String(i).padStart(4, '0')}${poison ? '-POISON' : ''}`;
  if (!poison) return { ...doc, id };
  const detail = Array.from({ length: 100_000 }, (_, n) => `mot${n}`).join(' ');
  return { ...doc, id, problems: (doc.problems as Record<string, unknown>[]).map((p, n) => (n < 3 ? { ...p, detail } : p)) };
}

interface Gateway {
  port: number;
  child?: ChildProcess;
  exited?: Promise<void>;
}

export async function crashRun(o: CrashRunOptions): Promise<CrashRunResult> {
  const log = o.log ?? (() => undefined);
  const rnd = seededRandom(o.seed ?? 13);
  const started = performance.now();
  const pki = await generateTestPki({ dir: path.join(o.dir, 'certs') });
  const peer: DmpPeer = await startTestPeer(pki, {
    dataFile: path.join(o.dir, 'peer.sqlite'),
    repositoryUniqueId: '1.2.250.1.999.42.9.7',
    requireSubmissionSignature: true,
  });
  const hook: Receiver = await startReceiver();
  const config = path.join(o.dir, 'passerelle.yaml');
  writeFileSync(
    config,
    [
      'port: 0',
      `dataDir: ${path.join(o.dir, 'data')}`,
      ...(o.databaseUrl ? [`databaseUrl: "${o.databaseUrl}"`] : []),
      'log: { level: warn }',
      'outbox:',
      // Short, so a killed process's messages come back quickly; a live process renews its leases (heartbeat).
      '  leaseMs: 4000',
      '  pollMs: 20',
      '  maxInterruptedAttempts: 6',
      '  rendering: { timeoutMs: 5000, maxMemoryMb: 384 }',
      '  destinations:',
      `    dmp: { kind: dmp, url: "${peer.iti41Url}", tls: { pkcs12: "${pki.files.orgP12}", passphrase: "${pki.passphrase}", ca: "${pki.files.ca}" }, concurrency: 2, baseDelayMs: 100, maxDelayMs: 1000, maxAttempts: 30, circuit: { failureThreshold: 1000, openMs: 1000 } }`,
      `    hook: { kind: http, url: "${hook.url}", baseDelayMs: 100, maxDelayMs: 1000, maxAttempts: 30 }`,
      '  routes:',
      '    - { on: ppp.stored, destination: dmp }',
      '    - { on: ppp.stored, destination: hook }',
      '',
    ].join('\n'),
  );

  const gateways: Gateway[] = [];
  for (let i = 0; i < o.processes; i++) gateways.push({ port: await freePort() });
  const start = async (g: Gateway): Promise<void> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', config], {
      env: { ...process.env, PORT: String(g.port), PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', DATABASE_URL: '', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (b: Buffer) => log(`[gateway ${g.port}] ${b.toString().trimEnd()}`));
    g.child = child;
    g.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${g.port}/healthz`).then((r) => r.ok).catch(() => false)) || child.exitCode !== null,
      60_000,
      `gateway on port ${g.port}`,
    );
    if (child.exitCode !== null) throw new Error(`gateway on port ${g.port} exited with ${child.exitCode}`);
  };

  let store: ResourceStore | undefined;
  try {
    await Promise.all(gateways.map(start));
    store = await openStore({ ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}), file: path.join(o.dir, 'data', 'passerelle.sqlite') });
    const s = store;
    const all = async (): Promise<OutboxMessage[]> => (await s.outbox.list({ limit: 100_000, offset: 0 })).items;

    // Documents posted round-robin while the kills go on; a post that meets a dead process is sent again to the next
    // one. (If the first one had committed, the second is a new version of the same PPP: its own DMP document, which
    // replaces the first — both are counted.)
    const poisonAt = new Set(Array.from({ length: o.poison }, (_, k) => Math.floor(((k + 0.5) * o.documents) / Math.max(1, o.poison))));
    let reposts = 0;
    const posting = (async () => {
      for (let i = 0; i < o.documents; i++) {
        const body = JSON.stringify(documentOf(i, poisonAt.has(i)));
        const giveUp = Date.now() + 90_000; // a restart under tsx takes seconds
        for (let attempt = 0; ; attempt++) {
          const g = gateways[(i + attempt) % gateways.length];
          const res = await fetch(`http://127.0.0.1:${g.port}/ppp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch((err: unknown) => err as Error);
          // The process may also die while it sends the answer's body.
          const text = res instanceof Error ? res : await res.text().catch((err: unknown) => err as Error);
          if (res instanceof Error || text instanceof Error) {
            if (Date.now() > giveUp) throw new Error(`POST /ppp ${i}: ${(text as Error).message}`);
            reposts++;
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          if (res.status !== 200) throw new Error(`POST /ppp ${i}: ${res.status} ${text.slice(0, 300)}`);
          break;
        }
      }
      log(`${o.documents} documents posted in ${Math.round(performance.now() - started)} ms (${reposts} re-sent after a kill)`);
    })();
    posting.catch(() => undefined); // awaited below, after the kills

    // Kills at random moments while documents arrive and deliveries go on: a random process each time, restarted at
    // once. Each kill waits until something settled since the previous restart: a gateway that is killed before it
    // can finish anything is an outage, not a crash test (and would rightly quarantine what it keeps dying on).
    const settledCount = async (): Promise<number> => (await all()).filter((m) => m.state === 'delivered' || m.state === 'dead').length;
    let settledAtRestart = 0;
    for (let k = 0; k < o.kills; k++) {
      await new Promise((r) => setTimeout(r, 300 + Math.floor(rnd() * 2500)));
      const until = Date.now() + 60_000;
      while ((await settledCount()) <= settledAtRestart && Date.now() < until && (await all()).some((m) => m.state !== 'delivered' && m.state !== 'dead')) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const g = gateways[Math.floor(rnd() * gateways.length)];
      g.child?.kill('SIGKILL');
      await g.exited;
      const settled = await settledCount();
      log(`kill ${k + 1}/${o.kills}: port ${g.port}, ${settled} messages settled so far`);
      await start(g);
      settledAtRestart = await settledCount();
    }
    await posting;

    await waitFor(
      async () => (await all()).every((m) => m.state === 'delivered' || m.state === 'dead'),
      o.settleMs ?? 180_000,
      'every message delivered or dead',
    );
    const messages = await all();
    const poisonIds = new Set([...poisonAt].map((i) => `CRASH-${String(i).padStart(4, '0')}-POISON`));
    const isPoison = (m: OutboxMessage): boolean => poisonIds.has(String((m.payload as { document?: { id?: string } }).document?.id ?? ''));
    const dead = messages.filter((m) => m.state === 'dead');
    const clinical = peer.documents().filter((d) => d.content.toString('utf8').includes('<ClinicalDocument'));
    const held = new Map<string, number>();
    for (const d of clinical) held.set(d.uniqueId, (held.get(d.uniqueId) ?? 0) + 1);
    const dmpDelivered = messages.filter((m) => m.destination === 'dmp' && m.state === 'delivered');
    const documentsMisrecorded: string[] = [];
    const byUniqueId = new Map(clinical.map((d) => [d.uniqueId, d]));
    for (const m of messages.filter((x) => x.destination === 'dmp')) {
      const uniqueId = m.idempotencyKey.replace(/^urn:oid:/, '');
      const ref = await s.read<DocumentReference>('DocumentReference', documentReferenceId(uniqueId));
      const status = ref && deliveryOf(ref, 'dmp')?.status;
      if (m.state === 'dead') {
        if (status === 'accepted') documentsMisrecorded.push(`${uniqueId}: dead, recorded accepted`);
        continue;
      }
      const sent = ref && deliveryOf(ref, 'dmp')?.sent;
      const cda = sent ? await s.read<Binary>('Binary', sent.replace(/^Binary\//, '')) : undefined;
      const registered = byUniqueId.get(uniqueId);
      if (status !== 'accepted') documentsMisrecorded.push(`${uniqueId}: delivered, recorded ${status ?? 'nothing'}`);
      else if (!registered || !cda || !Buffer.from(cda.data ?? '', 'base64').equals(registered.content)) documentsMisrecorded.push(`${uniqueId}: its CDA Binary is not what the DMP holds`);
    }
    const hookDelivered = messages.filter((m) => m.destination === 'hook' && m.state === 'delivered');
    return {
      documents: o.documents,
      poison: o.poison,
      processes: o.processes,
      kills: o.kills,
      messages: messages.length,
      versions: messages.filter((m) => m.destination === 'hook').length,
      delivered: messages.filter((m) => m.state === 'delivered').length,
      dead: dead.length,
      falseDead: dead.filter((m) => !(m.destination === 'dmp' && isPoison(m))),
      poisonMessages: messages.filter((m) => m.destination === 'dmp' && isPoison(m)).length,
      poisonNotQuarantined: messages.filter(
        (m) => m.destination === 'dmp' && isPoison(m) && !(m.state === 'dead' && /document cannot be built|attempt did not finish/.test(m.lastError ?? '')),
      ),
      unsettled: messages.filter((m) => m.state !== 'delivered' && m.state !== 'dead'),
      webhookDuplicates: [...hook.hits.values()].reduce((n, h) => n + h - 1, 0),
      webhookMissing: hookDelivered.filter((m) => !hook.hits.has(m.idempotencyKey)).length,
      dmpDocuments: clinical.length,
      dmpDelivered: dmpDelivered.length,
      dmpMissing: dmpDelivered.filter((m) => !held.has(m.idempotencyKey.replace(/^urn:oid:/, ''))).length,
      dmpDuplicates: [...held.values()].filter((n) => n > 1).length,
      documentsMisrecorded,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const g of gateways) if (g.child && g.child.exitCode === null) g.child.kill('SIGKILL');
    await Promise.all(gateways.map((g) => g.exited));
    await store?.close();
    await hook.close();
    await peer.close();
  }
}
