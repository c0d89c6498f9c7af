// Patient identity traits as received with a PPP, CTM or BPM (RNIV "traits stricts" + INS + local ids).
import { z } from 'zod';
import { isValidInsMatricule } from './ins.js';
import { PersonName } from './name.js';

export const IdentityStatus = z.enum(['PROV', 'RECUP', 'VALI', 'QUAL']);
export type IdentityStatus = z.infer<typeof IdentityStatus>;

/** INS assigning authorities: NIR (production), NIA, NIR test and NIR demo. */
export const INS_OIDS = {
  NIR: '1.2.250.1.213.1.4.8',
  NIA: '1.2.250.1.213.1.4.9',
  'NIR-TEST': '1.2.250.1.213.1.4.10',
  'NIR-DEMO': '1.2.250.1.213.1.4.11',
} as const;
const insOidValues = Object.values(INS_OIDS);

export const Ins = z
  .object({
    matricule: z
      .string()
      .regex(/^[0-9AB]{15}$/, 'an INS matricule has 15 characters (13 + 2-digit key)')
      .refine(isValidInsMatricule, 'INS matricule key is wrong (key = 97 − (first 13 digits mod 97))')
      .describe('NIR or NIA: 13 characters (Corsica 2A/2B allowed) followed by the 2-digit key 97 − (body mod 97), 2A→19, 2B→18'),
    oid: z
      .string()
      .transform((s) => s.replace(/^urn:oid:/, ''))
      .pipe(z.enum(insOidValues as [string, ...string[]], { message: `INS OID must be one of ${insOidValues.join(', ')}` }))
      .meta({
        description: 'Assigning authority, bare or as urn:oid: — NIR 1.2.250.1.213.1.4.8, NIA …4.9, NIR test …4.10, NIR demo …4.11',
        pattern: '^(urn:oid:)?1\\.2\\.250\\.1\\.213\\.1\\.4\\.(8|9|10|11)$',
      }),
  })
  .strict()
  .meta({ id: 'Ins', description: "INS (identifiant national de santé): matricule and assigning authority, as returned by the INSi teleservice" });
export type Ins = z.infer<typeof Ins>;

/** Full (YYYY-MM-DD) or partial (YYYY-MM, YYYY) birth date. */
export const PartialDate = z
  .string()
  .regex(/^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/, 'expected YYYY, YYYY-MM or YYYY-MM-DD')
  .refine((s) => s.length < 10 || !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'not a calendar date')
  .describe('Birth date: YYYY-MM-DD, or partial YYYY-MM / YYYY when the civil record has no day or month');

/** INSEE (COG) code: 5 characters; 99xxx = born abroad (country code). */
export const InseeCode = z
  .string()
  .regex(/^(\d{5}|2[AB]\d{3})$/, 'an INSEE (COG) code has 5 characters, e.g. 75056 or 99134')
  .describe('INSEE (COG) code of the birthplace: commune (76540, 2A004) or, for people born abroad, 99 + country (99134 = Spain)');

export const SourceIdentifier = z
  .object({
    /** Assigning system: a URI, or `urn:oid:` of the IPP domain. */
    system: z.string().min(1),
    value: z.string().min(1),
  })
  .strict()
  .describe("The sender's own patient id (IPP, pharmacy patient id): system (URI or urn:oid: of the id domain) and value");

export const PatientIdentity = z
  .object({
    /** The sender's own id for this patient (IPP, pharmacy patient id…). */
    sourceId: SourceIdentifier,
    ins: Ins.optional(),
    status: IdentityStatus.default('PROV').describe('RNIV identity status: PROV provisional, RECUP retrieved from INSi, VALI validated with an ID document, QUAL qualified (validated + INS)'),
    birthName: PersonName,
    /** First birth given name (the one used in the INS official name). */
    firstBirthGivenName: PersonName,
    /** All birth given names, in order, as on the civil record. */
    birthGivenNames: z.array(PersonName).min(1).optional(),
    usedName: PersonName.optional(),
    usedGivenName: PersonName.optional(),
    birthDate: PartialDate,
    sex: z.enum(['F', 'M', 'I']).describe('F female, M male, I undetermined'),
    birthPlaceInsee: InseeCode.optional(),
  })
  .strict()
  // A QUAL status the traits do not support (no INS, a partial birth date…) is not refused here: the SRI registers
  // the identity at the status they support and records an anomaly for the sender (identity-support.ts).
  .superRefine((p, ctx) => {
    if (p.birthGivenNames && p.birthGivenNames[0] !== p.firstBirthGivenName) {
      ctx.addIssue({
        code: 'custom',
        path: ['birthGivenNames', 0],
        message: 'the first birth given name must be the first item of birthGivenNames',
      });
    }
  })
  .meta({ id: 'PatientIdentity', description: 'Patient identity traits (RNIV strict traits + INS + the sender’s own id). A QUAL identity carries its INS and all five strict traits; one that does not is registered at the status its traits support, with an anomaly for the sender.' });
export type PatientIdentity = z.infer<typeof PatientIdentity>;

/** "née", "né" or "né·e", as French agrees with the patient's sex (I: undetermined). */
export function bornWord(sex: 'F' | 'M' | 'I'): string {
  return sex === 'F' ? 'née' : sex === 'M' ? 'né' : 'né·e';
}
