// X.509 facts the DMP messages quote (subject / issuer DN, SHA-1 digest, decimal serial) and the chain check the
// receiving side makes before trusting a signature: leaf → intermediates → a trusted CA, each link verified.
import { createHash, X509Certificate } from 'node:crypto';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order (one PEM each). */
export function pemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT)?.map((c) => `${c}\n`) ?? [];
}

/** A base64 DER certificate (as in `ds:X509Certificate`) as PEM. */
export function pemOfBase64Der(b64: string): string {
  const body = b64.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/** The base64 DER of a PEM certificate (the content of `ds:X509Certificate`). */
export function base64DerOfPem(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

/**
 * A DN as the VIHF Issuer and XAdES X509IssuerName carry it: most specific RDN first, `, ` between RDNs (the form
 * of the ANS sample, Java's X500Principal). Node prints the name one RDN a line, root first, values already
 * escaped RFC 4514-style and UTF-8 decoded, multi-valued RDNs joined by ` + `.
 */
function dnOf(printed: string): string {
  return printed
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/ \+ /g, '+'))
    .reverse()
    .join(', ');
}

/** Subject distinguished name, e.g. `CN=Passerelle, OU=10000000000000, O=CH Test, C=FR`. */
export function subjectDn(pem: string): string {
  return dnOf(new X509Certificate(pem).subject);
}

export function issuerDn(pem: string): string {
  return dnOf(new X509Certificate(pem).issuer);
}

/** Base64 SHA-1 of the DER certificate (XAdES `CertDigest`). */
export function certificateSha1(pem: string): string {
  return createHash('sha1').update(new X509Certificate(pem).raw).digest('base64');
}

/** The serial number in decimal (XML-DSig `X509SerialNumber` is an integer). */
export function serialDecimal(pem: string): string {
  return BigInt(`0x${new X509Certificate(pem).serialNumber}`).toString(10);
}

/**
 * The structure an organisation certificate stands for: its OU, which IGC Santé organisation certificates fill with
 * the IdNat_Struct (`OU=499700367909006` in the ANS sample). Undefined when the subject has no single OU.
 */
export function structureOfCertificate(pem: string): string | undefined {
  const units = new X509Certificate(pem).subject
    .split('\n')
    .flatMap((rdn) => rdn.split(' + '))
    .filter((ava) => ava.startsWith('OU='))
    .map((ava) => ava.slice('OU='.length));
  return units.length === 1 ? units[0] : undefined;
}

/** DNs compared without the spaces after separators, so `CN=a, O=b` equals `CN=a,O=b`. */
export function sameDn(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/(?<!\\)\s*([,+])\s*/g, '$1').trim();
  return norm(a) === norm(b);
}

export type ChainCheck = { ok: true } | { ok: false; reason: string };

function validAt(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom).getTime() <= now.getTime() && now.getTime() <= new Date(cert.validTo).getTime();
}

/**
 * Whether `leafPem` chains to one of `trustedPem` (through `intermediatesPem` when needed): each certificate is
 * valid at `now`, issued and signed by the next, and every issuer is a CA.
 */
export function verifyCertificateChain(leafPem: string, intermediatesPem: readonly string[], trustedPem: readonly string[], now = new Date()): ChainCheck {
  const trusted = trustedPem.map((p) => new X509Certificate(p));
  const pool = intermediatesPem.map((p) => new X509Certificate(p));
  if (trusted.length === 0) return { ok: false, reason: 'no trusted CA given' };
  let current = new X509Certificate(leafPem);
  for (let depth = 0; depth < 8; depth += 1) {
    if (!validAt(current, now)) return { ok: false, reason: `certificate "${current.subject.replace(/\n/g, ', ')}" is not valid at ${now.toISOString()}` };
    if (trusted.some((t) => t.raw.equals(current.raw))) return { ok: true };
    const anchor = trusted.find((t) => current.checkIssued(t) && current.verify(t.publicKey));
    if (anchor) {
      if (!anchor.ca) return { ok: false, reason: 'the trusted issuer is not a CA certificate' };
      if (!validAt(anchor, now)) return { ok: false, reason: 'the trusted CA certificate is not valid now' };
      return { ok: true };
    }
    const next = pool.find((c) => !c.raw.equals(current.raw) && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) return { ok: false, reason: `certificate "${current.subject.replace(/\n/g, ', ')}" does not chain to a trusted CA` };
    if (!next.ca) return { ok: false, reason: `issuer "${next.subject.replace(/\n/g, ', ')}" is not a CA certificate` };
    current = next;
  }
  return { ok: false, reason: 'certificate chain too long' };
}
