// The inclusion rule (docs/pathway.md): 65 years or more on the PPP's creation day, and any one of 10 medicines,
// 3 therapeutic modifications, a drug-related hospitalisation or an iatrogenic event during the stay; advisory.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../../src/domain/parse.js';
import type { Ppp } from '../../../src/domain/ppp.js';
import { ageOn, evaluateInclusion } from '../../../src/domain/pathway/inclusion.js';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/ppp/hospital-sync-rcp.json');
const base = (): Record<string, unknown> => JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

const line = (i: number, status = 'active') => ({ id: `l${i}`, medication: { text: `Médicament ${i}` }, status });

interface Case {
  name: string;
  birthDate: string;
  created?: string;
  medicines?: number;
  inclusion?: Record<string, unknown>;
  eligible: boolean;
  included: boolean;
  met: string[];
}

/** A PPP from the fixture with no problems/recommendations, so its medication lines can be replaced freely. */
function build(c: Pick<Case, 'birthDate' | 'created' | 'medicines' | 'inclusion'>): Ppp {
  const d = base();
  (d.patient as Record<string, unknown>).birthDate = c.birthDate;
  d.created = c.created ?? '2025-05-12T16:45:00+02:00';
  d.problems = [];
  d.recommendations = [];
  d.medications = Array.from({ length: c.medicines ?? 3 }, (_, i) => line(i));
  if (c.inclusion) d.inclusion = c.inclusion;
  return parseDocument('ppp', d);
}

const CASES: Case[] = [
  { name: '64 the day before the 65th birthday, 12 medicines', birthDate: '1960-05-13', medicines: 12, eligible: false, included: false, met: ['medicines-10'] },
  { name: '65 on the birthday itself, 12 medicines', birthDate: '1960-05-12', medicines: 12, eligible: true, included: true, met: ['age-65', 'medicines-10'] },
  { name: '80, no criterion besides age', birthDate: '1945-01-01', medicines: 9, eligible: false, included: false, met: ['age-65'] },
  { name: '80, exactly 10 medicines', birthDate: '1945-01-01', medicines: 10, eligible: true, included: true, met: ['age-65', 'medicines-10'] },
  { name: '80, 3 therapeutic modifications', birthDate: '1945-01-01', inclusion: { therapeuticModifications: 3 }, eligible: true, included: true, met: ['age-65', 'modifications-3'] },
  { name: '80, 2 therapeutic modifications', birthDate: '1945-01-01', inclusion: { therapeuticModifications: 2 }, eligible: false, included: false, met: ['age-65'] },
  { name: '80, drug-related hospitalisation', birthDate: '1945-01-01', inclusion: { drugRelatedHospitalisation: true }, eligible: true, included: true, met: ['age-65', 'drug-related-hospitalisation'] },
  { name: '80, iatrogenic event during the stay', birthDate: '1945-01-01', inclusion: { iatrogenicEventDuringStay: true }, eligible: true, included: true, met: ['age-65', 'iatrogenic-event'] },
  { name: '80, every fact false', birthDate: '1945-01-01', inclusion: { therapeuticModifications: 0, drugRelatedHospitalisation: false, iatrogenicEventDuringStay: false }, eligible: false, included: false, met: ['age-65'] },
  { name: '60 with every other criterion', birthDate: '1965-01-01', medicines: 11, inclusion: { therapeuticModifications: 5, drugRelatedHospitalisation: true, iatrogenicEventDuringStay: true }, eligible: false, included: false, met: ['medicines-10', 'modifications-3', 'drug-related-hospitalisation', 'iatrogenic-event'] },
  { name: 'not eligible, included by override', birthDate: '1965-01-01', inclusion: { override: { reason: 'Polymédication à risque malgré l’âge.' } }, eligible: false, included: true, met: [] },
  { name: 'eligible and overridden: still eligible', birthDate: '1945-01-01', medicines: 10, inclusion: { override: { reason: 'Confirmé en staff.' } }, eligible: true, included: true, met: ['age-65', 'medicines-10'] },
];

describe('evaluateInclusion', () => {
  it.each(CASES)('$name', (c) => {
    const r = evaluateInclusion(build(c));
    expect(r.eligible).toBe(c.eligible);
    expect(r.included).toBe(c.included);
    expect(r.criteria.filter((x) => x.met).map((x) => x.code)).toEqual(c.met);
    expect(r.criteria.map((x) => x.code)).toEqual(['age-65', 'medicines-10', 'modifications-3', 'drug-related-hospitalisation', 'iatrogenic-event']);
    for (const x of r.criteria) expect(x.reason.length).toBeGreaterThan(0);
  });

  it('reads the age on the creation day as the sender wrote it, not in UTC', () => {
    // 23:30 on the 11th in Paris is the 11th there (the 11th at 21:30 UTC too); 00:30 on the 12th is the 12th.
    expect(evaluateInclusion(build({ birthDate: '1960-05-12', created: '2025-05-11T23:30:00+02:00' })).criteria[0]).toMatchObject({ met: false, value: 64 });
    expect(evaluateInclusion(build({ birthDate: '1960-05-12', created: '2025-05-12T00:30:00+02:00' })).criteria[0]).toMatchObject({ met: true, value: 65 });
  });

  it('counts only active lines as medicines, self-medication included', () => {
    const d = base();
    d.problems = [];
    d.recommendations = [];
    d.medications = [
      ...Array.from({ length: 9 }, (_, i) => line(i)),
      { ...line(9), selfMedication: true },
      line(10, 'stopped'),
      line(11, 'not-taken'),
      line(12, 'on-hold'),
    ];
    const r = evaluateInclusion(parseDocument('ppp', d));
    expect(r.criteria[1]).toMatchObject({ code: 'medicines-10', met: true, value: 10 });
  });

  it('gives the figure and the reason of each criterion, and says when a fact is not given', () => {
    const r = evaluateInclusion(build({ birthDate: '1945-01-01', medicines: 4 }));
    expect(r.criteria[0]).toMatchObject({ value: 80, reason: '80 ans le 2025-05-12 : au moins 65 ans' });
    expect(r.criteria[1]).toMatchObject({ value: 4, met: false });
    expect(r.criteria[2]).toEqual({ code: 'modifications-3', met: false, reason: expect.stringContaining('non renseigné') });
    expect(r.criteria[3]?.reason).toContain('non renseigné');
    expect(r.override).toBeUndefined();
  });

  it('keeps the override reason, trimmed', () => {
    const r = evaluateInclusion(build({ birthDate: '1965-01-01', inclusion: { override: { reason: '  Chutes répétées.  ' } } }));
    expect(r.override).toEqual({ reason: 'Chutes répétées.' });
  });
});

describe('ageOn', () => {
  it.each([
    ['1960-05-12', '2025-05-11', 64],
    ['1960-05-12', '2025-05-12', 65],
    ['1960-02-29', '2025-02-28', 64],
    ['1960-02-29', '2025-03-01', 65],
    // Partial dates count from their latest possible day: the age is never overstated.
    ['1960-05', '2025-05-30', 64],
    ['1960-05', '2025-05-31', 65],
    ['1960', '2025-12-30', 64],
    ['1960', '2025-12-31', 65],
  ] as const)('born %s, on %s: %i', (birth, day, age) => {
    expect(ageOn(birth, day)).toBe(age);
  });
});
