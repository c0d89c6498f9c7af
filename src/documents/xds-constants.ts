// Names and identifiers of IHE XDS.b / ebXML RegRep 3.0 as the DMP uses them (fr-interop §2.4, ANS sample XDS.xml).
// Shared by the ITI-41 sender and the local DMP peer, so both read the same metadata the same way.

export const NS = {
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://www.w3.org/2005/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  saml2: 'urn:oasis:names:tc:SAML:2.0:assertion',
  hl7v3: 'urn:hl7-org:v3',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xades: 'http://uri.etsi.org/01903/v1.1.1#',
  xop: 'http://www.w3.org/2004/08/xop/include',
  xdsb: 'urn:ihe:iti:xds-b:2007',
  lcm: 'urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0',
  rim: 'urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0',
  rs: 'urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0',
  query: 'urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0',
} as const;

/** WS-Addressing actions of the XDS.b transactions the gateway uses, and of their responses. */
export const ACTIONS = {
  iti41: 'urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b',
  iti41Response: 'urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse',
  iti18: 'urn:ihe:iti:2007:RegistryStoredQuery',
  iti18Response: 'urn:ihe:iti:2007:RegistryStoredQueryResponse',
  iti43: 'urn:ihe:iti:2007:RetrieveDocumentSet',
  iti43Response: 'urn:ihe:iti:2007:RetrieveDocumentSetResponse',
} as const;

export const WSA_ANONYMOUS = 'http://www.w3.org/2005/08/addressing/anonymous';

/** ExtrinsicObject@objectType of a stable DocumentEntry. */
export const DOCUMENT_ENTRY_OBJECT_TYPE = 'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1';

/** Classification@classificationNode marking a RegistryPackage as a SubmissionSet. */
export const SUBMISSION_SET_NODE = 'urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd';

/** Classification schemes of a DocumentEntry. */
export const DOCUMENT_ENTRY_SCHEME = {
  author: 'urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d',
  classCode: 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a',
  typeCode: 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983',
  confidentialityCode: 'urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f',
  formatCode: 'urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d',
  healthcareFacilityTypeCode: 'urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1',
  practiceSettingCode: 'urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead',
  eventCodeList: 'urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4',
} as const;

/** ExternalIdentifier schemes of a DocumentEntry. */
export const DOCUMENT_ENTRY_IDENTIFIER = {
  patientId: 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427',
  uniqueId: 'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab',
} as const;

/** Classification schemes of a SubmissionSet. */
export const SUBMISSION_SET_SCHEME = {
  author: 'urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d',
  contentTypeCode: 'urn:uuid:aa543740-bdda-424e-8c96-df4873be8500',
} as const;

/** ExternalIdentifier schemes of a SubmissionSet. */
export const SUBMISSION_SET_IDENTIFIER = {
  patientId: 'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446',
  sourceId: 'urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832',
  uniqueId: 'urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8',
} as const;

/** The ExternalIdentifier Name each scheme carries (the registry ignores it; readers and validators show it). */
export const IDENTIFIER_NAMES: Record<string, string> = {
  [DOCUMENT_ENTRY_IDENTIFIER.patientId]: 'XDSDocumentEntry.patientId',
  [DOCUMENT_ENTRY_IDENTIFIER.uniqueId]: 'XDSDocumentEntry.uniqueId',
  [SUBMISSION_SET_IDENTIFIER.patientId]: 'XDSSubmissionSet.patientId',
  [SUBMISSION_SET_IDENTIFIER.sourceId]: 'XDSSubmissionSet.sourceId',
  [SUBMISSION_SET_IDENTIFIER.uniqueId]: 'XDSSubmissionSet.uniqueId',
};

export const ASSOCIATION_TYPE = {
  hasMember: 'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember',
  replace: 'urn:ihe:iti:2007:AssociationType:RPLC',
  signs: 'urn:ihe:iti:2007:AssociationType:signs',
} as const;

/** Slot names used on DocumentEntries, SubmissionSets, author Classifications and Associations. */
export const SLOT = {
  creationTime: 'creationTime',
  hash: 'hash',
  size: 'size',
  /** XDM media: the document's file name in the subset folder. */
  uri: 'URI',
  languageCode: 'languageCode',
  legalAuthenticator: 'legalAuthenticator',
  serviceStartTime: 'serviceStartTime',
  serviceStopTime: 'serviceStopTime',
  sourcePatientId: 'sourcePatientId',
  sourcePatientInfo: 'sourcePatientInfo',
  repositoryUniqueId: 'repositoryUniqueId',
  submissionTime: 'submissionTime',
  codingScheme: 'codingScheme',
  authorPerson: 'authorPerson',
  authorInstitution: 'authorInstitution',
  authorRole: 'authorRole',
  authorSpecialty: 'authorSpecialty',
  submissionSetStatus: 'SubmissionSetStatus',
  referenceIdList: 'urn:ihe:iti:xds:2013:referenceIdList',
} as const;

export const REGISTRY_STATUS = {
  success: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success',
  failure: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure',
  partialSuccess: 'urn:ihe:iti:2007:ResponseStatusType:PartialSuccess',
} as const;

export const ERROR_SEVERITY = {
  error: 'urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error',
  warning: 'urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning',
} as const;

/** availabilityStatus values (the last two are DMP extensions, JDV_J52). */
export const AVAILABILITY_STATUS = {
  approved: 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',
  deprecated: 'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated',
  archived: 'urn:asip:ci-sis:2010:StatusType:Archived',
  deleted: 'urn:asip:ci-sis:2010:StatusType:Deleted',
} as const;

/** ITI-18 stored query ids. */
export const STORED_QUERY = {
  findDocuments: 'urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d',
} as const;

export { CODING_SCHEME } from './xds-metadata.js';

/** XDS errors after which a new attempt may succeed (the registry or repository is overloaded). */
export const TRANSIENT_XDS_ERRORS: ReadonlySet<string> = new Set([
  'XDSRegistryBusy',
  'XDSRepositoryBusy',
  'XDSRegistryOutOfResources',
  'XDSRepositoryOutOfResources',
]);

/** The registry already holds this uniqueId: on a re-send of the same submission, the first one got through. */
export const DUPLICATE_UNIQUE_ID_ERROR = 'XDSDuplicateUniqueIdInRegistry';
