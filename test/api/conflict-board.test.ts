// The conflict board per establishment over real HTTP, on SQLite and on PostgreSQL (issue 21 point 3): identities of
// several establishments (test/support/identity-generator.ts, some declared QUAL without what QUAL needs) imported
// through POST /identity/import, so review items, anomalies arise; three merged sources separated through
// POST /identity/separate (COLV, audit rows). The expected figures of every establishment are computed here, from the
// generated identities, the documented status rules and the registry read item by item — not from the board's SQL —
// and compared with GET /identity/conflicts; the CSV export parses (csv-parse) with its header row; bad parameters
// are 400 OperationOutcomes naming the parameter (hostile values included).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { configFrom } from '../../src/config.js';
import type { Patient } from '@medplum/fhirtypes';
import { BOARD_CSV_HEADER, type ConflictBoard } from '../../src/services/conflict-board.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { generateIdentities, toFhirPatient } from '../support/identity-generator.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { pgTestStore, sqliteTestStore, type TestStore } from '../support/dialect-stores.js';
import { available } from '../support/shared.js';
import { call, type Outcome } from './server.js';

/** Every 9-digit OID arc of a system (the test's own reading of "an establishment's patient-id domain"). */
const finessesOf = (system: string): string[] => system.split(/[.:]/).filter((arc) => /^\d{9}$/.test(arc));

/** The status a Patient declares (FR Core identity reliability), read here from the wire. */
const declaredStatus = (p: Patient): string | undefined =>
  p.extension?.find((e) => e.url.endsWith('fr-core-identity-reliability'))?.extension?.find((e) => e.url === 'identityStatus')?.valueCoding?.code;

/** The documented status rules (docs/identity.md "Statuses the data does not support"), applied to a Patient as sent. */
function expectedAnomalies(p: Patient): string[] {
  const status = declaredStatus(p);
  const ins = (p.identifier ?? []).some((i) => (i.system ?? '').includes('1.2.250.1.213.1.4.'));
  const birthPlace = p.extension?.some((e) => e.url.endsWith('patient-birthPlace') && JSON.stringify(e).includes('insee-code'));
  const out: string[] = [];
  if (status === 'QUAL') {
    if (!ins) out.push('QUAL_WITHOUT_INS');
    if ((p.birthDate ?? '').length < 10) out.push('QUAL_PARTIAL_BIRTH_DATE');
    if (!birthPlace) out.push('QUAL_WITHOUT_BIRTHPLACE');
    if (p.gender !== 'male' && p.gender !== 'female') out.push('QUAL_SEX_UNDETERMINED');
  }
  if (status === 'PROV' && ins) out.push('INS_WITH_PROV');
  return out;
}

interface Expected {
  open: number;
  byGrade: Record<string, number>;
  internal: number;
  byEstablishment: Map<string, number>;
  itemIds: string[];
  anomalies: Record<string, number>;
  collisions: string[];
  separations: number;
}

