// Builders for the DMP peer tests: a CDA R2 N1 and its XDS metadata written by hand (independent of the gateway's
// document pipeline, so the peer is tested against the rules, not against the sender's own output), the request
// built by the ITI-41 client, and a raw HTTPS POST with a chosen client certificate.
import { request } from 'node:https';
import { connect } from 'node:tls';
import type { Coded, XdsDocumentEntry, XdsSubmission } from '../../src/documents/model.js';
import { buildIti41Request, type Iti41Encoding, type Iti41Vihf } from '../../src/connectors/dmp/iti41.js';
import type { VihfAttributes } from '../../src/connectors/dmp/vihf.js';
import { entryUuidOf } from '../../src/documents/xds-metadata.js';
import { pemCertificates } from '../../src/connectors/dmp/certificate.js';
import type { SigningCredentials } from '../../src/connectors/dmp/xmldsig.js';
import { createHash, randomInt, randomUUID } from 'node:crypto';
import type { TestPki } from '../../src/sandbox/pki.js';
import { startDmpPeer, type DmpPeer, type DmpPeerOptions } from '../../src/sandbox/dmp/server.js';

/** A test INS (ANS sample patient, NIR test OID) and its CX. */
export const INS = { matricule: '279035121518989', oid: '1.2.250.1.213.1.4.10' };
export const PATIENT_ID = `${INS.matricule}^^^&${INS.oid}&ISO^NH`;
/** Another valid test INS (fixture patient of the CTM samples). */
export const OTHER_INS = { matricule: '240037654012380', oid: '1.2.250.1.213.1.4.10' };
export const OTHER_PATIENT_ID = `${OTHER_INS.matricule}^^^&${OTHER_INS.oid}&ISO^NH`;

export const REPOSITORY_UNIQUE_ID = '1.2.250.1.999.7.1';
const ROOT = '1.2.250.1.999.7.2';

/** Fresh OIDs under a test branch, unique per call within a run. */
let counter = randomInt(1_000_000);
export function newOid(): string {
  counter += 1;
  return `${ROOT}.${Date.now()}.${counter}`;
}

const BILAN: Coded = { code: '56445-0', codeSystem: '2.16.840.1.113883.6.1', display: 'Bilan médicamenteux' };
const SYNTHESE: Coded = { code: '11', codeSystem: '1.2.250.1.213.1.1.4.1', display: 'Synthèse' };
const PDF_FORMAT: Coded = { code: 'urn:ihe:iti:xds-sd:pdf:2008', codeSystem: '1.3.6.1.4.1.19376.1.2.3', display: 'PDF' };
const OFFICINE: Coded = { code: 'SA33', codeSystem: '1.2.250.1.71.4.2.4', display: "Pharmacie d'officine" };
const AMBULATOIRE: Coded = { code: 'AMBULATOIRE', codeSystem: '1.2.250.1.213.1.1.4.9', display: 'Ambulatoire' };
const CONSULTATIONS: Coded = { code: '60', codeSystem: '1.2.250.1.213.2.2', display: 'Consultations et actes' };
const NORMAL: Coded = { code: 'N', codeSystem: '2.16.840.1.113883.5.25', display: 'Normal' };

export interface DocumentSpec {
  uniqueId: string;
  setId?: string;
  version?: number;
  /** The CDA recordTarget INS (default INS). */
  ins?: { matricule: string; oid: string };
  typeCode?: Coded;
  /** Text in the wrapped "PDF", to make two versions differ. */
  text?: string;
  /** RPLC: the replaced version's uniqueId (CDA relatedDocument). */
  replaces?: string;
}

