// Linking an existing CTM to a PPP (working-group decision: explicit, at the inclusion review, never
// automatic). Allowed only when the CTM's BMO was validated by a pharmacist: the BMO Composition is final
// with a professional attester, and a Provenance names a pharmacist as `verifier`. Link and unlink are audited.
import type { CarePlan, Composition, List, MedicationStatement, PractitionerRole, Provenance, Reference } from '@medplum/fhirtypes';
import { CS, PROFILE, SYSTEM } from '../fhir/canonical.js';
import { localIdentifierSystem } from '../fhir/map-common.js';
import { businessRule, invalid, notFound } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';

/** How a caller names the CTM: its establishment FINESS and local id, or a business identifier of its BMO/FCT. */
export type CtmRef = { finess: string; id: string } | { identifier: { system: string; value: string } };

export interface LinkContext {
  actor: string;
  requestId?: string;
}

export interface LinkResult {
  carePlan: CarePlan;
  /** False when the link already existed (or was already absent, for unlink). */
  changed: boolean;
}

const PHARMACIST = '21';

function isPpp(cp: CarePlan): boolean {
  return cp.category?.some((c) => c.coding?.some((k) => k.system === CS.careplanCategory && k.code === 'ppp')) ?? false;
}

async function readPpp(tx: Pick<StoreTransaction, 'read'>, carePlanId: string): Promise<CarePlan> {
  const cp = await tx.read<CarePlan>('CarePlan', carePlanId);
  if (!cp) throw notFound(`CarePlan/${carePlanId} not found`);
  if (!isPpp(cp)) throw businessRule(`CarePlan/${carePlanId} is not a PPP (category ppp)`, 'CarePlan.category');
  return cp;
}

async function findComposition(tx: Pick<StoreTransaction, 'search'>, system: string, value: string): Promise<Composition | undefined> {
  const r = await tx.search({
    resourceType: 'Composition',
    predicates: [{ param: 'identifier', prefix: 'eq', values: [`${system}|${value}`] }],
    count: 2,
    offset: 0,
  });
  return r.resources[0] as Composition | undefined;
}

/** The CTM's BMO and FCT Compositions, or 404 naming what was looked for. */
async function findCtm(tx: Pick<StoreTransaction, 'search'>, ref: CtmRef): Promise<{ bmo: Composition; fct?: Composition; label: string }> {
  if ('identifier' in ref) {
    const found = await findComposition(tx, ref.identifier.system, ref.identifier.value);
    const label = `${ref.identifier.system}|${ref.identifier.value}`;
    if (!found) throw notFound(`No CTM found with identifier ${label}`);
    const m = /\/identifier\/([^/]+)\/ctm-(bmo|fct)$/.exec(ref.identifier.system);
    if (!m) throw invalid('The identifier is not a CTM BMO or FCT identifier issued by Passerelle', 'identifier.system');
    return findCtm(tx, { finess: m[1], id: ref.identifier.value });
  }
  const label = `${ref.finess}/${ref.id}`;
  const bmo = await findComposition(tx, localIdentifierSystem(ref.finess, 'ctm-bmo'), ref.id);
  if (!bmo) throw notFound(`No CTM "${ref.id}" from establishment ${ref.finess} is stored; send it to POST /ctm first`);
  const fct = await findComposition(tx, localIdentifierSystem(ref.finess, 'ctm-fct'), ref.id);
  return { bmo, ...(fct ? { fct } : {}), label };
}

