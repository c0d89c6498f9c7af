// The ebRIM the connector writes, compared with the ANS sample ITI-41 (XDS.xml) piece by piece: same classification
// schemes, slot names, external identifier schemes and HL7 v2 string shapes; then validated against the XSDs.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { submitObjectsRequest } from '../../../src/connectors/dmp/ebrim.js';
import { xdsSubmissionOf } from '../../../src/documents/xds-metadata.js';
import { signSubmissionSet } from '../../../src/connectors/dmp/xades.js';
import { ASSOCIATION_TYPE, DOCUMENT_ENTRY_SCHEME, NS, SLOT } from '../../../src/connectors/dmp/xds-constants.js';
import { children, descendants, parseXml } from '../../../src/connectors/dmp/xml-dom.js';
import { CDA_BYTES, headerFixture, SUBMISSION_OPTIONS } from './header-fixture.js';
import { throwawayPki } from './throwaway-pki.js';
import { ANS_SAMPLE, haveShared, validateXds } from './xds-schemas.js';

/** What a registry object is made of, by kind of child. */
function shapeOf(object: Element) {
  return {
    slots: children(object, NS.rim, 'Slot').map((s) => s.getAttribute('name') ?? ''),
    schemes: children(object, NS.rim, 'Classification').map((c) => c.getAttribute('classificationScheme') || `node:${c.getAttribute('classificationNode') ?? ''}`),
    identifiers: children(object, NS.rim, 'ExternalIdentifier').map((e) => e.getAttribute('identificationScheme') ?? ''),
  };
}

function slotValues(object: Element, name: string): string[] {
  const slot = children(object, NS.rim, 'Slot').find((s) => s.getAttribute('name') === name);
  return slot ? descendants(slot, NS.rim, 'Value').map((v) => v.textContent ?? '') : [];
}

function classification(object: Element, scheme: string): Element[] {
  return children(object, NS.rim, 'Classification').filter((c) => c.getAttribute('classificationScheme') === scheme);
}

/** The delimiter skeleton of an HL7 v2 string: every run of content becomes `x`. */
const skeleton = (v: string): string => v.replace(/[^^&]+/g, 'x');

function registryObjects(xml: string) {
  const list = descendants(parseXml(xml).documentElement, NS.rim, 'RegistryObjectList')[0];
  const eos = children(list, NS.rim, 'ExtrinsicObject');
  const isSignature = (e: Element) => e.getAttribute('mimeType') === 'text/xml' && slotValues(e, SLOT.languageCode)[0] === 'art';
  return {
    pkg: children(list, NS.rim, 'RegistryPackage')[0],
    document: eos.find((e) => !isSignature(e)) as Element,
    signature: eos.find(isSignature) as Element,
    associations: children(list, NS.rim, 'Association'),
  };
}

