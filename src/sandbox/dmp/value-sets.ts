// DMP value sets (NOS "JDV") the local DMP peer checks XDS metadata against, as code lists keyed by XDS codingScheme.
// Transcribed once from the ANS terminology repository (ansforge/IG-terminologie-de-sante, ValueSet-JDV-J5x/J6x JSON;
// the versions are noted per set) with the TRE code systems replaced by the OIDs XDS writes in `codingScheme`
// (TRE_A10 NomenclatureURN and TRE_A12 ASTM use the literal schemes `URN` and `ASTM`, as the ANS sample does).
// The peer keeps its own copy rather than sharing the sender's tables, so an error in those cannot hide itself here.
// Transcribed mechanically (code lists only, no displays); re-transcribe rather than edit when ANS publishes new versions.

export interface DmpValueSet {
  /** NOS id, e.g. JDV_J57-ClassCode-DMP. */
  id: string;
  version: string;
  /** Codes by XDS codingScheme. */
  codes: Readonly<Record<string, readonly string[]>>;
}

/** classCode: Jeu de valeurs pour métadonnée classCode */
export const JDV_J57_CLASS_CODE: DmpValueSet = {
  id: 'JDV_J57-ClassCode-DMP',
  version: '20230922120000',
  codes: {
    '1.2.250.1.213.1.1.4.1': ['10', '11', '31', '42', '43', '44', '45', '52', '60', '90', '95'],
    URN: ['urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1'],
  },
};

/** confidentialityCode: Jeu de valeurs pour métadonnée confidentialityCode */
export const JDV_J58_CONFIDENTIALITY_CODE: DmpValueSet = {
  id: 'JDV_J58-ConfidentialityCode-DMP',
  version: '1.1.0',
  codes: {
    '2.16.840.1.113883.5.25': ['N', 'R', 'V'],
    '1.2.250.1.213.1.1.4.13': ['INVISIBLE_PATIENT', 'INVISIBLE_REPRESENTANTS_LEGAUX', 'MASQUE_PS'],
  },
};

/** SubmissionSet contentTypeCode: Jeu de valeurs pour contentTypeCode */
export const JDV_J59_CONTENT_TYPE_CODE: DmpValueSet = {
  id: 'JDV_J59-ContentTypeCode-DMP',
  version: '1.1.0',
  codes: {
    '1.2.250.1.213.1.1.4.6': ['EXP_PATIENT'],
    '1.2.250.1.213.2.2': ['03', '04', '07', '08', '09', '11', '13', '14', '15', '16', '17', '18', '19', '20', '21', '22', '25', '26', '27', '28', '33', '37', '40', '42', '43', '44', '45', '46', '47', '48', '50', '52', '60', '97'],
    '1.2.250.1.71.4.2.4': ['SA05', 'SA06', 'SA07', 'SA08', 'SA09', 'SA10', 'SA11', 'SA12', 'SA13', 'SA14', 'SA15', 'SA16', 'SA17', 'SA18', 'SA19', 'SA20', 'SA21', 'SA22', 'SA23', 'SA24', 'SA25', 'SA26', 'SA27', 'SA28', 'SA29', 'SA30', 'SA31', 'SA32', 'SA33', 'SA34', 'SA35', 'SA36', 'SA37', 'SA38', 'SA39', 'SA40', 'SA41', 'SA42', 'SA43', 'SA44', 'SA45', 'SA46', 'SA47', 'SA48', 'SA49', 'SA50', 'SA51', 'SA52', 'SA53', 'SA54', 'SA55', 'SA56', 'SA57', 'SA58', 'SA59', 'SA60', 'SA61', 'SA63'],
  },
};