/** A small CDA R2 N1 (structuration minimale) whose header agrees with `metadataOf`. */
export function cdaN1(spec: DocumentSpec): Buffer {
  const ins = spec.ins ?? INS;
  const type = spec.typeCode ?? BILAN;
  const pdf = Buffer.from(`%PDF-1.4\n% ${spec.text ?? 'Bilan partagé de médication'}\n%%EOF\n`).toString('base64');
  const related = spec.replaces
    ? `<relatedDocument typeCode="RPLC"><parentDocument><id root="${spec.replaces}"/></parentDocument></relatedDocument>`
    : '';
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.2.20"/>
  <id root="${spec.uniqueId}"/>
  <code code="${type.code}" codeSystem="${type.codeSystem}" displayName="${type.display}"/>
  <title>Bilan partagé de médication — synthèse</title>
  <effectiveTime value="20261105143000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="${spec.setId ?? `${spec.uniqueId}.0`}"/>
  <versionNumber value="${spec.version ?? 1}"/>
  <recordTarget><patientRole>
    <id root="${ins.oid}" extension="${ins.matricule}"/>
    <patient>
      <name><family qualifier="BR">PAT-TROIS</family><given qualifier="BR">DOMINIQUE</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19790328"/>
    </patient>
  </patientRole></recordTarget>
  <author>
    <time value="20261105143000+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
      <code code="G15_21" codeSystem="1.2.250.1.213.1.1.4.5" displayName="Pharmacien"/>
      <assignedPerson><name><family>OFFICINE</family><given>CLAUDE</given></name></assignedPerson>
      <representedOrganization>
        <id root="1.2.250.1.71.4.2.2" extension="1990000010"/>
        <name>TEST PHARMACIE</name>
        <standardIndustryClassCode code="AMBULATOIRE" codeSystem="1.2.250.1.213.1.1.4.9" displayName="Ambulatoire"/>
      </representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.213.4.1" extension="DMP"/></representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator><time value="20261105143000+0100"/><signatureCode code="S"/><assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810000000001"/></assignedEntity></legalAuthenticator>
  <documentationOf><serviceEvent><effectiveTime><low value="20261105140000+0100"/></effectiveTime></serviceEvent></documentationOf>
  ${related}
  <componentOf><encompassingEncounter><effectiveTime value="20261105140000+0100"/><location><healthCareFacility>
    <code code="${OFFICINE.code}" codeSystem="${OFFICINE.codeSystem}" displayName="${OFFICINE.display}"/>
  </healthCareFacility></location></encompassingEncounter></componentOf>
  <component><nonXMLBody><text mediaType="application/pdf" representation="B64">${pdf}</text></nonXMLBody></component>
</ClinicalDocument>
`,
    'utf8',
  );
}

const AUTHOR = {
  person: '810000000001^OFFICINE^CLAUDE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS',
  institution: ['TEST PHARMACIE^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1990000010'],
  role: [],
  specialty: ['G15_21^Pharmacien^1.2.250.1.213.1.1.4.5'],
};

/** The DocumentEntry of `cda` as the DMP wants it. */
export function entryOf(spec: DocumentSpec, cda: Buffer, overrides: Partial<XdsDocumentEntry> = {}): XdsDocumentEntry {
  const ins = spec.ins ?? INS;
  const patientId = `${ins.matricule}^^^&${ins.oid}&ISO^NH`;
  return {
    entryUuid: entryUuidOf(spec.uniqueId),
    uniqueId: spec.uniqueId,
    mimeType: 'text/xml',
    hash: createHash('sha1').update(cda).digest('hex'),
    size: cda.length,
    creationTime: '20261105133000',
    serviceStartTime: '20261105130000',
    languageCode: 'fr-FR',
    title: 'Bilan partagé de médication — synthèse',
    classCode: SYNTHESE,
    typeCode: spec.typeCode ?? BILAN,
    formatCode: PDF_FORMAT,
    healthcareFacilityTypeCode: OFFICINE,
    practiceSettingCode: AMBULATOIRE,
    confidentialityCodes: [NORMAL],
    patientId,
    sourcePatientId: patientId,
    sourcePatientInfo: ['PID-5|PAT-TROIS^DOMINIQUE^^^^^L', 'PID-7|19790328', 'PID-8|F'],
    legalAuthenticator: AUTHOR.person,
    authors: [AUTHOR],
    ...overrides,
  };
}

/** A one-document submission (optionally replacing an earlier version by its uniqueId). */
export function submissionOf(spec: DocumentSpec, options: { entry?: Partial<XdsDocumentEntry>; patientId?: string; cda?: Buffer } = {}): XdsSubmission {
  const cda = options.cda ?? cdaN1(spec);
  const entry = entryOf(spec, cda, options.entry);
  const ssUniqueId = newOid();
  return {
    submissionSet: {
      entryUuid: entryUuidOf(ssUniqueId),
      uniqueId: ssUniqueId,
      sourceId: '1.2.250.1.999.7.3',
      submissionTime: '20261105133100',
      title: 'Bilan partagé de médication',
      contentTypeCode: CONSULTATIONS,
      patientId: options.patientId ?? entry.patientId,
      authors: [AUTHOR],
    },
    documents: [{ entry, content: cda }],
    replacements: spec.replaces ? [{ documentEntryUuid: entry.entryUuid, replacedEntryUuid: entryUuidOf(spec.replaces) }] : [],
  };
}

export function signingOf(pki: TestPki, who: 'org' | 'intruder' = 'org'): SigningCredentials {
  const [cert, ...chain] = pemCertificates(who === 'org' ? pki.pem.org : pki.pem.intruder);
  return { key: who === 'org' ? pki.pem.orgKey : pki.pem.intruderKey, cert, chain };
}

export function vihfOf(pki: TestPki, resourceId: string): VihfAttributes;
export function vihfOf(pki: TestPki, resourceId?: string): Iti41Vihf;
export function vihfOf(pki: TestPki, resourceId?: string): Iti41Vihf {
  return {
    nameId: '810000000001',
    subjectId: 'Passerelle (tests)',
    roles: [{ code: 'AUTOMATE', codeSystem: '1.2.250.1.213.1.1.4.6', display: 'Automate' }],
    secteurActivite: 'SA33',
    identifiantStructure: pki.organisation.idNatStruct,
    lps: { id: 'passerelle', name: 'Passerelle', version: '0.1.0', homologation: 'TEST-HOMOLOGATION' },
    ...(resourceId ? { resourceId } : {}),
  };
}

export function iti41(
  pki: TestPki,
  sub: XdsSubmission,
  options: { encoding?: Iti41Encoding; signer?: 'org' | 'intruder'; resourceId?: string; to?: string; now?: Date } = {},
): { contentType: string; body: Buffer; envelope: string } {
  return buildIti41Request(sub, signingOf(pki, options.signer), vihfOf(pki, options.resourceId), {
    to: options.to ?? 'https://127.0.0.1/si-dmp-server/v2/services/repository',
    encoding: options.encoding ?? 'inline',
    messageId: `urn:uuid:${randomUUID()}`,
    now: options.now ?? new Date(),
  });
}

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  text: string;
}

export type ClientCertificate = 'org' | 'intruder' | 'none';

function clientTls(pki: TestPki, client: ClientCertificate): { key?: string; cert?: string } {
  if (client === 'org') return { key: pki.pem.orgKey, cert: pki.pem.org };
  if (client === 'intruder') return { key: pki.pem.intruderKey, cert: pki.pem.intruder };
  return {};
}

/** POST with the given client certificate, trusting the test CA for the server. */
export function post(url: string, contentType: string, body: Buffer | string, pki: TestPki, client: ClientCertificate = 'org'): Promise<HttpAnswer> {
  const tls = clientTls(pki, client);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca: pki.pem.ca, ...tls, agent: false, headers: { 'content-type': contentType } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: b, text: b.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Opens a TLS connection and reports the server's verdict: 'accepted' once HTTP bytes come back, else the TLS error
 * code (an alert from the server), else 'closed'.
 */
export function tlsVerdict(port: number, pki: TestPki, client: ClientCertificate): Promise<string> {
  return new Promise((resolve) => {
    let verdict = 'closed';
    const socket = connect({ host: '127.0.0.1', port, ca: pki.pem.ca, ...clientTls(pki, client) });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      verdict = err.code ?? err.message;
    });
    socket.on('secureConnect', () => {
      // With TLS 1.3 the server checks the client certificate after the client considers the handshake done: a
      // request gives it the time to answer, with an alert or with HTTP.
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', () => {
      verdict = 'accepted';
      socket.destroy();
    });
    socket.on('close', () => resolve(verdict));
  });
}

/** The local DMP peer with the test PKI: its server certificate, trusting the test CA for client TLS and the VIHF. */
export function startTestPeer(pki: TestPki, options: Omit<DmpPeerOptions, 'port' | 'tls' | 'vihfTrust'> & { port?: number }): Promise<DmpPeer> {
  return startDmpPeer({ port: 0, ...options, tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca }, vihfTrust: pki.pem.ca });
}
