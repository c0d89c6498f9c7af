// Health professionals (RPPS) and organisations (FINESS) named in the pathways.
import { z } from 'zod';
import { CARE_TEAM_ROLES, codeValues } from './codes.js';

/** RPPS: 11 digits. An IDNPS (8 + RPPS) is accepted on input and reduced to the RPPS. */
export const Rpps = z
  .string()
  .transform((s) => (/^8\d{11}$/.test(s) ? s.slice(1) : s))
  .pipe(z.string().regex(/^\d{11}$/, 'an RPPS number has 11 digits'))
  .meta({ description: 'RPPS number (11 digits); an IDNPS (8 + RPPS, 12 digits) is accepted and reduced to the RPPS', pattern: '^8?\\d{11}$' });

/** FINESS: 9 characters (2A/2B for Corsica). An IdNat_Struct (1 + FINESS) is reduced to the FINESS. */
export const Finess = z
  .string()
  .transform((s) => (/^1(\d{9}|2[AB]\d{7})$/.test(s) ? s.slice(1) : s))
  .pipe(z.string().regex(/^(\d{9}|2[AB]\d{7})$/, 'a FINESS number has 9 characters'))
  .meta({
    description: 'FINESS number (9 characters, 2A/2B for Corsica); an IdNat_Struct (1 + FINESS) is accepted and reduced to the FINESS',
    pattern: '^1?(\\d{9}|2[AB]\\d{7})$',
  });

export const Organization = z
  .object({
    finess: Finess,
    name: z.string().trim().min(1),
    kind: z.enum(['etablissement', 'officine', 'cabinet']).default('etablissement'),
  })
  .strict()
  .meta({ id: 'Organization', description: 'A health establishment, community pharmacy or practice, identified by its FINESS' });
export type Organization = z.infer<typeof Organization>;

export const Practitioner = z
  .object({
    rpps: Rpps,
    family: z.string().trim().min(1),
    given: z.string().trim().min(1).optional(),
    profession: z.enum(['medecin', 'pharmacien', 'infirmier', 'autre']).default('medecin'),
    /** Organisation the practitioner acts for in this document (FINESS); defaults to the sender's. */
    organizationFiness: Finess.optional(),
    /** MSSanté address, used to send the documents and secure links. */
    email: z.email().optional(),
  })
  .strict()
  .meta({ id: 'Practitioner', description: 'A health professional identified by RPPS' });
export type Practitioner = z.infer<typeof Practitioner>;

export const CareTeamRole = z.enum(codeValues(CARE_TEAM_ROLES));
export type CareTeamRole = z.infer<typeof CareTeamRole>;

export const TeamMember = z
  .object({ role: CareTeamRole, practitioner: Practitioner })
  .strict()
  .describe('A member of the PPP care team: geriatre, pharmacien-clinicien, medecin-traitant, pharmacien-officine, gestionnaire-cas');
export type TeamMember = z.infer<typeof TeamMember>;
