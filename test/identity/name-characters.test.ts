// Names that hide or reorder what is shown (bidi overrides, zero-width characters), control characters and broken
// UTF-16 are refused wherever a name enters (issue 13): the domain model (PPP / CTM / BPM over HTTP), a FHIR Patient
// read for $match or an import, `passerelle identity import` — with the field named and nothing written.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { PatientIdentity } from '../../src/domain/identity.js';
import { nameCharacterProblem } from '../../src/domain/name.js';
import { patientIdentityFromFhir } from '../../src/fhir/fhir-patient.js';
import { mapPatient } from '../../src/fhir/map-common.js';
import type { ImportSummary } from '../../src/services/identity-import.js';
import { call, startTestServer, type Outcome, type TestServer } from '../api/server.js';

/** One of each kind the rule names, the probe's U+202E first. */
const HOSTILE: [string, string][] = [
  ['U+202E right-to-left override', '\u202E'],
  ['U+202A left-to-right embedding', '\u202A'],
  ['U+2066 left-to-right isolate', '\u2066'],
  ['U+2069 pop directional isolate', '\u2069'],
  ['U+200E left-to-right mark', '\u200E'],
  ['U+200F right-to-left mark', '\u200F'],
  ['U+061C Arabic letter mark', '\u061C'],
  ['U+200B zero-width space', '\u200B'],
  ['U+200C zero-width non-joiner', '\u200C'],
  ['U+200D zero-width joiner', '\u200D'],
  ['U+2060 word joiner', '\u2060'],
  ['U+FEFF zero-width no-break space', '\uFEFF'],
  ['lone high surrogate U+D800', '\uD800'],
  ['lone low surrogate U+DC00', '\uDC00'],
  ['U+0000 NUL', '\u0000'],
  ['U+0009 tab', '\t'],
  ['U+000A line feed', '\n'],
  ['U+001B escape', '\u001B'],
  ['U+007F delete', '\u007F'],
  ['U+0085 next line (C1)', '\u0085'],
  ['U+009B control sequence introducer (C1)', '\u009B'],
];
const HOSTILE_CHARS = HOSTILE.map(([, c]) => c);

type IdentityInput = z.input<typeof PatientIdentity>;
const base = (over: Partial<IdentityInput> = {}): IdentityInput => ({
  sourceId: { system: 'urn:oid:1.2.250.1.999.1.760000018.1', value: 'IPP-N1' },
  status: 'PROV',
  birthName: 'DUPONT',
  firstBirthGivenName: 'MARIE',
  birthGivenNames: ['MARIE', 'HÉLÈNE'],
  usedName: 'MARTIN',
  usedGivenName: 'MANON',
  birthDate: '1969-05-12',
  sex: 'F',
  birthPlaceInsee: '49328',
  ...over,
});

