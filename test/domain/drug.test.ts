// Drug code systems: every accepted alias of a kind maps to that kind; unknown systems are named in the error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DRUG_CODE_KINDS, DRUG_SYSTEM_ALIASES, DrugCode, drugKindOfSystem, parseDocument, type DrugCodeKind } from '../../src/domain/index.js';

const SAMPLE: Record<DrugCodeKind, string> = {
  CIS: '61902218',
  CIP13: '3400926784102',
  UCD: '3400893826007',
  MV: 'MV00001728',
  ATC: 'B01AF02',
};

describe('drug code system aliases', () => {
  const cases = DRUG_CODE_KINDS.flatMap((kind) => DRUG_SYSTEM_ALIASES[kind].map((alias) => [kind, alias] as const));

  it.each(cases)('%s ← %s', (kind, alias) => {
    expect(DrugCode.parse({ system: alias, code: SAMPLE[kind] })).toEqual({ kind, code: SAMPLE[kind] });
    // Spelling differences in case and surrounding blanks do not matter.
    expect(drugKindOfSystem(` ${alias.toUpperCase()} `)).toBe(kind);
  });

  it('no alias is shared by two kinds', () => {
    const all = cases.map(([, alias]) => alias.toLowerCase());
    expect(new Set(all).size).toBe(all.length);
  });

  it('accepts kind alone, or kind and system when they agree', () => {
    expect(DrugCode.parse({ kind: 'CIP13', code: SAMPLE.CIP13, display: 'ELIQUIS 5 mg' })).toEqual({ kind: 'CIP13', code: SAMPLE.CIP13, display: 'ELIQUIS 5 mg' });
    expect(DrugCode.parse({ kind: 'CIS', system: 'urn:oid:1.2.250.1.213.2.3.1', code: SAMPLE.CIS }).kind).toBe('CIS');
  });

  it('an unknown system is an error on `system`, with the system in the message', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => drugKindOfSystem(s) === undefined),
        (system) => {
          const r = DrugCode.safeParse({ system, code: SAMPLE.CIS });
          return !r.success && r.error.issues.length === 1 && r.error.issues[0].path.join('.') === 'system' && r.error.issues[0].message.includes(system);
        },
      ),
    );
  });

  it('a system that contradicts kind is an error on `system`', () => {
    const r = DrugCode.safeParse({ kind: 'CIS', system: 'urn:oid:1.2.250.1.213.2.3.2', code: SAMPLE.CIS });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path)).toEqual([['system']]);
  });

  it('neither kind nor system is an error on `kind`', () => {
    const r = DrugCode.safeParse({ code: SAMPLE.CIS });
    expect(r.error?.issues.map((i) => i.path)).toEqual([['kind']]);
  });

  it.each([
    ['CIS', '6190221'],
    ['CIS', '619022180'],
    ['CIP13', '3401926784102'],
    ['UCD', '340089382600'],
    ['MV', 'MV0000172'],
    ['ATC', 'b01af02'],
  ] as const)('rejects a %s code shaped like %s, on `code`', (kind, code) => {
    const r = DrugCode.safeParse({ kind, code });
    expect(r.error?.issues.map((i) => i.path)).toEqual([['code']]);
  });

  it('the error path from a whole document names the code', () => {
    const bpm = {
      id: 'B1',
      pharmacy: { finess: '590002234', name: 'Pharmacie (démo)', kind: 'officine' },
      pharmacist: { rpps: '10101044781', family: 'FLEURANT' },
      gp: { rpps: '10100933661', family: 'THIBAULT' },
      patient: { sourceId: { system: 'urn:oid:1.2.3', value: '1' }, birthName: 'GRANDET', firstBirthGivenName: 'Félix', birthDate: '1944', sex: 'M' },
      year: 2025,
      adhesionDate: '2025-02-03T10:15:00+01:00',
      steps: [{ step: 'adhesion', date: '2025-02-03T10:15:00+01:00' }],
      medications: [{ id: '1', medication: { codes: [{ system: 'http://snomed.info/sct', code: '108979001' }], text: 'X' } }],
    };
    expect(() => parseDocument('bpm', bpm)).toThrow('bpm.medications[0].medication.codes[0].system: unknown drug code system "http://snomed.info/sct"');
  });
});
