// Statuses the data does not support (issue 21, point 1): the pure rules (each anomaly kind), and on a real SQLite
// file and a real PostgreSQL schema the doors that register identities — a document (warning on the root entry,
// anomaly with the FINESS), the bulk import (downgraded, counted by kind, unusable lines refused with their number) —
// with the anomalies written in the registration's transaction (a rolled-back one leaves none).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Bundle, Extension, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PatientIdentity } from '../../src/domain/identity.js';
import { supportedIdentity, unsupportedQualIssues } from '../../src/domain/identity-support.js';
import { SYSTEM } from '../../src/fhir/canonical.js';
import { metrics } from '../../src/observability/metrics.js';
import { importPatients, ndjsonLines } from '../../src/services/identity-import.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import { fhirSourcePatient } from '../../src/services/patient-identity.js';
import { submitDocument } from '../../src/services/submission.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const INS = { matricule: '138112A00405796', oid: '1.2.250.1.213.1.4.10' };
const qual = (over: Partial<PatientIdentity> = {}): PatientIdentity => ({
  sourceId: { system: 'urn:oid:1.2.250.1.999.1', value: 'P1' },
  ins: INS,
  status: 'QUAL',
  birthName: 'FALCONE',
  firstBirthGivenName: 'MATEO',
  birthDate: '1938-11-02',
  sex: 'M',
  birthPlaceInsee: '2A004',
  ...over,
});
const without = <K extends keyof PatientIdentity>(p: PatientIdentity, key: K): PatientIdentity => {
  const copy = { ...p };
  delete copy[key];
  return copy;
};

describe('supportedIdentity: the rules', () => {
  it('keeps a consistent identity as it is, with no anomaly', () => {
    for (const p of [qual(), { ...without(qual(), 'ins'), status: 'VALI' as const }, { ...qual(), status: 'RECUP' as const, birthDate: '1938' }]) {
      expect(supportedIdentity(p)).toEqual({ identity: p, anomalies: [] });
    }
  });

  it('QUAL without INS: VALI with complete traits and a verified document, else PROV', () => {
    const p = without(qual(), 'ins');
    const withDoc = supportedIdentity(p, { verifiedDocument: true });
    expect(withDoc.identity.status).toBe('VALI');
    expect(withDoc.anomalies).toEqual([{ code: 'QUAL_WITHOUT_INS', field: 'ins', received: 'status QUAL without an INS', kept: 'status VALI' }]);
    expect(supportedIdentity(p).identity.status).toBe('PROV');
    expect(supportedIdentity(p, { verifiedDocument: false }).anomalies[0].kept).toBe('status PROV');
    // Complete traits are needed for VALI: a partial date on top gives PROV, even with the document.
    const partial = supportedIdentity({ ...p, birthDate: '1938-11' }, { verifiedDocument: true });
    expect(partial.identity.status).toBe('PROV');
    expect(partial.anomalies.map((a) => a.code)).toEqual(['QUAL_WITHOUT_INS', 'QUAL_PARTIAL_BIRTH_DATE']);
  });

  it('QUAL with its INS but incomplete traits: RECUP, one anomaly per fault, naming the shape not the value', () => {
    const date = supportedIdentity(qual({ birthDate: '1938-11' }), { verifiedDocument: true });
    expect(date.identity).toEqual({ ...qual({ birthDate: '1938-11' }), status: 'RECUP' });
    expect(date.anomalies).toEqual([{ code: 'QUAL_PARTIAL_BIRTH_DATE', field: 'birthDate', received: 'status QUAL with a partial birth date (YYYY-MM)', kept: 'status RECUP' }]);
    expect(supportedIdentity(qual({ birthDate: '1938' })).anomalies[0].received).toContain('(YYYY)');
    const place = supportedIdentity(without(qual(), 'birthPlaceInsee'));
    expect([place.identity.status, place.anomalies.map((a) => [a.code, a.field])]).toEqual(['RECUP', [['QUAL_WITHOUT_BIRTHPLACE', 'birthPlaceInsee']]]);
    const sex = supportedIdentity(qual({ sex: 'I' }));
    expect([sex.identity.status, sex.anomalies.map((a) => [a.code, a.field])]).toEqual(['RECUP', [['QUAL_SEX_UNDETERMINED', 'sex']]]);
    const all = supportedIdentity({ ...without(without(qual(), 'ins'), 'birthPlaceInsee'), birthDate: '1938', sex: 'I' });
    expect(all.identity.status).toBe('PROV');
    expect(all.anomalies.map((a) => a.code)).toEqual(['QUAL_WITHOUT_INS', 'QUAL_PARTIAL_BIRTH_DATE', 'QUAL_WITHOUT_BIRTHPLACE', 'QUAL_SEX_UNDETERMINED']);
    expect(all.anomalies.every((a) => a.kept === 'status PROV')).toBe(true);
    expect(JSON.stringify(all.anomalies)).not.toContain('1938');
  });

  it('PROV with an INS: flagged, status and INS kept (never raised)', () => {
    const p = qual({ status: 'PROV' });
    const r = supportedIdentity(p, { verifiedDocument: true });
    expect(r.identity).toEqual(p);
    expect(r.anomalies.map((a) => [a.code, a.field])).toEqual([['INS_WITH_PROV', 'ins']]);
  });

  it('the MSSanté profile still sees the issues it refuses', () => {
    expect(unsupportedQualIssues(qual())).toEqual([]);
    expect(unsupportedQualIssues(without(qual({ sex: 'I' }), 'ins')).map((i) => i.path)).toEqual(['ins', 'status']);
  });
});