describe('the domain model refuses hostile characters in names', () => {
  const fields: [string, (bad: string) => Partial<IdentityInput>, string][] = [
    ['birthName', (b) => ({ birthName: `DU${b}PONT` }), 'birthName'],
    ['firstBirthGivenName', (b) => ({ firstBirthGivenName: `MA${b}RIE`, birthGivenNames: [`MA${b}RIE`] }), 'firstBirthGivenName'],
    ['birthGivenNames[1]', (b) => ({ birthGivenNames: ['MARIE', `HÉ${b}LÈNE`] }), 'birthGivenNames.1'],
    ['usedName', (b) => ({ usedName: `${b}MARTIN` }), 'usedName'],
    ['usedGivenName', (b) => ({ usedGivenName: `MANON${b}` }), 'usedGivenName'],
  ];
  it.each(HOSTILE)('%s, in every name field, the field named', (_label, bad) => {
    for (const [, over, at] of fields) {
      const r = PatientIdentity.safeParse(base(over(bad)));
      expect(r.success).toBe(false);
      const issue = r.error?.issues.find((i) => i.path.join('.') === at);
      expect(issue?.message).toMatch(/^contains U\+[0-9A-F]{4} \((control|bidirectional formatting|zero-width) character|unpaired surrogate\)/);
    }
  });

  it('accepts French names as they are written: accents, ligatures, hyphens, apostrophes, spaces, and paired surrogates', () => {
    for (const name of ["D'ARTAGNAN", 'DE LA FONTAINE', 'Œdipe-Jérôme', 'N’DIAYE', 'Ægir', 'Zoë', 'Lưu', '𝔐arie']) {
      expect(nameCharacterProblem(name)).toBeUndefined();
      expect(PatientIdentity.safeParse(base({ birthName: name })).success).toBe(true);
    }
    // Spaces at the edges are still trimmed, as before.
    expect(PatientIdentity.parse(base({ birthName: '  DUPONT ' })).birthName).toBe('DUPONT');
  });

  it('property: any hostile character anywhere in a name is refused; names of letters and separators are not', () => {
    const letters = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZÀÂÇÉÈÊËÎÏÔÙÛÜŸÆŒabcdeéè'.split('')), minLength: 1, maxLength: 20 });
    const separated = fc.array(letters, { minLength: 1, maxLength: 3 }).chain((parts) => fc.constantFrom(' ', '-', "'").map((sep) => parts.join(sep)));
    fc.assert(
      fc.property(separated, (name) => {
        expect(PatientIdentity.safeParse(base({ birthName: name })).success).toBe(true);
      }),
    );
    fc.assert(
      fc.property(separated, fc.constantFrom(...HOSTILE_CHARS), fc.nat(), (name, bad, at) => {
        const i = at % (name.length + 1);
        const hostile = name.slice(0, i) + bad + name.slice(i);
        expect(nameCharacterProblem(hostile)).toBeDefined();
        expect(PatientIdentity.safeParse(base({ birthName: hostile })).success).toBe(false);
      }),
    );
  });

  it('a FHIR Patient (read for $match or an import): the issue names the FHIR element', () => {
    const good = mapPatient(PatientIdentity.parse(base()));
    const withGiven = structuredClone(good);
    (withGiven.name as NonNullable<Patient['name']>)[0].given = ['Ma\u202Erie'];
    const r = patientIdentityFromFhir(withGiven, { requireSource: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toContainEqual(expect.objectContaining({ code: 'invalid', expression: "Patient.name.where(use='official').given[0]" }));
    const withFamily = structuredClone(good);
    (withFamily.name as NonNullable<Patient['name']>)[0].family = 'DU\uD800PONT';
    const f = patientIdentityFromFhir(withFamily, { requireSource: true });
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.issues.map((i) => i.expression)).toContain("Patient.name.where(use='official').family");
  });
});

describe('over HTTP: POST /ppp, /ctm, /bpm, Patient/$match and /identity/import', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({}, [mountDomainRoutes, mountIdentityRoutes]);
  });
  afterAll(async () => srv.close());
  const fixture = (p: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${p}`, 'utf8')) as Record<string, unknown>;
  const json = { 'content-type': 'application/json' };
  const written = async (): Promise<number> => (await srv.store.auditLog({ limit: 10000 })).length;

  const documents: [string, string, string, string][] = [
    ['bpm', 'bpm/self-medication-remote.json', 'birthName', '\u202E'],
    ['ppp', 'ppp/hospital-sync-rcp.json', 'firstBirthGivenName', '\u200B'],
    ['ctm', 'ctm/transfer-proactive.json', 'usedName', '\uD800'],
    ['bpm', 'bpm/self-medication-remote.json', 'firstBirthGivenName', '\u0000'],
    ['ppp', 'ppp/hospital-sync-rcp.json', 'birthName', '\u0085'],
  ];
  it.each(documents)('POST /%s (%s), a hostile %s: 400 naming the field, nothing written', async (kind, file, field, bad) => {
    const doc = fixture(file);
    const patient = doc.patient as Record<string, unknown>;
    const value = `${String(patient[field] ?? 'MARTIN')}${bad}X`;
    const before = await written();
    const r = await call<Outcome>(`${srv.url}/${kind}`, {
      body: JSON.stringify({ ...doc, patient: { ...patient, [field]: value, ...(field === 'firstBirthGivenName' ? { birthGivenNames: undefined } : {}) } }),
      headers: json,
    });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue.flatMap((i) => i.expression ?? [])).toContain(`${kind}.patient.${field}`);
    expect(await written()).toBe(before);
    expect(await srv.store.identities.getSource((patient.sourceId as { system: string }).system, (patient.sourceId as { value: string }).value)).toBeUndefined();
  });

  it('Patient/$match with U+202E in the given name → 400 naming the FHIR element', async () => {
    const p = mapPatient(PatientIdentity.parse(base()));
    (p.name as NonNullable<Patient['name']>)[0].given = ['MA\u202ERIE'];
    const r = await call<Outcome>(`${srv.fhir}/Patient/$match`, { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: p }] } });
    expect(r.status).toBe(400);
    expect(r.body.issue.flatMap((i) => i.expression ?? [])).toContain("Patient.name.where(use='official').given[0]");
  });

  it('POST /identity/import: the hostile line is reported with the reason, the others are registered', async () => {
    const good = mapPatient(PatientIdentity.parse(base({ sourceId: { system: 'urn:oid:1.2.250.1.999.9', value: 'IMP-1' } })));
    const bad = mapPatient(PatientIdentity.parse(base({ sourceId: { system: 'urn:oid:1.2.250.1.999.9', value: 'IMP-2' } })));
    (bad.name as NonNullable<Patient['name']>)[0].family = 'DU\u200BPONT';
    const r = await call<ImportSummary>(`${srv.url}/identity/import`, { body: `${JSON.stringify(good)}\n${JSON.stringify(bad)}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ registered: 1, failed: 1 });
    expect(r.body.failures).toEqual([{ line: 2, message: expect.stringMatching(/^Patient\.name\.where\(use='official'\)\.family: contains U\+200B \(zero-width character\)/) }]);
    expect(await srv.store.identities.getSource('urn:oid:1.2.250.1.999.9', 'IMP-2')).toBeUndefined();
  });
});