/** Why the BMO cannot feed a PPP yet, or undefined when a pharmacist validated it. */
async function missingValidation(tx: Pick<StoreTransaction, 'read' | 'search'>, bmo: Composition): Promise<string | undefined> {
  if (bmo.status !== 'final') return `its BMO is "${bmo.status}", not validated by a pharmacist (Composition.status must be final)`;
  if (!bmo.attester?.some((a) => a.mode === 'professional' && a.party)) return 'its BMO has no professional attester (Composition.attester)';
  const provenances = await tx.search({
    resourceType: 'Provenance',
    predicates: [{ param: 'target', prefix: 'eq', values: [`Composition/${bmo.id}`] }],
    count: 50,
    offset: 0,
  });
  for (const p of provenances.resources as Provenance[]) {
    for (const agent of p.agent ?? []) {
      const verifier = agent.type?.coding?.some((c) => c.system === SYSTEM.provenanceParticipantType && c.code === 'verifier');
      const who = agent.who?.reference;
      if (!verifier || !who?.startsWith('PractitionerRole/')) continue;
      const role = await tx.read<PractitionerRole>('PractitionerRole', who.slice('PractitionerRole/'.length));
      if (role?.code?.some((cc) => cc.coding?.some((c) => c.system === SYSTEM.professionSante && c.code === PHARMACIST))) return undefined;
    }
  }
  return 'no Provenance records a pharmacist as verifier of its BMO';
}

function linkedRefs(bmo: Composition, fct: Composition | undefined): string[] {
  return [...(fct ? [`Composition/${fct.id}`] : []), `Composition/${bmo.id}`];
}

/** Link the CTM to the PPP CarePlan: `supportingInfo` gains the FCT and BMO Compositions. */
export async function linkCtm(store: ResourceStore, carePlanId: string, ref: CtmRef, ctx: LinkContext): Promise<LinkResult> {
  const result = await store.transaction(async (tx): Promise<LinkResult | { refused: string; bmo: string; label: string }> => {
    const cp = await readPpp(tx, carePlanId);
    const { bmo, fct, label } = await findCtm(tx, ref);
    const why = await missingValidation(tx, bmo);
    if (why) return { refused: why, bmo: `Composition/${bmo.id}`, label };
    if (cp.subject?.reference !== bmo.subject?.reference) {
      throw businessRule(`CTM ${label} concerns ${bmo.subject?.reference ?? 'no patient'}, the PPP ${cp.subject?.reference ?? 'no patient'}`, 'ctm');
    }
    const present = new Set((cp.supportingInfo ?? []).map((r) => r.reference));
    const added: Reference[] = linkedRefs(bmo, fct)
      .filter((r) => !present.has(r))
      .map((reference) => ({ reference, display: reference === `Composition/${bmo.id}` ? 'BMO (CTM)' : 'Fiche de conciliation (CTM)' }));
    if (added.length === 0) return { carePlan: cp, changed: false };
    const next: CarePlan = { ...cp, supportingInfo: [...(cp.supportingInfo ?? []), ...added] };
    assertValid(next);
    const { resource } = await tx.put(next);
    await tx.audit({ action: 'ppp.link-ctm', actor: ctx.actor, entities: [`CarePlan/${carePlanId}`, ...added.map((r) => r.reference as string)], outcome: 'success', ...(ctx.requestId ? { requestId: ctx.requestId } : {}) });
    return { carePlan: resource, changed: true };
  });
  if ('refused' in result) {
    // The refusal is audited too (its own transaction: nothing else was written).
    await store.transaction((tx) =>
      tx.audit({ action: 'ppp.link-ctm', actor: ctx.actor, entities: [`CarePlan/${carePlanId}`, result.bmo], outcome: 'failure', detail: result.refused, ...(ctx.requestId ? { requestId: ctx.requestId } : {}) }),
    );
    throw businessRule(`CTM ${result.label} cannot be linked: ${result.refused}. Link it again once the BMO is validated.`, 'ctm');
  }
  return result;
}

