// The CarePlan carries the inclusion result (passerelle-inclusion + one passerelle-inclusion-criterion per criterion)
// and the DAH billing of the no-RCP rule, and validates against the profile.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../src/domain/parse.js';
import { mapPpp } from '../../src/fhir/bundle.js';
import { CS, EXT } from '../../src/fhir/canonical.js';
import { validateResource } from '../../src/fhir/validate.js';

const NOW = '2026-01-15T10:00:00+01:00';
const raw = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, `../fixtures/ppp/${name}.json`), 'utf8')) as Record<string, unknown>;

function carePlan(d: Record<string, unknown>): CarePlan {
  const b = mapPpp(parseDocument('ppp', d), { now: NOW });
  return b.entry!.map((e) => e.resource!).find((r): r is CarePlan => r.resourceType === 'CarePlan')!;
}

/** The parts of a complex extension as { url: value }. */
const parts = (e: Extension | undefined): Record<string, unknown> =>
  Object.fromEntries((e?.extension ?? []).map((p) => [p.url, p.valueCoding?.code ?? p.valueBoolean ?? p.valueString ?? p.valueUnsignedInt]));

const errors = (cp: CarePlan) => validateResource(cp).filter((i) => i.severity === 'error' || i.severity === 'fatal');

describe('PPP CarePlan: inclusion', () => {
  it('an eligible PPP: every criterion with its figure and reason, eligible and included, billable', () => {
    const cp = carePlan(raw('ppp-12-medicines'));
    const inclusion = cp.extension?.find((e) => e.url === EXT.inclusion);
    expect(parts(inclusion)).toMatchObject({ entryDoor: 'hopital', eligible: true, included: true, billableDah: true });
    expect(parts(inclusion)).not.toHaveProperty('overrideReason');
    const criteria = cp.extension!.filter((e) => e.url === EXT.inclusionCriterion).map(parts);
    expect(criteria.map((c) => [c.code, c.met])).toEqual([
      ['age-65', true],
      ['medicines-10', true],
      ['modifications-3', false],
      ['drug-related-hospitalisation', false],
      ['iatrogenic-event', false],
    ]);
    expect(criteria[0]).toMatchObject({ value: 85, reason: expect.stringContaining('85 ans') });
    expect(criteria[1]).toMatchObject({ value: 12 });
    expect(criteria[2]).not.toHaveProperty('value');
    expect(cp.extension!.find((e) => e.url === EXT.inclusionCriterion)?.extension?.[0]?.valueCoding).toEqual({
      system: CS.inclusionCriterion,
      code: 'age-65',
      display: 'Âge de 65 ans ou plus',
    });
    expect(errors(cp)).toEqual([]);
  });

  it('place of living, consent, the override reason and the no-RCP reason are carried, and validate', () => {
    const d = raw('hospital-sync-rcp');
    delete d.rcp;
    d.noRcpReason = 'Sortie anticipée : RCP impossible.';
    d.inclusion = { placeOfLiving: 'ehpad-sans-pui', therapeuticModifications: 1, override: { reason: 'Chutes répétées sous psychotropes.' } };
    const cp = carePlan(d);
    const p = parts(cp.extension?.find((e) => e.url === EXT.inclusion));
    expect(p).toMatchObject({
      placeOfLiving: 'ehpad-sans-pui',
      consent: true,
      eligible: false,
      included: true,
      overrideReason: 'Chutes répétées sous psychotropes.',
      billableDah: false,
      noRcpReason: 'Sortie anticipée : RCP impossible.',
    });
    const modifications = cp.extension!.filter((e) => e.url === EXT.inclusionCriterion).map(parts)[2];
    expect(modifications).toMatchObject({ code: 'modifications-3', met: false, value: 1 });
    expect(errors(cp)).toEqual([]);
  });

  it('the profile refuses a criterion without its met flag, and an unknown criterion code', () => {
    const cp = carePlan(raw('ppp-12-medicines'));
    const criterion = cp.extension!.find((e) => e.url === EXT.inclusionCriterion)!;
    criterion.extension = criterion.extension!.filter((x) => x.url !== 'met');
    expect(errors(cp).length).toBeGreaterThan(0);
    const other = carePlan(raw('ppp-12-medicines'));
    other.extension!.find((e) => e.url === EXT.inclusionCriterion)!.extension![0]!.valueCoding!.code = 'age-60';
    expect(errors(other).length).toBeGreaterThan(0);
  });
});
