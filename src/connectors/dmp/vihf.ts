// The VIHF ("volet d'identification des habilitations et fonctions"): the SAML 2.0 assertion the DMP reads in
// wsse:Security to know who accesses which patient's record, signed by the organisation ("cachet") certificate
// (fr-interop §2.3, attribute order of the ANS sample). Building and verifying it live together so they agree.
import { randomUUID } from 'node:crypto';
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { sameDn, subjectDn } from './certificate.js';
import { NS } from './xds-constants.js';
import { child, children, descendants, parseXml, textOf } from './xml-dom.js';
import { checkSignatureWithKeyInfo, DIGEST_METHOD, ENVELOPED, EXC_C14N, signerOf, type SignatureAlgorithm, type SigningCredentials } from './xmldsig.js';

/** A coded value of the VIHF (HL7 v3 CE): role, purpose of use. */
export interface VihfCode {
  code: string;
  codeSystem: string;
  display?: string;
  codeSystemName?: string;
}

/** What the VIHF says; the defaults are those of the ANS samples. */
export interface VihfAttributes {
  /** `3.0` in the ANS samples (the 2024 mapping table says 4.0: check the DMPi guide). */
  version?: string;
  /** Subject/NameID: the professional's IDNPS, or the id of the person responsible for an automated flow. */
  nameId: string;
  /** subject-id: "Prénom Nom" of the user, or the software's name for an automaton. */
  subjectId: string;
  /** 1..n: the profession (or AUTOMATE, 1.2.250.1.213.1.1.4.6), then the specialty. */
  roles: readonly VihfCode[];
  /** TRE_R02 code (e.g. `SA01`), or already `<code>^1.2.250.1.71.4.2.4`. */
  secteurActivite: string;
  /** IdNat of the organisation (IdNat_Struct). */
  identifiantStructure: string;
  /** Patient INS as CX `<matricule>^^^&<INS OID>&ISO^NH`. */
  resourceId: string;
  lps: { id: string; name: string; version: string; homologation: string };
  /** Default `normal` (1.2.250.1.213.1.1.4.248). */
  purposeOfUse?: VihfCode;
  /** `INDIRECTE` (organisation certificate), `DIRECTE` (CPx card). */
  authenticationMode?: 'INDIRECTE' | 'DIRECTE';
  /** Default `urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient`. */
  authnContextClassRef?: string;
}

export interface VihfBuildOptions extends VihfAttributes {
  signing: SigningCredentials;
  /** IssueInstant and AuthnInstant. */
  now: Date;
  /** Assertion ID (an xs:ID: must not start with a digit); default `_` + a random UUID. */
  assertionId?: string;
  /** Default rsa-sha256. */
  algorithm?: SignatureAlgorithm;
  /** Issuer; default: the signing certificate's subject DN, as the DMP expects. */
  issuer?: string;
}

const SECTEUR_ACTIVITE_SYSTEM = '1.2.250.1.71.4.2.4';
const NORMAL_ACCESS: VihfCode = { code: 'normal', codeSystem: '1.2.250.1.213.1.1.4.248', codeSystemName: 'mode acces VIHF 1.0', display: 'Acces normal' };
const TLS_CLIENT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';
const X509_SUBJECT_NAME = 'urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName';

export const VIHF_ATTRIBUTE = {
  version: 'VIHF_Version',
  secteurActivite: 'Secteur_Activite',
  ressourceUrn: 'Ressource_URN',
  subjectId: 'urn:oasis:names:tc:xspa:1.0:subject:subject-id',
  identifiantStructure: 'Identifiant_Structure',
  lpsId: 'LPS_ID',
  lpsNom: 'LPS_Nom',
  lpsHomologation: 'LPS_ID_HOMOLOGATION_DMP',
  lpsVersion: 'LPS_Version',
  resourceId: 'urn:oasis:names:tc:xacml:2.0:resource:resource-id',
  authenticationMode: 'Authentification_Mode',
  purposeOfUse: 'urn:oasis:names:tc:xspa:1.0:subject:purposeofuse',
  role: 'urn:oasis:names:tc:xacml:2.0:subject:role',
} as const;

