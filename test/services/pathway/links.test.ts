// Secure links of the pathway (services/pathway/links.ts), on a real SQLite file and on PostgreSQL: a link issued for
// a PPP opens for its holder; an expired, revoked, replaced, other-PPP or forged token gets the same `{ ok: false }`;
// every issue and use is an audit row with its verdict and the client address; the token itself is stored nowhere.
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../../src/config.js';
import { linkTokenHash, newLinkToken } from '../../../src/domain/pathway/link-token.js';
import { withRequestContext } from '../../../src/observability/request-context.js';
import { issueLinks, resolveLink, type IssuedLink } from '../../../src/services/pathway/links.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { AuditRecord, ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';

const NOW = new Date('2026-12-06T10:00:00.000Z');
const DAY = 86_400_000;
const MT = { role: 'MT' as const, rpps: '10101634078' };
const PHO = { role: 'PHO' as const, rpps: '10101523388' };
const BASE = 'https://passerelle.example.fr/';
const PG_SCHEMA = `links_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

const tokenOf = (l: IssuedLink): string => l.url.slice(l.url.lastIndexOf('/') + 1);

function linksSuite(dialect: 'sqlite' | 'postgresql'): void {
  let dir: string;
  let store: ResourceStore;
  const clear: string[] = [];

  const issue = (carePlan: string, at = NOW, recipients = [MT, PHO]): Promise<IssuedLink[]> =>
    store.transaction((tx) => issueLinks(tx, { carePlan, recipients, purpose: 'decision', now: at, ttlDays: configFrom({}).pathway.linkTtlDays, baseUrl: BASE, actor: 'client:dpi' })).then((links) => {
      clear.push(...links.map(tokenOf));
      return links;
    });
  const uses = async (carePlan: string): Promise<AuditRecord[]> =>
    (await store.auditLog({ entity: `CarePlan/${carePlan}`, limit: 100 })).filter((a) => a.action === 'pathway.link-use').sort((a, b) => a.id - b.id);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-links-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
  });
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') {
      await dropPgSchema(PG_SCHEMA);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues one link per professional (30 days by default, token only in the URL) and opens it for its PPP', async () => {
    const links = await issue('ppp-a');
    expect(links.map((l) => [l.role, l.rpps, l.expires])).toEqual([
      ['MT', MT.rpps, '2027-01-05T10:00:00.000Z'],
      ['PHO', PHO.rpps, '2027-01-05T10:00:00.000Z'],
    ]);
    for (const l of links) expect(l.url).toMatch(/^https:\/\/passerelle\.example\.fr\/p\/[A-Za-z0-9_-]{43}$/);
    expect(tokenOf(links[0]!)).not.toBe(tokenOf(links[1]!));

    const at = new Date(NOW.getTime() + 3 * DAY);
    const got = await withRequestContext({ requestId: 'r-1', source: '192.0.2.10' }, () => resolveLink(store, tokenOf(links[1]!), { now: at, carePlan: 'ppp-a' }));
    expect(got).toEqual({ ok: true, link: expect.objectContaining({ carePlan: 'ppp-a', role: 'PHO', rpps: PHO.rpps, purpose: 'decision', lastUsed: at.toISOString() }) });
    expect(await store.links.find(linkTokenHash(tokenOf(links[1]!)))).toMatchObject({ lastUsed: at.toISOString() });

    const [use] = await uses('ppp-a');
    expect(use).toMatchObject({ actor: 'link:PHO', person: `rpps:${PHO.rpps}`, source: '192.0.2.10', requestId: 'r-1', outcome: 'success', entities: ['CarePlan/ppp-a'] });
    expect(use!.detail).toMatch(/^verdict=valid hash=[0-9a-f]{12} purpose=decision$/);
    const issued = (await store.auditLog({ entity: 'CarePlan/ppp-a', limit: 10 })).find((a) => a.action === 'pathway.link-issue');
    expect(issued).toMatchObject({ actor: 'client:dpi', outcome: 'success' });
    expect(issued!.detail).toContain(`MT rpps=${MT.rpps}`);
  });

  it('answers the same { ok: false } to an expired, revoked, replaced, other-PPP or forged token, each audited with its verdict and address', async () => {
    const [mt, pho] = await issue('ppp-b');
    const [other] = await issue('ppp-c', NOW, [MT]);
    await store.links.revoke(linkTokenHash(tokenOf(pho!)), 'withdrawn', NOW.toISOString());
    const [mtAgain] = await issue('ppp-b', new Date(NOW.getTime() + DAY), [MT]);
    const soon = new Date(NOW.getTime() + 2 * DAY);

    const cases: [string, string, Date, string][] = [
      ['expired', tokenOf(mtAgain!), new Date(Date.parse(mtAgain!.expires)), '198.51.100.1'],
      ['revoked', tokenOf(pho!), soon, '198.51.100.2'],
      ['revoked', tokenOf(mt!), soon, '198.51.100.3'], // replaced by the second send
      ['wrong-ppp', tokenOf(other!), soon, '198.51.100.4'],
      ['unknown', newLinkToken(), soon, '198.51.100.5'],
      ['unknown', 'forged', soon, '198.51.100.6'],
    ];
    for (const [, token, now, ip] of cases) expect(await resolveLink(store, token, { now, carePlan: 'ppp-b', ip })).toEqual({ ok: false });
    // The replacing link still opens before its expiry.
    expect(await resolveLink(store, tokenOf(mtAgain!), { now: soon, carePlan: 'ppp-b', ip: '198.51.100.7' })).toMatchObject({ ok: true });

    const rows = await uses('ppp-b');
    expect(rows.map((r) => [r.detail!.split(' ')[0], r.source, r.outcome])).toEqual([
      ...cases.map(([verdict, , , ip]) => [`verdict=${verdict}`, ip, 'failure']),
      ['verdict=valid', '198.51.100.7', 'success'],
    ]);
    expect(rows.find((r) => r.detail!.startsWith('verdict=wrong-ppp'))?.entities.sort()).toEqual(['CarePlan/ppp-b', 'CarePlan/ppp-c']);
    expect(rows.find((r) => r.source === '198.51.100.5')).toMatchObject({ actor: 'anonymous', entities: ['CarePlan/ppp-b'] });
    expect((await store.links.find(linkTokenHash(tokenOf(mt!))))?.revokedReason).toBe('replaced');
    // A link refused is not marked used.
    expect(await store.links.find(linkTokenHash(tokenOf(pho!)))).not.toHaveProperty('lastUsed');
  });

  it('refuses a bad recipient list before writing anything', async () => {
    await expect(issue('ppp-d', NOW, [MT, { ...PHO, rpps: MT.rpps }])).rejects.toThrow(/named twice/);
    await expect(issue('ppp-d', NOW, [{ role: 'MT', rpps: '123' }])).rejects.toThrow(/11-digit RPPS/);
    expect(await store.links.live('ppp-d', NOW.toISOString())).toEqual([]);
  });

  it('never stores a token in clear, nor writes it in the audit trail', async () => {
    expect(clear.length).toBeGreaterThan(4);
    const audit = JSON.stringify(await store.auditLog({ limit: 1000 }));
    for (const t of clear) expect(audit).not.toContain(t);
    if (dialect === 'sqlite') {
      await store.close();
      const bytes = readdirSync(dir)
        .filter((f) => f.startsWith('db.sqlite'))
        .map((f) => readFileSync(path.join(dir, f)));
      expect(bytes.length).toBeGreaterThan(0);
      for (const t of clear) {
        for (const b of bytes) expect(b.includes(Buffer.from(t, 'utf8'))).toBe(false);
      }
      // The hashes are there: the search above would have found a stored token.
      expect(bytes.some((b) => b.includes(Buffer.from(linkTokenHash(clear[0]!), 'utf8')))).toBe(true);
    }
  });
}

describe('on SQLite', () => linksSuite('sqlite'));
const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the pathway links on PostgreSQL')) {
  describe('on PostgreSQL', () => linksSuite('postgresql'));
}