/** formatCode: Jeu de valeurs pour métadonnée formatCode */
export const JDV_J60_FORMAT_CODE: DmpValueSet = {
  id: 'JDV_J60-FormatCode-DMP',
  version: '20240223120000',
  codes: {
    '1.2.250.1.213.1.1.4.2.282': ['urn:ans:ci-sis:bio-ep-bio:2022', 'urn:ans:ci-sis:img-da:2022', 'urn:asip:ci-sis:aunv:2013', 'urn:asip:ci-sis:avk:2009', 'urn:asip:ci-sis:crgm:2018', 'urn:asip:ci-sis:crrtn:2013', 'urn:asip:ci-sis:cse-cs24:2017', 'urn:asip:ci-sis:cse-cs8:2017', 'urn:asip:ci-sis:cse-cs9:2017', 'urn:asip:ci-sis:d2lm-fidd:2017', 'urn:asip:ci-sis:d2lm-fin:2017', 'urn:asip:ci-sis:dci:2009', 'urn:asip:ci-sis:dlu:2015', 'urn:asip:ci-sis:dlu-dlu-dom:2022', 'urn:asip:ci-sis:dlu-fludr-dom:2022', 'urn:asip:ci-sis:dlu-fludt-dom:2022', 'urn:ans:ci-sis:cse-mde:2023', 'urn:asip:ci-sis:eunv:2013', 'urn:asip:ci-sis:fludr:2017', 'urn:asip:ci-sis:fludt:2017', 'urn:asip:ci-sis:frcp:2011', 'urn:asip:ci-sis:hr:2019', 'urn:asip:ci-sis:idap:2011', 'urn:asip:ci-sis:ldl-ees:2017', 'urn:asip:ci-sis:ldl-ses:2017', 'urn:asip:ci-sis:pavc:2016', 'urn:asip:ci-sis:pps-cancer:2017', 'urn:asip:ci-sis:pps-paerpa:2017', 'urn:asip:ci-sis:ppv:2009', 'urn:asip:ci-sis:psc:2009', 'urn:asip:ci-sis:sdm-mr:2017', 'urn:asip:ci-sis:sunv:2013', 'urn:asip:ci-sis:tap:2009', 'urn:asip:ci-sis:vac:2019', 'urn:asip:ci-sis:vsm:2012', 'urn:asipSante:modelesHorsProfils:2011', 'urn:asip:ci-sis:cr-cpa:2020', 'urn:asip:ci-sis:cr-anest:2020', 'urn:asip:ci-sis:tlm-da:2020', 'urn:asip:ci-sis:vac-note:2021', 'urn:asip:ci-sis:obp-sap:2023', 'urn:asip:ci-sis:obp-snm:2023', 'urn:asip:ci-sis:obp-sne:2023', 'urn:asip:ci-sis:obp-scm:2023', 'urn:asip:ci-sis:obp-sem:2023', 'urn:asip:ci-sis:ppp:2023'],
    '1.3.6.1.4.1.19376.1.2.3': ['urn:ihe:iti:dsg:detached:2014', 'urn:ihe:iti:xds-sd:pdf:2008', 'urn:ihe:iti:xds-sd:text:2008', 'urn:ihe:pharm:dis:2010', 'urn:ihe:iti-fr:xds-sd:jpeg:2010', 'urn:ihe:iti-fr:xds-sd:rtf:2010', 'urn:ihe:iti-fr:xds-sd:tiff:2010', 'urn:ihe:lab:xd-lab:2008', 'urn:ihe:palm:apsr:2016', 'urn:ihe:pcc:ips:2020', 'urn:ihe:pharm:pre:2010', 'urn:ihe:eyecare:geneyeevalcn:2014', 'urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013'],
    '1.2.840.10008.2.6.1': ['1.2.840.10008.5.1.4.1.1.88.59'],
    URN: ['http://www.w3.org/2000/09/xmldsig#'],
  },
};

/** healthcareFacilityTypeCode: Jeu de valeurs pour healthcareFacilityTypeCode */
export const JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE: DmpValueSet = {
  id: 'JDV_J61-HealthcareFacilityTypeCode-DMP',
  version: '1.1.0',
  codes: {
    '1.2.250.1.213.1.1.4.6': ['EXP_PATIENT', 'SNR'],
    '1.2.250.1.71.4.2.4': ['SA01', 'SA02', 'SA03', 'SA04', 'SA05', 'SA06', 'SA07', 'SA08', 'SA09', 'SA10', 'SA11', 'SA12', 'SA13', 'SA14', 'SA15', 'SA16', 'SA17', 'SA18', 'SA19', 'SA20', 'SA21', 'SA22', 'SA23', 'SA24', 'SA25', 'SA26', 'SA27', 'SA28', 'SA29', 'SA30', 'SA31', 'SA32', 'SA33', 'SA34', 'SA35', 'SA36', 'SA37', 'SA38', 'SA39', 'SA40', 'SA41', 'SA42', 'SA43', 'SA44', 'SA45', 'SA46', 'SA47', 'SA48', 'SA49', 'SA50', 'SA51', 'SA52', 'SA53', 'SA54', 'SA55', 'SA56', 'SA57', 'SA58', 'SA59', 'SA60', 'SA61', 'SA63'],
  },
};

/** practiceSettingCode: Jeu de valeurs pour practiceSettingCode */
export const JDV_J62_PRACTICE_SETTING_CODE: DmpValueSet = {
  id: 'JDV_J62-PracticeSettingCode-DMP',
  version: '1.1.0',
  codes: {
    '1.2.250.1.213.1.1.4.6': ['EXP_PATIENT', 'SNR'],
    '1.2.250.1.213.1.1.4.9': ['AMBULATOIRE', 'AMO', 'DEPISTAGE', 'ETABLISSEMENT', 'HAD', 'MAD', 'PALLIATIF', 'SAD', 'SAMU_SMUR'],
  },
};

