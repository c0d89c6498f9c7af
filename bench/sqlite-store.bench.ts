// SQLite store on a real file: write throughput and search latency with 50k resources.
// Baselines in the same run: raw better-sqlite3 inserts of the same JSON (no versions, no index) for writes,
// and medplum evalFhirPath of the R4 expressions for index extraction.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { evalFhirPath } from '@medplum/core';
import type { CarePlan, MedicationRequest, Patient, Resource, Task } from '@medplum/fhirtypes';
import { extractIndexValues, parseSearchParams, searchParamsOf } from '../src/fhir/search-params.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { machine, peakRssMiB, timedLoop } from './stats.js';

const TOTAL = Number(process.env.BENCH_RESOURCES ?? 50_000);
const PER_PATIENT = 10; // 1 Patient + 1 CarePlan + 6 MedicationRequests + 2 Tasks, ~ one PPP
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

function pppOf(i: number): Resource[] {
  const pid = `pat-${i}`;
  const patient: Patient = {
    resourceType: 'Patient',
    id: pid,
    identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: `1${String(i).padStart(12, '0')}` }],
    birthDate: `19${40 + (i % 30)}-0${1 + (i % 9)}-1${i % 10}`,
    gender: i % 2 ? 'female' : 'male',
  };
  const carePlan: CarePlan = {
    resourceType: 'CarePlan',
    id: `ppp-${i}`,
    status: i % 5 === 0 ? 'completed' : 'active',
    intent: 'plan',
    subject: { reference: `Patient/${pid}` },
    identifier: [{ system: 'urn:oid:1.2.250.1.999.1', value: `PPP-${i}` }],
    category: [{ coding: [{ system: 'https://fhir.passerelle.fr/CodeSystem/careplan-category', code: 'ppp' }] }],
    period: { start: '2025-01-15' },
    activity: Array.from({ length: 6 }, (_, k) => ({ reference: { reference: `MedicationRequest/mr-${i}-${k}` } })),
  };
  const requests = Array.from(
    { length: 6 },
    (_, k): MedicationRequest => ({
      resourceType: 'MedicationRequest',
      id: `mr-${i}-${k}`,
      status: 'draft',
      intent: 'proposal',
      subject: { reference: `Patient/${pid}` },
      medicationCodeableConcept: { coding: [{ system: 'urn:oid:1.2.250.1.213.2.3.1', code: String(60000000 + k) }] },
      basedOn: [{ reference: `CarePlan/ppp-${i}` }],
      identifier: [{ system: 'urn:oid:1.2.250.1.999.2', value: `R-${i}-${k}` }],
    }),
  );
  const tasks = ['mt', 'pho'].map(
    (who): Task => ({
      resourceType: 'Task',
      id: `task-${i}-${who}`,
      status: 'requested',
      intent: 'order',
      for: { reference: `Patient/${pid}` },
      focus: { reference: `CarePlan/ppp-${i}` },
      code: { coding: [{ code: 'ppp-decision' }] },
    }),
  );
  return [patient, carePlan, ...requests, ...tasks];
}