/** Remove the CTM's Compositions from the PPP's `supportingInfo`. */
export async function unlinkCtm(store: ResourceStore, carePlanId: string, ref: CtmRef, ctx: LinkContext): Promise<LinkResult> {
  return store.transaction(async (tx) => {
    const cp = await readPpp(tx, carePlanId);
    const { bmo, fct } = await findCtm(tx, ref);
    const remove = new Set(linkedRefs(bmo, fct));
    const kept = (cp.supportingInfo ?? []).filter((r) => !remove.has(r.reference ?? ''));
    if (kept.length === (cp.supportingInfo ?? []).length) return { carePlan: cp, changed: false };
    const next: CarePlan = { ...cp };
    if (kept.length > 0) next.supportingInfo = kept;
    else delete next.supportingInfo;
    assertValid(next);
    const { resource } = await tx.put(next);
    await tx.audit({ action: 'ppp.unlink-ctm', actor: ctx.actor, entities: [`CarePlan/${carePlanId}`, ...remove], outcome: 'success', ...(ctx.requestId ? { requestId: ctx.requestId } : {}) });
    return { carePlan: resource, changed: true };
  });
}

export interface ReviewLine {
  statement: string;
  medication: string;
  codes: { system: string; code: string }[];
  dosage?: string;
  status?: string;
  /** BMO lines only: the sources that agree on this line. */
  sources?: { code: string; display?: string }[];
}

export interface MedicationReview {
  carePlan: string;
  /** Lines of the PPP's own reviewed list. */
  ppp: ReviewLine[];
  /** Linked CTM's BMO, when a CTM is linked. */
  bmo?: { composition: string; status: string; validatedBy?: string; validatedAt?: string; lines: ReviewLine[] };
}

function reviewLine(ms: MedicationStatement): ReviewLine {
  const sourcesExt = ms.extension?.find((e) => e.url.endsWith('/passerelle-medication-sources'));
  const sources = sourcesExt?.extension
    ?.filter((e) => e.url === 'source' && e.valueCoding?.code)
    .map((e) => ({ code: e.valueCoding?.code as string, ...(e.valueCoding?.display ? { display: e.valueCoding.display } : {}) }));
  return {
    statement: `MedicationStatement/${ms.id}`,
    medication: ms.medicationCodeableConcept?.text ?? ms.medicationCodeableConcept?.coding?.[0]?.display ?? '',
    codes: (ms.medicationCodeableConcept?.coding ?? []).map((c) => ({ system: c.system ?? '', code: c.code ?? '' })),
    ...(ms.dosage?.[0]?.text ? { dosage: ms.dosage[0].text } : {}),
    ...(ms.status ? { status: ms.status } : {}),
    ...(sources?.length ? { sources } : {}),
  };
}

async function statements(store: ResourceStore, refs: (string | undefined)[]): Promise<ReviewLine[]> {
  const out: ReviewLine[] = [];
  for (const ref of refs) {
    if (!ref?.startsWith('MedicationStatement/')) continue;
    const ms = await store.read<MedicationStatement>('MedicationStatement', ref.slice('MedicationStatement/'.length));
    if (ms) out.push(reviewLine(ms));
  }
  return out;
}

/** The PPP's medication review: its own list and, when a CTM is linked, the BMO lines with their sources. */
export async function medicationReview(store: ResourceStore, carePlanId: string): Promise<MedicationReview> {
  const cp = await readPpp(store, carePlanId);
  const refs = (cp.supportingInfo ?? []).map((r) => r.reference ?? '');
  const review: MedicationReview = { carePlan: `CarePlan/${carePlanId}`, ppp: [] };
  for (const ref of refs) {
    if (ref.startsWith('List/')) {
      const list = await store.read<List>('List', ref.slice(5));
      if (list) review.ppp.push(...(await statements(store, (list.entry ?? []).map((e) => e.item.reference))));
    }
    if (ref.startsWith('Composition/')) {
      const comp = await store.read<Composition>('Composition', ref.slice(12));
      if (!comp?.meta?.profile?.includes(PROFILE.bmoComposition)) continue;
      const attester = comp.attester?.find((a) => a.mode === 'professional');
      review.bmo = {
        composition: ref,
        status: comp.status,
        ...(attester?.party?.reference ? { validatedBy: attester.party.reference } : {}),
        ...(attester?.time ? { validatedAt: attester.time } : {}),
        lines: await statements(store, (comp.section ?? []).flatMap((s) => (s.entry ?? []).map((e) => e.reference))),
      };
    }
  }
  return review;
}
