// XML-DSig settings shared by the VIHF assertion and the submission-set signature: the organisation's signing
// credentials, the algorithm URIs, KeyInfo with the certificate chain, reading the certificates back and checking a
// signature with them.
import { SignedXml } from 'xml-crypto';
import { child, children, descendants } from './xml-dom.js';
import { base64DerOfPem, pemCertificates, pemOfBase64Der, verifyCertificateChain } from './certificate.js';
import { NS } from './xds-constants.js';

/** The organisation's signing material ("cachet" certificate): PEM private key, PEM certificate, PEM intermediates. */
export interface SigningCredentials {
  key: string;
  cert: string;
  /** Intermediate CA certificates (leaf excluded), sent in KeyInfo so a receiver can build the chain. */
  chain: readonly string[];
}

/** RSA-SHA256 by default; RSA-SHA1 as in the 2023 ANS sample and DRIMbox, for a DMP that still wants it. */
export type SignatureAlgorithm = 'rsa-sha256' | 'rsa-sha1';

export const SIGNATURE_METHOD: Record<SignatureAlgorithm, string> = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha1': 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
};

export const DIGEST_METHOD: Record<SignatureAlgorithm, string> = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmlenc#sha256',
  'rsa-sha1': 'http://www.w3.org/2000/09/xmldsig#sha1',
};

export const SHA1_DIGEST = 'http://www.w3.org/2000/09/xmldsig#sha1';
export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** KeyInfo content: one X509Data with the signing certificate first, then its intermediates. */
export function x509DataOf(signing: SigningCredentials): (args?: { prefix?: string | null }) => string {
  return (args) => {
    const p = args?.prefix ? `${args.prefix}:` : '';
    const certs = [signing.cert, ...signing.chain].map((pem) => `<${p}X509Certificate>${base64DerOfPem(pem)}</${p}X509Certificate>`).join('');
    return `<${p}X509Data>${certs}</${p}X509Data>`;
  };
}

/** A SignedXml signer with the organisation key, exclusive c14n and the chosen algorithm. */
export function signerOf(signing: SigningCredentials, algorithm: SignatureAlgorithm, objects?: { content: string }[]): SignedXml {
  return new SignedXml({
    privateKey: signing.key,
    publicCert: signing.cert,
    signatureAlgorithm: SIGNATURE_METHOD[algorithm],
    canonicalizationAlgorithm: EXC_C14N,
    getKeyInfoContent: x509DataOf(signing),
    ...(objects ? { objects } : {}),
  });
}

/** The certificates in a Signature's KeyInfo, as PEM, in document order (the signer's first). */
export function keyInfoCertificates(signature: Element): string[] {
  const keyInfo = child(signature, NS.ds, 'KeyInfo');
  if (!keyInfo) return [];
  return children(keyInfo, NS.ds, 'X509Data').flatMap((d) => descendants(d, NS.ds, 'X509Certificate').map((c) => pemOfBase64Der(c.textContent ?? '')));
}

export type SignatureCheck =
  | { ok: true; certificate: string; signedReferences: string[] }
  | { ok: false; reason: string; certificate?: string };

export interface SignatureCheckOptions {
  /** PEM bundle the KeyInfo certificate must chain to; without it the chain is not checked. */
  trustedCaPem?: string;
  now?: Date;
  /** The caller's rule on what the signature references, checked before the digests: a reason to refuse, or undefined. */
  checkReferences: (verifier: SignedXml) => string | undefined;
  /** The reason given when a digest does not match. */
  digestMismatch: string;
}

/**
 * Verifies an XML-DSig `signature` (an element of the parsed `xml`) with the certificate of its own KeyInfo: that
 * certificate first (and its chain to `trustedCaPem` when given), then the caller's reference rule, then the
 * digests and the signature value. On success, the signed references as canonical XML text.
 */
export function checkSignatureWithKeyInfo(signature: Element, xml: string, options: SignatureCheckOptions): SignatureCheck {
  const [leaf, ...intermediates] = keyInfoCertificates(signature);
  if (!leaf) return { ok: false, reason: 'the signature carries no X509Certificate' };
  const fail = (reason: string): SignatureCheck => ({ ok: false, reason, certificate: leaf });
  if (options.trustedCaPem !== undefined) {
    const chain = verifyCertificateChain(leaf, intermediates, pemCertificates(options.trustedCaPem), options.now);
    if (!chain.ok) return fail(`signing certificate not trusted: ${chain.reason}`);
  }
  const verifier = new SignedXml({ publicCert: leaf, getCertFromKeyInfo: () => null });
  verifier.loadSignature(signature);
  const refused = options.checkReferences(verifier);
  if (refused !== undefined) return fail(refused);
  try {
    if (!verifier.checkSignature(xml)) return fail(options.digestMismatch);
  } catch (err) {
    return fail(`signature invalid: ${(err as Error).message}`);
  }
  return { ok: true, certificate: leaf, signedReferences: verifier.getSignedReferences() };
}