describe.skipIf(!haveShared)('ebRIM vs the ANS sample ITI-41', () => {
  let ours: ReturnType<typeof registryObjects>;
  let sample: ReturnType<typeof registryObjects>;
  let xml: string;

  beforeAll(() => {
    const pki = throwawayPki();
    const sub = xdsSubmissionOf(headerFixture(), CDA_BYTES, SUBMISSION_OPTIONS);
    const signature = signSubmissionSet(sub, { key: pki.org.key, cert: pki.org.cert, chain: [] }, { uniqueId: '1.2.250.1.999.42.3.20250301.1.1', signingTime: new Date('2025-03-01T10:45:12Z') });
    xml = submitObjectsRequest(sub, signature);
    ours = registryObjects(xml);
    sample = registryObjects(readFileSync(ANS_SAMPLE, 'utf8'));
  });

  it('gives the SubmissionSet the same slots, classifications and identifiers', () => {
    expect(shapeOf(ours.pkg)).toEqual(shapeOf(sample.pkg));
  });

  it('gives the DocumentEntry every slot of the sample except those that do not apply, and nothing else', () => {
    // URI: an XDM (media) slot; submissionTime: not a DocumentEntry attribute in XDS.b; referenceIdList: optional,
    // the sample's values are imaging accession numbers.
    const notApplicable = new Set(['URI', SLOT.submissionTime, SLOT.referenceIdList]);
    const expected = shapeOf(sample.document).slots.filter((s) => !notApplicable.has(s));
    expect([...shapeOf(ours.document).slots].sort()).toEqual([...expected].sort());
  });

  it('classifies the DocumentEntry with the sample’s schemes (eventCodeList being optional) and the same identifiers', () => {
    const sampleSchemes = new Set(shapeOf(sample.document).schemes);
    sampleSchemes.delete(DOCUMENT_ENTRY_SCHEME.eventCodeList);
    expect(new Set(shapeOf(ours.document).schemes)).toEqual(sampleSchemes);
    expect(shapeOf(ours.document).identifiers).toEqual(shapeOf(sample.document).identifiers);
  });

  it('describes the signature entry with the sample’s schemes and codes', () => {
    const ourShape = shapeOf(ours.signature);
    const sampleShape = shapeOf(sample.signature);
    expect(ourShape.schemes).toEqual(sampleShape.schemes);
    expect(ourShape.identifiers).toEqual(sampleShape.identifiers);
    for (const scheme of [DOCUMENT_ENTRY_SCHEME.classCode, DOCUMENT_ENTRY_SCHEME.typeCode, DOCUMENT_ENTRY_SCHEME.formatCode, DOCUMENT_ENTRY_SCHEME.eventCodeList, DOCUMENT_ENTRY_SCHEME.confidentialityCode]) {
      const codes = (e: Element) => classification(e, scheme).map((c) => `${c.getAttribute('nodeRepresentation')}|${slotValues(c, SLOT.codingScheme)[0]}`);
      expect(codes(ours.signature), scheme).toEqual(codes(sample.signature));
    }
    expect(slotValues(ours.signature, SLOT.languageCode)).toEqual(['art']);
  });

  it('writes XCN, XON and CX with the sample’s skeletons and authorities', () => {
    const sampleXcn = slotValues(sample.document, SLOT.legalAuthenticator)[0];
    const ourXcn = slotValues(ours.document, SLOT.legalAuthenticator)[0];
    expect(skeleton(ourXcn)).toBe(skeleton(sampleXcn));
    expect(ourXcn.split('^').slice(8)).toEqual(sampleXcn.split('^').slice(8)); // &1.2.250.1.71.4.2.1&ISO, D, , , IDNPS

    const author = (e: Element) => classification(e, DOCUMENT_ENTRY_SCHEME.author)[0];
    const sampleXon = slotValues(author(sample.document), SLOT.authorInstitution)[0];
    const ourXon = slotValues(author(ours.document), SLOT.authorInstitution)[0];
    expect(skeleton(ourXon)).toBe(skeleton(sampleXon));
    expect(ourXon.split('^').slice(5, 9)).toEqual(sampleXon.split('^').slice(5, 9)); // &1.2.250.1.71.4.2.2&ISO, IDNST
    expect(skeleton(slotValues(author(ours.document), SLOT.authorPerson)[0])).toBe(skeleton(slotValues(author(sample.document), SLOT.authorPerson)[0]));

    const patientId = (e: Element) => children(e, NS.rim, 'ExternalIdentifier')[0].getAttribute('value') ?? '';
    expect(skeleton(patientId(ours.document))).toBe(skeleton(patientId(sample.document)));
    expect(patientId(ours.document).split('^').slice(1)).toEqual(patientId(sample.document).split('^').slice(1)); // same INS-NIR test authority, NH
    expect(skeleton(slotValues(ours.document, SLOT.sourcePatientId)[0])).toBe(skeleton(slotValues(sample.document, SLOT.sourcePatientId)[0]));
    expect(slotValues(ours.document, SLOT.sourcePatientInfo).map((v) => v.slice(0, 6))).toEqual(slotValues(sample.document, SLOT.sourcePatientInfo).map((v) => v.slice(0, 6)));
    expect(skeleton(slotValues(ours.document, SLOT.sourcePatientInfo)[0])).toBe(skeleton(slotValues(sample.document, SLOT.sourcePatientInfo)[0]));
  });

  it('links the objects as the sample does: HasMember (Original) for each entry, signs from the signature to the set', () => {
    const types = (as: Element[]) => as.map((a) => a.getAttribute('associationType'));
    expect(types(ours.associations)).toEqual(types(sample.associations));
    const signs = ours.associations.find((a) => a.getAttribute('associationType') === ASSOCIATION_TYPE.signs) as Element;
    expect(signs.getAttribute('sourceObject')).toBe(ours.signature.getAttribute('id'));
    expect(signs.getAttribute('targetObject')).toBe(ours.pkg.getAttribute('id'));
    for (const a of ours.associations.filter((x) => x.getAttribute('associationType') === ASSOCIATION_TYPE.hasMember)) {
      expect(slotValues(a, SLOT.submissionSetStatus)).toEqual(['Original']);
    }
  });

  it('puts every Slot before Name, Description and Classification (the sample does not, ebRIM requires it)', () => {
    for (const object of [ours.pkg, ours.document, ours.signature]) {
      const names = Array.from({ length: object.childNodes.length }, (_, i) => object.childNodes[i]).filter((n) => n.nodeType === 1).map((n) => (n as Element).localName);
      expect(names.lastIndexOf('Slot')).toBeLessThan(names.findIndex((n) => n !== 'Slot'));
    }
  });

  it('validates against ebRS lcm.xsd', async () => {
    const result = await validateXds(xml);
    expect(result.errors.map((e) => e.rawMessage)).toEqual([]);
    expect(result.valid).toBe(true);
  });
});

describe('ebRIM replacement', () => {
  it('adds an RPLC association from the new entry to the replaced one, with no SubmissionSetStatus', () => {
    const sub = xdsSubmissionOf(headerFixture({ ids: { id: '1.2.250.1.999.42.1.9.2', setId: '1.2.250.1.999.42.2.9', version: 2, replaces: '1.2.250.1.999.42.1.9.1' } }), CDA_BYTES, SUBMISSION_OPTIONS);
    const { associations, document } = registryObjects(submitObjectsRequest(sub));
    const rplc = associations.filter((a) => a.getAttribute('associationType') === ASSOCIATION_TYPE.replace);
    expect(rplc).toHaveLength(1);
    expect(rplc[0].getAttribute('sourceObject')).toBe(document.getAttribute('id'));
    expect(rplc[0].getAttribute('targetObject')).toBe(sub.replacements[0].replacedEntryUuid);
    expect(children(rplc[0], NS.rim, 'Slot')).toHaveLength(0);
  });
});
