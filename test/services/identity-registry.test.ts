// The identity registry on a real SQLite file: the RNIV decision policy as the registry applies it (link,
// review, new), the review decisions (merge, reject, unmerge), audit, rollback and restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { PatientIdentity } from '../../src/domain/identity.js';
import { insKey } from '../../src/domain/ins.js';
import { sourcePatientId } from '../../src/fhir/federated-patient.js';
import { IdentityService, type IdentityServiceOptions } from '../../src/services/identity-registry.js';
import type { SourceIdentity } from '../../src/identity/types.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { TestClock } from '../store/contract.js';
import { marieDupont } from '../support/identity-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-registry-'));
let fileNo = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nir = (body: string): string => body + String(insKey(body)).padStart(2, '0');
const INS = { matricule: nir('2690549588157'), oid: '1.2.250.1.213.1.4.8' };
const OTHER_INS = { matricule: nir('2690549588158'), oid: '1.2.250.1.213.1.4.8' };
const HOSPITAL = 'urn:oid:1.2.250.1.71.4.2.2.760000001';
const PHARMACY = 'urn:oid:1.2.250.1.71.4.2.2.760000002';
const GP = 'https://gp.example/patients';
const ctx = { actor: 'client-test', requestId: 'req-1' };

const identity = marieDupont;
const qual = (system: string, value: string, over: Partial<z.input<typeof PatientIdentity>> = {}): SourceIdentity =>
  identity(system, value, { status: 'QUAL', ins: INS, ...over });

