// GET /pathway/worklist over real HTTP: the open D45/D90 windows still waiting for the PHO's answer or for outcomes,
// per case, overdue or not; filtered by establishment, tenant-bound clients seeing their own only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom } from '../../src/config.js';
import { mergeFollowupOutcomes } from '../../src/services/pathway/careplan-state.js';
import { recommendationReference, recordPrescriptionAnswer } from '../../src/services/pathway/followup.js';
import { startPathwayScheduler } from '../../src/services/pathway/scheduler.js';
import type { WorklistItem } from '../../src/services/pathway/worklist.js';
import type { Ppp } from '../../src/domain/ppp.js';
import { contextAt, DAY, pppFixture, sentCase, silent } from '../services/pathway/followup-support.js';
import { call, startTestServer, type TestServer } from './server.js';

const A = '800000317';
const B = '990000010';
const token = (id: string) => ({ authorization: `Bearer dev-token-${id}-0123456789abcdef` });
const CLIENTS = [
  { id: 'dpi-a', roles: ['dpi'], tenant: `establishment:${A}` },
  { id: 'dpi-b', roles: ['dpi'], tenant: `establishment:${B}` },
  { id: 'lgo-p', roles: ['lgo'], tenant: 'pharmacy:760001016' },
  { id: 'admin', roles: ['admin'] },
  { id: 'auditor', roles: ['auditor'] },
].map((c) => ({ ...c, token: `dev-token-${c.id}-0123456789abcdef` }));

let srv: TestServer;
const ids: Record<string, string> = {};

beforeAll(async () => {
  srv = await startTestServer({ auth: { enabled: true, devTokens: true, clients: CLIENTS } }, [mountDomainRoutes]);
  const config = configFrom({});
  const scheduler = startPathwayScheduler({ store: srv.store, config, logger: silent, poll: false });
  // W-1 (A): D45 opened long ago (its 2025 date), no answer: overdue request, and outcomes due (window open > 30 days).
  const w1 = await sentCase(srv.store, pppFixture('W-1'));
  await scheduler.runDue(w1.d45);
  await srv.store.pathway.cancelDue(w1.carePlan, ['d90']);
  ids.w1 = w1.carePlan;
  // W-2 (B): D45 opened now, answered with lines: outcomes to record, not overdue.
  const now = new Date();
  const w2 = await sentCase(srv.store, pppFixture('W-2', (p) => (p.establishment = { finess: B, name: 'Clinique B' })));
  await srv.store.pathway.cancelDue(w2.carePlan);
  await srv.store.pathway.schedule(w2.carePlan, 'd45', new Date(now.getTime() - 1000).toISOString(), { reopen: true });
  await scheduler.runDue(now);
  const answered = await recordPrescriptionAnswer(srv.store, { carePlan: w2.carePlan, window: 'd45', rpps: '10101523388', answer: { kind: 'lines', lines: [{ label: 'KARDEGIC' }] }, expectedAnswers: 0 }, contextAt(now));
  expect(answered.ok).toBe(true);
  ids.w2 = w2.carePlan;
  // W-3 (A): D45 opened now, answered "no change", every outcome recorded: nothing to do.
  const w3 = await sentCase(srv.store, pppFixture('W-3'));
  await srv.store.pathway.cancelDue(w3.carePlan);
  await srv.store.pathway.schedule(w3.carePlan, 'd45', new Date(now.getTime() - 1000).toISOString(), { reopen: true });
  await scheduler.runDue(now);
  await recordPrescriptionAnswer(srv.store, { carePlan: w3.carePlan, window: 'd45', rpps: '10101523388', answer: { kind: 'no-change' }, expectedAnswers: 0 }, contextAt(now));
  const c3 = (await srv.store.pathway.getCase(w3.carePlan))!;
  await srv.store.transaction((tx) =>
    mergeFollowupOutcomes(tx, w3.carePlan, (c3.document as Ppp).recommendations.map((r) => ({ window: 'd45' as const, recommendation: recommendationReference(c3, r), outcome: 'inconnue' as const }))),
  );
  ids.w3 = w3.carePlan;
  // W-4 (A): sent, D45 not yet due: nothing.
  await sentCase(srv.store, pppFixture('W-4', (p) => (p.sentAt = new Date(now.getTime() - DAY).toISOString())));
  await scheduler.stop();
});
afterAll(async () => srv?.close());

const list = (client: string | undefined, query = '') => call<{ items: WorklistItem[]; finess?: string }>(`${srv.url}/pathway/worklist${query}`, { headers: client ? token(client) : {} });

describe('GET /pathway/worklist', () => {
  it('lists the overdue request and the missing outcomes per case, oldest first (admin: every establishment)', async () => {
    const r = await list('admin');
    expect(r.status).toBe(200);
    expect(r.body.items.map((i) => [i.carePlan, i.finess, i.kind, i.window, i.overdue])).toEqual([
      [ids.w1, A, 'prescription-request', 'd45', true],
      [ids.w1, A, 'outcome', 'd45', true],
      [ids.w2, B, 'outcome', 'd45', false],
    ]);
    expect(r.body.items[0]!.label).toMatch(/^J45 : ordonnance demandée au pharmacien le \d\d\/\d\d\/2025, sans réponse depuis plus de 14 jours$/);
    expect(r.body.items[2]!.label).toMatch(/réponse du pharmacien reçue le .*, 3 résultat\(s\) à enregistrer/);
    expect(r.body.items[0]!.pppId).toBe('W-1');
    expect((await list('admin', `?finess=${B}`)).body.items.map((i) => i.carePlan)).toEqual([ids.w2]);
  });

  it('a client of an establishment sees its own only; another FINESS is 403; a bad one 400', async () => {
    const a = await list('dpi-a');
    expect(a.status).toBe(200);
    expect(a.body.finess).toBe(A);
    expect(new Set(a.body.items.map((i) => i.finess))).toEqual(new Set([A]));
    expect((await list('dpi-a', `?finess=${A}`)).status).toBe(200);
    expect((await list('dpi-a', `?finess=${B}`)).status).toBe(403);
    expect((await list('dpi-b')).body.items.map((i) => i.carePlan)).toEqual([ids.w2]);
    for (const q of ['?finess=12', '?finess=800000317&finess=990000010', `?finess=${'9'.repeat(5000)}`, '?finess=80000031%E2%80%AE']) expect((await list('admin', q)).status).toBe(400);
  });

  it('a pharmacy client, a client without fhir.read, no credentials: refused', async () => {
    expect((await list('lgo-p')).status).toBe(403);
    expect((await list('auditor')).status).toBe(403);
    expect((await list(undefined)).status).toBe(401);
  });

  it('each call is an access audit row pathway.worklist, refusals as failures', async () => {
    let rows: { action: string; actor: string; outcome: string }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = (await srv.store.auditLog({ limit: 1000 })).filter((a) => a.action === 'pathway.worklist');
      if (rows.some((r) => r.actor === 'lgo-p')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows.some((r) => r.actor === 'admin' && r.outcome === 'success')).toBe(true);
    expect(rows.filter((r) => r.actor === 'lgo-p').map((r) => r.outcome)).toEqual(['failure']);
  });
});
