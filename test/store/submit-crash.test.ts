// Issue 22's safety net for the write path of POST /ppp: a real gateway process (`passerelle serve`) takes a burst of
// distinct PPPs (55 resources and a new patient each) at concurrency 8 and is killed with SIGKILL mid-burst, twice.
// Started a third time, the store must hold every answered submission whole, at the versions its answer gave, and each
// unanswered one entirely (committed, the answer lost) or not at all — whatever the (seeded) moment of the kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { distinctPpps } from '../../bench/support/ppp-stream.js';
import { mapDocument } from '../../src/fhir/bundle.js';
import { verifyAuditChain } from '../../src/services/audit/verify.js';
import { parseSubmission } from '../../src/services/submission.js';
import { openStore } from '../../src/store/open.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { waitFor } from '../outbox/receiver.js';
import { freePort } from '../support/crash-harness.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { seededRandom } from '../support/random.js';
import { available } from '../support/shared.js';

const CONCURRENCY = 8;
const KILLS = 2;

const unreachable = await pgUnreachable();
const withPg = available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the POST /ppp crash test on PostgreSQL');

const dirs: string[] = [];
const databases: string[] = [];
// Gateways still running when a test fails midway (a timeout), stopped before their folders go.
const running = new Set<Gateway>();
afterAll(async () => {
  for (const g of running) g.child.kill('SIGKILL');
  await Promise.all([...running].map((g) => g.exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (databases.length === 0) return;
  const admin = new pg.Client({ connectionString: PG_TEST_URL });
  await admin.connect();
  for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
});

interface Gateway {
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** `passerelle serve` on a free port over `dir/data` (or `databaseUrl`), once it answers GET /readyz. */
async function startGateway(dir: string, databaseUrl?: string): Promise<Gateway> {
  const port = await freePort();
  const config = join(dir, 'passerelle.json');
  writeFileSync(config, JSON.stringify({ port, dataDir: join(dir, 'data'), log: { level: 'warn' }, ...(databaseUrl ? { databaseUrl } : {}) }));
  const child = spawn(process.execPath, ['--max-semi-space-size=64', 'bin/passerelle.js', 'serve', '-c', config, '--no-scheduler'], {
    // The configuration file alone decides (the environment of the test run must not point the gateway elsewhere).
    env: { ...process.env, PORT: String(port), PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', DATABASE_URL: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (b: Buffer) => process.stderr.write(`[gateway ${port}] ${b.toString()}`));
  const url = `http://127.0.0.1:${port}`;
  const gateway: Gateway = { url, child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
  running.add(gateway);
  void gateway.exited.then(() => running.delete(gateway));
  await waitFor(async () => child.exitCode !== null || (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)), 30_000, `gateway on port ${port} ready`);
  if (child.exitCode !== null) throw new Error(`gateway on port ${port} exited with ${child.exitCode}`);
  return gateway;
}

/** What the client learnt of one submission: a 200/201 and its Bundle, another answer, or no answer at all. */
type Outcome = { kind: 'answered'; bundle: Bundle } | { kind: 'refused'; status: number; body: string } | { kind: 'lost'; error: string };

interface Submission {
  /** The PPP as posted (JSON text). */
  body: string;
  outcome: Outcome;
}

function post(url: string, agent: Agent, body: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const lost = (err: Error): void => resolve({ kind: 'lost', error: err.message });
    const req = request(`${url}/ppp`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', lost);
      // A body cut short by the kill is no answer: 'end' never comes, the socket's error does.
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        resolve(status === 200 || status === 201 ? { kind: 'answered', bundle: JSON.parse(text) as Bundle } : { kind: 'refused', status, body: text.slice(0, 500) });
      });
    });
    req.once('error', lost);
    req.end(body);
  });
}

/**
 * Posts the next PPPs of `bodies` at concurrency 8 until the gateway is killed: `killAfterMs` after its eighth answer
 * (the first requests of a fresh process wait for its warm-up, which a loaded machine stretches to seconds), so a few
 * dozen are answered and eight are in flight when SIGKILL comes.
 */
async function burstThenKill(gateway: Gateway, bodies: Generator<string>, killAfterMs: number): Promise<Submission[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const submissions: Submission[] = [];
  let killed = false;
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (!killed) {
      const body = bodies.next().value;
      submissions.push({ body, outcome: await post(gateway.url, agent, body) });
    }
  });
  await waitFor(() => submissions.filter((s) => s.outcome.kind === 'answered').length >= CONCURRENCY, 60_000, `${CONCURRENCY} answers`);
  await new Promise((r) => setTimeout(r, killAfterMs));
  killed = true;
  gateway.child.kill('SIGKILL');
  await gateway.exited;
  await Promise.all(workers);
  agent.destroy();
  return submissions;
}

