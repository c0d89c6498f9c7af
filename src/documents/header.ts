// The header facts of a clinical document, computed once from the request and the document settings. The CDA
// header and the XDS metadata are both written from this one object, so they cannot disagree. Pure: no clock, no I/O.
import type { Practitioner } from '../domain/actors.js';
import type { PatientIdentity } from '../domain/identity.js';
import { OID_PATTERN } from '../fhir/map-common.js';
import { invalid } from '../fhir/outcome.js';
import type { Coded, DocumentHeader, DocumentOrganization, DocumentPerson, DocumentRequest, SourceDocument } from './model.js';
import { type CodeMappedField, documentOrganization, documentSituation, documentTitle, type DocumentSettings, type OrganizationKind } from './settings.js';

/** OIDs of the national identifiers (prefixed values: IDNPS = 8 + RPPS, IdNat_Struct = 1 + FINESS). */
export const IDNPS_OID = '1.2.250.1.71.4.2.1';
export const IDNAT_STRUCT_OID = '1.2.250.1.71.4.2.2';

/** ASS_A12: a PDF body is declared with the XDS-SD PDF format code. */
export const PDF_FORMAT_CODE: Coded = {
  code: 'urn:ihe:iti:xds-sd:pdf:2008',
  codeSystem: '1.3.6.1.4.1.19376.1.2.3',
  display: 'Document à corps non structuré en Pdf/A-1',
};

const CONFIDENTIALITY: Record<'N' | 'R' | 'V', Coded> = {
  N: { code: 'N', codeSystem: '2.16.840.1.113883.5.25', display: 'Normal' },
  R: { code: 'R', codeSystem: '2.16.840.1.113883.5.25', display: 'Restreint' },
  V: { code: 'V', codeSystem: '2.16.840.1.113883.5.25', display: 'Très restreint' },
};

/** Compute every header fact of one document version. Throws an OperationOutcomeError naming the field when one cannot be coded. */
export function documentHeader(req: DocumentRequest, settings: DocumentSettings): DocumentHeader {
  const { source } = req;
  const kindSettings = settings.kinds[source.kind];
  const org = documentOrganization(source);
  // A BPM is an officine act whatever kind the pharmacy software declared (the field defaults to etablissement).
  const orgKind: OrganizationKind = source.kind === 'bpm' ? 'officine' : org.kind;
  const override = settings.establishments[org.finess];
  const situation = documentSituation(source);
  const parties = partiesOf(source, req.effectiveTime, settings);
  return {
    kind: source.kind,
    ids: req.ids,
    title: documentTitle(settings, source),
    effectiveTime: req.effectiveTime,
    typeCode: kindSettings.typeCode,
    classCode: kindSettings.classCode,
    formatCode: PDF_FORMAT_CODE,
    healthcareFacilityTypeCode:
      override?.healthcareFacilityTypeCode ?? codeMapped(settings, 'healthcareFacilityTypeCode', org.finess, source.kind) ?? settings.healthcareFacilityTypeCodes[orgKind],
    practiceSettingCode: override?.practiceSettingCode ?? codeMapped(settings, 'practiceSettingCode', org.finess, source.kind) ?? settings.practiceSettingCodes[orgKind],
    contentTypeCode: settings.contentTypeCodes[situation],
    confidentiality: CONFIDENTIALITY[req.confidentiality ?? 'N'],
    masking: req.masking ?? [],
    patient: documentPatient(req.patient, settings),
    ...parties,
    organization: organizationOf(org.finess, org.name),
    serviceEvent: serviceEventOf(source),
  };
}

/**
 * A header code from the code map documents.yaml names for `field`, keyed by the organisation's FINESS. Undefined when
 * no map is named, or when the map does not list the FINESS and says `unmapped: warning` (reported, the default by kind
 * applies); a map that says `unmapped: error` refuses the document, naming the FINESS and the map.
 */
function codeMapped(settings: DocumentSettings, field: CodeMappedField, finess: string, kind: string): Coded | undefined {
  const name = settings.codeMapRefs[field];
  if (!name) return undefined;
  const path = kind === 'bpm' ? 'bpm.pharmacy.finess' : `${kind}.establishment.finess`;
  // The live maps (this thread), or their data as a worker thread receives it (clonableSettings: already reported).
  const data = settings.codeMapEntries?.[name];
  const map = settings.codeMaps?.get(name) ?? (data ? { targetSystem: data.targetSystem, unmapped: data.unmapped, lookup: (c: string) => data.entries[c] } : undefined);
  if (!map) throw invalid(`${settings.source} names code map "${name}" for ${field} but it is not loaded`, path);
  const entry = map.lookup(finess);
  if (entry) return { code: entry.target, codeSystem: map.targetSystem.replace(/^urn:oid:/, ''), display: entry.display ?? entry.target };
  settings.codeMaps?.onUnmapped?.(name, finess, field);
  if (map.unmapped === 'error') throw invalid(`FINESS ${finess} is not in code map ${name} (${field}): add it to the map`, path);
  return undefined;
}

