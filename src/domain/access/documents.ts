// Whose document it is: the FINESS a canonical document belongs to (who may send it) and the organisations it names
// (whose tenants get access to its patient). Pure.
import type { DocumentKind, DocumentOf } from '../parse.js';

/**
 * The FINESS a document belongs to: the establishment of a PPP or a CTM, the pharmacy of a BPM. Only a principal of
 * that FINESS may send it (`mayWriteFor`).
 */
export function documentFiness(kind: DocumentKind, doc: DocumentOf<DocumentKind>): string {
  if (kind === 'bpm') return (doc as DocumentOf<'bpm'>).pharmacy.finess;
  return (doc as DocumentOf<'ppp' | 'ctm'>).establishment.finess;
}

/**
 * Every FINESS a document names: its own, and the organisation of each professional it names (the care team of a
 * PPP, the MT's practice, the pharmacist's pharmacy, the authors and verifiers…): the Tasks it creates are addressed
 * to those professionals' roles, so their organisations are the tenants with a relationship to the patient.
 */
export function documentOrganisations(kind: DocumentKind, doc: DocumentOf<DocumentKind>): string[] {
  const out = new Set<string>([documentFiness(kind, doc)]);
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) walk(item);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
        if ((k === 'organizationFiness' || k === 'finess') && typeof v === 'string') out.add(v);
        else if (k !== 'patient' && typeof v === 'object') walk(v);
      }
    }
  };
  walk(doc);
  return [...out];
}