describe('passerelle identity import', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-names-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports each hostile line as refused with the reason, registers the rest, exits 1', () => {
    const patient = (value: string, family: string): string => {
      const p = mapPatient(PatientIdentity.parse(base({ sourceId: { system: 'urn:oid:1.2.250.1.999.9', value }, birthName: 'DUPONT' })));
      (p.name as NonNullable<Patient['name']>)[0].family = family;
      return JSON.stringify(p);
    };
    const file = path.join(dir, 'patients.ndjson');
    // JSON.stringify writes a lone surrogate as the escape \udc00, as a sender's JSON would carry it.
    writeFileSync(file, [patient('C-1', 'DUPONT'), patient('C-2', 'DU\u202EPONT'), patient('C-3', 'DU\uDC00PONT'), patient('C-4', 'DU\u0085PONT')].join('\n') + '\n');
    const root = path.resolve(import.meta.dirname, '../..');
    const r = spawnSync(process.execPath, [path.join(root, 'bin/passerelle.js'), 'identity', 'import', file, '--data', path.join(dir, 'data')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '' },
    });
    expect(r.status).toBe(1);
    const refused = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    expect(refused).toEqual([
      expect.stringMatching(/:2: Patient\.name\.where\(use='official'\)\.family: contains U\+202E \(bidirectional formatting character\)/),
      expect.stringMatching(/:3: Patient\.name\.where\(use='official'\)\.family: contains U\+DC00 \(unpaired surrogate\)/),
      expect.stringMatching(/:4: Patient\.name\.where\(use='official'\)\.family: contains U\+0085 \(control character\)/),
    ]);
    expect(r.stdout).toMatch(/failed\s+3/);
  });
});
