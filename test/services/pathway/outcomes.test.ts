// The case manager's view of the pathway and the recording of follow-up outcomes (services/pathway/overview.ts,
// outcomes.ts), on a real SQLite file and on PostgreSQL: the PPPs with their step and decision counts, the detail of
// one PPP; outcomes refused per field (wrong types, unknown values, hostile text, unknown recommendation), refused
// before the window opens, written all or nothing; D45 complete moves the step and completes its Task, D90 complete
// closes the PPP and revokes its links.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CarePlan, OperationOutcome, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperationOutcomeError, statusOf } from '../../../src/fhir/outcome.js';
import { followupOutcomesOf, mergeFollowupOutcomes, pathwayStatusOf } from '../../../src/services/pathway/careplan-state.js';
import { issueLinks } from '../../../src/services/pathway/links.js';
import { recordOutcomes } from '../../../src/services/pathway/outcomes.js';
import { pathwayOverview, pppDetail, pppResourceId } from '../../../src/services/pathway/overview.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';
import { DAY, decide, submitPpp, type Submitted } from './casemgr-support.js';

const NOW = new Date();
const PG_SCHEMA = `casemgr_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const ctx = (extra: Partial<Parameters<typeof recordOutcomes>[3]> = {}) => ({ now: NOW, actor: 'person:demo-0001', recorder: 'rpps:10000000011', ...extra });

async function refusal(p: Promise<unknown>): Promise<{ status: number; issues: { expression?: string; text?: string }[] }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    const o = err.outcome as OperationOutcome;
    return { status: statusOf(o), issues: o.issue.map((i) => ({ ...(i.expression?.[0] ? { expression: i.expression[0] } : {}), ...(i.details?.text ? { text: i.details.text } : {}) })) };
  }
  throw new Error('not refused');
}

function suite(dialect: 'sqlite' | 'postgresql'): void {
  let dir: string;
  let store: ResourceStore;
  let sent: Submitted;
  let fresh: Submitted;
  let draft: Submitted;
  let other: Submitted;

  const version = async (id: string) => (await store.read<CarePlan>('CarePlan', id))?.meta?.versionId;
  const outcomeRows = async (id: string) => (await store.auditLog({ entity: `CarePlan/${id}`, limit: 200 })).filter((a) => a.action === 'pathway.outcome');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-casemgr-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
    sent = await submitPpp(store, 'CM-SENT', { sentAt: new Date(NOW.getTime() - 100 * DAY), undecided: true });
    fresh = await submitPpp(store, 'CM-FRESH', { sentAt: new Date(NOW.getTime() - 10 * DAY), undecided: true });
    draft = await submitPpp(store, 'CM-DRAFT', { undecided: true });
    other = await submitPpp(store, 'CM-OTHER', { fixture: 'hospital-sync-rcp', sentAt: new Date(NOW.getTime() - 50 * DAY) });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(PG_SCHEMA);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the PPPs of an establishment with their step, decision counts and next due date', async () => {
    await decide(store, sent, 'r1', 'MT');
    await decide(store, sent, 'r1', 'PHO', 'non-retenu');
    const rows = await pathwayOverview(store, { finess: '760000018', now: NOW });
    expect(rows.map((r) => r.pppId).sort()).toEqual(['CM-DRAFT', 'CM-FRESH', 'CM-SENT']);
    const row = rows.find((r) => r.pppId === 'CM-SENT')!;
    expect(row).toMatchObject({ finess: '760000018', patient: 'BOVARY Emma (née ROUAULT)', step: 'attente-decisions', decisions: { MT: { decided: 1, asked: 6 }, PHO: { decided: 1, asked: 4 } } });
    expect(rows.find((r) => r.pppId === 'CM-DRAFT')).toMatchObject({ step: 'rcp' });
    expect((await pathwayOverview(store, { finess: '760000018', step: 'rcp', now: NOW })).map((r) => r.pppId)).toEqual(['CM-DRAFT']);
    expect((await pathwayOverview(store, { finess: '800000317', now: NOW })).map((r) => r.pppId)).toEqual(['CM-OTHER']);
    expect(await pathwayOverview(store, { finess: '999999999', now: NOW })).toEqual([]);

    await store.pathway.schedule(sent.carePlan, 'd45', new Date(NOW.getTime() - 55 * DAY).toISOString());
    const detail = await pppDetail(store, sent.carePlan, { now: NOW });
    expect(detail?.row.nextDue).toMatchObject({ kind: 'd45' });
    expect(detail?.recommendations).toHaveLength(6);
    expect(detail?.recommendations[0]).toMatchObject({ id: 'r1', reference: sent.recommendations[0], decisions: { MT: { decision: 'retenu' }, PHO: { decision: 'non-retenu' } } });
    expect(detail?.windows.map((w) => [w.window, w.open, w.done])).toEqual([['d45', true, false], ['d90', true, false]]);
    expect((await pppDetail(store, fresh.carePlan, { now: NOW }))?.windows.map((w) => w.open)).toEqual([false, false]);
    expect(await pppDetail(store, 'no-such-careplan', { now: NOW })).toBeUndefined();
  });

  it('refuses a body with wrong types, unknown values or hostile text, naming each field, and writes nothing', async () => {
    const before = await version(sent.carePlan);
    const r1 = sent.recommendations[0]!;
    const cases: [unknown, string[]][] = [
      [{ window: 'd30', outcomes: [{ recommendation: r1, outcome: 'implementee' }] }, ['window']],
      [{ window: 'd45', outcomes: [{ recommendation: r1, outcome: 'oui' }] }, ['outcomes[0].outcome']],
      [{ window: 'd45', outcomes: [{ recommendation: 12, outcome: 'implementee' }] }, ['outcomes[0].recommendation']],
      [{ window: 'd45', outcomes: [{ recommendation: r1, outcome: 'implementee', note: 'a\u202Eb' }] }, ['outcomes[0].note']],
      [{ window: 'd45', outcomes: [{ recommendation: r1, outcome: 'implementee', note: 'x'.repeat(2001) }] }, ['outcomes[0].note']],
      [{ window: 'd45', outcomes: [{ recommendation: r1, outcome: 'implementee', extra: 1 }] }, ['outcomes[0]']],
      [{ window: 'd45', outcomes: [] }, ['outcomes']],
      [{ window: 'd45', outcomes: 'all' }, ['outcomes']],
      ['d45', []],
      [null, []],
    ];
    for (const [body, paths] of cases) {
      const r = await refusal(recordOutcomes(store, sent.carePlan, body, ctx()));
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      for (const p of paths) expect(r.issues.map((i) => i.expression)).toContain(p);
    }
    // One good entry beside an unknown recommendation: all or nothing.
    const mixed = await refusal(
      recordOutcomes(store, sent.carePlan, { window: 'd45', outcomes: [{ recommendation: r1, outcome: 'implementee' }, { recommendation: 'MedicationRequest/nope', outcome: 'inconnue' }] }, ctx()),
    );
    expect(mixed).toMatchObject({ status: 400, issues: [{ expression: 'outcomes[1].recommendation' }] });
    const twice = await refusal(recordOutcomes(store, sent.carePlan, { window: 'd45', outcomes: [{ recommendation: r1, outcome: 'implementee' }, { recommendation: r1, outcome: 'inconnue' }] }, ctx()));
    expect(twice.issues[0]?.expression).toBe('outcomes[1].recommendation');
    // Another PPP's recommendation is not one of this one's.
    const foreign = await refusal(recordOutcomes(store, sent.carePlan, { window: 'd45', outcomes: [{ recommendation: other.recommendations[0], outcome: 'implementee' }] }, ctx()));
    expect(foreign.issues[0]?.expression).toBe('outcomes[0].recommendation');
    expect(await version(sent.carePlan)).toBe(before);
    expect(await outcomeRows(sent.carePlan)).toEqual([]);
  });

  it('refuses outcomes before the window opens (sent 10 days ago, or not sent) and for an unknown PPP', async () => {
    const body = (s: Submitted, window = 'd45') => ({ window, outcomes: [{ recommendation: s.recommendations[0], outcome: 'implementee' }] });
    expect(await refusal(recordOutcomes(store, fresh.carePlan, body(fresh), ctx()))).toMatchObject({ status: 422, issues: [{ expression: 'window' }] });
    expect(await refusal(recordOutcomes(store, draft.carePlan, body(draft), ctx()))).toMatchObject({ status: 422, issues: [{ expression: 'window', text: expect.stringContaining('not been sent') }] });
    // The D45 item ran (done) although its date is later: the window is open.
    await store.pathway.schedule(fresh.carePlan, 'd45', NOW.toISOString());
    const [claimed] = (await store.pathway.claimDue('w1', NOW.toISOString(), new Date(NOW.getTime() + 60_000).toISOString(), 50)).filter((d) => d.carePlan === fresh.carePlan);
    expect(claimed).toBeDefined();
    await store.pathway.completeDue(fresh.carePlan, 'd45', 'w1', NOW.toISOString());
    await store.pathway.schedule(fresh.carePlan, 'd45', new Date(NOW.getTime() + 40 * DAY).toISOString());
    expect((await recordOutcomes(store, fresh.carePlan, body(fresh), ctx())).complete).toBe(false);
    expect(await refusal(recordOutcomes(store, fresh.carePlan, body(fresh, 'd90'), ctx()))).toMatchObject({ status: 422 });
    expect((await refusal(recordOutcomes(store, 'no-such-careplan', body(fresh), ctx()))).status).toBe(404);
  });

  it('records D45 partly then fully (proposal kept, Task completed, step J90), then D90 closes the PPP and revokes its links', async () => {
    const [first, ...rest] = sent.recommendations as [string, ...string[]];
    await store.transaction((tx) => mergeFollowupOutcomes(tx, sent.carePlan, [{ window: 'd45', recommendation: first, proposed: 'implementee' }]));
    await store.transaction((tx) =>
      issueLinks(tx, { carePlan: sent.carePlan, recipients: [{ role: 'MT', rpps: '10101634078' }], purpose: 'decision', now: NOW, ttlDays: 30, baseUrl: 'https://gw.example', actor: 'test' }),
    );
    const part = await recordOutcomes(store, sent.carePlan, { window: 'd45', outcomes: [{ recommendation: first, outcome: 'non-implementee', note: 'Toujours sous\nAINS.' }] }, ctx({ requestId: 'req-1' }));
    expect(part).toMatchObject({ complete: false, closed: false });
    expect(followupOutcomesOf(part.carePlan).find((e) => e.recommendation === first)).toEqual({
      window: 'd45',
      recommendation: first,
      proposed: 'implementee',
      outcome: 'non-implementee',
      recorded: NOW.toISOString(),
      recorder: 'rpps:10000000011',
      note: 'Toujours sous\nAINS.',
    });
    const d45Task = pppResourceId(sent, 'Task', 'followup-d45');
    expect((await store.read<Task>('Task', d45Task))?.status).not.toBe('completed');

    const full = await recordOutcomes(store, sent.carePlan, { window: 'd45', outcomes: rest.map((r) => ({ recommendation: r, outcome: 'inconnue' })) }, ctx());
    expect(full).toMatchObject({ complete: true, closed: false });
    expect((await store.read<Task>('Task', d45Task))?.status).toBe('completed');
    expect(pathwayStatusOf(full.carePlan)?.step).toBe('suivi-j90');

    const done = await recordOutcomes(store, sent.carePlan, { window: 'd90', outcomes: sent.recommendations.map((r) => ({ recommendation: r, outcome: 'implementee' })) }, ctx());
    expect(done).toMatchObject({ complete: true, closed: true });
    expect(pathwayStatusOf(done.carePlan)).toMatchObject({ step: 'clos', closedAt: NOW.toISOString() });
    expect((await store.read<Task>('Task', pppResourceId(sent, 'Task', 'followup-d90')))?.status).toBe('completed');
    expect((await store.pathway.getCase(sent.carePlan))?.closedAt).toBe(NOW.toISOString());
    expect(await store.links.live(sent.carePlan, NOW.toISOString())).toEqual([]);
    expect((await store.pathway.dueOf(sent.carePlan)).filter((d) => d.state === 'scheduled' || d.state === 'claimed')).toEqual([]);
    const rows = await outcomeRows(sent.carePlan);
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.detail).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^window=d90 recorded=6 .* complete=true closed$/)]));
    expect(rows.find((r) => r.requestId === 'req-1')).toMatchObject({ actor: 'person:demo-0001', outcome: 'success' });

    // Closed: listed under "clos" only, and its outcomes no longer change.
    expect((await pathwayOverview(store, { finess: '760000018', now: NOW })).map((r) => r.pppId)).not.toContain('CM-SENT');
    expect((await pathwayOverview(store, { finess: '760000018', step: 'clos', now: NOW })).map((r) => r.pppId)).toEqual(['CM-SENT']);
    expect((await refusal(recordOutcomes(store, sent.carePlan, { window: 'd90', outcomes: [{ recommendation: first, outcome: 'inconnue' }] }, ctx()))).status).toBe(409);
  });
}

describe('case manager: overview and outcomes on SQLite', () => suite('sqlite'));

const pgDown = await pgUnreachable();
describe.skipIf(!available('PostgreSQL', pgDown === undefined, 'the case manager service tests on PostgreSQL'))('case manager: overview and outcomes on PostgreSQL', () => suite('postgresql'));
