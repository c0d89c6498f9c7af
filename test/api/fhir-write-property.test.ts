// Property (issue 15, item 1): whatever sequence of FHIR writes (Patient create/update/delete, client CarePlans and
// Tasks, transactions, writes to what a document produced, decisions on recommendations) and domain submissions
// (POST /ppp, /ctm, link-ctm) a hospital sends, the store never holds a source Patient without its federated link,
// a reference from a current resource to nothing, a PPP that lost the CTM link made for it, or a decision reopened. Seeded fast-check
// runs over real HTTP, on SQLite and on PostgreSQL (skipped with a message without a server, failing under CI=true).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, Patient, Resource, Task } from '@medplum/fhirtypes';
import fc from 'fast-check';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/api/app.js';
import { classifyReference, findReferences } from '../../src/api/fhir-references.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom } from '../../src/config.js';
import { CS } from '../../src/fhir/canonical.js';
import { REGIONAL_ID_SYSTEM, sourcePatientId } from '../../src/fhir/federated-patient.js';
import { idFor } from '../../src/fhir/ids.js';
import { R4_RESOURCE_TYPES } from '../../src/fhir/search-params.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';
import { call, patient } from './server.js';

const SEED = 20250315;
const SYSTEM = 'urn:oid:1.2.250.1.999.1';
const SCHEMA = `passerelle_writes_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const unreachable = await pgUnreachable(PG_TEST_URL);
const withPg = available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the FHIR write property test on PostgreSQL');

type Opened = { store: ResourceStore; drop: () => Promise<void> };
const dialects: [string, number, (dir: string) => Promise<Opened>][] = [
  ['SQLite', 25, async (dir) => ({ store: await openSqliteStore({ file: path.join(dir, 'db.sqlite') }), drop: async () => undefined })],
];
if (withPg) {
  dialects.push([
    'PostgreSQL',
    15,
    async () => ({
      store: await openPgStore({ url: PG_TEST_URL, schema: SCHEMA, poolSize: 4 }),
      drop: async () => {
        const client = new pg.Client({ connectionString: PG_TEST_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`).finally(() => client.end());
      },
    }),
  ]);
}

