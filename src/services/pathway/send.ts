// Sending the PPP to the médecin traitant and the pharmacien d'officine (issue 18, point 3; docs/pathway.md "Sending
// the PPP"): each gets a secure link of their own (a new send revokes the previous ones) by MSSanté, the PPP is marked
// sent (the anchor of D45/D90, kept from the first send), its CarePlan re-stored with `period.start` and the D45/D90
// follow-up Tasks, its pathway step set, and the scheduler's due work planned — all in one transaction, or nothing.
import type { CarePlan } from '@medplum/fhirtypes';
import type { Principal } from '../../domain/access/model.js';
import type { LinkRole } from '../../domain/pathway/link-token.js';
import { rcpRule } from '../../domain/pathway/rcp.js';
import { pathwayStep, type FollowUpWindowCode } from '../../domain/pathway/step.js';
import type { Ppp } from '../../domain/ppp.js';
import { businessRule, conflict, notFound } from '../../fhir/outcome.js';
import type { ResourceStore, StoreTransaction } from '../../store/repository.js';
import { assertPppWritable } from '../access/documents.js';
import { prepareSubmission, storeSubmissionIn } from '../submission.js';
import { followupOutcomesOf, pathwayStatusOf, setPathwayStatus } from './careplan-state.js';
import type { PathwayContext } from './context.js';
import { decisionTasks, pendingCount } from './decision-tasks.js';
import { enqueueLinkMail, patientLabel, type LinkDelivery } from './link-mail.js';
import { issueLinks, type IssuedLink, type LinkRecipient } from './links.js';

export const LINK_ROLES: readonly LinkRole[] = ['MT', 'PHO'];
const TEAM_ROLE: Readonly<Record<LinkRole, string>> = { MT: 'medecin-traitant', PHO: 'pharmacien-officine' };
const ROLE_LABEL: Readonly<Record<LinkRole, string>> = { MT: 'médecin traitant (medecin-traitant)', PHO: "pharmacien d'officine (pharmacien-officine)" };

export interface SendOptions {
  /** Whom to send to (default: the MT, and the PHO when the team names one). */
  recipients?: readonly LinkRole[];
}

export interface SendResult {
  links: IssuedLink[];
  deliveries: LinkDelivery[];
}

const DAY_MS = 86_400_000;
const plusDays = (iso: string, days: number): string => new Date(Date.parse(iso) + days * DAY_MS).toISOString();

/** A CarePlan that is over: the pathway sends it no more. */
const isClosedPlan = (cp: CarePlan): boolean => cp.status === 'completed' || cp.status === 'revoked';

/** Windows whose outcome is recorded for every recommendation of the CarePlan (its activities). */
export function followUpDone(cp: CarePlan): FollowUpWindowCode[] {
  const activities = (cp.activity ?? []).map((a) => a.reference?.reference).filter((r): r is string => !!r);
  if (activities.length === 0) return [];
  const entries = followupOutcomesOf(cp);
  return (['d45', 'd90'] as const).filter((w) => activities.every((a) => entries.some((e) => e.window === w && e.recommendation === a && e.outcome)));
}

/** The PPP's case, its CarePlan and its document, in `tx`; 404 when the PPP is not in the pathway. */
async function caseOf(tx: StoreTransaction, carePlanId: string): Promise<{ carePlan: CarePlan; ppp: Ppp; sentAt?: string }> {
  const found = await tx.pathway.getCase(carePlanId);
  const carePlan = found ? await tx.read<CarePlan>('CarePlan', carePlanId) : undefined;
  if (!found || !carePlan) throw notFound(`CarePlan/${carePlanId} is not a PPP known to Passerelle`);
  if (found.closedAt || isClosedPlan(carePlan)) {
    throw conflict(`Le PPP CarePlan/${carePlanId} est clos (${found.closedAt ? `depuis le ${found.closedAt}` : `statut ${carePlan.status}`}) : il ne peut plus être envoyé`, 'CarePlan.status');
  }
  return { carePlan, ppp: found.document as Ppp, ...(found.sentAt ? { sentAt: found.sentAt } : {}) };
}

/** The professionals the links go to, from the document's team; refusals name the field. */
function recipientsOf(ppp: Ppp, asked: readonly LinkRole[] | undefined): (LinkRecipient & { name: string; email?: string })[] {
  const member = (role: LinkRole) => ppp.team.find((t) => t.role === TEAM_ROLE[role])?.practitioner;
  if (!member('MT')) throw businessRule("Le PPP ne nomme pas de médecin traitant (rôle medecin-traitant) : il ne peut pas être envoyé", 'ppp.team');
  const roles = asked ?? LINK_ROLES.filter((r) => member(r));
  const out: (LinkRecipient & { name: string; email?: string })[] = [];
  roles.forEach((role, i) => {
    const p = member(role);
    if (!p) throw businessRule(`Le PPP ne nomme pas de ${ROLE_LABEL[role]} : pas de lien à lui envoyer`, `recipients[${i}]`);
    if (out.some((o) => o.rpps === p.rpps)) throw businessRule(`Le médecin traitant et le pharmacien d'officine ont le même RPPS (${p.rpps}) : un lien chacun est impossible`, 'ppp.team');
    out.push({ role, rpps: p.rpps, name: [p.given, p.family].filter(Boolean).join(' '), ...(p.email ? { email: p.email } : {}) });
  });
  return out;
}