/** Attributes a DMP-bound VIHF must carry (fr-interop §2.3). */
const REQUIRED_ATTRIBUTES = Object.values(VIHF_ATTRIBUTE);

function textAttribute(statement: XMLBuilder, name: string, value: string): void {
  statement.ele(NS.saml2, 'saml2:Attribute', { Name: name }).ele(NS.saml2, 'saml2:AttributeValue').txt(value);
}

function codedValue(attribute: XMLBuilder, element: 'Role' | 'PurposeOfUse', c: VihfCode): void {
  attribute
    .ele(NS.saml2, 'saml2:AttributeValue')
    .ele(NS.hl7v3, element, {
      xmlns: NS.hl7v3,
      'xmlns:xsi': NS.xsi,
      code: c.code,
      codeSystem: c.codeSystem,
      codeSystemName: c.codeSystemName ?? '',
      displayName: c.display ?? '',
      'xsi:type': 'CE',
    });
}

function unsignedAssertion(o: VihfBuildOptions, id: string, issuer: string): string {
  const instant = o.now.toISOString();
  const a = create().ele(NS.saml2, 'saml2:Assertion', { 'xmlns:saml2': NS.saml2, ID: id, IssueInstant: instant, Version: '2.0' });
  a.ele(NS.saml2, 'saml2:Issuer', { Format: X509_SUBJECT_NAME }).txt(issuer);
  a.ele(NS.saml2, 'saml2:Subject').ele(NS.saml2, 'saml2:NameID').txt(o.nameId);
  a.ele(NS.saml2, 'saml2:AuthnStatement', { AuthnInstant: instant })
    .ele(NS.saml2, 'saml2:AuthnContext')
    .ele(NS.saml2, 'saml2:AuthnContextClassRef')
    .txt(o.authnContextClassRef ?? TLS_CLIENT);
  const s = a.ele(NS.saml2, 'saml2:AttributeStatement');
  const secteur = o.secteurActivite.includes('^') ? o.secteurActivite : `${o.secteurActivite}^${SECTEUR_ACTIVITE_SYSTEM}`;
  textAttribute(s, VIHF_ATTRIBUTE.version, o.version ?? '3.0');
  textAttribute(s, VIHF_ATTRIBUTE.secteurActivite, secteur);
  textAttribute(s, VIHF_ATTRIBUTE.ressourceUrn, 'urn:dmp');
  textAttribute(s, VIHF_ATTRIBUTE.subjectId, o.subjectId);
  textAttribute(s, VIHF_ATTRIBUTE.identifiantStructure, o.identifiantStructure);
  textAttribute(s, VIHF_ATTRIBUTE.lpsId, o.lps.id);
  textAttribute(s, VIHF_ATTRIBUTE.lpsNom, o.lps.name);
  textAttribute(s, VIHF_ATTRIBUTE.lpsHomologation, o.lps.homologation);
  textAttribute(s, VIHF_ATTRIBUTE.lpsVersion, o.lps.version);
  textAttribute(s, VIHF_ATTRIBUTE.resourceId, o.resourceId);
  textAttribute(s, VIHF_ATTRIBUTE.authenticationMode, o.authenticationMode ?? 'INDIRECTE');
  codedValue(s.ele(NS.saml2, 'saml2:Attribute', { Name: VIHF_ATTRIBUTE.purposeOfUse }), 'PurposeOfUse', o.purposeOfUse ?? NORMAL_ACCESS);
  const roles = s.ele(NS.saml2, 'saml2:Attribute', { Name: VIHF_ATTRIBUTE.role });
  for (const r of o.roles) codedValue(roles, 'Role', r);
  return a.end({ headless: true });
}

/**
 * The signed VIHF assertion (no XML declaration, ready for wsse:Security): enveloped XML-DSig placed after Issuer
 * as the SAML schema requires, exclusive c14n, KeyInfo with the certificate and its intermediates.
 */