describe('IdentityService on SQLite', () => {
  let file: string;
  let store: ResourceStore;
  let svc: IdentityService;
  let clock: TestClock;
  let ids: number;
  const options = (): IdentityServiceOptions => ({ newId: () => `fed-${String(++ids).padStart(4, '0')}` });

  beforeEach(async () => {
    file = join(dir, `registry-${fileNo++}.db`);
    clock = new TestClock();
    ids = 0;
    store = await openSqliteStore({ file, now: clock.now });
    svc = new IdentityService(store, options());
  });
  afterEach(async () => {
    await store.close();
  });

  const patient = async (id: string): Promise<Patient> => {
    const p = await store.read<Patient>('Patient', id);
    if (!p) throw new Error(`Patient/${id} not stored`);
    return p;
  };
  const links = (p: Patient): string[] => (p.link ?? []).map((l) => `${l.type} ${l.other.reference}`).sort();
  const statuses = (p: Patient): string[] =>
    (p.extension ?? []).flatMap((e) => e.extension ?? []).map((e) => e.valueCoding?.code ?? '');
  const actions = async (): Promise<string[]> => (await store.auditLog({ limit: 1000 })).map((a) => a.action).reverse();
  const count = (table: string): number => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  describe('registration (decision policy)', () => {
    it('auto-links the same INS when both identities are qualified, and the federated Patient carries the INS', async () => {
      const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
      const b = await svc.register(qual(PHARMACY, 'PH-9', { birthName: 'Dupont', firstBirthGivenName: 'Marie' }), ctx);
      expect(a.decision).toBe('new');
      expect(b).toMatchObject({ federatedId: a.federatedId, decision: 'auto-linked', grade: 'certain' });
      const p = await patient(a.federatedId);
      expect(p.active).toBe(true);
      expect(p.identifier?.some((i) => i.system === 'urn:oid:1.2.250.1.213.1.4.8' && i.value === INS.matricule)).toBe(true);
      expect(links(p)).toEqual(
        [`seealso Patient/${sourcePatientId(HOSPITAL, 'IPP-1')}`, `seealso Patient/${sourcePatientId(PHARMACY, 'PH-9')}`].sort(),
      );
      // The source Patients exist, so the links resolve.
      expect((await patient(sourcePatientId(PHARMACY, 'PH-9'))).birthDate).toBe('1969-05-12');
      expect((await store.identities.getSource(PHARMACY, 'PH-9'))?.decision).toBe('auto');
    });

    it('auto-links five equal strict traits with one side VALI; never emits an INS for a non-qualified identity', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI', ins: INS }), ctx);
      const b = await svc.register(identity(GP, 'gp-7', { birthName: 'Dupont', firstBirthGivenName: 'Marie' }), ctx);
      expect(b).toMatchObject({ federatedId: a.federatedId, decision: 'auto-linked', grade: 'certain' });
      const p = await patient(a.federatedId);
      expect(p.identifier?.map((i) => i.system)).not.toContain('urn:oid:1.2.250.1.213.1.4.8');
      expect(statuses(p)).toContain('VALI');
    });

    it('keeps a fuzzy match separate: a new federated identity and an open review item flagged DPOT', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx);
      expect(b).toMatchObject({ decision: 'review', link: 'review' });
      expect(b.federatedId).not.toBe(a.federatedId);
      expect(['probable', 'possible']).toContain(b.grade);
      const detail = await svc.getReview(b.reviewId as string);
      expect(detail?.review).toMatchObject({ state: 'open', flag: 'DPOT', newFederatedId: b.federatedId, candidateFederatedId: a.federatedId });
      expect(detail?.review.comparison.comparisons.find((c) => c.field === 'birthName')?.level).not.toBe('exact');
      expect(detail?.newIdentity.sources.map((s) => s.localId)).toEqual(['PH-9']);
      expect(detail?.candidate.sources.map((s) => s.localId)).toEqual(['IPP-1']);
      // Both identities show the potential duplicate.
      expect(statuses(await patient(a.federatedId))).toContain('DPOT');
      expect(statuses(await patient(b.federatedId))).toContain('DPOT');
      expect((await store.identities.getSource(PHARMACY, 'PH-9'))?.decision).toBe('review');
      expect((await svc.listReviews({ state: 'open' })).total).toBe(1);
    });

    it('flags COLP when the same INS comes with a different birth date', async () => {
      await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
      const b = await svc.register(qual(PHARMACY, 'PH-9', { birthDate: '1969-05-13' }), ctx);
      expect(b.decision).toBe('review');
      const detail = await svc.getReview(b.reviewId as string);
      expect(detail?.review.flag).toBe('COLP');
      expect(statuses(await patient(b.federatedId))).toContain('COLP');
    });

    it('creates a new identity for certainly-not candidates: different INS, or another person in the same block', async () => {
      const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
      const b = await svc.register(qual(PHARMACY, 'PH-9', { ins: OTHER_INS }), ctx);
      // Same birth date and sex (same blocking key), other names and commune: weighs below `possible`.
      const c = await svc.register(identity(GP, 'gp-7', { birthName: 'MARTIN', firstBirthGivenName: 'CLAIRE', birthPlaceInsee: '75056' }), ctx);
      expect(b.decision).toBe('new');
      expect(c.decision).toBe('new');
      expect(new Set([a.federatedId, b.federatedId, c.federatedId]).size).toBe(3);
      expect((await svc.listReviews()).total).toBe(0);
    });

    it('sends several certain matches on different identities to review instead of picking one', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      await svc.register(identity(PHARMACY, 'PH-9', { status: 'VALI' }), ctx);
      const separated = await svc.separate(PHARMACY, 'PH-9', { who: 'referent', why: 'twin sister', collision: false });
      const c = await svc.register(identity(GP, 'gp-7'), ctx);
      expect(c.decision).toBe('review');
      expect(c.grade).toBe('certain');
      expect(c.reviewIds).toHaveLength(2);
      const candidates = await Promise.all((c.reviewIds ?? []).map(async (id) => (await svc.getReview(id))?.review.candidateFederatedId));
      expect(candidates.sort()).toEqual([a.federatedId, separated.federatedId].sort());
    });

    it('is idempotent per (system, local id): a re-sent identity is known, nothing is rewritten', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1'), ctx);
      const versions = count('resource_versions');
      const audits = count('audit');
      // A bare OID and its urn:oid: form name the same system.
      const again = await svc.register(identity(HOSPITAL.replace('urn:oid:', ''), 'IPP-1'), ctx);
      expect(again).toEqual({ federatedId: a.federatedId, decision: 'known', link: 'new' });
      expect(count('identity_sources')).toBe(1);
      expect(count('identity_federated')).toBe(1);
      expect(count('resource_versions')).toBe(versions);
      expect(count('audit')).toBe(audits);
    });

    it('re-matches a known source whose strict traits changed: review items, never an automatic move', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'MARTIN', firstBirthGivenName: 'CLAIRE', birthPlaceInsee: '75056' }), ctx);
      expect(b.decision).toBe('new');
      // The pharmacy corrects its record: it now equals the hospital's (certain), yet stays a separate identity.
      const r = await svc.register(identity(PHARMACY, 'PH-9'), ctx);
      expect(r).toMatchObject({ federatedId: b.federatedId, decision: 'review', link: 'review', grade: 'certain' });
      expect((await svc.getReview(r.reviewId as string))?.review).toMatchObject({ newFederatedId: b.federatedId, candidateFederatedId: a.federatedId });
      expect((await svc.getFederated(b.federatedId))?.traits.birthName).toBe('DUPONT');
      // Sent again unchanged: no second item.
      expect((await svc.register(identity(PHARMACY, 'PH-9'), ctx)).decision).toBe('known');
      expect((await svc.listReviews({ state: 'open' })).total).toBe(1);
    });

    it('never lets a lower-status source overwrite the strict traits of a qualified identity, nor change them silently', async () => {
      const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
      await svc.register(identity(PHARMACY, 'PH-9', { status: 'VALI' }), ctx);
      // The linked VALI source now sends another birth name: the federated reference stays the QUAL one, but the
      // identity is a potential collision (COLP), not qualified until a person decides.
      const r = await svc.register(identity(PHARMACY, 'PH-9', { status: 'VALI', birthName: 'DURAND' }), ctx);
      expect(r).toMatchObject({ federatedId: a.federatedId, decision: 'review', link: 'review' });
      const fed = await svc.getFederated(a.federatedId);
      expect(fed).toMatchObject({ status: 'VALI', flags: ['COLP'], traits: { birthName: 'DUPONT' } });
      expect((await patient(a.federatedId)).name?.[0]?.family).toBe('DUPONT');
      expect((await store.identities.getSource(PHARMACY, 'PH-9'))?.traits.birthName).toBe('DURAND');
      // "Same person": the pharmacy's record is the same patient; the qualified source gives the reference again.
      await svc.decide(r.reviewId as string, { decision: 'same', who: 'dr.referent', why: 'maiden name at the pharmacy' }, ctx);
      expect(await svc.getFederated(a.federatedId)).toMatchObject({ status: 'QUAL', flags: [], traits: { birthName: 'DUPONT' } });
      expect((await patient(a.federatedId)).identifier?.some((i) => i.value === INS.matricule)).toBe(true);
    });

    describe('a known source of a qualified identity changes a strict trait (issue 13)', () => {
      const changes: [string, Partial<z.input<typeof PatientIdentity>>][] = [
        ['birth name', { birthName: 'MARTIN' }],
        ['first birth given name', { firstBirthGivenName: 'CLAIRE' }],
        ['birth date', { birthDate: '1969-05-13' }],
        ['sex', { sex: 'M' }],
        ['birthplace', { birthPlaceInsee: '75056' }],
      ];
      it.each(changes)('%s: one COLP item on the identity itself, VALI meanwhile, the source under review', async (_trait, change) => {
        const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
        const r = await svc.register(qual(HOSPITAL, 'IPP-1', change), ctx);
        expect(r).toMatchObject({ federatedId: a.federatedId, decision: 'review', link: 'review' });
        const item = (await svc.getReview(r.reviewId as string))?.review;
        expect(item).toMatchObject({ flag: 'COLP', newFederatedId: a.federatedId, candidateFederatedId: a.federatedId, state: 'open' });
        expect(item?.comparison.reasons[0]).toMatch(/^a known source of a qualified identity changed strict traits/);
        const fed = await svc.getFederated(a.federatedId);
        expect(fed).toMatchObject({ status: 'VALI', flags: ['COLP'], traits: { birthName: 'DUPONT', status: 'VALI' } });
        const p = await patient(a.federatedId);
        expect(p.identifier?.some((i) => i.value === INS.matricule)).toBe(false);
        expect(statuses(p)).toEqual(expect.arrayContaining(['VALI', 'COLP']));
        // Sent again, or with yet another change: still one item, the identity still not qualified.
        expect(await svc.register(qual(HOSPITAL, 'IPP-1', { ...change, usedName: 'X' }), ctx)).toMatchObject({ decision: 'known', link: 'review' });
        expect((await svc.listReviews({ state: 'open' })).total).toBe(1);
        // A new QUAL source with the same INS and the old traits is linked, but does not qualify the identity again.
        expect(await svc.register(qual(PHARMACY, 'PH-9'), ctx)).toMatchObject({ federatedId: a.federatedId, decision: 'auto-linked' });
        expect((await svc.getFederated(a.federatedId))?.status).toBe('VALI');
        const audit = (await store.auditLog({ entity: `Patient/${a.federatedId}` })).find((x) => x.action === 'identity.register' && x.detail?.includes('COLP'));
        expect(audit?.detail).not.toMatch(/MARTIN|CLAIRE|1969|75056/);
      });

      it('the same traits written differently (case, accents) are no change; a trait sent at a lower precision neither', async () => {
        const a = await svc.register(qual(HOSPITAL, 'IPP-1', { firstBirthGivenName: 'Hélène' }), ctx);
        expect(await svc.register(qual(HOSPITAL, 'IPP-1', { firstBirthGivenName: 'HELENE', birthName: 'Dupont' }), ctx)).toMatchObject({ decision: 'known' });
        expect(await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'PROV', firstBirthGivenName: 'Helene', birthPlaceInsee: undefined, birthDate: '1969-05' }), ctx)).toMatchObject({ decision: 'known' });
        expect((await svc.listReviews({ state: 'open' })).total).toBe(0);
        expect((await svc.getFederated(a.federatedId))?.status).toBe('QUAL');
      });

      it('a link set by a human does not exempt the source; "different" on the only source leaves the identity VALI with COLV', async () => {
        const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
        const r = await svc.register(qual(HOSPITAL, 'IPP-1', { birthName: 'MARTIN' }), ctx);
        await svc.decide(r.reviewId as string, { decision: 'same', who: 'dr.referent', why: 'married name typed as birth name, now corrected' }, ctx);
        expect(await svc.getFederated(a.federatedId)).toMatchObject({ status: 'QUAL', traits: { birthName: 'MARTIN' } });
        expect((await store.identities.getSource(HOSPITAL, 'IPP-1'))?.decision).toBe('manual');
        const again = await svc.register(qual(HOSPITAL, 'IPP-1', { birthName: 'DURAND' }), ctx);
        expect(again).toMatchObject({ decision: 'review', link: 'review' });
        const d = await svc.decide(again.reviewId as string, { decision: 'different', who: 'dr.referent', why: 'the IPP now names someone else' }, ctx);
        expect(d.federatedId).toBe(a.federatedId);
        expect(await svc.getFederated(a.federatedId)).toMatchObject({ status: 'VALI', flags: ['COLV'] });
        expect(await store.identities.pairDecisionsOf(a.federatedId)).toEqual([]);
        expect((await store.auditLog({ limit: 5 })).map((x) => x.action)).toContain('identity.collision-different');
      });

      it('a merge does not resolve the COLP item nor bring QUAL back', async () => {
        const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
        const r = await svc.register(qual(HOSPITAL, 'IPP-1', { birthName: 'MARTIN' }), ctx);
        // A fuzzy copy from the pharmacy, qualified, with its own item against the identity: merged by a person.
        const b = await svc.register(qual(PHARMACY, 'PH-9', { birthDate: '1969-05-21' }), ctx);
        expect(b.decision).toBe('review');
        await svc.decide(b.reviewId as string, { decision: 'same', who: 'dr.referent', why: 'date typo' }, ctx);
        expect((await svc.getReview(r.reviewId as string))?.review.state).toBe('open');
        expect((await svc.getFederated(a.federatedId))?.status).toBe('VALI');
      });
    });

    it('promotes a qualified source to reference traits of an identity that was not qualified', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(qual(PHARMACY, 'PH-9'), ctx);
      expect(b).toMatchObject({ federatedId: a.federatedId, decision: 'auto-linked' });
      const fed = await svc.getFederated(a.federatedId);
      expect(fed?.status).toBe('QUAL');
      expect((await patient(a.federatedId)).identifier?.some((i) => i.value === INS.matricule)).toBe(true);
    });

    it('answers $match without writing, best first, and onlyCertain gives the single certain match', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx);
      const before = count('identity_sources');
      const all = await svc.match(identity('urn:query', 'q'));
      expect(all[0]).toMatchObject({ federatedId: a.federatedId, grade: 'certain' });
      expect(all.length).toBeGreaterThanOrEqual(2);
      expect(all.map((r) => r.score)).toEqual([...all.map((r) => r.score)].sort((x, y) => y - x));
      expect(await svc.match(identity('urn:query', 'q'), { count: 1 })).toHaveLength(1);
      expect(await svc.match(identity('urn:query', 'q'), { onlyCertain: true })).toEqual([all[0]]);
      expect(await svc.match(identity('urn:query', 'q', { birthName: 'DUPOND' }), { onlyCertain: true })).toEqual([]);
      expect(count('identity_sources')).toBe(before);
    });
  });

  describe('review decisions', () => {
    const fuzzyPair = async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx);
      return { a, b, reviewId: b.reviewId as string };
    };

    it('merges on "same": the newer identity is DOUA + DESA, inactive, replaced by the older, its sources moved', async () => {
      const { a, b, reviewId } = await fuzzyPair();
      const r = await svc.decide(reviewId, { decision: 'same', who: 'dr.referent', why: 'same person, typo in the name' }, ctx);
      expect(r).toMatchObject({ federatedId: a.federatedId, replaced: b.federatedId });
      expect(r.review).toMatchObject({ state: 'decided', decision: 'same', decidedBy: 'dr.referent', reason: 'same person, typo in the name' });
      expect(r.review.decidedAt).toMatch(/^\d{4}-/);

      const loser = await svc.getFederated(b.federatedId);
      expect(loser).toMatchObject({ active: false, replacedBy: a.federatedId, sources: [] });
      expect(loser?.flags).toEqual(['DOUA', 'DESA']);
      const winner = await svc.getFederated(a.federatedId);
      expect(winner?.flags).toEqual([]);
      expect(winner?.sources.map((s) => [s.localId, s.decision])).toEqual([
        ['IPP-1', 'new'],
        ['PH-9', 'manual'],
      ]);

      const lp = await patient(b.federatedId);
      expect(lp.active).toBe(false);
      expect(links(lp)).toEqual([`replaced-by Patient/${a.federatedId}`]);
      // The survivor carries the identity now: no INS, no second "current" record on the merged one.
      expect(lp.meta?.profile).toEqual(['https://fhir.passerelle.fr/StructureDefinition/passerelle-patient']);
      expect(statuses(lp)).toEqual(expect.arrayContaining(['DOUA', 'DESA']));
      const wp = await patient(a.federatedId);
      expect(links(wp)).toEqual(
        [
          `replaces Patient/${b.federatedId}`,
          `seealso Patient/${sourcePatientId(HOSPITAL, 'IPP-1')}`,
          `seealso Patient/${sourcePatientId(PHARMACY, 'PH-9')}`,
        ].sort(),
      );
      // History kept: the loser's Patient had a version with its own source link.
      const history = await store.history('Patient', b.federatedId);
      expect(history.some((v) => links(v.resource as Patient).includes(`seealso Patient/${sourcePatientId(PHARMACY, 'PH-9')}`))).toBe(true);

      // The merged identity is no longer a candidate; the source it absorbed now finds the winner.
      expect((await svc.match(identity('urn:q', 'q', { birthName: 'DUPOND' }))).map((m) => m.federatedId)).toEqual([a.federatedId]);
      const audit = (await store.auditLog({ entity: `Patient/${b.federatedId}` }))[0];
      expect(audit).toMatchObject({ action: 'identity.merge', actor: 'client-test', requestId: 'req-1' });
      expect(JSON.parse(audit.detail as string)).toMatchObject({ review: reviewId, who: 'dr.referent', why: 'same person, typo in the name' });
    });

    it('merging two qualified identities (COLP resolved as same) leaves the INS on the survivor only', async () => {
      const a = await svc.register(qual(HOSPITAL, 'IPP-1'), ctx);
      const b = await svc.register(qual(PHARMACY, 'PH-9', { birthDate: '1969-05-13' }), ctx);
      await svc.decide(b.reviewId as string, { decision: 'same', who: 'dr.referent', why: 'birth date typo at the pharmacy' });
      const found = await store.search({ resourceType: 'Patient', predicates: [{ param: 'identifier', prefix: 'eq', values: [`urn:oid:1.2.250.1.213.1.4.8|${INS.matricule}`] }], count: 10, offset: 0 });
      expect(found.resources.map((r) => r.id).filter((id) => id === a.federatedId || id === b.federatedId)).toEqual([a.federatedId]);
      expect(statuses(await patient(a.federatedId))).not.toContain('COLP');
      expect((await svc.getFederated(a.federatedId))?.traits.birthDate).toBe('1969-05-12');
    });

    it('refuses a second decision on the same item, and unknown items', async () => {
      const { reviewId } = await fuzzyPair();
      await svc.decide(reviewId, { decision: 'different', who: 'dr.referent', why: 'different persons' });
      await expect(svc.decide(reviewId, { decision: 'same', who: 'x', why: 'y' })).rejects.toThrow(/already decided/);
      await expect(svc.decide('nope', { decision: 'same', who: 'x', why: 'y' })).rejects.toThrow(/not found/);
      await expect(svc.decide(reviewId, { decision: 'same', who: '', why: 'y' })).rejects.toThrow(/who/);
    });

    it('remembers "different": the pair is never proposed again, whatever the sources re-send', async () => {
      const { a, b, reviewId } = await fuzzyPair();
      const r = await svc.decide(reviewId, { decision: 'different', who: 'dr.referent', why: 'two sisters' });
      expect(r).toMatchObject({ federatedId: b.federatedId });
      expect(statuses(await patient(a.federatedId))).not.toContain('DPOT');
      expect((await store.identities.pairDecision(a.federatedId, b.federatedId))?.decision).toBe('different');
      expect((await store.identities.getSource(PHARMACY, 'PH-9'))?.decision).toBe('manual');

      // Same traits again, then changed traits on both sides: no new item for this pair.
      expect(await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx)).toEqual({ federatedId: b.federatedId, decision: 'known', link: 'manual' });
      expect((await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI', birthName: 'DUPONT-MARTIN' }), ctx)).federatedId).toBe(a.federatedId);
      expect((await svc.register(identity(PHARMACY, 'PH-9', { status: 'VALI' }), ctx)).federatedId).toBe(b.federatedId);
      expect((await svc.listReviews({ state: 'open' })).total).toBe(0);
      expect(await svc.getFederated(b.federatedId)).toMatchObject({ active: true });
    });

    it('never overrides a merge: the moved source stays with the survivor when its traits change', async () => {
      const { a, reviewId } = await fuzzyPair();
      await svc.decide(reviewId, { decision: 'same', who: 'dr.referent', why: 'same person' });
      const r = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DURAND', birthDate: '1970-01-02' }), ctx);
      expect(r).toEqual({ federatedId: a.federatedId, decision: 'known', link: 'manual' });
      expect((await svc.listReviews({ state: 'open' })).total).toBe(0);
    });

    it('separates (unmerge) a source into a new identity: COLV on the old one, remembered as different, audited', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      await svc.register(identity(PHARMACY, 'PH-9'), ctx);
      const s = await svc.separate(PHARMACY, 'PH-9', { who: 'dr.referent', why: 'the pharmacy record mixed two patients' }, ctx);
      expect(s.previousFederatedId).toBe(a.federatedId);
      const old = await svc.getFederated(a.federatedId);
      expect(old?.flags).toContain('COLV');
      expect(old?.sources.map((x) => x.localId)).toEqual(['IPP-1']);
      expect(await store.identities.getSource(PHARMACY, 'PH-9')).toMatchObject({ federatedId: s.federatedId, decision: 'manual' });
      expect(links(await patient(a.federatedId))).toEqual([`seealso Patient/${sourcePatientId(HOSPITAL, 'IPP-1')}`]);
      expect(links(await patient(s.federatedId))).toEqual([`seealso Patient/${sourcePatientId(PHARMACY, 'PH-9')}`]);
      expect(statuses(await patient(a.federatedId))).toContain('COLV');
      // The matcher does not re-link it, even re-sent unchanged or changed.
      expect(await svc.register(identity(PHARMACY, 'PH-9'), ctx)).toEqual({ federatedId: s.federatedId, decision: 'known', link: 'manual' });
      expect((await svc.register(identity(PHARMACY, 'PH-9', { status: 'VALI' }), ctx)).federatedId).toBe(s.federatedId);
      expect((await svc.listReviews({ state: 'open' })).total).toBe(0);
      await expect(svc.separate(PHARMACY, 'PH-9', { who: 'x', why: 'y' })).rejects.toThrow(/only source/);
      const audit = (await store.auditLog({ entity: `Patient/${s.federatedId}` })).find((x) => x.action === 'identity.separate');
      expect(audit).toMatchObject({ actor: 'client-test', requestId: 'req-1' });
      expect(JSON.parse(audit?.detail as string)).toMatchObject({ who: 'dr.referent', why: 'the pharmacy record mixed two patients', collision: true });
    });

    it('writes one audit row per registration and per decision, with ids only', async () => {
      const { reviewId } = await fuzzyPair();
      await svc.register(identity(GP, 'gp-7', { status: 'VALI' }), ctx);
      await svc.decide(reviewId, { decision: 'same', who: 'dr.referent', why: 'same person' }, ctx);
      await svc.separate(PHARMACY, 'PH-9', { who: 'dr.referent', why: 'mixed' }, ctx);
      expect(await actions()).toEqual(['identity.register', 'identity.register', 'identity.register', 'identity.merge', 'identity.separate']);
      for (const a of await store.auditLog()) expect(a.detail ?? '').not.toMatch(/DUPON|MARIE|1969/);
    });
  });

  describe('transactions and restart', () => {
    it('rolls everything back when a batch fails: no registry row, no Patient, no audit', async () => {
      let n = 0;
      const failing = new IdentityService(store, { newId: () => (++n === 2 ? 'not a valid id!' : `fed-${n}`) });
      await expect(
        failing.registerBatch([identity(HOSPITAL, 'IPP-1'), identity(PHARMACY, 'PH-9', { birthName: 'MARTIN', firstBirthGivenName: 'CLAIRE' })], ctx),
      ).rejects.toThrow(/invalid or missing id/);
      for (const table of ['identity_sources', 'identity_federated', 'identity_projection_pending', 'identity_reviews', 'identity_pair_decisions', 'resources', 'audit']) {
        expect(count(table), table).toBe(0);
      }
      // A batch commits as a whole.
      const ok = await svc.registerBatch([identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), identity(PHARMACY, 'PH-9'), identity(GP, 'gp-7', { birthName: 'DUPOND' })], ctx);
      expect(ok.map((r) => r.decision)).toEqual(['new', 'auto-linked', 'review']);
    });

    it('rolls back a decision whose hook fails', async () => {
      const hooked = new IdentityService(store, { ...options(), onDecision: async () => Promise.reject(new Error('hook failed')) });
      await hooked.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await hooked.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx);
      await expect(hooked.decide(b.reviewId as string, { decision: 'same', who: 'x', why: 'y' })).rejects.toThrow('hook failed');
      expect((await hooked.getReview(b.reviewId as string))?.review.state).toBe('open');
      expect(await store.identities.getFederated(b.federatedId)).toMatchObject({ active: true });
    });

    it('keeps everything across a restart: links, the queue, decisions and the Patients', async () => {
      const a = await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx);
      const c = await svc.register(identity(GP, 'gp-7', { birthName: 'DUPOND', firstBirthGivenName: 'MARYSE' }), ctx);
      await svc.decide(b.reviewId as string, { decision: 'different', who: 'dr.referent', why: 'two persons' });
      await store.close();

      store = await openSqliteStore({ file, now: clock.now });
      svc = new IdentityService(store, options());
      expect(await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx)).toEqual({ federatedId: a.federatedId, decision: 'known', link: 'new' });
      expect(await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND' }), ctx)).toEqual({ federatedId: b.federatedId, decision: 'known', link: 'manual' });
      expect((await svc.getReview(b.reviewId as string))?.review.decision).toBe('different');
      expect((await svc.listReviews({ state: 'open' })).items.map((r) => r.sourceId)).toEqual(c.reviewIds?.map(() => 'gp-7'));
      const rows = [];
      for await (const row of svc.links()) rows.push(row);
      expect(rows.map((r) => [r.source_system, r.source_id, r.federated_id, r.decision])).toEqual([
        [GP, 'gp-7', c.federatedId, 'review'],
        [HOSPITAL, 'IPP-1', a.federatedId, 'new'],
        [PHARMACY, 'PH-9', b.federatedId, 'manual'],
      ]);
      expect(rows[0].score).toBeGreaterThan(0);
      expect((await patient(a.federatedId)).active).toBe(true);
    });

    it('pages through links() without holding a statement open', async () => {
      await svc.registerBatch(
        Array.from({ length: 25 }, (_, i) => identity(HOSPITAL, `IPP-${String(i).padStart(2, '0')}`, { birthName: `NOM${'ABCDEFGHIJKLMNOPQRSTUVWXY'[i]}`, birthDate: `19${50 + i}-01-15` })),
        ctx,
      );
      const seen: string[] = [];
      for await (const row of store.identities.links({ pageSize: 7 })) {
        seen.push(row.source_id);
        // Reads in between pages and rows still work.
        await store.identities.countSources();
      }
      expect(seen).toHaveLength(25);
      expect(seen).toEqual([...seen].sort());
    });
  });

  describe('the in-memory blocking index', () => {
    it('sees what another service instance (another process, on a shared file) committed after it loaded', async () => {
      expect(await svc.warm()).toBe(0);
      const otherStore = await openSqliteStore({ file });
      try {
        await new IdentityService(otherStore, { newId: () => 'fed-other' }).register(qual(HOSPITAL, 'IPP-1'), ctx);
      } finally {
        await otherStore.close();
      }
      // svc loaded its index before: it catches up through the change sequence, in and out of transactions.
      expect((await svc.match(qual(GP, 'x'))).map((r) => [r.federatedId, r.grade])).toEqual([['fed-other', 'certain']]);
      expect(await svc.register(qual(PHARMACY, 'PH-9'), ctx)).toMatchObject({ federatedId: 'fed-other', decision: 'auto-linked' });
    });

    it('forgets what a rolled back transaction staged', async () => {
      await svc.warm();
      await expect(
        store.transaction(async (tx) => {
          await svc.registerIn(tx, qual(HOSPITAL, 'IPP-1'), ctx);
          // Seen inside its own transaction…
          expect(await svc.registerIn(tx, qual(PHARMACY, 'PH-9'), ctx)).toMatchObject({ decision: 'auto-linked' });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      // …and by nobody once rolled back.
      expect(await svc.match(qual(GP, 'x'))).toEqual([]);
      expect(await svc.register(qual(PHARMACY, 'PH-9'), ctx)).toMatchObject({ decision: 'new' });
    });

    it('drops a merged identity and files the survivor under the loser keys', async () => {
      await svc.register(identity(HOSPITAL, 'IPP-1', { status: 'VALI' }), ctx);
      const b = await svc.register(identity(PHARMACY, 'PH-9', { birthName: 'DUPOND', birthDate: '1969-12-05' }), ctx);
      expect(b.decision).toBe('review');
      await svc.decide(b.reviewId as string, { decision: 'same', who: 'dr', why: 'same person' });
      // A copy of the pharmacy spelling is now compared with the survivor only.
      const found = await svc.match(identity(GP, 'g', { birthName: 'DUPOND', birthDate: '1969-12-05' }));
      expect(found.map((r) => r.federatedId)).toEqual(['fed-0001']);
    });
  });

  describe('bulk mode: projections written behind the registry', () => {
    it('files the Patients of a deferred batch and writes them, federated and source, when drained', async () => {
      const results = await svc.registerBatch([qual(HOSPITAL, 'IPP-1'), qual(PHARMACY, 'PH-9'), identity(GP, 'gp-7', { birthName: 'MARTIN', firstBirthGivenName: 'CLAIRE', birthDate: '1980-02-03', birthPlaceInsee: '75056' })], ctx, {
        deferProjection: true,
      });
      expect(results.map((r) => r.decision)).toEqual(['new', 'auto-linked', 'new']);
      expect(count('resources')).toBe(0);
      expect(await store.identities.countProjectionPending()).toBe(2);
      // The registry itself is committed and matched against at once.
      expect((await svc.match(qual(GP, 'x'))).map((r) => r.federatedId)).toEqual(['fed-0001']);

      expect(await svc.drainProjections({ batchSize: 1 })).toBe(2);
      expect(await store.identities.countProjectionPending()).toBe(0);
      const federated = await patient('fed-0001');
      expect(links(federated)).toEqual([
        `seealso Patient/${sourcePatientId(PHARMACY, 'PH-9')}`,
        `seealso Patient/${sourcePatientId(HOSPITAL, 'IPP-1')}`,
      ].sort());
      for (const [system, local, fed] of [[HOSPITAL, 'IPP-1', 'fed-0001'], [PHARMACY, 'PH-9', 'fed-0001'], [GP, 'gp-7', 'fed-0002']]) {
        expect(links(await patient(sourcePatientId(system, local)))).toEqual([`refer Patient/${fed}`]);
      }
      // Draining again writes nothing.
      expect(await svc.drainProjections()).toBe(0);
    });
  });
});
