// What a submission says about sending its document to the patient's DMP: the patient's opposition (the sender's
// software records it) and masking. Both are honoured when the document is enqueued for the DMP.
import { z } from 'zod';

export const DMP_MASKING = ['MASQUE_PS', 'INVISIBLE_PATIENT', 'INVISIBLE_REPRESENTANTS_LEGAUX'] as const;

export const DmpOptions = z
  .object({
    /** The patient objected to their DMP being fed: the document is not sent (the refusal is recorded). */
    opposition: z.boolean().default(false).describe('true when the patient objected to feeding their DMP: the document is stored but never sent'),
    masking: z
      .array(z.enum(DMP_MASKING))
      .default([])
      .describe('DMP masking: MASQUE_PS (hidden from professionals), INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX'),
  })
  .strict()
  .meta({ id: 'DmpOptions', description: "Sending the document to the patient's DMP (Mon espace santé): opposition and masking" });
export type DmpOptions = z.infer<typeof DmpOptions>;