/**
 * The patient as documents carry them. The INS may only be conveyed for a qualified identity (RNIV), so it is
 * dropped here for any other status: neither the CDA nor the XDS metadata can then emit it by mistake. The local
 * id domain must be an OID (CDA `id@root`, XDS `&OID&ISO`); a URI domain is translated through the settings.
 */
function documentPatient(patient: PatientIdentity, settings: DocumentSettings): PatientIdentity {
  const { ins, ...rest } = patient;
  const system = patient.sourceId.system;
  const bare = system.replace(/^urn:oid:/, '');
  const domain = OID_PATTERN.test(bare) ? bare : settings.patientIdDomains[system];
  if (!domain) {
    throw invalid(
      `patient id domain "${system}" is not an OID: add it under patientIdDomains in ${settings.source}`,
      'patient.sourceId.system',
    );
  }
  return {
    ...rest,
    sourceId: { system: `urn:oid:${domain}`, value: patient.sourceId.value },
    ...(patient.status === 'QUAL' && ins ? { ins } : {}),
  };
}

interface Parties {
  author: DocumentPerson;
  authorTime: string;
  legalAuthenticator: DocumentPerson;
  legalAuthenticationTime: string;
}

/**
 * Author and legal authenticator. The author's time is when they wrote the content (PPP sent or created, BMO
 * date, BPM conclusions or adhesion); a legal authenticator who is the author signs as the document is issued.
 */
function partiesOf(source: SourceDocument, effectiveTime: string, settings: DocumentSettings): Parties {
  const rule = settings.kinds[source.kind].legalAuthenticator;
  switch (source.kind) {
    case 'ppp': {
      const ppp = source.document;
      const role = ppp.team.find((m) => m.practitioner.rpps === ppp.author.rpps)?.role;
      const specialty = role ? settings.teamRoleSpecialties[role] : undefined;
      const author = personOf(ppp.author, settings, 'ppp.author', specialty);
      return { author, authorTime: ppp.sentAt ?? ppp.created, legalAuthenticator: author, legalAuthenticationTime: effectiveTime };
    }
    case 'ctm': {
      const { bmo } = source.document;
      const author = personOf(bmo.author, settings, 'ctm.bmo.author');
      if (rule === 'bmo-validator' && bmo.validation) {
        const validator = personOf({ ...bmo.validation.pharmacist, profession: 'pharmacien' }, settings, 'ctm.bmo.validation.pharmacist');
        return { author, authorTime: bmo.date, legalAuthenticator: validator, legalAuthenticationTime: bmo.validation.date };
      }
      return { author, authorTime: bmo.date, legalAuthenticator: author, legalAuthenticationTime: effectiveTime };
    }
    case 'bpm': {
      const bpm = source.document;
      const author = personOf(bpm.pharmacist, settings, 'bpm.pharmacist');
      const authorTime = bpm.conclusions?.date ?? bpm.adhesionDate;
      return { author, authorTime, legalAuthenticator: author, legalAuthenticationTime: effectiveTime };
    }
  }
}

type NamedPractitioner = Pick<Practitioner, 'rpps' | 'family' | 'given' | 'profession'>;

function personOf(p: NamedPractitioner, settings: DocumentSettings, path: string, specialty?: Coded): DocumentPerson {
  const profession = settings.professions[p.profession];
  if (!profession) {
    throw invalid(`${path}.profession: no profession code for "${p.profession}" in ${settings.source} (professions)`, `${path}.profession`);
  }
  return {
    idnps: `8${p.rpps}`,
    family: p.family,
    ...(p.given ? { given: p.given } : {}),
    profession,
    ...(specialty ? { specialty } : {}),
  };
}

function organizationOf(finess: string, name: string): DocumentOrganization {
  return { idNatStruct: `1${finess}`, finess, name };
}

/** The act documented: PPP from creation to the RCP (or sending); CTM from the BMO to the FCT; BPM from adhesion to conclusions. */
function serviceEventOf(source: SourceDocument): DocumentHeader['serviceEvent'] {
  const period = (start: string, stop: string | undefined) => (stop ? { start, stop } : { start });
  switch (source.kind) {
    case 'ppp':
      return period(source.document.created, source.document.rcp?.date ?? source.document.sentAt);
    case 'ctm':
      return period(source.document.bmo.date, source.document.fct?.date);
    case 'bpm':
      return period(source.document.adhesionDate, source.document.conclusions?.date);
  }
}
