// regenerateDocument (services/pathway/regenerate.ts) on a real SQLite file: the decisions of the completed validation
// Tasks go into the case's document (actor, code, lastModified as the date, the motif as the reason), a declined Task
// adds nothing, the step follows; nothing new, nothing written; an unknown PPP is a 404. mergeDecisions is pure.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../../src/config.js';
import type { Ppp } from '../../../src/domain/ppp.js';
import { CS } from '../../../src/fhir/canonical.js';
import { OperationOutcomeError } from '../../../src/fhir/outcome.js';
import { pathwayStatusOf } from '../../../src/services/pathway/careplan-state.js';
import { decisionTaskId } from '../../../src/services/pathway/decisions.js';
import { mergeDecisions, regenerateDocument } from '../../../src/services/pathway/regenerate.js';
import { sendPpp } from '../../../src/services/pathway/send.js';
import { submitDocument } from '../../../src/services/submission.js';
import { decideTask } from '../../../src/services/task-decision.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';

const BASE = 'https://passerelle.example.fr';
const config = configFrom({ baseUrl: BASE });
const ctx = (iso: string) => ({ now: new Date(iso), actor: 'scheduler', config, fhirBase: `${BASE}/fhir` });

let dir: string;
let store: ResourceStore;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-regen-'));
  store = await openSqliteStore({ file: path.join(dir, 'db.sqlite') });
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function fresh(id: string): Record<string, unknown> {
  const d = JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown> & { recommendations: { decisions?: unknown[] }[] };
  d.id = id;
  delete d.sentAt;
  for (const r of d.recommendations) r.decisions = [];
  return d;
}

const ESTABLISHMENT = { finess: '800000317', name: 'x' } as Ppp['establishment'];

async function decide(pppId: string, reco: string, actor: 'MT' | 'PHO', next: Partial<Task>): Promise<void> {
  await store.transaction(async (tx) => {
    const stored = (await tx.read<Task>('Task', decisionTaskId({ id: pppId, establishment: ESTABLISHMENT }, reco, actor))) as Task;
    await decideTask(tx, stored, { ...stored, ...next } as Task, { actor: 'person:mt', now: '2026-12-07T10:00:00.000Z' });
  });
}

describe('regenerateDocument', () => {
  it('merges the completed Tasks’ decisions, not a declined one; the step follows; nothing new writes nothing', async () => {
    const b: Bundle = await submitDocument(store, 'ppp', fresh('REGEN-S-1'), { now: '2026-12-01T09:00:00.000Z', actor: 'dpi', fhirBase: `${BASE}/fhir` });
    const cp = b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;
    await sendPpp(store, cp, ctx('2026-12-02T09:00:00.000Z'));
    await decide('REGEN-S-1', 'R1', 'MT', {
      status: 'completed',
      lastModified: '2026-12-07T11:00:00+01:00',
      output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'retenu-modifie' }] } }, { type: { text: 'motif' }, valueString: ' Dose réduite de moitié ' }],
    });
    await decide('REGEN-S-1', 'R1', 'PHO', { status: 'rejected', statusReason: { text: 'Pas concerné' } });

    const r = await regenerateDocument(store, cp, ctx('2026-12-08T09:00:00.000Z'));
    expect(r).toMatchObject({ changed: true, merged: 1 });
    const doc = (await store.pathway.getCase(cp))?.document as Ppp;
    expect(doc.recommendations.find((x) => x.id === 'R1')?.decisions).toEqual([{ actor: 'MT', decision: 'retenu-modifie', date: '2026-12-07T11:00:00+01:00', reason: 'Dose réduite de moitié' }]);
    expect(doc.sentAt).toBe('2026-12-02T09:00:00.000Z');
    const plan = (await store.read<CarePlan>('CarePlan', cp)) as CarePlan;
    expect(pathwayStatusOf(plan)).toMatchObject({ step: 'attente-decisions', sentAt: '2026-12-02T09:00:00.000Z', documentUpdated: '2026-12-08T09:00:00.000Z' });
    // The MT's Task stays as decided (the re-submitted document carries its decision).
    const mt = await store.read<Task>('Task', decisionTaskId({ id: 'REGEN-S-1', establishment: ESTABLISHMENT }, 'R1', 'MT'));
    expect(mt?.status).toBe('completed');
    expect(mt?.businessStatus?.coding?.[0]?.code).toBe('retenu-modifie');

    const version = plan.meta?.versionId;
    const again = await regenerateDocument(store, cp, ctx('2026-12-09T09:00:00.000Z'));
    expect(again.changed).toBe(false);
    expect((await store.read<CarePlan>('CarePlan', cp))?.meta?.versionId).toBe(version);
    expect((await store.auditLog({ entity: `CarePlan/${cp}`, limit: 200 })).filter((a) => a.action === 'ppp.regenerate')).toHaveLength(1);
  });

  it('404 for a PPP unknown to the pathway', async () => {
    await expect(regenerateDocument(store, 'nope', ctx('2026-12-08T09:00:00.000Z'))).rejects.toBeInstanceOf(OperationOutcomeError);
  });
});

describe('mergeDecisions', () => {
  const ppp = { recommendations: [{ id: 'A', decisions: [{ actor: 'PHO', decision: 'retenu', date: '2026-12-01T10:00:00Z' }] }, { id: 'B', decisions: [] }] } as unknown as Ppp;
  it('adds, replaces a different decision of the same actor, keeps an identical one (whatever the offset of its date)', () => {
    const same = { recommendationId: 'A', decision: { actor: 'PHO' as const, decision: 'retenu' as const, date: '2026-12-01T11:00:00+01:00' } };
    expect(mergeDecisions(ppp, [same])).toEqual({ document: ppp, merged: 0 });
    const out = mergeDecisions(ppp, [same, { recommendationId: 'A', decision: { actor: 'MT', decision: 'non-retenu', date: '2026-12-02T10:00:00Z', reason: 'Non' } }]);
    expect(out.merged).toBe(1);
    expect(out.document.recommendations[0]?.decisions.map((d) => d.actor)).toEqual(['MT', 'PHO']);
    const changed = mergeDecisions(ppp, [{ recommendationId: 'A', decision: { actor: 'PHO', decision: 'non-retenu', date: '2026-12-03T10:00:00Z' } }]);
    expect(changed.document.recommendations[0]?.decisions).toEqual([{ actor: 'PHO', decision: 'non-retenu', date: '2026-12-03T10:00:00Z' }]);
    expect(ppp.recommendations[0]?.decisions).toHaveLength(1); // not mutated
  });
});
