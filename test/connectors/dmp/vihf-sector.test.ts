// Issue 14: the VIHF names the sector of the structure it speaks for (Secteur_Activite, TRE_R02 `<code>^1.2.250.1.71.4.2.4`
// as in the ANS samples), i.e. the document's healthcare facility type: a BPM sent for a community pharmacy says SA33,
// not the destination's configured default. The configured value stays the sector of the gateway's own
// establishment, the structure of the organisation certificate.
import { beforeAll, describe, expect, it } from 'vitest';
import { structureOfCertificate } from '../../../src/connectors/dmp/certificate.js';
import { vihfOf } from '../../../src/connectors/dmp/connector.js';
import { buildIti41Request } from '../../../src/connectors/dmp/iti41.js';
import { verifyVihfAssertion, VIHF_ATTRIBUTE } from '../../../src/connectors/dmp/vihf.js';
import { buildDocument, type BuiltDocument } from '../../../src/documents/pipeline.js';
import { compileDocumentSettings, DEFAULT_DOCUMENT_SETTINGS_FILE, loadDocumentSettings, type DocumentSettings } from '../../../src/documents/settings.js';
import { readYamlFile } from '../../../src/mapping-files.js';
import { outboxConfigSchema, type DmpDestinationConfig } from '../../../src/outbox/config.js';
import { fixtureRequest } from '../../documents/requests.js';
import { throwawayPki, type ThrowawayPki } from './throwaway-pki.js';

const SOURCE_ID = '1.2.250.1.999.42.0';
const SECTEUR_SYSTEM = '1.2.250.1.71.4.2.4';

/** A DMP destination as the configuration file gives it (every default applied: `vihf.secteurActivite` is SA01). */
function destination(vihf: Record<string, unknown> = {}): DmpDestinationConfig {
  const outbox = outboxConfigSchema.parse({
    destinations: { dmp: { kind: 'dmp', url: 'https://dmp.test/si-dmp-server/v2/services/repository', tls: { pkcs12: 'org.p12' }, vihf } },
  });
  return outbox.destinations.dmp as DmpDestinationConfig;
}

let settings: DocumentSettings;
let bpm: BuiltDocument;
let ppp: BuiltDocument;
let pki: ThrowawayPki;

beforeAll(async () => {
  settings = loadDocumentSettings();
  bpm = await buildDocument(fixtureRequest('bpm', 'self-medication-remote'), settings, { sourceId: SOURCE_ID });
  ppp = await buildDocument(fixtureRequest('ppp', 'hospital-sync-rcp'), settings, { sourceId: SOURCE_ID });
  pki = throwawayPki();
});

describe('VIHF Secteur_Activite (issue 14)', () => {
  it('a BPM sent for a community pharmacy names the pharmacy and its sector SA33, not the configured SA01', () => {
    expect(destination().vihf.secteurActivite).toBe('SA01');
    const vihf = vihfOf(destination(), bpm.header);
    expect(vihf.identifiantStructure).toBe('1590002234');
    expect(vihf.secteurActivite).toBe(`SA33^${SECTEUR_SYSTEM}`);
    // The same sector as the document's XDS healthcareFacilityTypeCode.
    const facility = bpm.submission.documents[0].entry.healthcareFacilityTypeCode;
    expect(`${facility.code}^${facility.codeSystem}`).toBe(vihf.secteurActivite);
  });

  it('a PPP of a hospital keeps the hospital sector (SA01 établissement public)', () => {
    const vihf = vihfOf(destination(), ppp.header);
    expect(vihf.identifiantStructure).toBe('1800000317');
    expect(vihf.secteurActivite).toBe(`SA01^${SECTEUR_SYSTEM}`);
  });

  it('follows a per-establishment facility code of the document settings (e.g. a private PSPH hospital, SA03)', async () => {
    const raw = readYamlFile(DEFAULT_DOCUMENT_SETTINGS_FILE, 'document settings', (m) => new Error(m)) as Record<string, unknown>;
    const psph = { code: 'SA03', codeSystem: SECTEUR_SYSTEM, display: 'Etablissement privé PSPH' };
    const withOverride = compileDocumentSettings({ ...raw, establishments: { '800000317': { healthcareFacilityTypeCode: psph } } }, 'test');
    const built = await buildDocument(fixtureRequest('ppp', 'hospital-sync-rcp'), withOverride, { sourceId: SOURCE_ID });
    expect(vihfOf(destination(), built.header).secteurActivite).toBe(`SA03^${SECTEUR_SYSTEM}`);
  });

  it('the configured sector is used for the gateway own establishment (the structure of its certificate), and only for it', () => {
    const d = destination({ secteurActivite: 'SA02' });
    expect(vihfOf(d, ppp.header, '1800000317').secteurActivite).toBe('SA02');
    expect(vihfOf(d, bpm.header, '1800000317').secteurActivite).toBe(`SA33^${SECTEUR_SYSTEM}`);
    expect(vihfOf(d, bpm.header).secteurActivite).toBe(`SA33^${SECTEUR_SYSTEM}`);
  });

  it('reads the structure of an organisation certificate from its OU (IdNat_Struct, as IGC Santé writes it)', () => {
    expect(structureOfCertificate(pki.org.cert)).toBe('1990000010');
    expect(structureOfCertificate(pki.ca.cert)).toBeUndefined();
  });

  it('the signed assertion of the ITI-41 request of a pharmacy BPM says SA33', () => {
    const request = buildIti41Request(bpm.submission, { key: pki.org.key, cert: pki.org.cert, chain: [] }, vihfOf(destination(), bpm.header, structureOfCertificate(pki.org.cert)), {
      to: 'https://dmp.test/si-dmp-server/v2/services/repository',
      encoding: 'inline',
      messageId: 'urn:uuid:9d7c2f0e-6a51-4b8e-9a4f-3f1d2c0b7e61',
      now: new Date(),
    });
    const verified = verifyVihfAssertion(request.envelope, pki.ca.cert);
    expect(verified.reason).toBeUndefined();
    expect(verified.attributes[VIHF_ATTRIBUTE.secteurActivite]).toEqual([`SA33^${SECTEUR_SYSTEM}`]);
    expect(verified.attributes[VIHF_ATTRIBUTE.identifiantStructure]).toEqual(['1590002234']);
  });
});
