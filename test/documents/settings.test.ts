import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { SourceDocument } from '../../src/documents/model.js';
import {
  compileDocumentSettings,
  DEFAULT_DOCUMENT_SETTINGS_FILE,
  documentSituation,
  documentTitle,
  DocumentSettingsError,
  loadDocumentSettings,
} from '../../src/documents/settings.js';
import { fixtureSource } from './requests.js';

const LOINC = '2.16.840.1.113883.6.1';
const TRE_A03 = '1.2.250.1.213.1.1.4.1';

/** The repository's settings file as data, to derive variants from. */
function repoSettingsDoc(): Record<string, unknown> {
  return parseYaml(readFileSync(DEFAULT_DOCUMENT_SETTINGS_FILE, 'utf8')) as Record<string, unknown>;
}

function withEstablishments(establishments: unknown): unknown {
  return { ...repoSettingsDoc(), establishments };
}

/** A PPP fixture moved to another establishment (to exercise that establishment's overrides). */
function pppAt(name: string, finess: string): SourceDocument {
  const source = fixtureSource('ppp', name);
  if (source.kind !== 'ppp') throw new Error('expected a PPP');
  return { kind: 'ppp', document: { ...source.document, establishment: { ...source.document.establishment, finess } } };
}

describe('mappings/documents.yaml', () => {
  const settings = loadDocumentSettings();

  it('types each kind with its JDV_J66 LOINC code and the ASS_X16 class', () => {
    expect(settings.kinds.ppp.typeCode).toEqual({ code: '18776-5', codeSystem: LOINC, display: 'Plan personnalisé de soins' });
    expect(settings.kinds.ppp.classCode).toEqual({ code: '44', codeSystem: TRE_A03, display: 'Plan de soins, protocole de soins' });
    expect(settings.kinds.ctm.typeCode).toEqual({ code: '80820-4', codeSystem: LOINC, display: 'Formulaire de conciliation médicamenteuse' });
    expect(settings.kinds.ctm.classCode).toEqual({ code: '11', codeSystem: TRE_A03, display: 'Synthèse' });
    expect(settings.kinds.bpm.typeCode).toEqual({ code: '56445-0', codeSystem: LOINC, display: 'Bilan médicamenteux' });
    expect(settings.kinds.bpm.classCode).toEqual({ code: '11', codeSystem: TRE_A03, display: 'Synthèse' });
  });

  it('titles a PPP after its stay type or entry door', () => {
    const titles = {
      hospitalisation: documentTitle(settings, fixtureSource('ppp', 'hospital-sync-rcp')),
      hdj: documentTitle(settings, fixtureSource('ppp', 'hdj-partial-birthdate')),
      consultation: documentTitle(settings, fixtureSource('ppp', 'consultation-born-abroad')),
      ville: documentTitle(settings, fixtureSource('ppp', 'town-async-rcp')),
    };
    expect(titles).toEqual({
      hospitalisation: "Plan pharmaceutique personnalisé — sortie d'hospitalisation",
      hdj: 'Plan pharmaceutique personnalisé — hôpital de jour',
      consultation: 'Plan pharmaceutique personnalisé — consultation',
      ville: 'Plan pharmaceutique personnalisé — parcours ville',
    });
  });

  it('places a CTM in hospital and a BPM in the community', () => {
    expect(documentSituation(fixtureSource('ctm', 'admission-divergences'))).toBe('hospitalisation');
    expect(documentSituation(fixtureSource('bpm', 'self-medication-remote'))).toBe('ville');
    expect(settings.contentTypeCodes.hdj).toEqual({ code: '04', codeSystem: '1.2.250.1.213.2.2', display: 'Hospitalisation de jour' });
  });

  it('gives establishments and officines their own facility and practice codes', () => {
    expect(settings.healthcareFacilityTypeCodes.etablissement.code).toBe('SA01');
    expect(settings.healthcareFacilityTypeCodes.officine).toEqual({ code: 'SA33', codeSystem: '1.2.250.1.71.4.2.4', display: "Pharmacie d'officine" });
    expect(settings.practiceSettingCodes.etablissement.code).toBe('ETABLISSEMENT');
    expect(settings.practiceSettingCodes.officine.code).toBe('AMBULATOIRE');
  });
});

