// The outcome proposed per recommendation from the PHO's structured prescription (src/domain/pathway/followup.ts).
import { describe, expect, it } from 'vitest';
import type { MedicationLine } from '../../../src/domain/drug.js';
import { drugName, normaliseLabel, prescriptionCodeKind, proposeOutcome, proposeOutcomes, sameDrug, type PrescriptionLine } from '../../../src/domain/pathway/followup.js';
import type { Recommendation } from '../../../src/domain/review.js';

const cis = (code: string) => ({ kind: 'CIS' as const, code });
const cip = (code: string) => ({ kind: 'CIP13' as const, code });
const med = (text: string, ...codes: { kind: 'CIS' | 'CIP13'; code: string }[]) => ({ text, codes });
const rec = (action: 'stop' | 'add' | 'substitute' | 'dose' | 'route' | 'timing', medication: ReturnType<typeof med>, extra: Partial<Recommendation> = {}): Recommendation =>
  ({ kind: 'medication', id: 'R', problemId: 'P', text: 't', decisions: [], action, medication, ...extra }) as Recommendation;
const line = (id: string, medication: ReturnType<typeof med>, dosage?: string): MedicationLine =>
  ({ id, medication, ...(dosage ? { dosage: { text: dosage } } : {}), status: 'active', selfMedication: false }) as MedicationLine;

const DITROPAN = med('DITROPAN 5 mg', cis('69224470'));
const GLUCOPHAGE = med('GLUCOPHAGE 1000 mg', cis('61052830'));

describe('labels and codes', () => {
  it('normalises labels: accents, case, punctuation, number and unit glued', () => {
    expect(normaliseLabel('  Lévothyrox 75 µg, cp.  ')).toBe('LEVOTHYROX 75UG CP');
    expect(normaliseLabel('Doliprane 1 000 mg')).toBe('DOLIPRANE 1 000MG');
    expect(normaliseLabel('Kardégic 75mg')).toBe(normaliseLabel('KARDEGIC 75 MG'));
    expect(normaliseLabel('2,5 mg')).toBe('2.5MG');
  });
  it('the drug name is the first word, two for an acid or a salt', () => {
    expect(drugName('Ditropan 5 mg comprimé')).toBe('DITROPAN');
    expect(drugName('acide folique 5 mg')).toBe('ACIDE FOLIQUE');
    expect(drugName('5 mg')).toBeUndefined();
    expect(drugName('Ac')).toBeUndefined();
  });
  it('tells CIS from CIP13', () => {
    expect(prescriptionCodeKind('69224470')).toBe('CIS');
    expect(prescriptionCodeKind('3400930000000')).toBe('CIP13');
    expect(prescriptionCodeKind('1234567')).toBeUndefined();
    expect(prescriptionCodeKind('1234567890123')).toBeUndefined();
  });
  it('matches by code when both carry one of the same system, else by name', () => {
    expect(sameDrug(DITROPAN, { label: 'autre chose', code: '69224470' })).toBe(true);
    expect(sameDrug(DITROPAN, { label: 'DITROPAN 5 mg', code: '69999999' })).toBe(false); // codes disagree: the label is not looked at
    expect(sameDrug(DITROPAN, { label: 'Ditropan 5mg cp', code: '3400930000000' })).toBe(true); // CIP13 vs CIS: by name
    expect(sameDrug(med('DITROPAN', cip('3400930000000')), { label: 'x', code: '3400930000000' })).toBe(true);
    expect(sameDrug(DITROPAN, { label: 'ditropan' })).toBe(true);
    expect(sameDrug(DITROPAN, { label: 'DIAMICRON 30 mg' })).toBe(false);
    expect(sameDrug(med('acide acétylsalicylique 75 mg'), { label: 'ACIDE FOLIQUE' })).toBe(false);
  });
});

