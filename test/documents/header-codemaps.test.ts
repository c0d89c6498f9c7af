// Document metadata through code maps (issue 19, point 2): documents.yaml `codeMaps` names a code map keyed by the
// organisation's FINESS for healthcareFacilityTypeCode / practiceSettingCode; the shipped example map is loaded by the
// real mappings engine.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { checkCommand } from '../../src/cli/commands/mappings.js';
import { documentHeader } from '../../src/documents/header.js';
import { compileDocumentSettings, DEFAULT_DOCUMENT_SETTINGS_FILE, DocumentSettingsError, type MetadataCodeMaps, withCodeMaps } from '../../src/documents/settings.js';
import type { DocumentRequest } from '../../src/documents/model.js';
import { loadMappingSet } from '../../src/mappings/load.js';
import { fixtureRequest } from './requests.js';

const MAPPINGS = join(import.meta.dirname, '../../mappings');
const TRE_R02 = '1.2.250.1.71.4.2.4';
const set = await loadMappingSet(MAPPINGS);
const repoDoc = (): Record<string, unknown> => parseYaml(readFileSync(DEFAULT_DOCUMENT_SETTINGS_FILE, 'utf8')) as Record<string, unknown>;
const unmapped: string[] = [];
const maps: MetadataCodeMaps = { get: (n) => set.codeMaps.get(n), onUnmapped: (map, finess, field) => unmapped.push(`${map}|${finess}|${field}`) };
const settingsWith = (extra: Record<string, unknown>, codeMaps: MetadataCodeMaps = maps) =>
  withCodeMaps(compileDocumentSettings({ ...repoDoc(), ...extra }), codeMaps);

/** The PPP fixture at another establishment. */
function pppAt(finess: string): DocumentRequest {
  const req = fixtureRequest('ppp', 'hospital-sync-rcp');
  if (req.source.kind !== 'ppp') throw new Error('expected a PPP');
  const document = { ...req.source.document, establishment: { ...req.source.document.establishment, finess } };
  return { ...req, source: { kind: 'ppp', document } };
}

describe('document metadata from a code map (documents.yaml codeMaps)', () => {
  const settings = settingsWith({ codeMaps: { healthcareFacilityTypeCode: 'establishment-sectors' } });

  it('codes a listed establishment from the map (a private clinic: SA04, not the SA01 of its kind)', () => {
    const h = documentHeader(pppAt('800009994'), settings);
    expect(h.healthcareFacilityTypeCode).toEqual({ code: 'SA04', codeSystem: TRE_R02, display: 'Etablissement privé non PSPH' });
    expect(h.practiceSettingCode.code).toBe('ETABLISSEMENT');
  });

  it('keeps the default of its kind for a FINESS the map does not list, and reports it (warning map)', () => {
    unmapped.length = 0;
    const h = documentHeader(pppAt('590000013'), settings);
    expect(h.healthcareFacilityTypeCode.code).toBe('SA01');
    expect(unmapped).toEqual(['establishment-sectors|590000013|healthcareFacilityTypeCode']);
  });

  it("lets an establishment's own entry win over the map", () => {
    const own = settingsWith({
      codeMaps: { healthcareFacilityTypeCode: 'establishment-sectors' },
      establishments: { '800009994': { healthcareFacilityTypeCode: { code: 'SA03', codeSystem: TRE_R02, display: 'Etablissement privé PSPH' } } },
    });
    expect(documentHeader(pppAt('800009994'), own).healthcareFacilityTypeCode.code).toBe('SA03');
  });

  it('refuses the document of an unlisted FINESS when the map says unmapped: error, naming the map and the field path', () => {
    const strict: MetadataCodeMaps = { get: (n) => { const m = set.codeMaps.get(n); return m && { ...m, lookup: m.lookup, unmapped: 'error' }; } };
    const s = settingsWith({ codeMaps: { practiceSettingCode: 'establishment-sectors' } }, strict);
    let err: unknown;
    try {
      documentHeader(pppAt('590000013'), s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OperationOutcomeError);
    const issue = (err as OperationOutcomeError).outcome.issue?.[0];
    expect(issue?.diagnostics ?? issue?.details?.text).toMatch(/FINESS 590000013 is not in code map establishment-sectors \(practiceSettingCode\)/);
    expect(issue?.expression).toEqual(['ppp.establishment.finess']);
  });

  it('refuses settings naming a code map that does not exist, or one that does not code into an OID', () => {
    expect(() => settingsWith({ codeMaps: { healthcareFacilityTypeCode: 'no-such-map' } })).toThrow(DocumentSettingsError);
    expect(() => settingsWith({ codeMaps: { healthcareFacilityTypeCode: 'no-such-map' } })).toThrow(/code map "no-such-map" is not defined/);
    expect(() => settingsWith({ codeMaps: { healthcareFacilityTypeCode: 'lgo-routes' } })).toThrow(/needs an OID/);
    expect(() => compileDocumentSettings({ ...repoDoc(), codeMaps: { healthcareFacilityTypeCode: '../etc/passwd' } })).toThrow(/codeMaps.healthcareFacilityTypeCode/);
    expect(() => compileDocumentSettings({ ...repoDoc(), codeMaps: { unknownField: 'establishment-sectors' } })).toThrow(DocumentSettingsError);
  });
});

describe('passerelle mappings check: the folder’s documents.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mappings-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MAPPINGS, dir, { recursive: true });

  it('passes when the named code map exists, and fails (exit 1) naming the field when it does not', async () => {
    const file = join(dir, 'documents.yaml');
    const original = readFileSync(file, 'utf8');
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stdout.write;
    try {
      writeFileSync(file, original.replace('codeMaps: {}', 'codeMaps: { healthcareFacilityTypeCode: establishment-sectors }'));
      expect(await checkCommand(dir)).toBe(0);
      expect(lines.join('')).toMatch(/documents\.yaml {2}document settings \(code maps: establishment-sectors\)/);
      lines.length = 0;
      writeFileSync(file, original.replace('codeMaps: {}', 'codeMaps: { healthcareFacilityTypeCode: clinic-sectors }'));
      expect(await checkCommand(dir)).toBe(1);
      expect(lines.join('')).toMatch(/error .*documents\.yaml .*codeMaps\.healthcareFacilityTypeCode: code map "clinic-sectors" is not defined/);
    } finally {
      process.stdout.write = write;
    }
  });
});
