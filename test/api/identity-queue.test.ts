// The identity review queue over real HTTP, on SQLite and on PostgreSQL (issue 21, point 4): GET /identity/reviews
// filtered by grade, flag, establishment and assignee, sorted by age or score (ascending / descending), paged, with
// the counts by grade; a 400 OperationOutcome naming the parameter for an unknown, repeated or out-of-list one
// (hostile values included); POST /identity/reviews/<id>/assign; and the queue's metrics read at scrape time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { mountOpsRoutes } from '../../src/api/ops-routes.js';
import { configFrom } from '../../src/config.js';
import { PatientIdentity } from '../../src/domain/identity.js';
import { Metrics } from '../../src/observability/metrics.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { pgTestStore, sqliteTestStore, type TestStore } from '../support/dialect-stores.js';
import { available } from '../support/shared.js';
import { call, type Outcome } from './server.js';

const ROUEN = '760000018';
const BORDEAUX = '330781196';
const system = (finess: string) => `urn:oid:1.2.250.1.999.1.${finess}.1`;
const json = { 'content-type': 'application/json' };

interface Item {
  id: string;
  grade: string;
  score: number;
  flag: string;
  created: string;
  source: { system: string; value: string };
  assignee?: string;
}
interface Page {
  total: number;
  offset: number;
  count: number;
  byGrade: Record<string, number>;
  oldest?: string;
  items: Item[];
}

/** Near-duplicate pairs: the existing identity, then a newer one that differs a little (one review item each). */
const PAIRS: { a: Partial<PatientIdentity>; b: Partial<PatientIdentity> }[] = [
  { a: { birthName: 'LEMAIRE' }, b: { birthName: 'LEMERE' } },
  { a: { birthName: 'BERTIN', birthDate: '1950-03-07' }, b: { birthName: 'BERTIN', birthDate: '1950-07-03' } },
  { a: { birthName: 'CARON', firstBirthGivenName: 'HÉLÈNE' }, b: { birthName: 'CARRON', firstBirthGivenName: 'HELENE' } },
  { a: { birthName: 'GIRARD' }, b: { birthName: 'GIRART', birthPlaceInsee: '75056' } },
  { a: { birthName: 'DE LA FONTAINE' }, b: { birthName: 'LAFONTAINE' } },
  { a: { birthName: 'PERRIN' }, b: { birthName: 'PERIN', sex: 'M' } },
];

async function seed(store: ResourceStore): Promise<void> {
  const service = identityServiceFor(store);
  for (const [n, pair] of PAIRS.entries()) {
    const base = { firstBirthGivenName: 'MARIE', birthDate: `19${40 + n}-01-11`, sex: 'F', birthPlaceInsee: '49328' } as const;
    // Odd pairs: the existing identity comes from Bordeaux, the newer from Rouen; even pairs: both from Rouen.
    const older = n % 2 === 1 ? BORDEAUX : ROUEN;
    await service.register(PatientIdentity.parse({ sourceId: { system: system(older), value: `Q-${n}-A` }, status: 'VALI', ...base, ...pair.a }), { actor: 'test' });
    await service.register(PatientIdentity.parse({ sourceId: { system: system(ROUEN), value: `Q-${n}-B` }, ...base, ...pair.a, ...pair.b }), { actor: 'test' });
  }
}

