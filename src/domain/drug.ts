// French drug codes (CIS, CIP13, UCD, MV, ATC) and medication lines. Input may name a code system by any
// of its aliases (`urn:oid:…`, bare OID, `https://smt.esante.gouv.fr/terminologie-…`); the model keeps `kind`.
import { z } from 'zod';

export const DRUG_CODE_KINDS = ['CIS', 'CIP13', 'UCD', 'MV', 'ATC'] as const;
export type DrugCodeKind = (typeof DRUG_CODE_KINDS)[number];

/** Accepted spellings of each drug code system on input. */
export const DRUG_SYSTEM_ALIASES: Readonly<Record<DrugCodeKind, readonly string[]>> = {
  CIS: ['urn:oid:1.2.250.1.213.2.3.1', '1.2.250.1.213.2.3.1', 'https://smt.esante.gouv.fr/terminologie-cis'],
  CIP13: [
    'urn:oid:1.2.250.1.213.2.3.2',
    '1.2.250.1.213.2.3.2',
    'https://smt.esante.gouv.fr/terminologie-bdpm',
    'https://smt.esante.gouv.fr/terminologie-cip',
  ],
  UCD: [
    'urn:oid:1.2.250.1.213.2.61',
    '1.2.250.1.213.2.61',
    'https://smt.esante.gouv.fr/terminologie-cip_ucd',
    'https://smt.esante.gouv.fr/terminologie-ucd',
    'http://data.esante.gouv.fr/ansm/medicament/UCD',
  ],
  MV: ['urn:oid:1.2.250.1.213.2.59', '1.2.250.1.213.2.59', 'https://smt.esante.gouv.fr/terminologie-medicabase'],
  ATC: [
    'http://www.whocc.no/atc',
    'urn:oid:2.16.840.1.113883.6.73',
    '2.16.840.1.113883.6.73',
    'https://smt.esante.gouv.fr/terminologie-atc',
  ],
};

const kindBySystem = new Map<string, DrugCodeKind>(
  DRUG_CODE_KINDS.flatMap((k) => DRUG_SYSTEM_ALIASES[k].map((alias) => [alias.toLowerCase(), k] as const)),
);

export function drugKindOfSystem(system: string): DrugCodeKind | undefined {
  return kindBySystem.get(system.trim().toLowerCase());
}

const CODE_SHAPE: Record<DrugCodeKind, [RegExp, string]> = {
  CIS: [/^\d{8}$/, 'a CIS code has 8 digits'],
  CIP13: [/^3400\d{9}$/, 'a CIP13 code has 13 digits starting with 3400'],
  UCD: [/^3400\d{9}$/, 'a UCD13 code has 13 digits starting with 3400'],
  MV: [/^MV\d{8}$/, 'a Médicament Virtuel code is MV followed by 8 digits'],
  ATC: [/^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$/, 'an ATC code looks like N02BE01'],
};

/** A drug code on input: `kind` or `system` (any alias), plus the code. */
export const DrugCode = z
  .object({
    kind: z.enum(DRUG_CODE_KINDS).optional().describe('Code system by name: CIS (8 digits), CIP13 (3400…), UCD (UCD13, 3400…), MV (MV + 8 digits), ATC'),
    system: z
      .string()
      .optional()
      .meta({
        description: 'Code system by URI (any accepted alias, case-insensitive): urn:oid:, bare OID or https://smt.esante.gouv.fr/terminologie-…; see docs/model.md',
        examples: DRUG_CODE_KINDS.map((k) => DRUG_SYSTEM_ALIASES[k][0]),
      }),
    code: z.string().trim().min(1),
    display: z.string().trim().min(1).optional(),
  })
  .strict()
  .meta({
    description: 'A drug code with its system, given by `kind` or `system` (both allowed when they agree)',
    anyOf: [{ required: ['kind'] }, { required: ['system'] }],
  })
  .transform((c, ctx) => {
    const kind = c.kind ?? (c.system ? drugKindOfSystem(c.system) : undefined);
    if (!kind) {
      ctx.addIssue({
        code: 'custom',
        path: c.system ? ['system'] : ['kind'],
        message: c.system
          ? `unknown drug code system "${c.system}" (expected CIS, CIP13, UCD, MV or ATC, as urn:oid: or smt.esante.gouv.fr URI)`
          : 'a drug code needs `kind` (CIS, CIP13, UCD, MV, ATC) or `system`',
      });
      return z.NEVER;
    }
    if (c.kind && c.system && drugKindOfSystem(c.system) !== c.kind) {
      ctx.addIssue({ code: 'custom', path: ['system'], message: `system "${c.system}" is not a ${c.kind} system` });
      return z.NEVER;
    }
    const [shape, message] = CODE_SHAPE[kind];
    if (!shape.test(c.code)) {
      ctx.addIssue({ code: 'custom', path: ['code'], message: `${message}, got "${c.code}"` });
      return z.NEVER;
    }
    return { kind, code: c.code, ...(c.display ? { display: c.display } : {}) };
  })
  .meta({ id: 'DrugCode' });
export type DrugCode = z.output<typeof DrugCode>;

export const Medication = z
  .object({
    /** Codes identifying the product (a speciality, a presentation or a virtual drug); ATC as an extra. */
    codes: z.array(DrugCode).default([]),
    /** Label as written by the sender (always kept; the only identification when no code is known). */
    text: z.string().trim().min(1),
  })
  .strict()
  .meta({ id: 'Medication', description: 'A drug: its codes (any of CIS, CIP13, UCD, MV, ATC) and the label as written by the sender' });
export type Medication = z.infer<typeof Medication>;

export const Dosage = z
  .object({
    text: z.string().trim().min(1),
    dose: z.object({ value: z.number().positive(), unit: z.string().min(1) }).strict().optional(),
    /** Times per day. */
    frequencyPerDay: z.number().positive().optional(),
    asNeeded: z.boolean().optional(),
    route: z.string().trim().min(1).optional(),
  })
  .strict()
  .meta({ id: 'Dosage', description: 'Dosage as written (text), with structured dose and frequency when known' });
export type Dosage = z.infer<typeof Dosage>;

/** One line of a medication list (PPP review list, BMO, BPM list). */
export const MedicationLine = z
  .object({
    /** Sender's id of the line, unique within the document. */
    id: z.string().trim().min(1),
    medication: Medication,
    dosage: Dosage.optional(),
    status: z.enum(['active', 'not-taken', 'on-hold', 'stopped']).default('active'),
    /** Taken without prescription (automédication). */
    selfMedication: z.boolean().default(false).describe('Taken without prescription (automédication)'),
    comment: z.string().trim().min(1).optional(),
  })
  .strict()
  .meta({ id: 'MedicationLine', description: 'One line of a medication list (PPP reviewed list, BPM list)' });
export type MedicationLine = z.infer<typeof MedicationLine>;