describe('per-establishment overrides', () => {
  const finess = '590000451';

  it('replace only the titles they name', () => {
    const settings = compileDocumentSettings(
      withEstablishments({ [finess]: { titles: { ppp: { hdj: 'PPP — HDJ de gériatrie' } } } }),
    );
    expect(documentTitle(settings, pppAt('hdj-partial-birthdate', finess))).toBe('PPP — HDJ de gériatrie');
    expect(documentTitle(settings, pppAt('hospital-sync-rcp', finess))).toBe("Plan pharmaceutique personnalisé — sortie d'hospitalisation");
    // Another establishment keeps the defaults.
    expect(documentTitle(settings, fixtureSource('ppp', 'hdj-partial-birthdate'))).toBe('Plan pharmaceutique personnalisé — hôpital de jour');
  });

  it('never title a consultation "Ordonnance de sortie", even when the hospitalisation title says so', () => {
    const settings = compileDocumentSettings(
      withEstablishments({ [finess]: { titles: { ppp: { hospitalisation: 'Ordonnance de sortie et plan pharmaceutique' } } } }),
    );
    expect(documentTitle(settings, pppAt('hospital-sync-rcp', finess))).toBe('Ordonnance de sortie et plan pharmaceutique');
    const consultation = documentTitle(settings, pppAt('consultation-born-abroad', finess));
    expect(consultation).not.toMatch(/ordonnance de sortie/i);
    expect(consultation).toBe('Plan pharmaceutique personnalisé — consultation');
  });

  it('are refused when they title a consultation "Ordonnance de sortie", naming the path', () => {
    const doc = withEstablishments({ [finess]: { titles: { ppp: { consultation: 'Ordonnance  de Sortie (consultation)' } } } });
    expect(() => compileDocumentSettings(doc, 'test.yaml')).toThrow(DocumentSettingsError);
    expect(() => compileDocumentSettings(doc, 'test.yaml')).toThrow(
      `establishments.${finess}.titles.ppp.consultation: a consultation document cannot be titled "Ordonnance de sortie"`,
    );
  });

  it('may set the facility and practice codes, checked like the defaults', () => {
    const settings = compileDocumentSettings(
      withEstablishments({
        [finess]: { healthcareFacilityTypeCode: { code: 'SA03', codeSystem: '1.2.250.1.71.4.2.4', display: 'Etablissement privé PSPH' } },
      }),
    );
    expect(settings.establishments[finess].healthcareFacilityTypeCode?.code).toBe('SA03');
    expect(() =>
      compileDocumentSettings(withEstablishments({ [finess]: { practiceSettingCode: { code: 'AMBULATOIRE', codeSystem: 'TRE_A01', display: 'x' } } })),
    ).toThrow(`establishments.${finess}.practiceSettingCode.codeSystem: expected an OID`);
    expect(() => compileDocumentSettings(withEstablishments({ '12345': {} }))).toThrow('establishments are keyed by FINESS');
  });
});

describe('validation of the settings file', () => {
  it('refuses a typeCode with no classCode in the ASS_X16 table', () => {
    const doc = repoSettingsDoc();
    const kinds = doc.kinds as Record<string, Record<string, unknown>>;
    kinds.bpm.typeCode = { code: '11488-4', codeSystem: LOINC, display: 'Note de consultation' };
    expect(() => compileDocumentSettings(doc)).toThrow('kinds.bpm.typeCode.code: no classCode for typeCode "11488-4"');
  });

  it('refuses a consultation default title "Ordonnance de sortie"', () => {
    const doc = repoSettingsDoc();
    const kinds = doc.kinds as Record<string, Record<string, Record<string, string>>>;
    kinds.ppp.titles.consultation = 'Ordonnance de sortie';
    expect(() => compileDocumentSettings(doc)).toThrow('kinds.ppp.titles.consultation');
  });

  it('allows the BMO validator as legal authenticator for a CTM only', () => {
    const doc = repoSettingsDoc();
    const kinds = doc.kinds as Record<string, Record<string, unknown>>;
    kinds.ppp.legalAuthenticator = 'bmo-validator';
    expect(() => compileDocumentSettings(doc)).toThrow('kinds.ppp.legalAuthenticator: only a CTM has a BMO validator');
  });

  describe('loading a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-documents-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads another file when given one', () => {
      const file = path.join(dir, 'documents.yaml');
      const text = readFileSync(DEFAULT_DOCUMENT_SETTINGS_FILE, 'utf8').replace('— parcours ville', '— adressage par le médecin traitant');
      writeFileSync(file, text);
      const settings = loadDocumentSettings(file);
      expect(settings.source).toBe(file);
      expect(documentTitle(settings, fixtureSource('ppp', 'town-async-rcp'))).toBe('Plan pharmaceutique personnalisé — adressage par le médecin traitant');
    });

    it('says which file is missing or not YAML', () => {
      expect(() => loadDocumentSettings(path.join(dir, 'absent.yaml'))).toThrow(/cannot read document settings .*absent\.yaml/);
      const bad = path.join(dir, 'bad.yaml');
      writeFileSync(bad, 'kinds: [unclosed');
      expect(() => loadDocumentSettings(bad)).toThrow(/bad\.yaml is not valid YAML/);
    });
  });
});
