// Identity before data: a BPM whose patient the SRI has not settled (an identity review is open for it) is stored
// on hold — CarePlan `status` on-hold, `meta.tag` awaiting-identity — and attached to nothing. Once the identity
// is settled (auto-link, new person, or a human decision) the BPM is released (active, tag removed) and every PPP
// of the same federated patient lists it in `supportingInfo`. Runs inside the caller's store transaction.
import type { CarePlan, Coding, Reference, Resource } from '@medplum/fhirtypes';
import { IDENTITY_STATES } from '../domain/codes.js';
import { CS } from '../fhir/canonical.js';
import { assertValid } from '../fhir/validate.js';
import { sourcePatientId } from '../fhir/federated-patient.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';
import { MAX_OR_VALUES } from '../store/search-sql.js';

/** `meta.tag` of a document waiting for its patient's identity. */
export const AWAITING_IDENTITY: Coding = {
  system: CS.identityState,
  code: 'awaiting-identity',
  display: IDENTITY_STATES.find((c) => c.code === 'awaiting-identity')?.display,
};

const BPM_DISPLAY = 'Bilan partagé de médication';
const PAGE = 1000;

export interface AttachmentContext {
  actor: string;
  requestId?: string;
  /** Why the attachments changed (a submission, a review decision…), for the audit row. */
  cause: string;
}

type Reader = Pick<StoreTransaction, 'search'> | Pick<ResourceStore, 'search'>;

export function carePlanKind(cp: CarePlan): 'ppp' | 'bpm' | undefined {
  for (const c of cp.category ?? []) {
    for (const k of c.coding ?? []) {
      if (k.system === CS.careplanCategory && (k.code === 'ppp' || k.code === 'bpm')) return k.code;
    }
  }
  return undefined;
}

const isAwaitingTag = (t: Coding): boolean => t.system === AWAITING_IDENTITY.system && t.code === AWAITING_IDENTITY.code;

export function isAwaitingIdentity(r: Resource): boolean {
  return r.meta?.tag?.some(isAwaitingTag) ?? false;
}

/** The BPM CarePlan as stored while its patient's identity waits for a human: on hold, tagged. */
export function holdForIdentity(cp: CarePlan): CarePlan {
  const tags = (cp.meta?.tag ?? []).filter((t) => !isAwaitingTag(t));
  return { ...cp, status: 'on-hold', meta: { ...cp.meta, tag: [...tags, AWAITING_IDENTITY] } };
}

/** The BPM CarePlan once its patient is certain: active (as the pharmacist sent it), tag removed. */
function release(cp: CarePlan): CarePlan {
  const { tag, ...meta } = cp.meta ?? {};
  const kept = (tag ?? []).filter((t) => !isAwaitingTag(t));
  return { ...cp, status: 'active', meta: kept.length > 0 ? { ...meta, tag: kept } : meta };
}

/**
 * A PPP's `supportingInfo` with exactly `bpms` as its BPM links. The PPP mapping never puts a CarePlan there, so
 * every `CarePlan/` reference is a BPM link owned by this module.
 */
export function withBpmLinks(ppp: CarePlan, bpms: readonly string[]): CarePlan {
  const others = (ppp.supportingInfo ?? []).filter((r) => !r.reference?.startsWith('CarePlan/'));
  const links: Reference[] = [...bpms].sort().map((reference) => ({ reference, display: BPM_DISPLAY }));
  const supportingInfo = [...others, ...links];
  const { supportingInfo: _old, ...rest } = ppp;
  return supportingInfo.length > 0 ? { ...rest, supportingInfo } : rest;
}

async function carePlansOf(tx: Reader, subjects: readonly string[]): Promise<CarePlan[]> {
  const out: CarePlan[] = [];
  // A search takes at most MAX_OR_VALUES values per parameter: a federated identity with more sources is searched in parts.
  for (let from = 0; from < subjects.length; from += MAX_OR_VALUES) {
    const values = subjects.slice(from, from + MAX_OR_VALUES);
    for (let offset = 0; ; offset += PAGE) {
      const page = await tx.search({ resourceType: 'CarePlan', predicates: [{ param: 'subject', prefix: 'eq', values }], count: PAGE, offset });
      out.push(...(page.resources as CarePlan[]));
      if (page.resources.length < PAGE) break;
    }
  }
  return out;
}

/** Source Patients of the federated identity whose link is settled (no review of theirs is open). */
async function settledSubjects(tx: StoreTransaction, federatedId: string): Promise<string[]> {
  const sources = await tx.identities.sourcesOf(federatedId);
  return sources.filter((s) => s.decision !== 'review').map((s) => `Patient/${sourcePatientId(s.system, s.localId)}`);
}

/** The BPMs a PPP of this federated patient lists (released BPMs of settled sources), as `CarePlan/id`. */
export async function attachedBpms(tx: StoreTransaction, federatedId: string): Promise<string[]> {
  const plans = await carePlansOf(tx, await settledSubjects(tx, federatedId));
  return plans.filter((cp) => carePlanKind(cp) === 'bpm' && !isAwaitingIdentity(cp)).map((cp) => `CarePlan/${cp.id}`);
}

/**
 * Brings one federated patient's documents in line with its identity: BPMs of settled sources are released, and
 * each PPP of a settled source lists exactly the released BPMs. Idempotent; writes only what changes.
 */
export async function syncAttachments(tx: StoreTransaction, federatedId: string, ctx: AttachmentContext): Promise<void> {
  const plans = await carePlansOf(tx, await settledSubjects(tx, federatedId));
  const audit = (action: string, entities: string[]): Promise<void> =>
    tx.audit({
      action,
      actor: ctx.actor,
      entities: [...entities, `Patient/${federatedId}`],
      outcome: 'success',
      detail: ctx.cause,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });

  const bpms: string[] = [];
  for (const cp of plans) {
    if (carePlanKind(cp) !== 'bpm') continue;
    if (isAwaitingIdentity(cp)) {
      const next = release(cp);
      assertValid(next);
      await tx.put(next);
      await audit('bpm.identity-settled', [`CarePlan/${cp.id}`]);
    }
    bpms.push(`CarePlan/${cp.id}`);
  }
  for (const cp of plans) {
    if (carePlanKind(cp) !== 'ppp') continue;
    const before = new Set((cp.supportingInfo ?? []).map((r) => r.reference).filter((r) => r?.startsWith('CarePlan/')));
    if (before.size === bpms.length && bpms.every((b) => before.has(b))) continue;
    const next = withBpmLinks(cp, bpms);
    assertValid(next);
    await tx.put(next);
    const added = bpms.filter((b) => !before.has(b));
    const removed = [...before].filter((b): b is string => b !== undefined && !bpms.includes(b));
    if (added.length > 0) await audit('ppp.attach-bpm', [`CarePlan/${cp.id}`, ...added]);
    if (removed.length > 0) await audit('ppp.detach-bpm', [`CarePlan/${cp.id}`, ...removed]);
  }
}

/** Documents stored for one source identity that wait for its identity review (`CarePlan/id`, oldest first). */
export async function awaitingDocuments(reader: Reader, system: string, localId: string): Promise<string[]> {
  const r = await reader.search({
    resourceType: 'CarePlan',
    predicates: [
      { param: 'subject', prefix: 'eq', values: [`Patient/${sourcePatientId(system, localId)}`] },
      { param: '_tag', prefix: 'eq', values: [`${AWAITING_IDENTITY.system}|${AWAITING_IDENTITY.code}`] },
    ],
    count: 100,
    offset: 0,
  });
  return r.resources.map((cp) => `CarePlan/${cp.id}`).reverse();
}