const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-'));
try {
  console.log(`machine: ${machine()}`);
  const ppps = Math.ceil(TOTAL / PER_PATIENT);

  // --- writes ---------------------------------------------------------------------------------------------
  const store = await openSqliteStore({ file: join(dir, 'store.db') });
  let t0 = performance.now();
  for (let i = 0; i < ppps; i++) {
    const resources = pppOf(i);
    await store.transaction(async (tx) => {
      for (const r of resources) await tx.put(r);
      await tx.audit({ action: 'ppp.submit', actor: 'bench', entities: [`CarePlan/ppp-${i}`], outcome: 'success' });
    });
  }
  const storeSeconds = (performance.now() - t0) / 1000;

  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.exec('CREATE TABLE resources (type TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (type, id))');
  const insert = raw.prepare('INSERT OR REPLACE INTO resources (type, id, json) VALUES (?, ?, ?)');
  const rawTx = raw.transaction((resources: Resource[]) => {
    for (const r of resources) insert.run(r.resourceType, r.id, JSON.stringify(r));
  });
  t0 = performance.now();
  for (let i = 0; i < ppps; i++) rawTx(pppOf(i));
  const rawSeconds = (performance.now() - t0) / 1000;
  raw.close();

  const n = ppps * PER_PATIENT;
  console.log(`resources written: ${n} in ${ppps} transactions of ${PER_PATIENT} (+1 audit row each)`);
  console.log(`store put (versions + index + audit) : ${(n / storeSeconds).toFixed(0)} resources/s  (${((storeSeconds / ppps) * 1000).toFixed(3)} ms per PPP transaction)`);
  console.log(`baseline raw JSON insert             : ${(n / rawSeconds).toFixed(0)} resources/s  ratio ${(rawSeconds / storeSeconds).toFixed(2)}`);

  // Re-sending the same PPP: nothing changes, nothing is written.
  t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    const resources = pppOf(i);
    await store.transaction(async (tx) => {
      for (const r of resources) await tx.put(r);
    });
  }
  console.log(`unchanged re-send                    : ${((10_000 / (performance.now() - t0)) * 1000).toFixed(0)} resources/s`);

  // --- searches -------------------------------------------------------------------------------------------
  const cases: [string, string][] = [
    ['CarePlan', 'patient=Patient/pat-4242'],
    ['Patient', 'identifier=urn:oid:1.2.250.1.213.1.4.8|1000000004242'],
    ['MedicationRequest', 'identifier=R-4242-3'],
    ['MedicationRequest', 'subject=Patient/pat-4242&status=draft'],
    ['Task', 'patient=pat-4242&status=requested'],
    ['CarePlan', 'status=active'],
    ['CarePlan', 'status=active&_total=accurate'],
    ['CarePlan', 'status=completed&_count=100&_offset=500'],
    ['MedicationRequest', '_lastUpdated=ge2000-01-01&_count=50'],
    ['Patient', 'birthdate=1955&_total=accurate&_count=10'],
    ['CarePlan', '_id=ppp-1,ppp-2,ppp-3'],
  ];
  for (const [type, qs] of cases) {
    const query = parseSearchParams(type, new URLSearchParams(qs));
    const first = await store.search(query);
    // store.search is async only in name for SQLite; time the awaited call in a tight loop.
    const samples: number[] = [];
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) {
      const s = performance.now();
      await store.search(query);
      samples.push(performance.now() - s);
    }
    samples.sort((a, b) => a - b);
    const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))].toFixed(3);
    console.log(
      `search ${type}?${qs}`.padEnd(80) +
        ` ${String(first.resources.length).padStart(4)} hits${first.total !== undefined ? ` (total ${first.total})` : ''}  p50 ${pct(0.5)} ms  p99 ${pct(0.99)} ms`,
    );
  }
  await store.close();

  // --- index extraction -----------------------------------------------------------------------------------
  const sample = pppOf(7);
  const plain = timedLoop(() => {
    for (const r of sample) extractIndexValues(r);
  }, SECONDS);
  const fhirpath = timedLoop(() => {
    for (const r of sample) {
      for (const def of searchParamsOf(r.resourceType).values()) {
        if (!def.column) evalFhirPath(def.expression.replace(/^Resource\./, `${r.resourceType}.`), r);
      }
    }
  }, SECONDS);
  const perResource = (x: { p50Ms: number }) => ((x.p50Ms / sample.length) * 1000).toFixed(1);
  console.log(`extractIndexValues (plain accessors) : ${perResource(plain)} µs/resource`);
  console.log(`baseline evalFhirPath of R4 exprs    : ${perResource(fhirpath)} µs/resource  ratio ${(fhirpath.p50Ms / plain.p50Ms).toFixed(1)}`);
  console.log(`peak RSS: ${peakRssMiB().toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