/** `PRAGMA integrity_check` of the SQLite file as the kill left it (its WAL included). */
function sqliteIntegrity(file: string): string {
  const db = new Database(file);
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** The resources a PPP maps to (ids are deterministic: src/fhir/ids.ts), its CarePlan and its patient's identifiers. */
interface Expected {
  /** `Type/id` of each of the 55 resources. */
  resources: string[];
  carePlan: string;
  sourcePatient: string;
  source: { system: string; value: string };
}

function expectedOf(body: string): Expected {
  const doc = parseSubmission('ppp', JSON.parse(body));
  const mapped = (mapDocument('ppp', doc, { now: new Date().toISOString() }).entry ?? []).map((e) => e.resource!);
  const idOf = (type: string): string => mapped.find((r) => r.resourceType === type)!.id!;
  return {
    resources: mapped.map((r) => `${r.resourceType}/${r.id}`),
    carePlan: idOf('CarePlan'),
    sourcePatient: idOf('Patient'),
    source: { system: doc.patient.sourceId.system, value: doc.patient.sourceId.value },
  };
}

const count = async (store: ResourceStore, resourceType: string): Promise<number> =>
  (await store.search({ resourceType, predicates: [], count: 0, offset: 0, total: true })).total ?? NaN;

/**
 * What the store holds of each submission, and the problems: an answered one not whole or not at its answer's
 * versions, a refused or unanswered one neither whole nor absent, and anything stored beyond the whole submissions.
 */
async function inspect(store: ResourceStore, submissions: readonly Submission[]): Promise<{ whole: number; lostButStored: number; lostAndAbsent: number; problems: string[] }> {
  const expected = submissions.map((s) => expectedOf(s.body));
  // Practitioners, their roles and organisations are named by every PPP: they are not any one submission's own.
  const seen = new Map<string, number>();
  for (const e of expected) for (const r of e.resources) seen.set(r, (seen.get(r) ?? 0) + 1);
  const shared = new Set([...seen].filter(([, n]) => n > 1).map(([r]) => r));
  const withoutReport = new Set(await store.reports.caseIds(undefined, 100_000, { withoutRows: true }));
  const problems: string[] = [];
  // Every PPP of the stream has the same shape: so many resources of each type of its own.
  const ownTypes = new Map<string, number>();
  for (const r of expected[0].resources.filter((x) => !shared.has(x))) {
    const type = r.split('/')[0];
    ownTypes.set(type, (ownTypes.get(type) ?? 0) + 1);
  }
  let whole = 0;
  let lostButStored = 0;
  let lostAndAbsent = 0;
  for (const [i, s] of submissions.entries()) {
    const e = expected[i];
    const own = e.resources.filter((r) => !shared.has(r));
    let present = 0;
    for (const r of own) {
      const [type, id] = r.split('/');
      if (await store.read(type, id)) present++;
    }
    const caseRow = await store.pathway.getCase(e.carePlan);
    const audits = (await store.auditLog({ entity: `CarePlan/${e.carePlan}`, limit: 10 })).filter((a) => a.action === 'ppp.submit');
    const registration = await store.identities.getSource(e.source.system, e.source.value);
    const patient = await store.read<Patient>('Patient', e.sourcePatient);
    const federatedRef = patient?.link?.find((l) => l.other.reference?.startsWith('Patient/'))?.other.reference;
    const federated = federatedRef ? await store.read<Patient>('Patient', federatedRef.slice('Patient/'.length)) : undefined;
    const state = `${present}/${own.length} own resources, case row ${caseRow ? 'yes' : 'no'}, report row ${caseRow && !withoutReport.has(e.carePlan) ? 'yes' : 'no'}, ${audits.length} audit rows, registration ${registration ? 'yes' : 'no'}, federated Patient ${federated ? 'yes' : 'no'}`;
    const isWhole =
      present === own.length &&
      caseRow?.pppId === (JSON.parse(s.body) as { id: string }).id &&
      !withoutReport.has(e.carePlan) &&
      audits.length === 1 &&
      registration !== undefined &&
      federated !== undefined &&
      registration.federatedId === federated.id;
    const isAbsent = present === 0 && caseRow === undefined && audits.length === 0 && registration === undefined;
    if (isWhole) whole++;
    const label = `submission ${i} (${s.outcome.kind === 'refused' ? `answered ${s.outcome.status}` : s.outcome.kind}, CarePlan/${e.carePlan})`;
    if (s.outcome.kind === 'answered') {
      if (!isWhole) problems.push(`${label}: answered but not whole: ${state}`);
      const entries = s.outcome.bundle.entry ?? [];
      const answeredRefs = entries.map((x) => `${x.resource?.resourceType}/${x.resource?.id}`).sort();
      if (!isDeepStrictEqual(answeredRefs, [...e.resources].sort())) problems.push(`${label}: its answer does not list the PPP's ${e.resources.length} resources`);
      for (const entry of entries) {
        const location = entry.response?.location ?? '';
        const [type, id, , version] = location.split('/');
        const stored = await store.vread(type, id, version);
        if (!stored || stored.deleted) problems.push(`${label}: ${location} of its answer is not stored`);
        else if (!isDeepStrictEqual(stored.resource, entry.resource)) problems.push(`${label}: ${location} stored differs from its answer`);
      }
    } else {
      if (s.outcome.kind === 'refused') problems.push(`${label}: refused: ${s.outcome.body}`);
      if (isWhole) lostButStored++;
      else if (isAbsent) lostAndAbsent++;
      else problems.push(`${label}: half-written: ${state}`);
    }
  }
  // Nothing stored beyond the whole submissions: no stray resource of a half-written one, no extra row.
  for (const [type, perPpp] of ownTypes) {
    // A new patient each time: its source Patient and its federated Patient.
    const want = whole * (type === 'Patient' ? perPpp + 1 : perPpp);
    const have = await count(store, type);
    if (have !== want) problems.push(`${type}: ${have} stored, ${want} expected of ${whole} whole submissions`);
  }
  const cases = (await store.reports.caseIds(undefined, 100_000)).length;
  if (cases !== whole) problems.push(`${cases} case rows, ${whole} whole submissions`);
  if (withoutReport.size > 0) problems.push(`${withoutReport.size} case rows without their report_ppp row`);
  const sources = await store.identities.countSources();
  if (sources !== whole) problems.push(`${sources} registered source identities, ${whole} whole submissions`);
  const submits = (await store.auditLog({ limit: 100_000 })).filter((a) => a.action === 'ppp.submit').length;
  if (submits !== whole) problems.push(`${submits} ppp.submit audit rows, ${whole} whole submissions`);
  const chain = await verifyAuditChain(store);
  if (chain.broken) problems.push(`audit chain broken at row ${JSON.stringify(chain.broken)}`);
  return { whole, lostButStored, lostAndAbsent, problems };
}

async function crashSubmissions(dialect: string, seed: number, databaseUrl?: string): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-submit-crash-'));
  dirs.push(dir);
  const file = join(dir, 'data', 'passerelle.sqlite');
  const rnd = seededRandom(seed);
  const bodies = distinctPpps(`crash-${seed}`);
  const submissions: Submission[] = [];
  let startingMs = 0;
  const start = async (): Promise<Gateway> => {
    const t0 = performance.now();
    const g = await startGateway(dir, databaseUrl);
    startingMs += performance.now() - t0;
    return g;
  };
  for (let k = 0; k < KILLS; k++) {
    const gateway = await start();
    const burst = await burstThenKill(gateway, bodies, 500 + Math.floor(rnd() * 1500));
    submissions.push(...burst);
    const answered = burst.filter((s) => s.outcome.kind === 'answered').length;
    console.log(`[submit-crash ${dialect}] kill ${k + 1}: ${burst.length} posted, ${answered} answered`);
    // Eight requests were in flight: the kill came during the burst, not after it.
    expect(burst.length - answered).toBeGreaterThan(0);
    if (!databaseUrl) expect(sqliteIntegrity(file)).toBe('ok');
  }

  // Started on the data the kills left, the gateway answers again (and stores one more PPP).
  const gateway = await start();
  const body = bodies.next().value;
  const last: Submission = { body, outcome: await post(gateway.url, new Agent(), body) };
  gateway.child.kill('SIGTERM');
  await gateway.exited;
  expect(last.outcome.kind).toBe('answered');
  submissions.push(last);

  const store = await openStore({ file, ...(databaseUrl ? { databaseUrl } : {}) });
  try {
    const r = await inspect(store, submissions);
    const answered = submissions.filter((s) => s.outcome.kind === 'answered').length;
    console.log(
      `[submit-crash ${dialect}] ${submissions.length} posted, ${answered} answered (all whole: ${r.problems.length === 0}), ` +
        `${r.lostButStored} unanswered but stored whole, ${r.lostAndAbsent} unanswered and absent; ${((performance.now() - started) / 1000).toFixed(1)} s ` +
        `(${(startingMs / 1000).toFixed(1)} s of it starting gateways)`,
    );
    expect(r.problems).toEqual([]);
    expect(r.whole).toBe(answered + r.lostButStored);
  } finally {
    await store.close();
  }
}

describe('POST /ppp: the gateway killed mid-burst keeps every submission whole or absent', () => {
  it('SQLite', async () => {
    await crashSubmissions('SQLite', 22);
  }, 120_000);

  it.skipIf(!withPg)('PostgreSQL', async () => {
    const db = `passerelle_submit_crash_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_TEST_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    databases.push(db);
    const u = new URL(PG_TEST_URL);
    u.pathname = `/${db}`;
    await crashSubmissions('PostgreSQL', 23, u.toString());
  }, 120_000);
});
