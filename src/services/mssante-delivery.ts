// Enqueueing a clinical document for an `mssante` destination, in the submission's transaction: one outbox message
// per recipient, whose idempotency key is the Message-ID the connector will compose (the same document version to
// the same mailbox is sent once). Recipients: the care-team members of the destination's roles, addressed by the
// MSSanté address the document gives, else the local directory's (Annuaire Santé extraction) by RPPS, a personal
// BAL first; and, when asked, the patient's own mailbox (`<INS matricule>@patient.mssante.fr`). The XDM carries the
// XDS metadata of the DMP route, filed under the INS: the patient's identity must be certain and qualified (QUAL with
// its INS) to write to anyone. A recipient that cannot be written to is enqueued dead from the start with the reason
// (visible in /admin/outbox), audited, and reported back as a warning; the document is stored all the same.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { z } from 'zod';
import { messageIdDomainOf } from '../connectors/mssante/config.js';
import { mssanteMessageId, PATIENT_DOMAIN } from '../connectors/mssante/message.js';
import type { MssantePayload, MssanteRecipient } from '../connectors/mssante/payload.js';
import type { Practitioner } from '../domain/actors.js';
import type { DmpOptions } from '../domain/dmp.js';
import type { Bpm } from '../domain/bpm.js';
import type { Ppp } from '../domain/ppp.js';
import type { MssanteDestinationConfig } from '../outbox/config.js';
import type { DirectoryEntry } from '../store/directory-repository.js';
import { documentMessage, idsOf, qualifiedPatient, type DocumentDelivery } from './document-delivery.js';

/** A professional the document names in a role, and where (for the answer's issues). */
export interface NamedRecipient {
  role: string;
  practitioner: Pick<Practitioner, 'rpps' | 'family' | 'given' | 'email'>;
  /** JSON path of the practitioner in the submitted document (`ppp.team[2].practitioner`). */
  path: string;
}

/**
 * The professionals a document names, by care-team role: a PPP's team; a BPM's médecin traitant (`gp`: the
 * pharmacist is its author); a CTM names no one outside the hospital.
 */
export function namedRecipients(d: Pick<DocumentDelivery, 'kind' | 'document'>): NamedRecipient[] {
  if (d.kind === 'ppp') return (d.document as Ppp).team.map((t, i) => ({ role: t.role, practitioner: t.practitioner, path: `ppp.team[${i}].practitioner` }));
  if (d.kind === 'bpm') return [{ role: 'medecin-traitant', practitioner: (d.document as Bpm).gp, path: 'bpm.gp' }];
  return [];
}

const mailbox = z.email();

/**
 * The directory's mailbox for a professional: a personal BAL (`PER`) first, else the first of the file; entries whose
 * address is not a plain mail address are passed over (the extraction is not trusted).
 */
export function directoryAddress(entries: readonly DirectoryEntry[]): string | undefined {
  const usable = entries.filter((e) => mailbox.safeParse(e.address).success);
  return (usable.find((e) => e.balType === 'PER') ?? usable[0])?.address;
}

const nameOf = (p: NamedRecipient['practitioner']): string => [p.given, p.family].filter(Boolean).join(' ');

/** The key of a recipient refused before any address was known: deterministic, so a re-submission adds nothing. */
const refusedKey = (uniqueId: string, r: { role: string; rpps?: string }): string => `refused:${uniqueId}:${r.role}${r.rpps ? `:${r.rpps}` : ''}`;

interface Planned {
  recipient: MssanteRecipient;
  /** Where the issue points when refused. */
  expression: string;
  noReply?: boolean;
  refused?: string;
}

/**
 * Enqueues `d`'s document to the recipients of the `mssante` destination `name`. Returns the warnings for the
 * answer and the number of messages created.
 */