/** A FHIR Patient of the import: legacy RNIV status code, optional validationMode, optional INS. */
function fhirPatient(id: string, o: { status?: string; system?: string; validationMode?: boolean; ins?: boolean; birthDate?: string; family?: string } = {}): Patient {
  const parts: Extension[] = [{ url: 'identityStatus', valueCoding: { system: o.system ?? SYSTEM.frCoreRnivStatus, code: o.status ?? 'QUAL' } }];
  if (o.validationMode) parts.push({ url: 'validationMode', valueCoding: { system: 'https://example.org/proof', code: 'CN' } });
  return {
    resourceType: 'Patient',
    identifier: [
      { system: 'urn:oid:1.2.250.1.999.7', value: id, type: { coding: [{ code: 'PI' }] } },
      ...(o.ins ? [{ system: `urn:oid:${INS.oid}`, value: INS.matricule }] : []),
    ],
    extension: [
      { url: SYSTEM.frCoreIdentityReliabilityExt, extension: parts },
      { url: SYSTEM.birthPlaceExt, valueAddress: { extension: [{ url: SYSTEM.frCoreInseeCodeExt, valueCoding: { system: SYSTEM.inseeCommune, code: '2A004' } }] } },
    ],
    name: [{ use: 'official', ...(o.family === '' ? {} : { family: o.family ?? `NOM${id}` }), given: ['MATEO'] }],
    gender: 'male',
    ...(o.birthDate === '' ? {} : { birthDate: o.birthDate ?? '1938-11-02' }),
  };
}

describe('reading a FHIR Patient: the sender asserts a verified document', () => {
  it('a validationMode or a 0445 VALI asserts it; a bare QUAL code does not', () => {
    const bare = fhirSourcePatient(fhirPatient('1'));
    const checked = fhirSourcePatient(fhirPatient('2', { validationMode: true }));
    if (!bare.ok || !checked.ok) throw new Error('not read');
    expect([bare.identity.status, bare.anomalies.map((a) => a.code)]).toEqual(['PROV', ['QUAL_WITHOUT_INS']]);
    expect([checked.identity.status, checked.anomalies.map((a) => a.code)]).toEqual(['VALI', ['QUAL_WITHOUT_INS']]);
    // Table 0445 VALI with the INS and a partial date reads as QUAL, kept RECUP.
    const partial = fhirSourcePatient(fhirPatient('3', { system: SYSTEM.frCoreIdentityStatus, status: 'VALI', ins: true, birthDate: '1938-11' }));
    if (!partial.ok) throw new Error('not read');
    expect([partial.identity.status, partial.anomalies.map((a) => a.code)]).toEqual(['RECUP', ['QUAL_PARTIAL_BIRTH_DATE']]);
  });
});