export function buildVihfAssertion(o: VihfBuildOptions): string {
  if (o.roles.length === 0) throw new Error('vihf.roles: at least one role (the profession, or AUTOMATE) is required');
  const algorithm = o.algorithm ?? 'rsa-sha256';
  const id = o.assertionId ?? `_${randomUUID()}`;
  const xml = unsignedAssertion(o, id, o.issuer ?? subjectDn(o.signing.cert));
  const signer = signerOf(o.signing, algorithm);
  signer.addReference({ xpath: '/*', transforms: [ENVELOPED, EXC_C14N], digestAlgorithm: DIGEST_METHOD[algorithm] });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `/*/*[local-name()='Issuer']`, action: 'after' },
  });
  return signer.getSignedXml();
}

export interface VihfVerification {
  ok: boolean;
  reason?: string;
  /** Attribute values by Name; coded values (role, purpose of use) as `code^codeSystem`. Only from signed content. */
  attributes: Record<string, string[]>;
  nameId?: string;
  issuer?: string;
  /** PEM of the signing certificate. */
  certificate?: string;
}

function attributesOf(assertion: Element): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const attr of descendants(assertion, NS.saml2, 'Attribute')) {
    const name = attr.getAttribute('Name') ?? '';
    out[name] = children(attr, NS.saml2, 'AttributeValue').map((v) => {
      const coded = children(v, NS.hl7v3, 'Role')[0] ?? children(v, NS.hl7v3, 'PurposeOfUse')[0];
      return coded ? `${coded.getAttribute('code') ?? ''}^${coded.getAttribute('codeSystem') ?? ''}` : textOf(v);
    });
  }
  return out;
}

/**
 * Checks a VIHF: `xml` is the assertion alone or a whole SOAP envelope holding it. OK when the enveloped signature
 * covers the assertion, the signing certificate chains to `trustedCaPem` (a PEM bundle), the Issuer is that
 * certificate's subject and the attributes the DMP needs are there. Attributes come from the signed bytes only.
 */
export function verifyVihfAssertion(xml: string, trustedCaPem: string, options: { now?: Date } = {}): VihfVerification {
  const fail = (reason: string, extra: Partial<VihfVerification> = {}): VihfVerification => ({ ok: false, reason, attributes: {}, ...extra });
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (err) {
    return fail((err as Error).message);
  }
  const assertions = descendants(doc.documentElement, NS.saml2, 'Assertion');
  if (assertions.length !== 1) return fail(`expected one SAML assertion, found ${assertions.length}`);
  const assertion = assertions[0];
  const signature = child(assertion, NS.ds, 'Signature');
  if (!signature) return fail('the assertion is not signed');
  const id = assertion.getAttribute('ID') ?? '';
  const checked = checkSignatureWithKeyInfo(signature, xml, {
    trustedCaPem,
    now: options.now,
    checkReferences: (verifier) => {
      const references = verifier.getReferences();
      const toAssertion = references.length === 1 && references[0].uri.replace(/^#/, '') === id && id !== '';
      return toAssertion ? undefined : 'the signature must have exactly one reference, to the assertion ID';
    },
    digestMismatch: 'signature digest mismatch: the assertion was changed after signing',
  });
  if (!checked.ok) return fail(checked.reason, checked.certificate !== undefined ? { certificate: checked.certificate } : {});
  const leaf = checked.certificate;
  // Read what was signed, not the tree the digest was checked on (no wrapping trick can slip in other values).
  const signed = parseXml(checked.signedReferences[0]).documentElement;
  const issuer = textOf(child(signed, NS.saml2, 'Issuer'));
  const nameId = textOf(child(child(signed, NS.saml2, 'Subject') ?? signed, NS.saml2, 'NameID'));
  const attributes = attributesOf(signed);
  const result = { attributes, nameId, issuer, certificate: leaf };
  if (!sameDn(issuer, subjectDn(leaf))) return { ok: false, reason: `Issuer "${issuer}" is not the signing certificate's subject`, ...result };
  const missing = REQUIRED_ATTRIBUTES.filter((n) => !attributes[n]?.some((v) => v !== ''));
  if (missing.length > 0) return { ok: false, reason: `missing VIHF attribute(s): ${missing.join(', ')}`, ...result };
  return { ok: true, ...result };
}
