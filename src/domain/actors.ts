// Health professionals (RPPS) and organisations (FINESS) named in the pathways.
import { z } from 'zod';
import { CARE_TEAM_ROLES, codeValues } from './codes.js';

/** RPPS: 11 digits. An IDNPS (8 + RPPS) is accepted on input and reduced to the RPPS. */
export const Rpps = z
  .string()
  .transform((s) => (/^8\d{11}$/.test(s) ? s.slice(1) : s))
  .pipe(z.string().regex(/^\d{11}$/, 'an RPPS number has 11 digits'));

/** FINESS: 9 characters (2A/2B for Corsica). An IdNat_Struct (1 + FINESS) is reduced to the FINESS. */
export const Finess = z
  .string()
  .transform((s) => (/^1(\d{9}|2[AB]\d{7})$/.test(s) ? s.slice(1) : s))
  .pipe(z.string().regex(/^(\d{9}|2[AB]\d{7})$/, 'a FINESS number has 9 characters'));

export const Organization = z
  .object({
    finess: Finess,
    name: z.string().trim().min(1),
    kind: z.enum(['etablissement', 'officine', 'cabinet']).default('etablissement'),
  })
  .strict();
export type Organization = z.infer<typeof Organization>;

export const Practitioner = z
  .object({
    rpps: Rpps,
    family: z.string().trim().min(1),
    given: z.string().trim().min(1).optional(),
    profession: z.enum(['medecin', 'pharmacien', 'infirmier', 'autre']).default('medecin'),
    /** Organisation the practitioner acts for in this document (FINESS); defaults to the sender's. */
    organizationFiness: Finess.optional(),
    email: z.email().optional(),
  })
  .strict();
export type Practitioner = z.infer<typeof Practitioner>;

export const CareTeamRole = z.enum(codeValues(CARE_TEAM_ROLES));
export type CareTeamRole = z.infer<typeof CareTeamRole>;

export const TeamMember = z.object({ role: CareTeamRole, practitioner: Practitioner }).strict();
export type TeamMember = z.infer<typeof TeamMember>;
