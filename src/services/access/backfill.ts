// Grants for data stored before tenants existed (a database written by an earlier version has documents but no
// `access_patient` rows, so tenant-bound clients would see none of it). Derived from what the documents say, as
// `storeSubmission` grants them: the FINESS of each document's business identifier (PPP and BPM CarePlans, CTM
// Compositions) and of the organisations of its care team, on the document's source Patient and its federated Patient.
// Idempotent (a grant already there changes nothing); one transaction per page of documents.
import type { CarePlan, CareTeam, Composition, Organization, Patient, PractitionerRole, Resource } from '@medplum/fhirtypes';
import { finessKey } from '../../domain/access/model.js';
import { CANONICAL_BASE, SYSTEM } from '../../fhir/canonical.js';
import type { ResourceStore, StoreTransaction } from '../../store/repository.js';

const DOCUMENT_IDENTIFIER = new RegExp(`^${CANONICAL_BASE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/identifier/([0-9AB]{9})/(ppp|bpm|ctm-bmo|ctm-fct)$`);
const PAGE = 200;

export interface BackfillSummary {
  documents: number;
  grants: number;
}

const idOf = (reference: string | undefined, type: string): string | undefined =>
  reference?.startsWith(`${type}/`) ? reference.slice(type.length + 1) : undefined;

/** The FINESS of an Organization (its FINESS identifier). */
const finessOfOrganization = (o: Organization | undefined): string | undefined => o?.identifier?.find((i) => i.system === SYSTEM.finess)?.value;

async function careTeamFiness(tx: StoreTransaction, carePlan: CarePlan): Promise<string[]> {
  const out: string[] = [];
  for (const ref of carePlan.careTeam ?? []) {
    const team = await tx.read<CareTeam>('CareTeam', idOf(ref.reference, 'CareTeam') ?? '');
    for (const p of team?.participant ?? []) {
      const role = await tx.read<PractitionerRole>('PractitionerRole', idOf(p.member?.reference, 'PractitionerRole') ?? '');
      const finess = finessOfOrganization(await tx.read<Organization>('Organization', idOf(role?.organization?.reference, 'Organization') ?? ''));
      if (finess) out.push(finess);
    }
  }
  return out;
}

async function grantDocument(tx: StoreTransaction, doc: CarePlan | Composition): Promise<number> {
  const finess = (doc.identifier ? [doc.identifier].flat() : []).map((i) => DOCUMENT_IDENTIFIER.exec(i.system ?? '')?.[1]).find((f) => f !== undefined);
  const source = idOf(doc.subject?.reference, 'Patient');
  if (!finess || !source) return 0;
  const patient = await tx.read<Patient>('Patient', source);
  const federated = idOf(patient?.link?.find((l) => l.type === 'refer')?.other.reference, 'Patient');
  const patients = [source, ...(federated ? [federated] : [])];
  const tenants = new Set([finess, ...(doc.resourceType === 'CarePlan' ? await careTeamFiness(tx, doc) : [])]);
  for (const f of tenants) await tx.access.grant(finessKey(f), patients, f === finess ? 'document' : 'care-team');
  return tenants.size;
}

/** Grants every stored document's tenants access to its patient (see the file comment). */
export async function backfillGrants(store: ResourceStore): Promise<BackfillSummary> {
  const summary: BackfillSummary = { documents: 0, grants: 0 };
  for (const type of ['CarePlan', 'Composition']) {
    for (let offset = 0; ; offset += PAGE) {
      const { resources } = await store.search({ resourceType: type, predicates: [], count: PAGE, offset, sort: [{ param: '_id', descending: false }] });
      if (resources.length === 0) break;
      await store.transaction(async (tx) => {
        for (const r of resources as Resource[]) {
          const n = await grantDocument(tx, r as CarePlan | Composition);
          if (n > 0) {
            summary.documents++;
            summary.grants += n;
          }
        }
      });
      if (resources.length < PAGE) break;
    }
  }
  return summary;
}