type Dialect = 'sqlite' | 'postgresql';
const PG_SCHEMA = `passerelle_anomaly_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
const counterOf = async (code: string): Promise<number> => (await metrics.identityAnomalies.get()).values.find((v) => v.labels.code === code)?.value ?? 0;

function suite(dialect: Dialect): void {
  let dir: string;
  let store: ResourceStore;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-anomaly-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    if (dialect === 'postgresql') await dropPgSchema(PG_SCHEMA);
  });

  it('a PPP whose patient is QUAL without INS is stored, its patient PROV, with a warning naming the field', async () => {
    const doc = fixture();
    const patient = { ...(doc.patient as Record<string, unknown>) };
    delete patient.ins;
    const before = await counterOf('QUAL_WITHOUT_INS');
    const answer: Bundle = await submitDocument(store, 'ppp', { ...doc, patient }, { now: '2026-11-22T10:00:00+01:00', actor: 'test', fhirBase: 'http://x/fhir' });
    const root = answer.entry?.find((e) => e.resource?.resourceType === 'CarePlan');
    const warning = root?.response?.outcome?.issue?.[0];
    expect(warning).toMatchObject({ severity: 'warning', code: 'business-rule', expression: ['ppp.patient.ins'] });
    expect(warning?.details?.text).toContain('registered with status PROV');
    const source = await store.identities.getSource('urn:oid:1.2.250.1.999.1.800000317.1', '80057321');
    expect(source?.status).toBe('PROV');
    const stored = await store.identityAnomalies.list({ finess: '800000317' });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ sourceId: '80057321', finess: '800000317', code: 'QUAL_WITHOUT_INS', field: 'ins', kept: 'status PROV' });
    expect(await counterOf('QUAL_WITHOUT_INS')).toBe(before + 1);
  });

  it('the import registers, downgrades and flags; only unusable lines are refused, with their line number', async () => {
    const lines = [
      fhirPatient('10'), // QUAL without INS, no document → PROV
      fhirPatient('11', { validationMode: true }), // → VALI
      fhirPatient('12', { system: SYSTEM.frCoreIdentityStatus, status: 'VALI', ins: true, birthDate: '1938-11' }), // → RECUP
      fhirPatient('13', { family: '' }), // no birth name: refused
      fhirPatient('14', { birthDate: '' }), // no birth date: refused
      { resourceType: 'Practitioner', id: 'x' },
      fhirPatient('15', { system: SYSTEM.frCoreIdentityStatus, status: 'VALI', ins: true }), // consistent QUAL
    ]
      .map((p) => JSON.stringify(p))
      .join('\n');
    const s = await importPatients(store, ndjsonLines(Readable.from([Buffer.from(lines)])), { ctx: { actor: 'test' } });
    expect(s.registered).toBe(4);
    expect(s.downgraded).toBe(3);
    expect(s.anomalies).toEqual({ QUAL_WITHOUT_INS: 2, QUAL_PARTIAL_BIRTH_DATE: 1 });
    expect(s.failures.map((f) => f.line)).toEqual([4, 5, 6]);
    expect(s.failures[0].message).toContain('family');
    const statuses = await Promise.all(['10', '11', '12', '15'].map(async (id) => (await store.identities.getSource('urn:oid:1.2.250.1.999.7', id))?.status));
    expect(statuses).toEqual(['PROV', 'VALI', 'RECUP', 'QUAL']);
    const system = 'urn:oid:1.2.250.1.999.7';
    expect(await store.identityAnomalies.countsByCode({ sourceSystem: system })).toEqual({ QUAL_PARTIAL_BIRTH_DATE: 1, QUAL_WITHOUT_INS: 2 });
    expect((await store.identityAnomalies.list({ sourceSystem: system, code: 'QUAL_PARTIAL_BIRTH_DATE' })).map((a) => [a.sourceId, a.kept])).toEqual([['12', 'status RECUP']]);
  });

  it('anomalies are written in the registration transaction: a rollback leaves none', async () => {
    const before = await store.identityAnomalies.countsByCode();
    await expect(
      store.transaction(async (tx) => {
        await identityServiceFor(store).registerIn(tx, qual({ sourceId: { system: 'urn:oid:1.2.250.1.999.9', value: 'R1' }, status: 'PROV' }), { actor: 'test' });
        await tx.identityAnomalies.record({ sourceSystem: 'urn:oid:1.2.250.1.999.9', sourceId: 'R1' }, supportedIdentity(qual({ status: 'PROV' })).anomalies);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.identityAnomalies.countsByCode()).toEqual(before);
    expect(await store.identities.getSource('urn:oid:1.2.250.1.999.9', 'R1')).toBeUndefined();
  });
}

describe('on SQLite', () => suite('sqlite'));
const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'identity anomalies on PostgreSQL')) {
  describe('on PostgreSQL', () => suite('postgresql'));
}
