// The access rules (src/domain/access/): who reads which patients, who writes which documents. Pure.
import { describe, expect, it } from 'vitest';
import { documentFiness, documentOrganisations } from '../../src/domain/access/documents.js';
import {
  accessKey,
  isPatientData,
  isTenantBound,
  maySeeFederated,
  mayWriteFor,
  NO_TENANT,
  parseTenant,
  readFilter,
  refusalFor,
  scopesOf,
  type Principal,
  type Role,
} from '../../src/domain/access/model.js';
import { parseDocument } from '../../src/domain/parse.js';
import { fixture } from '../api/server.js';

const client = (roles: Role[], tenant?: string): Principal => ({
  id: `c-${roles.join('-') || 'none'}`,
  roles,
  scopes: scopesOf(roles),
  ...(tenant ? { tenant: parseTenant(tenant) } : {}),
  method: 'jwt',
});
const anonymous: Principal = { id: 'anonymous', roles: [], scopes: scopesOf([], ['fhir.read', 'fhir.write', 'domain.write', 'identity.review', 'audit.read', 'reports.read', 'admin']), method: 'none' };

describe('reads: filtered per tenant', () => {
  it.each([
    ['authentication off', anonymous, undefined],
    ['identitovigilance (cross-tenant)', client(['identitovigilance']), undefined],
    ['admin (cross-tenant)', client(['admin'], 'establishment:760000018'), undefined],
    ['a DPI of an establishment', client(['dpi'], 'establishment:760000018'), 'finess:760000018'],
    ['an LGO of a pharmacy', client(['lgo'], 'pharmacy:760001016'), 'finess:760001016'],
    ['an integrator without a tenant', client(['integrator']), NO_TENANT],
    ['the regional role', client(['regional'], 'region:NOR'), 'region:NOR'],
  ])('%s → filter %s', (_what, p, key) => {
    expect(readFilter(p)).toBe(key);
    expect(isTenantBound(p)).toBe(key !== undefined);
  });

  it('the access key is the FINESS whatever the kind, so a pharmacy named by a document meets its client', () => {
    expect(accessKey(parseTenant('pharmacy:760001016'))).toBe(accessKey(parseTenant('establishment:760001016')));
    expect(accessKey(parseTenant('region:NOR'))).toBe('region:NOR');
  });

  it('shared data (organisations, professionals, conformance) is not a patient’s record; the rest is', () => {
    for (const t of ['Organization', 'Practitioner', 'PractitionerRole', 'Medication', 'StructureDefinition', 'ValueSet']) expect(isPatientData(t)).toBe(false);
    for (const t of ['Patient', 'CarePlan', 'Task', 'MedicationStatement', 'DocumentReference', 'Binary', 'Composition', 'Provenance']) expect(isPatientData(t)).toBe(true);
  });

  it('federated Patients are for identity.review only', () => {
    expect(maySeeFederated(client(['identitovigilance']))).toBe(true);
    expect(maySeeFederated(client(['admin']))).toBe(true);
    expect(maySeeFederated(anonymous)).toBe(true);
    for (const r of ['dpi', 'lgo', 'integrator', 'regional', 'auditor'] as Role[]) expect(maySeeFederated(client([r], 'establishment:760000018'))).toBe(false);
  });

  it('reads of what is not visible answer 404; writes naming it 403 (PATCH as a read)', () => {
    expect(refusalFor('read')).toBe('not-found');
    expect(refusalFor('patch')).toBe('not-found');
    expect(refusalFor('update')).toBe('forbidden');
    expect(refusalFor('delete')).toBe('forbidden');
    expect(refusalFor('reference')).toBe('forbidden');
  });
});

describe('writes: documents of the own FINESS', () => {
  const ppp = parseDocument('ppp', fixture('ppp/ppp-12-medicines.json'));
  const bpm = parseDocument('bpm', fixture('bpm/self-medication-remote.json'));
  const ctm = parseDocument('ctm', fixture('ctm/admission-divergences.json'));

  it('a PPP and a CTM belong to their establishment, a BPM to its pharmacy', () => {
    expect(documentFiness('ppp', ppp)).toBe('760000018');
    expect(documentFiness('ctm', ctm)).toBe('760000018');
    expect(documentFiness('bpm', bpm)).toBe('590002234');
  });

  it('the organisations a PPP names: its establishment and the pharmacy of its care team', () => {
    expect(documentOrganisations('ppp', ppp).sort()).toEqual(['760000018', '760001016']);
    expect(documentOrganisations('bpm', bpm)).toContain('590002234');
  });

  it('only a principal of that FINESS writes it; cross-tenant roles and authentication off write any', () => {
    expect(mayWriteFor(client(['dpi'], 'establishment:760000018'), '760000018')).toBe(true);
    expect(mayWriteFor(client(['dpi'], 'establishment:990000010'), '760000018')).toBe(false);
    expect(mayWriteFor(client(['lgo'], 'pharmacy:590002234'), '590002234')).toBe(true);
    expect(mayWriteFor(client(['integrator']), '760000018')).toBe(false);
    expect(mayWriteFor(client(['regional'], 'region:NOR'), '760000018')).toBe(false);
    expect(mayWriteFor(client(['admin']), '760000018')).toBe(true);
    expect(mayWriteFor(anonymous, '760000018')).toBe(true);
  });
});
