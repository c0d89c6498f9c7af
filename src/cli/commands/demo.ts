// `passerelle demo`: load the demo data into a running gateway through its domain endpoints, one line per document,
// then start the pathway (issue 18): the fixtures (test/fixtures/{ctm,ppp,bpm}), then the shared test population of
// demo/pathway/ — the same fictitious patients (test INS) seen from the hospital (a PPP to send), the pharmacy (its
// BPM) and the GP (the decision link) — and each population PPP is sent to its MT and PHO: the links are printed (and
// mailed through the MSSanté sandbox), so the whole pathway can be shown: decisions through the page → DMP
// replacement → D45 → D90 (README, "The pathway in a meeting"). CTMs go first so that PPPs can be linked to them.
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';

/** Posting order: CTMs before PPPs (a PPP may link a CTM), BPMs last. */
export const DEMO_KINDS = ['ctm', 'ppp', 'bpm'] as const;
export type DemoKind = (typeof DEMO_KINDS)[number];

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);
const POPULATION = new URL('../../../demo/pathway/', import.meta.url);

export interface DemoFixture {
  kind: DemoKind;
  /** `ctm/admission-divergences.json`, `pathway/hopital-ppp-falcone.json`, for display. */
  name: string;
  body: string;
  /** A population PPP: sent to its MT and PHO once loaded. */
  send?: boolean;
}

/** The kind of a population file, from its name: `<side>-<kind>-<patient>.json`. */
function populationKind(file: string): DemoKind | undefined {
  return DEMO_KINDS.find((k) => file.includes(`-${k}-`));
}

/**
 * The demo documents in posting order (golden `*.expected.json` files are outputs, not inputs): per kind, the fixtures
 * then the population's documents.
 */
export function demoFixtures(root: URL = FIXTURES, population: URL | undefined = POPULATION): DemoFixture[] {
  const people = population
    ? readdirSync(population)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => ({ file: f, kind: populationKind(f) }))
        .filter((f): f is { file: string; kind: DemoKind } => f.kind !== undefined)
    : [];
  return DEMO_KINDS.flatMap((kind) => [
    ...readdirSync(new URL(`${kind}/`, root))
      .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
      .sort()
      .map((f) => ({ kind, name: `${kind}/${f}`, body: readFileSync(new URL(`${kind}/${f}`, root), 'utf8') })),
    ...people
      .filter((p) => p.kind === kind)
      .map((p) => ({ kind, name: `pathway/${p.file}`, body: readFileSync(new URL(p.file, population), 'utf8'), ...(kind === 'ppp' ? { send: true } : {}) })),
  ]);
}

interface DemoOptions {
  url: string;
  token?: string;
  timeout: string;
  /** `--no-send`: load only. */
  send: boolean;
}

/** Number of entries of a transaction-response Bundle, or undefined when the body is not one. */
function resourceCount(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { resourceType?: unknown; entry?: unknown };
  if (b.resourceType !== 'Bundle') return undefined;
  return Array.isArray(b.entry) ? b.entry.length : 0;
}

/** First issue of an OperationOutcome, as the server phrased it. */
function outcomeText(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const issues = (body as { issue?: unknown }).issue;
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  const first = issues[0] as { diagnostics?: unknown; details?: { text?: unknown }; expression?: unknown };
  const text = typeof first.details?.text === 'string' ? first.details.text : typeof first.diagnostics === 'string' ? first.diagnostics : undefined;
  const where = Array.isArray(first.expression) && typeof first.expression[0] === 'string' ? `${first.expression[0]}: ` : '';
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
  return text ? `${where}${text}${more}` : undefined;
}

/** A POST to the gateway: its status and parsed JSON body, or why the request failed. */
async function postJson(url: string, body: string | undefined, opts: DemoOptions): Promise<{ res: Response; body: unknown } | { failed: string }> {
  const headers: Record<string, string> = { Accept: 'application/fhir+json, application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(Number(opts.timeout) * 1000) });
  } catch (err) {
    return { failed: err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err) };
  }
  const text = await res.text();
  try {
    return { res, body: JSON.parse(text) as unknown };
  } catch {
    return { res, body: undefined };
  }
}

async function post(base: string, fixture: DemoFixture, opts: DemoOptions): Promise<{ ok: boolean; line: string; body?: unknown }> {
  const r = await postJson(`${base}/${fixture.kind}`, fixture.body, opts);
  if ('failed' in r) return { ok: false, line: `---  ${fixture.name}  request failed: ${r.failed}` };
  const { res, body } = r;
  if (res.ok) {
    const count = resourceCount(body);
    return { ok: true, body, line: `${res.status}  ${fixture.name}  ${count === undefined ? 'no Bundle in the response' : `${count} resource${count === 1 ? '' : 's'}`}` };
  }
  return { ok: false, line: `${res.status}  ${fixture.name}  failed: ${outcomeText(body) ?? (res.statusText || 'no OperationOutcome in the response')}` };
}

