// Secure links of the pathway (issue 18 point 3): issuing the MT's and PHO's links of a PPP (the token leaves once, in
// the URL; only its hash is kept) and resolving a presented token. Every issue and every use — accepted or refused —
// is an audit row; a refusal has one public answer whatever its reason, the reason (verdict) going to the audit only.
import {
  hashPrefix,
  linkExpiry,
  linkTokenHash,
  linkVerdict,
  newLinkToken,
  type LinkPurpose,
  type LinkRecord,
  type LinkRole,
  type LinkVerdict,
} from '../../domain/pathway/link-token.js';
import type { ResourceStore, StoreTransaction } from '../../store/repository.js';

export interface LinkRecipient {
  role: LinkRole;
  rpps: string;
}

export interface IssueLinksInput {
  /** The CarePlan id of the PPP. */
  carePlan: string;
  recipients: readonly LinkRecipient[];
  purpose: LinkPurpose;
  now: Date;
  /** Lifetime in days (config `pathway.linkTtlDays`). */
  ttlDays: number;
  /** Public base URL of the gateway, without a trailing slash (`config.baseUrl`). */
  baseUrl: string;
  /** Who asked for the links (audit); `system` when not given. */
  actor?: string;
}

export interface IssuedLink {
  role: LinkRole;
  rpps: string;
  /** `${baseUrl}/p/<token>`: the only place the token ever appears. */
  url: string;
  expires: string;
}

/** The path under which a link's page is served. */
export const LINK_PATH = '/p/';

/**
 * New links for the recipients of a PPP, in the caller's transaction: each replaces (revokes) the recipient's
 * previous live link for the same purpose. The tokens are returned once and never stored in clear.
 */
export async function issueLinks(tx: StoreTransaction, input: IssueLinksInput): Promise<IssuedLink[]> {
  const seen = new Set<string>();
  for (const [i, r] of input.recipients.entries()) {
    if (r.role !== 'MT' && r.role !== 'PHO') throw new Error(`recipients[${i}].role: expected MT or PHO, got "${String(r.role)}"`);
    if (!/^\d{11}$/.test(r.rpps)) throw new Error(`recipients[${i}].rpps: expected an 11-digit RPPS number`);
    if (seen.has(r.rpps)) throw new Error(`recipients[${i}].rpps: ${r.rpps} is named twice`);
    seen.add(r.rpps);
  }
  const created = input.now.toISOString();
  const expires = linkExpiry(input.now, input.ttlDays).toISOString();
  const base = input.baseUrl.replace(/\/+$/, '');
  const out: IssuedLink[] = [];
  const details: string[] = [];
  for (const r of input.recipients) {
    const token = newLinkToken();
    const tokenHash = linkTokenHash(token);
    const { replaced } = await tx.links.issue({ tokenHash, carePlan: input.carePlan, role: r.role, rpps: r.rpps, purpose: input.purpose, created, expires });
    out.push({ role: r.role, rpps: r.rpps, url: `${base}${LINK_PATH}${token}`, expires });
    details.push(`${r.role} rpps=${r.rpps} hash=${hashPrefix(tokenHash)}${replaced > 0 ? ` replaced=${replaced}` : ''}`);
  }
  if (out.length > 0) {
    await tx.audit({
      action: 'pathway.link-issue',
      actor: input.actor ?? 'system',
      entities: [`CarePlan/${input.carePlan}`],
      outcome: 'success',
      detail: `purpose=${input.purpose} expires=${expires}; ${details.join('; ')}`,
    });
  }
  return out;
}

export interface ResolveContext {
  now: Date;
  /** The PPP the request is about, when the route names one: a link of another PPP is refused. */
  carePlan?: string;
  /** Client address; taken from the request context when not given. */
  ip?: string;
  /** A link of another purpose is refused as unknown (a prescription link opens no decision page, and back). */
  purpose?: LinkPurpose;
}

/** One public answer for every refusal: the caller shows the same page whatever the reason. */
export type ResolvedLink = { ok: true; link: LinkRecord } | { ok: false };

/**
 * Checks a presented token, records the use (last use on the link, an audit row with the verdict, the hash prefix and
 * the client address — never the token) and answers. Refusals are audited as failures and all look alike to the caller.
 */
export async function resolveLink(store: ResourceStore, token: string, context: ResolveContext): Promise<ResolvedLink> {
  // Only the start of an overlong token is hashed (for the audit's hash prefix): it cannot be one of ours anyway.
  const presented = token.length > 256 ? token.slice(0, 256) : token;
  const tokenHash = linkTokenHash(presented);
  return store.transaction(async (tx) => {
    const row = await tx.links.find(tokenHash);
    let verdict: LinkVerdict = linkVerdict(token, row, { now: context.now, ...(context.carePlan !== undefined ? { carePlan: context.carePlan } : {}) });
    if (verdict === 'valid' && context.purpose !== undefined && row && row.purpose !== context.purpose) verdict = 'unknown';
    const entities = new Set<string>();
    if (row) entities.add(`CarePlan/${row.carePlan}`);
    if (context.carePlan !== undefined) entities.add(`CarePlan/${context.carePlan}`);
    const at = context.now.toISOString();
    if (verdict === 'valid' && row) {
      await tx.links.touch(row.tokenHash, at);
      // The professional used the tool (docs/reports.md "Active professionals").
      await tx.pathway.linkUsed(row.carePlan, row.role, row.rpps, at);
    }
    await tx.audit({
      action: 'pathway.link-use',
      actor: row ? `link:${row.role}` : 'anonymous',
      ...(row ? { person: `rpps:${row.rpps}` } : {}),
      ...(context.ip !== undefined ? { source: context.ip } : {}),
      entities: [...entities],
      outcome: verdict === 'valid' ? 'success' : 'failure',
      detail: `verdict=${verdict} hash=${hashPrefix(tokenHash)}${row ? ` purpose=${row.purpose}` : ''}`,
    });
    return verdict === 'valid' && row ? { ok: true as const, link: { ...row, lastUsed: at } } : { ok: false as const };
  });
}
