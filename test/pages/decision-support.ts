// Shared by the decision page's tests (HTTP, browser) and its benchmark: a real gateway (pages mounted) on a SQLite
// file or a PostgreSQL schema, a PPP submitted like POST /ppp does, and the MT's and PHO's decision links issued as the
// send step will (services/pathway/links.ts), with a form client that follows the page's steps.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { startServer } from '../../src/api/app.js';
import { configFrom } from '../../src/config.js';
import type { PppInput } from '../../src/domain/ppp.js';
import { mountPages } from '../../src/pages/mount.js';
import { issueLinks } from '../../src/services/pathway/links.js';
import { submitDocument } from '../../src/services/submission.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL } from '../support/pg.js';

export const MT_RPPS = '10101634078';
export const PHO_RPPS = '10101523388';

export interface DecisionEnv {
  url: string;
  fhir: string;
  store: ResourceStore;
  close(): Promise<void>;
}

export async function startDecisionEnv(dialect: 'sqlite' | 'postgresql'): Promise<DecisionEnv> {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-decide-'));
  const schema = `decide_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const cfg = configFrom({ port: 0, dataDir: dir, log: { level: 'silent' } });
  const store = dialect === 'sqlite' ? await openSqliteStore({ file: cfg.database }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
  const running = await startServer({ store, config: cfg, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes], pages: [mountPages] });
  return {
    url: running.url,
    fhir: `${running.url}/fhir`,
    store,
    async close() {
      await running.close();
      await store.close();
      if (dialect === 'postgresql') await dropPgSchema(schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The hospital PPP of the fixtures with no decision yet, and hostile text in what the page shows: markup in a
 * recommendation, a right-to-left override in a problem's rationale. `id` makes each PPP its own.
 */
export function hostilePpp(id: string): PppInput {
  const ppp = JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as PppInput & { recommendations: { decisions?: unknown[]; text: string }[]; problems: { detail: string }[] };
  ppp.id = id;
  for (const r of ppp.recommendations) r.decisions = [];
  ppp.recommendations[0]!.text = 'Arrêter l’oxybutynine <script>alert("r1")</script> & rééducation';
  ppp.problems[0]!.detail = 'Anticholinergique \u202Eenilémod\u202C chez un patient sous donépézil';
  return ppp;
}

/** Submits the PPP as POST /ppp does; answers its CarePlan id. */
export async function submitPpp(store: ResourceStore, ppp: PppInput, now = new Date()): Promise<string> {
  const bundle = await submitDocument(store, 'ppp', ppp, { now: now.toISOString(), actor: 'client:dpi-test', fhirBase: 'http://localhost/fhir' });
  const entry = bundle.entry?.find((e) => e.resource?.resourceType === 'CarePlan');
  const id = entry?.resource?.id;
  if (!id) throw new Error('no CarePlan in the submission answer');
  return id;
}

/** The MT's and the PHO's decision links (`/p/<token>` paths). */
export async function decisionLinks(env: DecisionEnv, carePlan: string, now = new Date()): Promise<{ MT: string; PHO: string }> {
  const links = await env.store.transaction((tx) =>
    issueLinks(tx, { carePlan, recipients: [{ role: 'MT', rpps: MT_RPPS }, { role: 'PHO', rpps: PHO_RPPS }], purpose: 'decision', now, ttlDays: 30, baseUrl: env.url, actor: 'client:dpi-test' }),
  );
  const pathOf = (role: string) => new URL(links.find((l) => l.role === role)!.url).pathname;
  return { MT: pathOf('MT'), PHO: pathOf('PHO') };
}

export interface PageReply {
  status: number;
  text: string;
  location?: string;
}

export async function getPage(env: DecisionEnv, pathname: string): Promise<PageReply> {
  const res = await fetch(`${env.url}${pathname}`, { redirect: 'manual' });
  return { status: res.status, text: await res.text(), ...(res.headers.get('location') ? { location: res.headers.get('location')! } : {}) };
}

/** POSTs a url-encoded form (pairs, so a field may repeat). */
export async function postForm(env: DecisionEnv, pathname: string, fields: readonly (readonly [string, string])[] | string): Promise<PageReply> {
  const body = typeof fields === 'string' ? fields : new URLSearchParams(fields.map(([k, v]) => [k, v])).toString();
  const res = await fetch(`${env.url}${pathname}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, text: await res.text(), ...(res.headers.get('location') ? { location: res.headers.get('location')! } : {}) };
}

/** The one-time form token of a page. */
export function formTokenOf(page: string): string {
  const m = /name="jeton" value="([^"]+)"/.exec(page);
  if (!m) throw new Error('no form token on the page');
  return m[1]!;
}

export type Choice = readonly [recommendation: string, decision: string, comment?: string];

export function choiceFields(choices: readonly Choice[]): [string, string][] {
  return choices.flatMap(([r, d, c]) => [[`decision:${r}`, d] as [string, string], [`commentaire:${r}`, c ?? ''] as [string, string]]);
}

/** One whole submission: GET the form, POST the summary, POST the confirmation. Answers the confirmation's reply. */
export async function submitDecisions(env: DecisionEnv, link: string, choices: readonly Choice[]): Promise<{ summary: PageReply; confirm: PageReply; fields: [string, string][] }> {
  const form = await getPage(env, link);
  if (form.status !== 200) throw new Error(`GET ${link}: ${form.status}`);
  const jeton = formTokenOf(form.text);
  const summary = await postForm(env, link, [['jeton', jeton], ...choiceFields(choices), ['etape', 'resume']]);
  if (summary.status !== 200) throw new Error(`summary: ${summary.status}`);
  const fields: [string, string][] = [['jeton', formTokenOf(summary.text)], ...choiceFields(choices), ['etape', 'confirmer']];
  const confirm = await postForm(env, link, fields);
  return { summary, confirm, fields };
}