function boardTests(dialect: 'sqlite' | 'postgresql', open: () => Promise<TestStore>): void {
  describe(`GET /identity/conflicts on ${dialect}`, () => {
    let url: string;
    let store: ResourceStore;
    let close: () => Promise<void>;
    const expected = new Map<string, Expected>();
    const sent: Patient[] = [];

    beforeAll(async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-board-'));
      const opened = await open();
      store = opened.store;
      const config = configFrom({ port: 0, dataDir: dir, log: { level: 'silent' } });
      const running = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountIdentityRoutes] });
      url = running.url;
      close = async () => {
        await running.close();
        await opened.cleanup();
        rmSync(dir, { recursive: true, force: true });
      };

      // Identities of several establishments; every fifth copy sent as QUAL without its INS (a feed's anomaly: the
      // mapper never writes that, so the status is set on the wire).
      const { identities } = generateIdentities({ seed: 2126, persons: 140, duplicateRate: 0.45, corruptionRate: 0.5 });
      for (const [n, g] of identities.entries()) {
        if (n % 5 !== 0) {
          sent.push(toFhirPatient(g.identity));
          continue;
        }
        const { ins: _ins, ...withoutIns } = g.identity;
        const p = toFhirPatient({ ...withoutIns, status: 'VALI' });
        const status = p.extension?.find((e) => e.url.endsWith('fr-core-identity-reliability'))?.extension?.find((e) => e.url === 'identityStatus');
        status!.valueCoding = { ...status!.valueCoding, code: 'QUAL', display: 'Identité qualifiée' };
        sent.push(p);
      }
      const body = sent.map((p) => JSON.stringify(p)).join('\n');
      const imported = await call<{ registered: number; failed: number }>(`${url}/identity/import`, { body, headers: { 'content-type': 'application/x-ndjson' } });
      expect(imported.status).toBe(200);
      expect(imported.body.failed).toBe(0);

      // Three sources merged into an identity of two or more, separated: COLV on the old identity, an audit row.
      const service = identityServiceFor(store);
      const byFederated = new Map<string, { system: string; localId: string }[]>();
      for await (const l of store.identities.links()) byFederated.set(l.federated_id, [...(byFederated.get(l.federated_id) ?? []), { system: l.source_system, localId: l.source_id }]);
      const merged = [...byFederated].filter(([, s]) => s.length >= 2).slice(0, 3);
      expect(merged.length).toBe(3);
      const separated: { from: string; to: string }[] = [];
      for (const [, sources] of merged) {
        const s = sources[sources.length - 1]!;
        const r = await call<{ patient: string; previous: string }>(`${url}/identity/separate`, {
          body: { system: s.system, value: s.localId, reason: 'collision signalée par l’établissement' },
          headers: { 'content-type': 'application/json' },
        });
        expect(r.status).toBe(200);
        separated.push({ from: r.body.previous.slice('Patient/'.length), to: r.body.patient.slice('Patient/'.length) });
      }

      // Expected figures, establishment by establishment.
      const finessOfSources = async (federatedId: string): Promise<Set<string>> => new Set((await store.identities.sourcesOf(federatedId)).flatMap((s) => finessesOf(s.system)));
      const entry = (f: string): Expected => {
        let e = expected.get(f);
        if (!e) {
          e = { open: 0, byGrade: { certain: 0, probable: 0, possible: 0, 'certainly-not': 0 }, internal: 0, byEstablishment: new Map(), itemIds: [], anomalies: {}, collisions: [], separations: 0 };
          expected.set(f, e);
        }
        return e;
      };
      const systemOf = (p: Patient): string => p.identifier!.find((i) => i.type?.coding?.[0]?.code === 'PI')!.system!;
      for (const p of sent) for (const f of finessesOf(systemOf(p))) entry(f);
      const items: { id: string; grade: string; sourceSystem: string; newFederatedId: string; candidateFederatedId: string }[] = [];
      for (let offset = 0; ; offset += 100) {
        const page = await service.listReviews({ state: 'open', limit: 100, offset });
        items.push(...page.items);
        if (page.items.length < 100) break;
      }
      for (const r of items) {
        const involved = new Set([...finessesOf(r.sourceSystem), ...(await finessOfSources(r.newFederatedId)), ...(await finessOfSources(r.candidateFederatedId))]);
        for (const f of involved) {
          const e = entry(f);
          e.open++;
          e.byGrade[r.grade]!++;
          e.itemIds.push(r.id);
          const others = [...involved].filter((o) => o !== f);
          if (others.length === 0) e.internal++;
          for (const o of others) e.byEstablishment.set(o, (e.byEstablishment.get(o) ?? 0) + 1);
        }
      }
      for (const p of sent) {
        for (const code of expectedAnomalies(p)) for (const f of finessesOf(systemOf(p))) entry(f).anomalies[code] = (entry(f).anomalies[code] ?? 0) + 1;
      }
      for (const s of separated) {
        // The COLV identity concerns the establishments of its sources and that of the source that left it.
        for (const f of new Set([...(await finessOfSources(s.from)), ...(await finessOfSources(s.to))])) {
          entry(f).collisions.push(s.from);
          entry(f).separations++;
        }
      }
    }, 240_000);
    afterAll(async () => close?.());

    const board = (query: string) => call<ConflictBoard & Outcome>(`${url}/identity/conflicts?${query}`);

    it('the generated set involves several establishments, with reviews across establishments, anomalies and collisions', () => {
      const withReviews = [...expected.values()].filter((e) => e.open > 0);
      expect(withReviews.length).toBeGreaterThanOrEqual(5);
      expect(withReviews.some((e) => e.byEstablishment.size > 0)).toBe(true);
      expect([...expected.values()].filter((e) => Object.keys(e.anomalies).length > 0).length).toBeGreaterThanOrEqual(5);
      expect([...expected.values()].some((e) => e.collisions.length > 0)).toBe(true);
    });

    it('gives every establishment the figures computed independently', async () => {
      for (const [finess, e] of expected) {
        const r = await board(`establishment=${finess}&_count=1000`);
        expect(r.status, finess).toBe(200);
        const b = r.body;
        expect(b.establishment).toBe(finess);
        expect(b.reviews.open, finess).toBe(e.open);
        expect(b.reviews.byGrade, finess).toEqual(e.byGrade);
        expect(b.reviews.internal, finess).toBe(e.internal);
        expect(new Map(b.reviews.byEstablishment.map((x) => [x.finess, x.open])), finess).toEqual(e.byEstablishment);
        expect(b.reviews.items.map((i) => i.id).sort(), finess).toEqual([...e.itemIds].sort());
        // Everything was opened just now: less than a day old.
        expect(b.reviews.byAge, finess).toEqual({ lt1d: e.open, '1-7d': 0, '7-30d': 0, '30-90d': 0, gt90d: 0 });
        expect(b.anomalies.byCode, finess).toEqual(e.anomalies);
        expect(b.anomalies.total).toBe(Object.values(e.anomalies).reduce((x, y) => x + y, 0));
        expect(b.collisions.items.map((c) => c.id).sort(), finess).toEqual([...e.collisions].sort());
        expect(b.separations.total, finess).toBe(e.separations);
        for (const i of b.reviews.items) expect(i.otherEstablishments).not.toContain(finess);
      }
      // An establishment that sent nothing: an empty board, not an error.
      const none = await board('establishment=123456782');
      expect(none.status).toBe(200);
      expect(none.body.reviews.open).toBe(0);
      expect(none.body.anomalies.byCode).toEqual({});
    });

    it('pages the items, oldest first, the figures counting them all', async () => {
      const [finess] = [...expected].sort((a, b) => b[1].open - a[1].open)[0]!;
      const all = (await board(`establishment=${finess}&_count=1000`)).body.reviews.items;
      expect(all.length).toBeGreaterThan(4);
      const created = all.map((i) => i.created);
      expect(created).toEqual([...created].sort());
      const page = await board(`establishment=${finess}&_count=2&_offset=2`);
      expect(page.body.reviews.offset).toBe(2);
      expect(page.body.reviews.count).toBe(2);
      expect(page.body.reviews.open).toBe(all.length);
      expect(page.body.reviews.items.map((i) => i.id)).toEqual(all.slice(2, 4).map((i) => i.id));
    });

    it('exports the board as CSV with a header row (csv-parse)', async () => {
      const [finess, e] = [...expected].sort((a, b) => b[1].collisions.length - a[1].collisions.length || b[1].open - a[1].open)[0]!;
      for (const init of [{ q: `establishment=${finess}&_format=csv`, h: {} as Record<string, string> }, { q: `establishment=${finess}`, h: { accept: 'text/csv' } }]) {
        const res = await fetch(`${url}/identity/conflicts?${init.q}`, { headers: init.h });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
        expect(res.headers.get('content-disposition')).toContain(`conflits-${finess}.csv`);
        const text = await res.text();
        expect(text.split('\r\n')[0]).toBe(BOARD_CSV_HEADER);
        const rows = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
        expect(Object.keys(rows[0]!)).toEqual(BOARD_CSV_HEADER.split(','));
        expect(rows.filter((r) => r.kind === 'review').map((r) => r.id).sort()).toEqual([...e.itemIds].sort());
        expect(rows.filter((r) => r.kind === 'collision').map((r) => r.id).sort()).toEqual([...e.collisions].sort());
        expect(rows.filter((r) => r.kind === 'separation').length).toBe(e.separations);
        expect(Object.fromEntries(rows.filter((r) => r.kind === 'anomaly').map((r) => [r.id, Number(r.count)]))).toEqual(e.anomalies);
        for (const r of rows.filter((x) => x.kind === 'review')) expect(r.other_establishments.split(' ').filter(Boolean)).not.toContain(finess);
      }
    });

    it('answers 400 naming the parameter for a missing, unknown, repeated or bad one — never a 5xx', async () => {
      const cases: [string, string][] = [
        ['', 'establishment'],
        ['establishment=76000001', 'establishment'],
        ['establishment=7600000189', 'establishment'],
        ['establishment=%E2%80%AE760000018', 'establishment'],
        ['establishment=760000018%00', 'establishment'],
        [`establishment=${'7'.repeat(100_00)}`, 'establishment'],
        ['establishment=760000018&establishment=330781196', 'establishment'],
        ['establishment[]=760000018', 'establishment[]'],
        ['establishment=760000018&etablissement=1', 'etablissement'],
        ['establishment=760000018&_count=1001', '_count'],
        ['establishment=760000018&_count=-1', '_count'],
        ['establishment=760000018&_offset=x', '_offset'],
        ['establishment=760000018&_format=xml', '_format'],
        ['establishment=760000018&_format=csv&_format=json', '_format'],
      ];
      for (const [q, param] of cases) {
        const r = await board(q);
        expect(r.status, q.slice(0, 80)).toBe(400);
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(r.body.issue[0]!.expression, q.slice(0, 80)).toEqual([param]);
      }
    });
  });
}

boardTests('sqlite', () => sqliteTestStore('board'));

const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the conflict board on PostgreSQL')) {
  boardTests('postgresql', () => pgTestStore('board'));
}
