import { beforeAll, describe, expect, it } from 'vitest';
import { subjectDn } from '../../../src/connectors/dmp/certificate.js';
import { buildVihfAssertion, verifyVihfAssertion, VIHF_ATTRIBUTE, type VihfBuildOptions } from '../../../src/connectors/dmp/vihf.js';
import { throwawayPki, type ThrowawayPki } from './throwaway-pki.js';

let pki: ThrowawayPki;
beforeAll(() => {
  pki = throwawayPki();
});

function options(over: Partial<VihfBuildOptions> = {}): VihfBuildOptions {
  return {
    nameId: '810000000001',
    subjectId: 'Passerelle',
    roles: [
      { code: '21', codeSystem: '1.2.250.1.71.1.2.7', display: 'Pharmacien' },
      { code: 'SM26', codeSystem: '1.2.250.1.71.4.2.5', display: 'Qualifié en Médecine Générale (SM)' },
    ],
    secteurActivite: 'SA01',
    identifiantStructure: '1990000010',
    resourceId: '279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH',
    lps: { id: 'passerelle', name: 'Passerelle', version: '0.1.0', homologation: 'TEST-HOMOLOGATION' },
    signing: { key: pki.org.key, cert: pki.org.cert, chain: [] },
    now: new Date('2025-03-01T10:00:00Z'),
    assertionId: '_a1',
    ...over,
  };
}

describe('VIHF assertion', () => {
  it('carries the attributes of fr-interop §2.3 and verifies against the issuing CA', () => {
    const xml = buildVihfAssertion(options());
    const result = verifyVihfAssertion(xml, pki.ca.cert);
    expect(result.reason).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.issuer).toBe(subjectDn(pki.org.cert));
    expect(result.issuer).toBe('CN=TEST-PASSERELLE, OU=1990000010, O=CH TEST PASSERELLE, ST=Paris (75), C=FR');
    expect(result.nameId).toBe('810000000001');
    expect(result.attributes).toMatchObject({
      VIHF_Version: ['3.0'],
      Authentification_Mode: ['INDIRECTE'],
      Secteur_Activite: ['SA01^1.2.250.1.71.4.2.4'],
      Identifiant_Structure: ['1990000010'],
      Ressource_URN: ['urn:dmp'],
      LPS_ID: ['passerelle'],
      LPS_Nom: ['Passerelle'],
      LPS_Version: ['0.1.0'],
      LPS_ID_HOMOLOGATION_DMP: ['TEST-HOMOLOGATION'],
      [VIHF_ATTRIBUTE.subjectId]: ['Passerelle'],
      [VIHF_ATTRIBUTE.resourceId]: ['279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH'],
      [VIHF_ATTRIBUTE.role]: ['21^1.2.250.1.71.1.2.7', 'SM26^1.2.250.1.71.4.2.5'],
      [VIHF_ATTRIBUTE.purposeOfUse]: ['normal^1.2.250.1.213.1.1.4.248'],
    });
    expect(xml).toContain('<saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient</saml2:AuthnContextClassRef>');
    expect(xml).toContain('Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"');
    expect(xml).toContain('Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"');
    // SAML schema order: the signature right after Issuer.
    expect(xml.indexOf('</saml2:Issuer><ds:Signature')).toBeGreaterThan(0);
  });

  it('signs with RSA-SHA1 when asked (the 2023 ANS sample)', () => {
    const xml = buildVihfAssertion(options({ algorithm: 'rsa-sha1' }));
    expect(xml).toContain('Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"');
    expect(verifyVihfAssertion(xml, pki.ca.cert).ok).toBe(true);
  });

  it('still verifies once embedded in a SOAP envelope (exclusive c14n)', () => {
    const assertion = buildVihfAssertion(options());
    const envelope = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:x="urn:other"><s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">${assertion}</wsse:Security></s:Header><s:Body/></s:Envelope>`;
    expect(verifyVihfAssertion(envelope, pki.ca.cert).ok).toBe(true);
  });

  it('fails when an attribute is changed after signing', () => {
    const xml = buildVihfAssertion(options()).replace('279035121518989^^^', '180000000000046^^^');
    const result = verifyVihfAssertion(xml, pki.ca.cert);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/changed after signing|signature invalid/);
  });

  it('fails when signed by a key the trusted CA did not certify', () => {
    const xml = buildVihfAssertion(options({ signing: { key: pki.intruder.key, cert: pki.intruder.cert, chain: [] } }));
    const result = verifyVihfAssertion(xml, pki.ca.cert);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/not trusted/);
    // …while its own CA would accept it: the failure is the trust, not the signature.
    expect(verifyVihfAssertion(xml, pki.intruderCa.cert).ok).toBe(true);
  });

  it('fails when the certificate in KeyInfo is swapped for a trusted one that did not sign', () => {
    const theirs = buildVihfAssertion(options({ signing: { key: pki.intruder.key, cert: pki.intruder.cert, chain: [] } }));
    const b64 = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');
    const forged = theirs.replace(b64(pki.intruder.cert), b64(pki.org.cert));
    expect(verifyVihfAssertion(forged, pki.ca.cert).ok).toBe(false);
  });

  it('fails when the Issuer is not the signing certificate subject', () => {
    const xml = buildVihfAssertion(options({ issuer: 'CN=someone else, C=FR' }));
    const result = verifyVihfAssertion(xml, pki.ca.cert);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/Issuer/);
  });

  it('refuses an expired certificate', () => {
    const xml = buildVihfAssertion(options());
    const result = verifyVihfAssertion(xml, pki.ca.cert, { now: new Date(Date.now() + 2 * 365 * 86400_000) });
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/not valid at/);
  });
});
