// Sending the PPP (services/pathway/send.ts) on a real SQLite file and on PostgreSQL: the MT and the PHO get a link each
// (usable by resolveLink), the link mails are queued in the outbox, the PPP is marked sent (case, document, CarePlan
// period and pathway status, D45/D90 Tasks) and the scheduler's due work planned; a re-send revokes the old links and
// keeps the D45/D90 anchor; a PPP without RCP nor reason, unknown, closed or of another tenant is refused with nothing
// written.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, OperationOutcome, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom, type Config } from '../../../src/config.js';
import { isLinkPayload } from '../../../src/connectors/mssante/link-message.js';
import type { Principal } from '../../../src/domain/access/model.js';
import { OperationOutcomeError } from '../../../src/fhir/outcome.js';
import { idFor } from '../../../src/fhir/ids.js';
import { pathwayStatusOf } from '../../../src/services/pathway/careplan-state.js';
import type { PathwayContext } from '../../../src/services/pathway/context.js';
import { resolveLink } from '../../../src/services/pathway/links.js';
import { sendPpp, type SendResult } from '../../../src/services/pathway/send.js';
import { submitDocument } from '../../../src/services/submission.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';

const NOW = new Date('2026-12-06T10:00:00.000Z');
const DAY = 86_400_000;
const BASE = 'https://passerelle.example.fr';
const PG_SCHEMA = `send_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const MT_RPPS = '10100512341';
const PHO_RPPS = '10100628170';
const FINESS = '760000018';

type Doc = Record<string, unknown> & { team: { role: string; practitioner: Record<string, unknown> }[]; rcp?: unknown };
function ppp(id: string, change: (d: Doc) => void = () => undefined): Doc {
  const d = JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as Doc;
  d.id = id;
  delete d.sentAt;
  change(d);
  return d;
}

const withMssante = (): Config =>
  configFrom({
    baseUrl: BASE,
    mssante: { address: 'passerelle@hopital.mssante.fr', tls: { pkcs12: '/nonexistent.p12', ca: '/nonexistent.pem' }, smtp: { host: 'localhost' } },
    outbox: { destinations: { mss: { kind: 'mssante' } } },
  });

const principal = (tenant: Principal['tenant']): Principal => ({ id: 'dpi-test', scopes: ['domain.write', 'fhir.read'], roles: ['dpi'], method: 'jwt', ...(tenant ? { tenant } : {}) });

function outcomeOf(err: unknown): { status: number; outcome: OperationOutcome } {
  expect(err).toBeInstanceOf(OperationOutcomeError);
  const o = (err as OperationOutcomeError).outcome;
  const code = o.issue?.[0]?.code;
  const status = code === 'not-found' ? 404 : code === 'forbidden' ? 403 : code === 'conflict' ? 409 : code === 'business-rule' ? 422 : 400;
  return { status, outcome: o };
}

function sendSuite(dialect: 'sqlite' | 'postgresql'): void {
  let dir: string;
  let store: ResourceStore;
  const config = withMssante();
  const ctx = (at = NOW, c: Config = config): PathwayContext => ({ now: at, actor: 'client:dpi', requestId: 'req-send', config: c, fhirBase: `${BASE}/fhir` });

  const submit = async (doc: unknown): Promise<string> => {
    const b: Bundle = await submitDocument(store, 'ppp', doc, { now: '2026-12-01T09:00:00.000Z', actor: 'client:dpi', fhirBase: `${BASE}/fhir` });
    return b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;
  };
  /** What a refused send must leave untouched. */
  const snapshot = async (cp: string) => ({
    carePlan: (await store.read<CarePlan>('CarePlan', cp))?.meta?.versionId,
    case: await store.pathway.getCase(cp),
    due: await store.pathway.dueOf(cp),
    links: await store.links.live(cp, NOW.toISOString()),
    outbox: (await store.outbox.list({ limit: 100, offset: 0 })).total,
    sends: (await store.auditLog({ entity: `CarePlan/${cp}`, limit: 100 })).filter((a) => a.action === 'ppp.send').length,
  });
  const refusal = async (p: Promise<unknown>): Promise<{ status: number; outcome: OperationOutcome }> => {
    try {
      await p;
    } catch (err) {
      return outcomeOf(err);
    }
    throw new Error('expected a refusal');
  };
  const token = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-send-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
  });
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(PG_SCHEMA);
    rmSync(dir, { recursive: true, force: true });
  });

  let cp: string;
  let first: SendResult;

  it('sends a PPP: a link each to the MT and the PHO, usable by resolveLink, their mails queued, the PPP marked sent', async () => {
    cp = await submit(ppp('PPP-SEND-1'));
    const version = Number((await store.read<CarePlan>('CarePlan', cp))?.meta?.versionId);
    first = await sendPpp(store, cp, ctx());
    // One new CarePlan version for the send (status, period and the re-stored PPP together).
    expect(Number((await store.read<CarePlan>('CarePlan', cp))?.meta?.versionId)).toBe(version + 1);
    expect(first.links.map((l) => [l.role, l.rpps, l.expires])).toEqual([
      ['MT', MT_RPPS, '2027-01-05T10:00:00.000Z'],
      ['PHO', PHO_RPPS, '2027-01-05T10:00:00.000Z'],
    ]);
    for (const l of first.links) {
      expect(l.url).toMatch(/^https:\/\/passerelle\.example\.fr\/p\/[A-Za-z0-9_-]{43}$/);
      expect(await resolveLink(store, token(l.url), { now: new Date(NOW.getTime() + DAY), carePlan: cp, purpose: 'decision' })).toMatchObject({ ok: true, link: { role: l.role, rpps: l.rpps } });
    }
    expect(first.deliveries.map((d) => [d.role, d.state, d.address])).toEqual([
      ['MT', 'queued', 'laurent.knock@medecin.demo.mssante.fr'],
      ['PHO', 'queued', 'pharmacie.liondor@pharmacien.demo.mssante.fr'],
    ]);
    for (const d of first.deliveries) {
      const m = await store.outbox.get(d.outboxId as string);
      expect(m).toMatchObject({ destination: 'mss', state: 'pending', idempotencyKey: d.messageId });
      expect(d.messageId).toMatch(/^<link\.[0-9a-f]{32}@hopital\.mssante\.fr>$/);
      expect(isLinkPayload(m?.payload)).toBe(true);
      const link = first.links.find((l) => l.role === d.role);
      expect(m?.payload).toMatchObject({ resource: `CarePlan/${cp}`, link: { purpose: 'decision', url: link?.url, expires: link?.expires, patientLabel: 'Emma BOVARY née ROUAULT, née le 14/03/1940' } });
    }

    const kase = await store.pathway.getCase(cp);
    expect(kase).toMatchObject({ sentAt: NOW.toISOString(), lastSent: NOW.toISOString() });
    expect((kase?.document as { sentAt?: string }).sentAt).toBe(NOW.toISOString());
    const plan = (await store.read<CarePlan>('CarePlan', cp)) as CarePlan;
    expect(plan.period?.start).toBe(NOW.toISOString());
    expect(pathwayStatusOf(plan)).toEqual({ step: 'attente-decisions', sentAt: NOW.toISOString(), lastSent: NOW.toISOString() });
    const d45 = await store.read<Task>('Task', idFor('Task', FINESS, 'ppp', 'PPP-SEND-1', 'followup-d45'));
    expect(d45?.restriction?.period?.start).toMatch(/^2027-01-20/);
    expect(await store.read<Task>('Task', idFor('Task', FINESS, 'ppp', 'PPP-SEND-1', 'followup-d90'))).toBeDefined();
    expect((await store.pathway.dueOf(cp)).map((d) => [d.kind, d.dueAt, d.state]).sort()).toEqual([
      ['d45', new Date(NOW.getTime() + 45 * DAY).toISOString(), 'scheduled'],
      ['d90', new Date(NOW.getTime() + 90 * DAY).toISOString(), 'scheduled'],
      ['decision-deadline', new Date(NOW.getTime() + 21 * DAY).toISOString(), 'scheduled'],
    ]);
    const audit = (await store.auditLog({ entity: `CarePlan/${cp}`, limit: 100 })).find((a) => a.action === 'ppp.send');
    expect(audit).toMatchObject({ actor: 'client:dpi', outcome: 'success', requestId: 'req-send' });
    expect(audit?.detail).toContain('first send');
    // The token is nowhere in the audit trail.
    const all = JSON.stringify(await store.auditLog({ entity: `CarePlan/${cp}`, limit: 100 }));
    for (const l of first.links) expect(all).not.toContain(token(l.url));
  });

  it('a new send revokes the previous links, keeps the D45/D90 anchor on the first send and moves the decisions deadline', async () => {
    const later = new Date(NOW.getTime() + 3 * DAY);
    const again = await sendPpp(store, cp, ctx(later));
    for (const l of first.links) expect(await resolveLink(store, token(l.url), { now: later, carePlan: cp, purpose: 'decision' })).toEqual({ ok: false });
    for (const l of again.links) expect((await resolveLink(store, token(l.url), { now: later, carePlan: cp, purpose: 'decision' })).ok).toBe(true);
    expect(again.deliveries.map((d) => d.state)).toEqual(['queued', 'queued']);
    expect(again.deliveries.map((d) => d.outboxId)).not.toEqual(first.deliveries.map((d) => d.outboxId));
    const due = Object.fromEntries((await store.pathway.dueOf(cp)).map((d) => [d.kind, d.dueAt]));
    expect(due).toEqual({
      d45: new Date(NOW.getTime() + 45 * DAY).toISOString(),
      d90: new Date(NOW.getTime() + 90 * DAY).toISOString(),
      'decision-deadline': new Date(later.getTime() + 21 * DAY).toISOString(),
    });
    expect(await store.pathway.getCase(cp)).toMatchObject({ sentAt: NOW.toISOString(), lastSent: later.toISOString() });
    const plan = (await store.read<CarePlan>('CarePlan', cp)) as CarePlan;
    expect(plan.period?.start).toBe(NOW.toISOString());
    expect(pathwayStatusOf(plan)).toEqual({ step: 'attente-decisions', sentAt: NOW.toISOString(), lastSent: later.toISOString() });
    const d45 = await store.read<Task>('Task', idFor('Task', FINESS, 'ppp', 'PPP-SEND-1', 'followup-d45'));
    expect(d45?.restriction?.period?.start).toMatch(/^2027-01-20/);
  });

  it('refuses a PPP without an RCP and without a reason (422 on ppp.noRcpReason, in French), writing nothing', async () => {
    const id = await submit(ppp('PPP-SEND-NORCP', (d) => delete d.rcp));
    const before = await snapshot(id);
    const r = await refusal(sendPpp(store, id, ctx()));
    expect(r.status).toBe(422);
    expect(r.outcome.issue?.[0]).toMatchObject({ code: 'business-rule', expression: ['ppp.noRcpReason'] });
    expect(r.outcome.issue?.[0]?.details?.text).toMatch(/RCP.*motif.*noRcpReason/);
    expect(await snapshot(id)).toEqual(before);
    expect(before.links).toEqual([]);
    expect(before.due).toEqual([]);
  });

  it('sends a PPP without an RCP when it gives a reason; without a PHO, to the MT only', async () => {
    const id = await submit(
      ppp('PPP-SEND-MT-ONLY', (d) => {
        delete d.rcp;
        d.noRcpReason = 'Sortie anticipée : RCP impossible avant le retour à domicile.';
        d.team = d.team.filter((t) => t.role !== 'pharmacien-officine');
        const recos = (d as unknown as { recommendations: { decisions?: unknown[] }[] }).recommendations;
        for (const r of recos) r.decisions = (r.decisions ?? []).filter((x) => (x as { actor: string }).actor !== 'PHO');
      }),
    );
    const r = await sendPpp(store, id, ctx());
    expect(r.links.map((l) => l.role)).toEqual(['MT']);
    expect(r.deliveries.map((d) => [d.role, d.state])).toEqual([['MT', 'queued']]);
    // Asking for the PHO nobody names: 422 on the recipient, nothing written.
    const before = await snapshot(id);
    const refused = await refusal(sendPpp(store, id, ctx(), { recipients: ['MT', 'PHO'] }));
    expect(refused.status).toBe(422);
    expect(refused.outcome.issue?.[0]?.expression).toEqual(['recipients[1]']);
    expect(await snapshot(id)).toEqual(before);
  });

  it('sends to the recipients asked for only (the other keeps its link)', async () => {
    const id = await submit(ppp('PPP-SEND-PHO'));
    const [mt, pho] = (await sendPpp(store, id, ctx())).links;
    const r = await sendPpp(store, id, ctx(new Date(NOW.getTime() + DAY)), { recipients: ['PHO'] });
    expect(r.links.map((l) => l.role)).toEqual(['PHO']);
    expect((await resolveLink(store, token(mt!.url), { now: NOW, carePlan: id })).ok).toBe(true);
    expect((await resolveLink(store, token(pho!.url), { now: NOW, carePlan: id })).ok).toBe(false);
  });

  it('answers 404 for an unknown PPP, 409 for a closed one and 422 for a draft, writing nothing', async () => {
    expect((await refusal(sendPpp(store, 'no-such-careplan', ctx()))).status).toBe(404);
    const id = await submit(ppp('PPP-SEND-CLOSED'));
    await store.pathway.close(id, NOW.toISOString());
    const before = await snapshot(id);
    const r = await refusal(sendPpp(store, id, ctx()));
    expect(r.status).toBe(409);
    expect(r.outcome.issue?.[0]?.details?.text).toMatch(/clos/);
    expect(await snapshot(id)).toEqual(before);
    const revoked = await submit(ppp('PPP-SEND-REVOKED', (d) => (d.status = 'revoked')));
    expect((await refusal(sendPpp(store, revoked, ctx()))).status).toBe(409);
    const draft = await submit(ppp('PPP-SEND-DRAFT', (d) => (d.status = 'draft')));
    const beforeDraft = await snapshot(draft);
    const r2 = await refusal(sendPpp(store, draft, ctx()));
    expect(r2.status).toBe(422);
    expect(r2.outcome.issue?.[0]?.expression).toEqual(['ppp.status']);
    expect(await snapshot(draft)).toEqual(beforeDraft);
  });

  it('another tenant: 404 when it cannot see the PPP, 403 when it sees it (care team) but it is another establishment’s', async () => {
    const id = await submit(ppp('PPP-SEND-TENANT'));
    const before = await snapshot(id);
    expect((await refusal(sendPpp(store, id, { ...ctx(), principal: principal({ kind: 'establishment', finess: '990000010' }) }))).status).toBe(404);
    // The officine named on the team (760001016) sees the PPP but does not send it.
    expect((await refusal(sendPpp(store, id, { ...ctx(), principal: principal({ kind: 'pharmacy', finess: '760001016' }) }))).status).toBe(403);
    expect(await snapshot(id)).toEqual(before);
    const own = await sendPpp(store, id, { ...ctx(), principal: principal({ kind: 'establishment', finess: FINESS }) });
    expect(own.links).toHaveLength(2);
  });

  it('without an MSSanté mailbox: the links are issued, their delivery not-configured; no address: the message is refused (dead)', async () => {
    const plain = configFrom({ baseUrl: BASE });
    const id = await submit(ppp('PPP-SEND-NOMSS'));
    const r = await sendPpp(store, id, ctx(NOW, plain));
    expect(r.links).toHaveLength(2);
    expect(r.deliveries.map((d) => d.state)).toEqual(['not-configured', 'not-configured']);

    const id2 = await submit(ppp('PPP-SEND-NOADDR', (d) => d.team.forEach((t) => delete t.practitioner.email)));
    const r2 = await sendPpp(store, id2, ctx());
    expect(r2.deliveries.map((d) => d.state)).toEqual(['refused', 'refused']);
    for (const d of r2.deliveries) {
      expect(d.reason).toMatch(/aucune adresse MSSanté/);
      expect(await store.outbox.get(d.outboxId as string)).toMatchObject({ state: 'dead' });
    }
  });
}

describe('sendPpp on SQLite', () => sendSuite('sqlite'));

const pgDown = await pgUnreachable();
const havePg = available('PostgreSQL', pgDown === undefined, 'the send tests on PostgreSQL');
describe.skipIf(!havePg)('sendPpp on PostgreSQL', () => sendSuite('postgresql'));