/** The CarePlan id of a PPP's transaction-response Bundle. */
function carePlanOf(body: unknown): string | undefined {
  const entries = (body as { entry?: { resource?: { resourceType?: string; id?: string } }[] } | undefined)?.entry;
  return Array.isArray(entries) ? entries.find((e) => e.resource?.resourceType === 'CarePlan')?.resource?.id : undefined;
}

interface SentLink {
  role: string;
  rpps: string;
  url: string;
  expires: string;
}

interface SendAnswer {
  links?: SentLink[];
  deliveries?: { role: string; rpps: string; state: string; address?: string; reason?: string }[];
}

/** POST /ppp/{id}/send; the lines to print (links, deliveries) or the failure. */
async function sendPpp(base: string, fixture: DemoFixture, carePlan: string, opts: DemoOptions): Promise<{ ok: boolean; lines: string[] }> {
  const r = await postJson(`${base}/ppp/${encodeURIComponent(carePlan)}/send`, undefined, opts);
  if ('failed' in r) return { ok: false, lines: [`---  send ${fixture.name}  request failed: ${r.failed}`] };
  const { res, body } = r;
  if (!res.ok) return { ok: false, lines: [`${res.status}  send ${fixture.name}  failed: ${outcomeText(body) ?? res.statusText}`] };
  const answer = body as SendAnswer;
  const lines = [`${res.status}  send ${fixture.name}  CarePlan/${carePlan}`];
  for (const l of answer.links ?? []) {
    const d = (answer.deliveries ?? []).find((x) => x.role === l.role && x.rpps === l.rpps);
    const mail = d ? (d.state === 'queued' ? `mailed to ${d.address ?? '?'}` : `not mailed (${d.state}${d.reason ? `: ${d.reason}` : ''})`) : 'not mailed';
    lines.push(`     ${l.role.padEnd(3)} ${l.rpps}  ${l.url}  (expires ${l.expires}; ${mail})`);
  }
  return { ok: true, lines };
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('load the demo documents (test/fixtures, then the pathway population of demo/pathway) into a running gateway and send the population PPPs')
    .option('-u, --url <url>', 'base URL of the gateway', 'http://localhost:8080')
    .option('-t, --token <bearer>', 'bearer token, when the gateway requires authentication')
    .option('--timeout <seconds>', 'timeout of each request', '30')
    .option('--no-send', 'load the documents only: do not send the population PPPs to their MT and PHO')
    .addHelpText(
      'after',
      '\nPOSTs each document to <url>/ctm, <url>/ppp or <url>/bpm and prints one line per document:\n' +
        'HTTP status, fixture, and the number of resources in the transaction-response Bundle (or the error).\n' +
        'Then each PPP of the pathway population (demo/pathway/hopital-ppp-*.json) is sent (POST /ppp/<id>/send): the MT\'s\n' +
        'and the PHO\'s secure links are printed, and mailed through MSSanté when the gateway has it (npm start: the sandbox).\n' +
        'Exit code 1 when any document or send failed.',
    )
    .action(async (opts: DemoOptions) => {
      const seconds = Number(opts.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        process.stderr.write(`passerelle demo: --timeout must be a positive number of seconds, got "${opts.timeout}"\n`);
        process.exitCode = 2;
        return;
      }
      let base: string;
      try {
        const url = new URL(opts.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
        base = url.href.replace(/\/+$/, '');
      } catch {
        process.stderr.write(`passerelle demo: --url must be an http(s) URL, got "${opts.url}"\n`);
        process.exitCode = 2;
        return;
      }
      let fixtures: DemoFixture[];
      try {
        fixtures = demoFixtures();
      } catch (err) {
        process.stderr.write(`passerelle demo: cannot read the demo fixtures: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      let failed = 0;
      const toSend: { fixture: DemoFixture; carePlan: string }[] = [];
      // One at a time, in order: a PPP may refer to a CTM posted just before it.
      for (const fixture of fixtures) {
        const result = await post(base, fixture, opts);
        if (!result.ok) failed++;
        const carePlan = fixture.send ? carePlanOf(result.body) : undefined;
        if (carePlan) toSend.push({ fixture, carePlan });
        process.stdout.write(`${result.line}\n`);
      }
      process.stdout.write(`${fixtures.length - failed}/${fixtures.length} documents loaded into ${base}\n`);
      if (opts.send && toSend.length > 0) {
        process.stdout.write('\nThe pathway: each population PPP sent to its MT and PHO (open a link to decide):\n');
        for (const { fixture, carePlan } of toSend) {
          const sent = await sendPpp(base, fixture, carePlan, opts);
          if (!sent.ok) failed++;
          process.stdout.write(`${sent.lines.join('\n')}\n`);
        }
        process.stdout.write(
          '\nNext: open the links (or read them in the sandbox mailboxes: passerelle mssante read <address>), decide with\n' +
            'Retenu / Non retenu / Retenu avec modification; the document is regenerated and replaces the DMP copy; jump to the\n' +
            'follow-up with passerelle pathway due --run --at <send date + 45 days>, then + 90 days; the case manager works on\n' +
            `${base}/pathway (README, "The pathway in a meeting").\n`,
        );
      }
      if (failed > 0) process.exitCode = 1;
    });
}