/**
 * Sends the PPP `carePlanId` (its case's document) to its MT and PHO: refused (nothing written) when the principal may
 * not change it (404 / 403), when it is unknown (404), closed (409), a draft (422 on `ppp.status`), without an RCP and
 * without a reason (422 on `ppp.noRcpReason`) or without a médecin traitant (422).
 */
export async function sendPpp(store: ResourceStore, carePlanId: string, ctx: PathwayContext & { principal?: Principal }, options: SendOptions = {}): Promise<SendResult> {
  if (ctx.principal) await assertPppWritable(store, ctx.principal, carePlanId);
  const at = ctx.now.toISOString();
  const who = { actor: ctx.actor, ...(ctx.requestId ? { requestId: ctx.requestId } : {}) };
  return store.transaction(async (tx) => {
    const found = await caseOf(tx, carePlanId);
    if (found.ppp.status === 'draft') {
      throw businessRule("Le PPP est un brouillon (status draft) : envoyez-le d'abord actif (POST /ppp, status active) pour le transmettre au médecin traitant et au pharmacien d'officine", 'ppp.status');
    }
    const rule = rcpRule(found.ppp);
    if (!rule.sendable) {
      throw businessRule(
        "Le PPP n'a pas eu de RCP et ne donne pas de motif : renseignez la RCP (rcp) ou le motif de son absence (noRcpReason) avant de l'envoyer au médecin traitant et au pharmacien d'officine",
        'ppp.noRcpReason',
      );
    }
    const recipients = recipientsOf(found.ppp, options.recipients);
    // The follow-up is anchored on the first send: the date the document gives, else the case's, else now.
    const sentAt = found.ppp.sentAt ?? found.sentAt ?? at;
    const document: Ppp = found.ppp.sentAt ? found.ppp : { ...found.ppp, sentAt };

    const links = await issueLinks(tx, {
      carePlan: carePlanId,
      recipients: recipients.map(({ role, rpps }) => ({ role, rpps })),
      purpose: 'decision',
      now: ctx.now,
      ttlDays: ctx.config.pathway.linkTtlDays,
      baseUrl: ctx.config.baseUrl,
      actor: ctx.actor,
    });
    await tx.pathway.markSent(carePlanId, at);
    if (document !== found.ppp) await tx.pathway.updateDocument(carePlanId, document, at);
    // The pathway status first (step, sent dates, period.start), then the PPP stored again with its send date, which
    // carries the status over and adds the D45/D90 follow-up Tasks: one new CarePlan version. Not delivered again (no
    // outbox): the document's content is the same; its regeneration after the decisions is.
    const pending = pendingCount(await decisionTasks(tx, carePlanId, document));
    const step = pathwayStep({ sentAt, pendingDecisions: pending, followUpDone: followUpDone(found.carePlan) });
    await setPathwayStatus(tx, carePlanId, { ...(pathwayStatusOf(found.carePlan) ?? {}), step: step === 'rcp' ? 'attente-decisions' : step, sentAt, lastSent: at });
    const prepared = prepareSubmission('ppp', document, at);
    await storeSubmissionIn(tx, store, prepared, { now: at, ...who, fhirBase: ctx.fhirBase });

    // Due work: D45/D90 stay anchored on the first send (planned once); the decisions' deadline moves with each send.
    const due = await tx.pathway.dueOf(carePlanId);
    const { d45Days, d90Days } = ctx.config.pathway.followUp;
    for (const [kind, days] of [['d45', d45Days], ['d90', d90Days]] as const) {
      if (!due.some((d) => d.kind === kind)) await tx.pathway.schedule(carePlanId, kind, plusDays(sentAt, days));
    }
    await tx.pathway.schedule(carePlanId, 'decision-deadline', plusDays(at, ctx.config.pathway.decisionDeadlineDays), { reopen: true });

    const label = patientLabel(document.patient);
    const deliveries: LinkDelivery[] = [];
    for (const link of links) {
      const r = recipients.find((x) => x.role === link.role) as (typeof recipients)[number];
      deliveries.push(
        await enqueueLinkMail(
          tx,
          {
            carePlan: carePlanId,
            role: link.role,
            rpps: link.rpps,
            ...(r.name ? { name: r.name } : {}),
            ...(r.email ? { address: r.email } : {}),
            purpose: 'decision',
            url: link.url,
            expires: link.expires,
            patientLabel: label,
            ...(document.establishment.name ? { organization: document.establishment.name } : {}),
          },
          ctx,
          { directory: store.directory },
        ),
      );
    }
    await tx.audit({
      action: 'ppp.send',
      ...who,
      entities: [`CarePlan/${carePlanId}`],
      outcome: 'success',
      detail: `${found.sentAt ? 'sent again' : 'first send'}; step ${step === 'rcp' ? 'attente-decisions' : step}; ${deliveries.map((d) => `${d.role} rpps=${d.rpps} ${d.state}${d.outboxId ? ` message ${d.outboxId}` : ''}`).join('; ')}`,
    });
    return { links: links.map(({ role, rpps, url, expires }) => ({ role, rpps, url, expires })), deliveries };
  });
}
