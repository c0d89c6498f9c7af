// "A qualified identity must not change silently" (issue 13, point 4), over real HTTP on SQLite and PostgreSQL: a
// known source of a QUAL identity that sends another strict trait opens a COLP item on the identity, which is no
// longer QUAL until a person decides, and no document goes to the DMP under its INS in the meantime.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { startServer } from '../../src/api/app.js';
import { configFrom } from '../../src/config.js';
import type { DocumentMessage } from '../../src/documents/message.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { call, type Outcome } from '../api/server.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const PG_URL = PG_TEST_URL;
const SCHEMA = `passerelle_collision_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

const unreachable = await pgUnreachable(PG_URL);
const withPg = available(`PostgreSQL at ${PG_URL} (${unreachable ?? ''})`, !unreachable, 'the identity collision tests on PostgreSQL');

type Opened = { store: ResourceStore; drop: () => Promise<void> };
const dialects: [string, (dir: string) => Promise<Opened>][] = [
  ['SQLite', async (dir) => ({ store: await openSqliteStore({ file: path.join(dir, 'db.sqlite') }), drop: async () => undefined })],
];
if (withPg) {
  dialects.push([
    'PostgreSQL',
    async () => ({
      store: await openPgStore({ url: PG_URL, schema: SCHEMA, poolSize: 4 }),
      drop: async () => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`).finally(() => client.end());
      },
    }),
  ]);
}

const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
/** The fixture's patient (FALCONE Mateo, QUAL, INS on the NIR test OID) and its hospital IPP. */
const PATIENT = fixture().patient as Record<string, unknown> & { sourceId: { system: string; value: string } };
const LILLE = { system: 'urn:oid:1.2.250.1.999.1.590780193.1', value: 'IPP-LILLE-7' };
const LILLE_8 = { ...LILLE, value: 'IPP-LILLE-8' };

interface ReviewItem {
  id: string;
  state: string;
  grade: string;
  flag: string;
  source: { system: string; value: string };
  newIdentity: string;
  candidate: string;
}
interface IdentityView {
  status: string;
  flags: string[];
  traits: { birthName: string };
  sources: { value: string; link: string }[];
}