/** typeCode: Jeu de valeurs pour métadonnée typeCode DMP */
export const JDV_J66_TYPE_CODE: DmpValueSet = {
  id: 'JDV_J66-TypeCode-DMP',
  version: '20240927120000',
  codes: {
    '1.2.250.1.213.1.1.4.12': ['AUTORIS-SOINS', 'ATTEST-RESID', 'ATTEST-DROITS-AM', 'ATTEST-ASS-COMPL', 'ATTEST-HEBGT', 'BIL_AUTO', 'CERT_DECL', 'DISP_AUT', 'EXPPAT_1', 'EXPPAT_2', 'EXPPAT_3', 'IMG-KOS', 'PROT_ALD', 'REMB', 'SYNTH', 'DOCPAT01', 'DOCPAT02', 'DOCPAT03', 'DOCPAT04', 'DOCPAT05', 'DOCPAT06', 'DOCPAT07', 'DOCPAT08', 'DOCPAT09', 'PRESC-AAT', 'PRESC-BIO', 'PRESC-KINE', 'PRESC-INF', 'PRESC-PEDI', 'PRESC-ORTHOPHO', 'PRESC-ORTHOPTIE'],
    '2.16.840.1.113883.6.1': ['11369-6', '11488-4', '11490-0', '11502-2', '11505-5', '11506-3', '15507-7', '15508-5', '18748-4', '18761-7', '18776-5', '28617-9', '28653-4', '29274-8', '34112-3', '34120-6', '34133-9', '34749-2', '34794-8', '34842-5', '34874-8', '34875-5', '47420-5', '52040-3', '51969-4', '55115-0', '56445-0', '57057-2', '57055-6', '57075-4', '57828-6', '57832-8', '57833-6', '59283-2', '59284-0', '60280-5', '60568-3', '60591-5', '60593-1', '61357-0', '67851-6', '68599-0', '68817-6', '70004-7', '74207-2', '74465-6', '75468-9', '75482-0', '75492-9', '75496-0', '77436-4', '77604-7', '78341-5', '78489-2', '78513-9', '78601-2', '80565-5', '80771-9', '80788-3', '80820-4', '83836-7', '83869-8', '83901-9', '83981-1', '85208-7', '86531-1', '87273-9', '88348-8', '89233-1', '89235-6', '89601-9', '93024-8', '96349-6', '96173-0', '96874-3', '101881-1'],
    ASTM: ['E1762'],
  },
};

/**
 * ASS_X16 (CorrespondanceType_Classe_DMP): the classCode (TRE_A03) a typeCode implies, keyed `<codingScheme>|<code>`.
 * Six LOINC typeCodes of JDV_J66 have no class in the source and are absent here.
 */