describe('proposeOutcome', () => {
  const p = (r: Recommendation, lines: PrescriptionLine[], reviewedLine?: MedicationLine) => proposeOutcome({ recommendation: r, lines, ...(reviewedLine ? { reviewedLine } : {}) });

  it('stop: absent → implemented, present → not implemented (by code or by label)', () => {
    expect(p(rec('stop', DITROPAN), [{ label: 'KARDEGIC 75 mg' }])).toBe('implementee');
    expect(p(rec('stop', DITROPAN), [])).toBe('implementee');
    expect(p(rec('stop', DITROPAN), [{ label: 'Ditropan 5 mg', dosage: '1 cp le soir' }])).toBe('non-implementee');
    expect(p(rec('stop', DITROPAN), [{ label: 'oxybutynine', code: '69224470' }])).toBe('non-implementee');
  });
  it('add: present → implemented, absent → not implemented', () => {
    const uvedose = med('UVEDOSE 100 000 UI', cis('63489259'));
    expect(p(rec('add', uvedose), [{ label: 'Uvedose 100000 UI ampoule' }])).toBe('implementee');
    expect(p(rec('add', uvedose), [{ label: 'KARDEGIC' }])).toBe('non-implementee');
  });
  it('dose: the recommended dosage → implemented; the reviewed dosage unchanged → not implemented; else unknown', () => {
    const r = rec('dose', GLUCOPHAGE, { dosage: { text: '1/2 comprimé matin et soir' } } as Partial<Recommendation>);
    const reviewed = line('L3', GLUCOPHAGE, '1 comprimé matin et soir');
    expect(p(r, [{ label: 'Glucophage 1000 mg', dosage: '1/2 Comprimé, matin et soir' }], reviewed)).toBe('implementee');
    expect(p(r, [{ label: 'Glucophage 1000 mg', dosage: '1 comprimé matin et soir' }], reviewed)).toBe('non-implementee');
    expect(p(r, [{ label: 'Glucophage 1000 mg', dosage: '1 comprimé le matin' }], reviewed)).toBe('inconnue');
    expect(p(r, [{ label: 'Glucophage 1000 mg' }], reviewed)).toBe('inconnue');
    expect(p(r, [{ label: 'KARDEGIC' }], reviewed)).toBe('inconnue');
    expect(p(rec('timing', GLUCOPHAGE), [{ label: 'Glucophage', dosage: 'x' }])).toBe('inconnue');
  });
  it('substitute: new present and old absent → implemented; the reverse → not implemented; else unknown', () => {
    const old = line('L1', med('ZOPICLONE 7,5 mg', cis('60000001')));
    const r = rec('substitute', med('MELATONINE 2 mg', cis('60000002')), { medicationLineId: 'L1' } as Partial<Recommendation>);
    expect(p(r, [{ label: 'Mélatonine 2mg' }], old)).toBe('implementee');
    expect(p(r, [{ label: 'Zopiclone 7.5 mg' }], old)).toBe('non-implementee');
    expect(p(r, [{ label: 'Zopiclone' }, { label: 'Melatonine' }], old)).toBe('inconnue');
    expect(p(r, [], old)).toBe('inconnue');
    expect(p(r, [{ label: 'Melatonine' }])).toBe('inconnue'); // no reviewed line known
    expect(p(rec('substitute', med('ZOPICLONE 3,75 mg')), [{ label: 'Zopiclone' }], old)).toBe('inconnue'); // same drug by name
  });
  it('a non-drug recommendation is unknown', () => {
    const r = { kind: 'service', id: 'R9', problemId: 'P', text: 'HbA1c à 3 mois', decisions: [] } as Recommendation;
    expect(p(r, [{ label: 'anything' }])).toBe('inconnue');
  });
  it('proposeOutcomes maps every recommendation by id with its reviewed line', () => {
    const recs = [
      { ...rec('stop', DITROPAN), id: 'R1' },
      { ...rec('dose', GLUCOPHAGE, { dosage: { text: '500 mg x2' }, medicationLineId: 'L3' } as Partial<Recommendation>), id: 'R2' },
    ] as Recommendation[];
    const out = proposeOutcomes(recs, [line('L3', GLUCOPHAGE, '1000 mg x2')], [{ label: 'GLUCOPHAGE', dosage: '1000 mg x2' }]);
    expect([...out]).toEqual([
      ['R1', 'implementee'],
      ['R2', 'non-implementee'],
    ]);
  });
});