export async function enqueueMssante(d: DocumentDelivery, name: string, destination: MssanteDestinationConfig): Promise<{ issues: OperationOutcomeIssue[]; created: number }> {
  if (!d.mssante) throw new Error(`outbox destination ${name} (mssante) is routed but the mssante section is not configured`);
  const issues: OperationOutcomeIssue[] = [];
  const wanted = namedRecipients(d).filter((r) => (destination.recipients as readonly string[]).includes(r.role));
  if (wanted.length === 0 && !destination.patient) {
    issues.push({
      severity: 'warning',
      code: 'business-rule',
      details: { text: `not sent to ${name}: the ${d.kind.toUpperCase()} names no recipient of the roles ${destination.recipients.join(', ')}` },
      expression: [d.kind === 'ppp' ? 'ppp.team' : d.kind === 'bpm' ? 'bpm.gp' : d.kind],
    });
    return { issues, created: 0 };
  }
  const patient = await qualifiedPatient(d, undefined, 'MSSanté');
  const identityRefusal = 'refusal' in patient ? patient.refusal : undefined;

  const planned: Planned[] = [];
  for (const r of wanted) {
    const p = r.practitioner;
    const base: MssanteRecipient = { role: r.role, rpps: p.rpps, name: nameOf(p) };
    if (identityRefusal) {
      planned.push({ recipient: base, expression: `${d.kind}.patient`, refused: identityRefusal });
      continue;
    }
    if (p.email) {
      planned.push({ recipient: { ...base, address: p.email, source: 'document' }, expression: `${r.path}.email` });
      continue;
    }
    const found = d.directory ? directoryAddress(await d.directory.byRpps(p.rpps)) : undefined;
    if (found) planned.push({ recipient: { ...base, address: found, source: 'directory' }, expression: `${r.path}.email` });
    else planned.push({ recipient: base, expression: `${r.path}.email`, refused: 'no MSSanté address known (neither in the document nor in the directory)' });
  }
  if (destination.patient) {
    const ins = 'federated' in patient ? patient.federated.traits.ins : undefined;
    if (ins) planned.push({ recipient: { role: 'patient', address: `${ins.matricule}@${PATIENT_DOMAIN}`, source: 'ins' }, expression: `${d.kind}.patient`, noReply: true });
    else planned.push({ recipient: { role: 'patient' }, expression: `${d.kind}.patient`, refused: identityRefusal ?? 'the patient has no INS' });
  }

  const domain = messageIdDomainOf(d.mssante);
  const version = Number(d.versionId);
  const masking = [...new Set((d.document as { dmp?: DmpOptions }).dmp?.masking ?? [])];
  let created = 0;
  for (const plan of planned) {
    const { recipient } = plan;
    const address = plan.refused ? undefined : recipient.address;
    // The latest earlier version this mailbox was sent (not dead) is the one this version replaces (RPLC).
    let replaces: number | undefined;
    if (address) {
      for (let v = version - 1; v >= 1 && replaces === undefined; v--) {
        const earlier = await d.tx.outbox.find(name, mssanteMessageId(idsOf(d, v).id, v, [address], domain));
        if (earlier && earlier.state !== 'dead') replaces = v;
      }
    }
    const ids = idsOf(d, version, replaces);
    // A refused message is never built: the submitted traits stand in for the registry's.
    const traits = 'federated' in patient ? patient.federated.traits : d.document.patient;
    const payload: MssantePayload = {
      ...documentMessage(d, traits, ids, masking),
      mssante: {
        recipient,
        receipt: destination.receipt,
        ...(plan.noReply ? { noReply: true } : {}),
        ...(plan.refused ? { refused: plan.refused } : {}),
      },
    };
    const r = await d.tx.outbox.enqueue({
      destination: name,
      orderingKey: `Patient/${d.federatedId}`,
      idempotencyKey: address ? mssanteMessageId(ids.id, version, [address], domain) : refusedKey(ids.id, recipient),
      payload,
      ...(plan.refused ? { refused: plan.refused } : {}),
      ...(d.requestId ? { requestId: d.requestId } : {}),
    });
    if (!plan.refused) {
      if (r.created) created++;
      continue;
    }
    const who = recipient.role === 'patient' ? 'patient' : `${recipient.role} ${recipient.name ?? ''}, RPPS ${recipient.rpps ?? '?'}`;
    issues.push({ severity: 'warning', code: 'business-rule', details: { text: `not sent to ${name} (${who}): ${plan.refused}` }, expression: [plan.expression] });
    if (r.created) {
      await d.tx.audit({
        action: 'document.refused',
        actor: d.actor,
        entities: [d.resource, `Patient/${d.federatedId}`],
        outcome: 'failure',
        detail: `${name} (${recipient.role}${recipient.rpps ? ` RPPS ${recipient.rpps}` : ''}): ${plan.refused}`,
        ...(d.requestId ? { requestId: d.requestId } : {}),
      });
    }
  }
  return { issues, created };
}