export const ASS_X16_TYPE_TO_CLASS: Readonly<Record<string, string>> = {
  '1.2.250.1.213.1.1.4.12|AUTORIS-SOINS': '95',
  '1.2.250.1.213.1.1.4.12|ATTEST-RESID': '95',
  '1.2.250.1.213.1.1.4.12|ATTEST-DROITS-AM': '95',
  '1.2.250.1.213.1.1.4.12|ATTEST-ASS-COMPL': '95',
  '1.2.250.1.213.1.1.4.12|ATTEST-HEBGT': '95',
  '1.2.250.1.213.1.1.4.12|BIL_AUTO': '10',
  '1.2.250.1.213.1.1.4.12|CERT_DECL': '52',
  '1.2.250.1.213.1.1.4.12|DISP_AUT': '43',
  '1.2.250.1.213.1.1.4.12|EXPPAT_1': '90',
  '1.2.250.1.213.1.1.4.12|EXPPAT_2': '90',
  '1.2.250.1.213.1.1.4.12|EXPPAT_3': '90',
  '1.2.250.1.213.1.1.4.12|IMG-KOS': '31',
  '1.2.250.1.213.1.1.4.12|PROT_ALD': '44',
  '1.2.250.1.213.1.1.4.12|REMB': '60',
  '1.2.250.1.213.1.1.4.12|SYNTH': '11',
  '1.2.250.1.213.1.1.4.12|DOCPAT01': '11',
  '1.2.250.1.213.1.1.4.12|DOCPAT02': '42',
  '1.2.250.1.213.1.1.4.12|DOCPAT03': '10',
  '1.2.250.1.213.1.1.4.12|DOCPAT04': '31',
  '1.2.250.1.213.1.1.4.12|DOCPAT05': '10',
  '1.2.250.1.213.1.1.4.12|DOCPAT06': '10',
  '1.2.250.1.213.1.1.4.12|DOCPAT07': '52',
  '1.2.250.1.213.1.1.4.12|DOCPAT08': '11',
  '1.2.250.1.213.1.1.4.12|DOCPAT09': '95',
  '1.2.250.1.213.1.1.4.12|PRESC-AAT': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-BIO': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-KINE': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-INF': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-PEDI': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-ORTHOPHO': '42',
  '1.2.250.1.213.1.1.4.12|PRESC-ORTHOPTIE': '42',
  '2.16.840.1.113883.6.1|11369-6': '52',
  '2.16.840.1.113883.6.1|11488-4': '10',
  '2.16.840.1.113883.6.1|11490-0': '10',
  '2.16.840.1.113883.6.1|11502-2': '10',
  '2.16.840.1.113883.6.1|11505-5': '10',
  '2.16.840.1.113883.6.1|11506-3': '10',
  '2.16.840.1.113883.6.1|15507-7': '10',
  '2.16.840.1.113883.6.1|15508-5': '10',
  '2.16.840.1.113883.6.1|18748-4': '31',
  '2.16.840.1.113883.6.1|18761-7': '11',
  '2.16.840.1.113883.6.1|18776-5': '44',
  '2.16.840.1.113883.6.1|28653-4': '10',
  '2.16.840.1.113883.6.1|29274-8': '10',
  '2.16.840.1.113883.6.1|34112-3': '10',
  '2.16.840.1.113883.6.1|34133-9': '11',
  '2.16.840.1.113883.6.1|34749-2': '10',
  '2.16.840.1.113883.6.1|34794-8': '10',
  '2.16.840.1.113883.6.1|34842-5': '11',
  '2.16.840.1.113883.6.1|34874-8': '10',
  '2.16.840.1.113883.6.1|34875-5': '10',
  '2.16.840.1.113883.6.1|47420-5': '10',
  '2.16.840.1.113883.6.1|52040-3': '31',
  '2.16.840.1.113883.6.1|51969-4': '10',
  '2.16.840.1.113883.6.1|55115-0': '42',
  '2.16.840.1.113883.6.1|56445-0': '11',
  '2.16.840.1.113883.6.1|57057-2': '11',
  '2.16.840.1.113883.6.1|57055-6': '11',
  '2.16.840.1.113883.6.1|57075-4': '11',
  '2.16.840.1.113883.6.1|57828-6': '42',
  '2.16.840.1.113883.6.1|57832-8': '42',
  '2.16.840.1.113883.6.1|57833-6': '42',
  '2.16.840.1.113883.6.1|59283-2': '10',
  '2.16.840.1.113883.6.1|59284-0': '95',
  '2.16.840.1.113883.6.1|60568-3': '10',
  '2.16.840.1.113883.6.1|60591-5': '11',
  '2.16.840.1.113883.6.1|60593-1': '43',
  '2.16.840.1.113883.6.1|61357-0': '42',
  '2.16.840.1.113883.6.1|67851-6': '10',
  '2.16.840.1.113883.6.1|68599-0': '11',
  '2.16.840.1.113883.6.1|68817-6': '11',
  '2.16.840.1.113883.6.1|70004-7': '10',
  '2.16.840.1.113883.6.1|74207-2': '11',
  '2.16.840.1.113883.6.1|74465-6': '90',
  '2.16.840.1.113883.6.1|75468-9': '42',
  '2.16.840.1.113883.6.1|75482-0': '10',
  '2.16.840.1.113883.6.1|75492-9': '10',
  '2.16.840.1.113883.6.1|75496-0': '10',
  '2.16.840.1.113883.6.1|77436-4': '10',
  '2.16.840.1.113883.6.1|77604-7': '44',
  '2.16.840.1.113883.6.1|78489-2': '11',
  '2.16.840.1.113883.6.1|78513-9': '10',
  '2.16.840.1.113883.6.1|78601-2': '10',
  '2.16.840.1.113883.6.1|80565-5': '45',
  '2.16.840.1.113883.6.1|80771-9': '44',
  '2.16.840.1.113883.6.1|80788-3': '44',
  '2.16.840.1.113883.6.1|80820-4': '11',
  '2.16.840.1.113883.6.1|83836-7': '11',
  '2.16.840.1.113883.6.1|83869-8': '44',
  '2.16.840.1.113883.6.1|83901-9': '11',
  '2.16.840.1.113883.6.1|83981-1': '10',
  '2.16.840.1.113883.6.1|85208-7': '10',
  '2.16.840.1.113883.6.1|86531-1': '95',
  '2.16.840.1.113883.6.1|87273-9': '52',
  '2.16.840.1.113883.6.1|88348-8': '11',
  '2.16.840.1.113883.6.1|89235-6': '11',
  '2.16.840.1.113883.6.1|89601-9': '52',
  '2.16.840.1.113883.6.1|93024-8': '10',
  '2.16.840.1.113883.6.1|96349-6': '10',
  '2.16.840.1.113883.6.1|96173-0': '52',
  '2.16.840.1.113883.6.1|96874-3': '52',
  'ASTM|E1762': 'urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1',
};