const fixture = (file: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${file}`, 'utf8')) as Record<string, unknown>;
const PPP = fixture('ppp/ppp-12-medicines.json');
const CTM = fixture('ctm/admission-divergences.json');
const FINESS = (PPP.establishment as { finess: string }).finess;
const PPP_CAREPLAN = idFor('CarePlan', FINESS, 'ppp', PPP.id as string);
const PPP_SOURCE = PPP.patient as { sourceId: { system: string; value: string } };
const PPP_PATIENT = sourcePatientId(PPP_SOURCE.sourceId.system, PPP_SOURCE.sourceId.value);
const OPEN_DECISIONS = [
  ['r6', 'MT'],
  ['r6', 'PHO'],
  ['r2', 'PHO'],
  ['r5', 'MT'],
] as const;
const GIVEN = ['Jeanne', 'Jeanne', 'Paul', 'Anne'] as const;
const json = { 'content-type': 'application/json' };

type Command =
  | { kind: 'post-patient'; k: number; variant: number }
  | { kind: 'put-patient'; k: number; wrongId: boolean }
  | { kind: 'delete-patient'; k: number; cascade: boolean }
  | { kind: 'post-careplan'; k: number }
  | { kind: 'delete-careplan'; pick: number; cascade: boolean }
  | { kind: 'post-task'; pick: number }
  | { kind: 'delete-task'; pick: number }
  | { kind: 'tx-patient-careplan'; k: number }
  | { kind: 'tx-delete'; pick: number; k: number }
  | { kind: 'submit-ppp' }
  | { kind: 'submit-ctm' }
  | { kind: 'link-ctm' }
  | { kind: 'rewrite-ppp-careplan'; inTransaction: boolean }
  | { kind: 'delete-document-resource'; what: 'careplan' | 'ppp-patient' }
  | { kind: 'decide'; which: number; valid: boolean };

const k = fc.integer({ min: 0, max: 3 });
const pick = fc.nat({ max: 20 });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('post-patient' as const), k, variant: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant('put-patient' as const), k, wrongId: fc.boolean() }),
  fc.record({ kind: fc.constant('delete-patient' as const), k, cascade: fc.boolean() }),
  fc.record({ kind: fc.constant('post-careplan' as const), k }),
  fc.record({ kind: fc.constant('delete-careplan' as const), pick, cascade: fc.boolean() }),
  fc.record({ kind: fc.constant('post-task' as const), pick }),
  fc.record({ kind: fc.constant('delete-task' as const), pick }),
  fc.record({ kind: fc.constant('tx-patient-careplan' as const), k }),
  fc.record({ kind: fc.constant('tx-delete' as const), pick, k }),
  // The domain commands weigh more, so that most runs reach a linked CTM and open decisions.
  { arbitrary: fc.constant({ kind: 'submit-ppp' as const }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'submit-ctm' as const }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'link-ctm' as const }), weight: 3 },
  fc.record({ kind: fc.constant('rewrite-ppp-careplan' as const), inTransaction: fc.boolean() }),
  fc.record({ kind: fc.constantFrom('delete-document-resource' as const), what: fc.constantFrom('careplan' as const, 'ppp-patient' as const) }),
  { arbitrary: fc.record({ kind: fc.constant('decide' as const), which: fc.integer({ min: 0, max: OPEN_DECISIONS.length - 1 }), valid: fc.boolean() }), weight: 2 },
);

/** What the test knows of the store between commands. */
interface Model {
  plans: string[];
  tasks: string[];
  ppp: boolean;
  ctm: boolean;
  linked: boolean;
  /** Validation Tasks decided through FHIR. */
  decided: Set<string>;
  /** The PPP CarePlan as POST /ppp first answered it (without the link). */
  pppCarePlan?: CarePlan;
}

const patientBody = (n: number, variant = 0): Patient =>
  ({ ...patient(`prop-${n}`), name: [{ use: 'official', family: 'Martin', given: [GIVEN[n]] }], ...(variant ? { birthDate: '1948-03-12' } : {}) }) as Patient;
const patientId = (n: number): string => sourcePatientId(SYSTEM, `prop-${n}`);

describe.each(dialects)('FHIR writes keep the rules, whatever the sequence (%s)', (_name, numRuns, open) => {
  let dir: string;
  let opened: Opened;
  let running: RunningServer;
  let fhir: string;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-writes-'));
    opened = await open(dir);
    const config = configFrom({ port: 0, dataDir: dir, log: { level: 'silent' } });
    running = await startServer({ store: opened.store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    base = running.url;
    fhir = `${base}/fhir`;
  });
  afterAll(async () => {
    await running?.close();
    await opened?.store.close();
    await opened?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const exists = async (ref: string): Promise<boolean> => (await call(`${fhir}/${ref}`)).status === 200;

  /** Runs one command, checking that its answer is one the rules allow (never a 5xx). */
  async function run(cmd: Command, m: Model): Promise<void> {
    const expectStatus = (status: number, allowed: number[]): void => {
      expect(allowed, `${JSON.stringify(cmd)} answered ${status}`).toContain(status);
    };
    const chosen = (list: string[], n: number): string | undefined => (list.length ? list[n % list.length] : undefined);
    switch (cmd.kind) {
      case 'post-patient': {
        const r = await call(`${fhir}/Patient`, { body: patientBody(cmd.k, cmd.variant) });
        expectStatus(r.status, [200, 201]);
        break;
      }
      case 'put-patient': {
        const id = cmd.wrongId ? `wrong-${cmd.k}` : patientId(cmd.k);
        const r = await call(`${fhir}/Patient/${id}`, { method: 'PUT', body: { ...patientBody(cmd.k), id } });
        expectStatus(r.status, cmd.wrongId ? [422] : [200, 201]);
        break;
      }
      case 'delete-patient': {
        const there = await exists(`Patient/${patientId(cmd.k)}`);
        const r = await call(`${fhir}/Patient/${patientId(cmd.k)}${cmd.cascade ? '?_cascade=delete' : ''}`, { method: 'DELETE' });
        expectStatus(r.status, there ? [409] : [200]);
        break;
      }
      case 'post-careplan': {
        const there = await exists(`Patient/${patientId(cmd.k)}`);
        const r = await call<CarePlan>(`${fhir}/CarePlan`, {
          body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${patientId(cmd.k)}` } },
        });
        expectStatus(r.status, there ? [201] : [400]);
        if (r.status === 201) m.plans.push(r.body.id as string);
        break;
      }
      case 'delete-careplan': {
        const id = chosen(m.plans, cmd.pick);
        if (!id) return;
        const r = await call(`${fhir}/CarePlan/${id}${cmd.cascade ? '?_cascade=delete' : ''}`, { method: 'DELETE' });
        expectStatus(r.status, cmd.cascade ? [200] : [200, 409]);
        break;
      }
      case 'post-task': {
        const plan = chosen(m.plans, cmd.pick);
        if (!plan) return;
        const there = await exists(`CarePlan/${plan}`);
        const r = await call<Task>(`${fhir}/Task`, { body: { resourceType: 'Task', status: 'requested', intent: 'order', focus: { reference: `CarePlan/${plan}` } } });
        expectStatus(r.status, there ? [201] : [400]);
        if (r.status === 201) m.tasks.push(r.body.id as string);
        break;
      }
      case 'delete-task': {
        const id = chosen(m.tasks, cmd.pick);
        if (!id) return;
        expectStatus((await call(`${fhir}/Task/${id}`, { method: 'DELETE' })).status, [200]);
        break;
      }
      case 'tx-patient-careplan': {
        const P = 'urn:uuid:5d1a3f00-0000-4000-8000-00000000000a';
        const r = await call<Bundle>(fhir, {
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { fullUrl: P, resource: patientBody(cmd.k), request: { method: 'POST', url: 'Patient' } },
              { resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: P } }, request: { method: 'POST', url: 'CarePlan' } },
            ],
          },
        });
        expectStatus(r.status, [200]);
        const loc = r.body.entry?.[1].response?.location;
        if (loc) m.plans.push(loc.split('/')[1]);
        break;
      }
      case 'tx-delete': {
        const plan = chosen(m.plans, cmd.pick);
        const entry = [
          ...(plan ? [{ request: { method: 'DELETE', url: `CarePlan/${plan}` } }] : []),
          { request: { method: 'DELETE', url: `Patient/${patientId(cmd.k)}` } },
        ];
        const there = await exists(`Patient/${patientId(cmd.k)}`);
        const r = await call(fhir, { body: { resourceType: 'Bundle', type: 'transaction', entry } });
        // A registered source Patient is never deleted, so the whole transaction is refused then.
        expectStatus(r.status, there ? [409] : [200, 409]);
        break;
      }
      case 'submit-ppp': {
        const r = await call<Bundle>(`${base}/ppp`, { body: PPP, headers: json });
        expectStatus(r.status, [200]);
        m.ppp = true;
        m.pppCarePlan ??= r.body.entry?.map((e) => e.resource).find((x) => x?.resourceType === 'CarePlan') as CarePlan;
        break;
      }
      case 'submit-ctm': {
        expectStatus((await call(`${base}/ctm`, { body: CTM, headers: json })).status, [200]);
        m.ctm = true;
        break;
      }
      case 'link-ctm': {
        const r = await call(`${base}/ppp/${PPP_CAREPLAN}/link-ctm`, { body: { ctm: { finess: (CTM.establishment as { finess: string }).finess, id: CTM.id } }, headers: json });
        expectStatus(r.status, m.ppp && m.ctm ? [200] : [404]);
        if (r.status === 200) m.linked = true;
        break;
      }
      case 'rewrite-ppp-careplan': {
        if (!m.pppCarePlan) return;
        const r = cmd.inTransaction
          ? await call(fhir, { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: m.pppCarePlan, request: { method: 'PUT', url: `CarePlan/${PPP_CAREPLAN}` } }] } })
          : await call(`${fhir}/CarePlan/${PPP_CAREPLAN}`, { method: 'PUT', body: m.pppCarePlan });
        expectStatus(r.status, [422]);
        break;
      }
      case 'delete-document-resource': {
        if (!m.ppp) return;
        const ref = cmd.what === 'careplan' ? `CarePlan/${PPP_CAREPLAN}` : `Patient/${PPP_PATIENT}`;
        expectStatus((await call(`${fhir}/${ref}`, { method: 'DELETE' })).status, cmd.what === 'careplan' ? [422] : [409]);
        break;
      }
      case 'decide': {
        if (!m.ppp) return;
        const [reco, actor] = OPEN_DECISIONS[cmd.which];
        const id = idFor('Task', FINESS, 'ppp', PPP.id as string, 'reco-validation', reco, actor);
        const task = (await call<Task>(`${fhir}/Task/${id}`)).body;
        const output = [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'retenu', display: 'Retenu' }] } }];
        const body = cmd.valid ? { ...task, status: 'completed', output } : { ...task, status: 'completed', output, priority: 'urgent' };
        const r = await call(`${fhir}/Task/${id}`, { method: 'PUT', body });
        // A decision can be changed while the PPP is open (a re-sent PPP keeps it); the same decision sent again changes nothing.
        expectStatus(r.status, cmd.valid ? [200] : [422]);
        if (r.status === 200) m.decided.add(`Task/${id}`);
        break;
      }
    }
  }

  /** Every current resource, by `Type/id`. */
  async function currentResources(store: ResourceStore): Promise<Map<string, Resource>> {
    const all = new Map<string, Resource>();
    for (const type of R4_RESOURCE_TYPES) {
      for (let offset = 0; ; offset += 1000) {
        const page = await store.search({ resourceType: type, predicates: [], count: 1000, offset });
        for (const r of page.resources) all.set(`${r.resourceType}/${r.id}`, r);
        if (page.resources.length < 1000) break;
      }
    }
    return all;
  }

  async function checkInvariants(m: Model): Promise<void> {
    const all = await currentResources(opened.store);
    for (const [key, resource] of all) {
      // No reference from a current resource to nothing.
      for (const ref of findReferences(resource)) {
        const k = classifyReference(ref.value, fhir);
        if (k.kind === 'local') expect(all.has(`${k.resourceType}/${k.id}`), `${key} ${ref.path} → ${ref.value}`).toBe(true);
      }
      // Every source Patient refers to one current federated Patient, the one the registry links it to.
      if (resource.resourceType !== 'Patient') continue;
      const p = resource as Patient;
      if (p.identifier?.some((i) => i.system === REGIONAL_ID_SYSTEM)) continue;
      const refer = (p.link ?? []).filter((l) => l.type === 'refer');
      expect(refer, `${key} has one refer link`).toHaveLength(1);
      const federated = all.get(refer[0].other.reference as string) as Patient | undefined;
      expect(federated?.identifier?.some((i) => i.system === REGIONAL_ID_SYSTEM), `${key} → a federated Patient`).toBe(true);
      const pi = p.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'PI')) ?? p.identifier?.[0];
      const source = await opened.store.identities.getSource(pi?.system as string, pi?.value as string);
      expect(`Patient/${source?.federatedId}`, `${key} registered`).toBe(refer[0].other.reference);
    }
    // A decision, once made, is never reopened (a re-sent PPP keeps it).
    for (const key of m.decided) expect((all.get(key) as Task | undefined)?.status, `${key} decided`).toBe('completed');
    // The CTM link, once made, is never lost.
    if (m.linked) {
      const cp = all.get(`CarePlan/${PPP_CAREPLAN}`) as CarePlan | undefined;
      expect(cp?.supportingInfo?.filter((r) => r.reference?.startsWith('Composition/')) ?? [], 'the CTM link').toHaveLength(2);
    }
  }

  it('never a source Patient without its federated link, a dangling reference, or a CTM link lost', async () => {
    const model: Model = { plans: [], tasks: [], ppp: false, ctm: false, linked: false, decided: new Set() };
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 4, maxLength: 14 }), async (commands) => {
        for (const cmd of commands) await run(cmd, model);
        await checkInvariants(model);
      }),
      { seed: SEED, numRuns, endOnFailure: true },
    );
    // The runs reached the interesting states.
    expect(model.linked).toBe(true);
    expect(model.decided.size).toBeGreaterThan(0);
    expect((await opened.store.auditLog({ limit: 10_000 })).some((a) => a.action === 'ppp.decision')).toBe(true);
  }, 600_000);
});