function queueTests(dialect: 'sqlite' | 'postgresql', open: () => Promise<TestStore>): void {
  describe(`GET /identity/reviews on ${dialect}`, () => {
    let url: string;
    let store: ResourceStore;
    let close: () => Promise<void>;
    let all: Item[];
    const metrics = new Metrics({ defaultMetrics: false });

    beforeAll(async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-queue-'));
      const opened = await open();
      store = opened.store;
      await seed(store);
      const config = configFrom({ port: 0, dataDir: dir, log: { level: 'silent' } });
      const running = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountIdentityRoutes, mountOpsRoutes], metrics });
      url = running.url;
      close = async () => {
        await running.close();
        await opened.cleanup();
        rmSync(dir, { recursive: true, force: true });
      };
      all = (await call<Page>(`${url}/identity/reviews?state=open&_count=1000`)).body.items;
    }, 60_000);
    afterAll(async () => close?.());

    const get = (query: string) => call<Page & Outcome>(`${url}/identity/reviews?${query}`);

    it('the seeded pairs opened review items of more than one grade, oldest first by default', async () => {
      expect(all.length).toBeGreaterThanOrEqual(4);
      expect(new Set(all.map((i) => i.grade)).size).toBeGreaterThan(1);
      const created = all.map((i) => i.created);
      expect(created).toEqual([...created].sort());
    });

    it('grade filters (one or several), and the counts by grade are of the same filter whatever the grade', async () => {
      const grade = all[0]!.grade;
      const r = await get(`state=open&grade=${grade}`);
      expect(r.status).toBe(200);
      expect(r.body.items.map((i) => i.id)).toEqual(all.filter((i) => i.grade === grade).map((i) => i.id));
      expect(r.body.total).toBe(all.filter((i) => i.grade === grade).length);
      const counts: Record<string, number> = { certain: 0, probable: 0, possible: 0, 'certainly-not': 0 };
      for (const i of all) counts[i.grade]! += 1;
      expect(r.body.byGrade).toEqual(counts);
      expect(r.body.oldest).toBe(all[0]!.created);
      const grades = [...new Set(all.map((i) => i.grade))];
      const both = await get(`grade=${grades.join(',')}&state=open`);
      expect(both.body.total).toBe(all.length);
      const none = await get('grade=certainly-not&state=open');
      expect(none.body.items).toEqual([]);
    });

    it('flag and establishment filter; the establishment is either identity’s source', async () => {
      const flag = all[0]!.flag;
      const byFlag = await get(`state=open&flag=${flag}`);
      expect(byFlag.body.items.map((i) => i.id)).toEqual(all.filter((i) => i.flag === flag).map((i) => i.id));
      const other = await get(`state=open&flag=${flag === 'DPOT' ? 'COLP' : 'DPOT'}`);
      expect(other.body.total).toBe(all.length - byFlag.body.total);

      // Every item's newer identity is from Rouen; only the odd pairs have an identity from Bordeaux.
      const rouen = await get(`state=open&establishment=${ROUEN}`);
      expect(rouen.body.total).toBe(all.length);
      const bordeaux = await get(`state=open&establishment=${BORDEAUX}`);
      const odd = all.filter((i) => Number(i.source.value.split('-')[1]) % 2 === 1);
      expect(odd.length).toBeGreaterThan(0);
      expect(bordeaux.body.items.map((i) => i.id)).toEqual(odd.map((i) => i.id));
      // A FINESS that is only part of an arc does not match (760000018 ⊄ 1760000018).
      expect((await get('state=open&establishment=600000018')).body.total).toBe(0);
      expect((await get('state=open&establishment=000000001')).body.total).toBe(0);
    });

    it('sorts by score and by age, each way; pages with _count/_offset', async () => {
      const byScore = (await get('state=open&_sort=-score')).body.items;
      const scores = byScore.map((i) => i.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      const ascending = (await get('state=open&_sort=score')).body.items.map((i) => i.score);
      expect(ascending).toEqual([...scores].reverse());
      const newest = (await get('state=open&_sort=age')).body.items.map((i) => i.id);
      expect(newest).toEqual(all.map((i) => i.id).reverse());
      expect((await get('state=open&_sort=-age')).body.items.map((i) => i.id)).toEqual(all.map((i) => i.id));
      const p1 = await get('state=open&_count=2&_offset=0');
      const p2 = await get('state=open&_count=2&_offset=2');
      expect(p1.body.total).toBe(all.length);
      expect([...p1.body.items, ...p2.body.items].map((i) => i.id)).toEqual(all.slice(0, 4).map((i) => i.id));
    });

    it('assigns an item, filters on the assignee (me, none, an id), takes it back', async () => {
      const [first, second] = all as [Item, Item];
      const a = await call<Item>(`${url}/identity/reviews/${first.id}/assign`, { body: { assignee: 'person:demo-0002' }, headers: json });
      expect(a.status).toBe(200);
      expect(a.body.assignee).toBe('person:demo-0002');
      // Without authentication the caller is the anonymous client: `me` is its id.
      const who = (await call<Item>(`${url}/identity/reviews/${second.id}/assign`, { body: { assignee: 'anonymous' }, headers: json })).body;
      expect(who.assignee).toBe('anonymous');
      const mine = await get('assignee=person%3Ademo-0002');
      expect(mine.body.items.map((i) => i.id)).toEqual([first.id]);
      const me = await get('assignee=me');
      expect(me.status).toBe(200);
      const nobody = await get('state=open&assignee=none');
      expect(nobody.body.total).toBe(all.length - 2);
      const audit = await store.auditLog({ limit: 1000 });
      expect(audit.some((r) => r.action === 'identity.review-assign' && (r.detail ?? '').includes(first.id))).toBe(true);

      const back = await call<Item>(`${url}/identity/reviews/${first.id}/assign`, { body: { assignee: null }, headers: json });
      expect(back.status).toBe(200);
      expect(back.body.assignee).toBeUndefined();
      expect((await get('assignee=person%3Ademo-0002')).body.total).toBe(0);
      await call(`${url}/identity/reviews/${second.id}/assign`, { body: { assignee: null }, headers: json });
    });

    it('refuses a bad assignment with a 400 or 404, never a 5xx', async () => {
      const id = all[0]!.id;
      for (const body of [{}, { assignee: '' }, { assignee: 42 }, { assignee: 'x'.repeat(201) }, { assignee: 'a\u202Eb' }, { assignee: 'a\nb' }, { assignee: 'a', extra: 1 }]) {
        const r = await call<Outcome>(`${url}/identity/reviews/${id}/assign`, { body, headers: json });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.resourceType).toBe('OperationOutcome');
      }
      expect((await call(`${url}/identity/reviews/nope/assign`, { body: { assignee: 'a' }, headers: json })).status).toBe(404);
    });

    it('answers 400 naming the parameter for unknown, repeated or out-of-list parameters', async () => {
      const cases: [string, string][] = [
        ['stat=open', 'stat'],
        ['grade=probable&grade=possible', 'grade'],
        ['grade=sure', 'grade'],
        ['grade=probable,', 'grade'],
        [`grade=${'probable,'.repeat(400)}probable`, 'grade'],
        ['flag=DOUT', 'flag'],
        ['flag[]=DPOT', 'flag[]'],
        ['establishment=76000001', 'establishment'],
        ['establishment=7600000189', 'establishment'],
        ['establishment=%E2%80%AE760000018', 'establishment'],
        ['assignee=', 'assignee'],
        ['assignee=a%00b', 'assignee'],
        [`assignee=${'x'.repeat(300)}`, 'assignee'],
        ['_sort=created', '_sort'],
        ['_sort=-age,score', '_sort'],
        ['_count=-1', '_count'],
        ['_count=abc', '_count'],
        ['_offset=1e3', '_offset'],
        ['state=closed', 'state'],
        ['_elements=id', '_elements'],
      ];
      for (const [query, param] of cases) {
        const r = await get(query);
        expect(r.status, query.slice(0, 80)).toBe(400);
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(r.body.issue[0]!.expression, query.slice(0, 80)).toEqual([param]);
      }
    });

    it('/metrics: open items by grade, the oldest one’s age, the BPMs on hold', async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const counts: Record<string, number> = {};
      for (const i of all) counts[i.grade] = (counts[i.grade] ?? 0) + 1;
      for (const [grade, n] of Object.entries(counts)) expect(text).toContain(`passerelle_identity_reviews_open{grade="${grade}"} ${n}`);
      expect(text).toContain('passerelle_identity_reviews_open{grade="certainly-not"} 0');
      const age = Number(/^passerelle_identity_review_oldest_age_seconds (\S+)$/m.exec(text)?.[1]);
      expect(age).toBeGreaterThan(0);
      expect(text).toMatch(/^passerelle_bpm_on_hold 0$/m);
    });
  });
}

queueTests('sqlite', () => sqliteTestStore('queue'));

const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the review queue on PostgreSQL')) {
  queueTests('postgresql', () => pgTestStore('queue'));
}