describe.each(dialects)('a qualified identity does not change silently (%s)', (_name, open) => {
  let dir: string;
  let opened: Opened;
  let url: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-collision-'));
    opened = await open(dir);
    const config = configFrom({
      port: 0,
      dataDir: dir,
      log: { level: 'silent' },
      outbox: {
        dispatcher: false,
        destinations: { dmp: { kind: 'dmp', url: 'https://127.0.0.1:9/never', tls: { pkcs12: 'unused.p12' } } },
        routes: [{ on: 'ppp.stored', destination: 'dmp' }],
      },
    });
    const running = await startServer({ store: opened.store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes, mountIdentityRoutes] });
    url = running.url;
    close = () => running.close();
  });
  afterAll(async () => {
    await close();
    await opened.store.close();
    await opened.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const dmpPayloads = async (): Promise<DocumentMessage[]> =>
    (await opened.store.outbox.list({ destination: 'dmp', limit: 100, offset: 0 })).items.map((m) => m.payload as DocumentMessage);
  const post = (id: string, patient: Record<string, unknown>) => call<Bundle & Outcome>(`${url}/ppp`, { body: { ...fixture(), id, patient }, headers: { 'content-type': 'application/json' } });
  const warnings = (b: Bundle): string[] =>
    (b.entry ?? []).flatMap((e) => (e.response?.outcome as Outcome | undefined)?.issue ?? []).map((i) => i.details?.text ?? '');
  const federatedOf = async (value: string, system = value.startsWith('IPP-LILLE') ? LILLE.system : PATIENT.sourceId.system): Promise<string> => {
    const s = await opened.store.identities.getSource(system, value);
    if (!s) throw new Error(`source ${value} not registered`);
    return s.federatedId;
  };
  const openItems = async (): Promise<ReviewItem[]> => (await call<{ items: ReviewItem[] }>(`${url}/identity/reviews?state=open&_count=100`)).body.items;
  const view = async (id: string): Promise<IdentityView> => (await call<{ candidate: IdentityView }>(`${url}/identity/reviews/${id}`)).body.candidate;
  const decide = (id: string, decision: 'same' | 'different') =>
    call(`${url}/identity/reviews/${id}/decision`, { body: { decision, reason: 'checked with the patient' }, headers: { 'content-type': 'application/json' } });

  it('another birth name from the same source: COLP item, the identity is VALI, the next document is not sent to the DMP', async () => {
    const first = await post('COLL-1', PATIENT);
    expect(first.status).toBeLessThan(300);
    expect(await dmpPayloads()).toHaveLength(1);
    const fed = await federatedOf(PATIENT.sourceId.value);

    // The probe of issue 13: the same IPP and INS, another birth name.
    const resent = await post('COLL-2', { ...PATIENT, birthName: 'MARTIN' });
    expect(resent.status).toBeLessThan(300);
    expect(warnings(resent.body)).toEqual([expect.stringMatching(/^not sent to dmp: the patient identity is not certain yet/)]);
    const items = await openItems();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ flag: 'COLP', newIdentity: `Patient/${fed}`, candidate: `Patient/${fed}`, source: { value: PATIENT.sourceId.value } });
    expect(['probable', 'possible']).toContain(items[0].grade);
    const identity = await view(items[0].id);
    expect(identity.status).toBe('VALI');
    expect(identity.flags).toContain('COLP');
    // The qualified reference traits are kept until a person decides; the INS is no longer published.
    expect(identity.traits.birthName).toBe('FALCONE');
    const published = (await call<Patient>(`${url}/fhir/Patient/${fed}`)).body;
    expect(published.identifier?.some((i) => i.value === '138112A00405796')).toBe(false);

    // A document posted meanwhile goes nowhere, and says why.
    const meanwhile = await post('COLL-3', { ...PATIENT, birthName: 'MARTIN' });
    expect(warnings(meanwhile.body)).toEqual([expect.stringMatching(/^not sent to dmp: the patient identity is not certain yet/)]);
    // Another establishment naming the qualified patient is linked, but its documents wait too: the identity is VALI.
    const lille = await post('COLL-4', { ...PATIENT, sourceId: LILLE });
    expect(warnings(lille.body)).toEqual([expect.stringMatching(/^not sent to dmp: the patient identity is VALI, not qualified/)]);
    expect(await federatedOf(LILLE.value)).toBe(fed);
    expect((await view(items[0].id)).status).toBe('VALI');
    expect(await dmpPayloads()).toHaveLength(1);
    const refused = (await opened.store.auditLog({ limit: 100 })).filter((a) => a.action === 'document.refused');
    expect(refused).toHaveLength(3);

    // The referent says the change is right (same person): the identity is QUAL again, with the corrected traits.
    expect((await decide(items[0].id, 'same')).status).toBe(200);
    const after = await view(items[0].id);
    expect(after).toMatchObject({ status: 'QUAL', traits: { birthName: 'MARTIN' } });
    expect(after.flags).not.toContain('COLP');
    const next = await post('COLL-5', { ...PATIENT, birthName: 'MARTIN' });
    expect(warnings(next.body)).toEqual([]);
    const payloads = await dmpPayloads();
    expect(payloads).toHaveLength(2);
    expect(payloads[1].patient).toMatchObject({ birthName: 'MARTIN', status: 'QUAL', ins: { matricule: '138112A00405796' } });
  });

  it('"different": the source that changed leaves for an identity of its own, never QUAL; the qualified identity is QUAL again', async () => {
    const fed = await federatedOf(PATIENT.sourceId.value);
    // Another Lille IPP names the same qualified patient (now MARTIN), then another person under the same IPP and INS.
    await post('COLL-6', { ...PATIENT, sourceId: LILLE_8, birthName: 'MARTIN' });
    expect(await federatedOf(LILLE_8.value)).toBe(fed);
    const before = (await dmpPayloads()).length;
    const louis = { ...PATIENT, sourceId: LILLE_8, birthName: 'MARTIN', firstBirthGivenName: 'Louis', birthGivenNames: ['Louis'], birthDate: '1938-11-03' };
    const r = await post('COLL-7', louis);
    expect(warnings(r.body)).toEqual([expect.stringMatching(/^not sent to dmp: the patient identity is not certain yet/)]);
    const [item] = (await openItems()).filter((i) => i.source.value === LILLE_8.value);
    expect(item).toMatchObject({ flag: 'COLP', candidate: `Patient/${fed}` });
    expect((await view(item.id)).status).toBe('VALI');

    expect((await decide(item.id, 'different')).status).toBe(200);
    const old = await view(item.id);
    expect(old).toMatchObject({ status: 'QUAL', traits: { birthName: 'MARTIN' } });
    expect(old.flags).toContain('COLV');
    expect(old.flags).not.toContain('COLP');
    expect(old.sources.map((s) => s.value).sort()).toEqual([PATIENT.sourceId.value, LILLE.value].sort());
    const separated = await federatedOf(LILLE_8.value);
    expect(separated).not.toBe(fed);
    expect(await opened.store.identities.getFederated(separated)).toMatchObject({ status: 'VALI', traits: { firstBirthGivenName: 'Louis' } });
    // The separated source's documents are not sent under the INS; the hospital's are again.
    const lille = await post('COLL-8', louis);
    expect(warnings(lille.body)).toEqual([expect.stringMatching(/^not sent to dmp: the patient identity is VALI, not qualified/)]);
    const hospital = await post('COLL-9', { ...PATIENT, birthName: 'MARTIN' });
    expect(warnings(hospital.body)).toEqual([]);
    expect(await dmpPayloads()).toHaveLength(before + 1);
  });

  it('the probe with U+202E in the given name is refused with 400 naming the field, and writes nothing', async () => {
    const versions = (await opened.store.auditLog({ limit: 1000 })).length;
    const outbox = (await dmpPayloads()).length;
    const r = await post('COLL-10', { ...PATIENT, birthName: 'DURAND', firstBirthGivenName: 'Ma\u202Eteo' });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue.flatMap((i) => i.expression ?? [])).toContain('ppp.patient.firstBirthGivenName');
    expect((await opened.store.auditLog({ limit: 1000 })).length).toBe(versions);
    expect(await dmpPayloads()).toHaveLength(outbox);
    expect((await opened.store.identities.getSource(PATIENT.sourceId.system, PATIENT.sourceId.value))?.traits.birthName).toBe('MARTIN');
  });
});
