import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { issuerDn, sameDn, serialDecimal, subjectDn, verifyCertificateChain } from '../../../src/connectors/dmp/certificate.js';
import { issue } from './throwaway-pki.js';

const utf8 = (shortName: string, value: string): forge.pki.CertificateField => ({ shortName, value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class });

describe('certificate facts', () => {
  const root = issue([{ shortName: 'C', value: 'FR' }, { shortName: 'CN', value: 'TEST ROOT' }], 'self', 'ca');
  const intermediate = issue([{ shortName: 'C', value: 'FR' }, { shortName: 'CN', value: 'TEST AC ORGANISATIONS' }], root, 'ca');
  const leaf = issue([{ shortName: 'C', value: 'FR' }, utf8('O', 'Hôpital Saint-Ézéchiel, Paris'), { shortName: 'OU', value: '1990000010' }, { shortName: 'CN', value: 'TEST-PASSERELLE' }], intermediate, 'client');

  it('writes DNs most specific first, UTF-8 decoded and RFC 4514-escaped', () => {
    expect(subjectDn(leaf.cert)).toBe('CN=TEST-PASSERELLE, OU=1990000010, O=Hôpital Saint-Ézéchiel\\, Paris, C=FR');
    expect(issuerDn(leaf.cert)).toBe('CN=TEST AC ORGANISATIONS, C=FR');
    expect(sameDn('CN=a,O=b\\, c,C=FR', 'CN=a, O=b\\, c, C=FR')).toBe(true);
    expect(sameDn('CN=a, O=b', 'CN=a, O=c')).toBe(false);
    expect(serialDecimal(leaf.cert)).toMatch(/^\d+$/);
  });

  it('chains a leaf through an intermediate to a trusted root', () => {
    expect(verifyCertificateChain(leaf.cert, [intermediate.cert], [root.cert])).toEqual({ ok: true });
    expect(verifyCertificateChain(leaf.cert, [], [intermediate.cert, root.cert])).toEqual({ ok: true });
    expect(verifyCertificateChain(leaf.cert, [], [root.cert])).toMatchObject({ ok: false, reason: expect.stringMatching(/does not chain/) });
  });

  it('refuses a chain through a certificate that is not a CA', () => {
    const fakeIntermediate = issue([{ shortName: 'CN', value: 'NOT A CA' }], root, 'client');
    const below = issue([{ shortName: 'CN', value: 'BELOW' }], fakeIntermediate, 'client');
    // OpenSSL already refuses it as an issuer (no keyCertSign); the CA check behind that is a second guard.
    expect(verifyCertificateChain(below.cert, [fakeIntermediate.cert], [root.cert]).ok).toBe(false);
  });
});
