// `passerelle demo`: load the demo data (test/fixtures/{ctm,ppp,bpm}) into a running gateway through its
// domain endpoints, one line per document. CTMs go first so that PPPs can be linked to them afterwards.
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';

/** Posting order: CTMs before PPPs (a PPP may link a CTM), BPMs last. */
export const DEMO_KINDS = ['ctm', 'ppp', 'bpm'] as const;
export type DemoKind = (typeof DEMO_KINDS)[number];

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);

export interface DemoFixture {
  kind: DemoKind;
  /** `ctm/admission-divergences.json`, for display. */
  name: string;
  body: string;
}

/** The demo documents in posting order (golden `*.expected.json` files are outputs, not inputs). */
export function demoFixtures(root: URL = FIXTURES): DemoFixture[] {
  return DEMO_KINDS.flatMap((kind) =>
    readdirSync(new URL(`${kind}/`, root))
      .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
      .sort()
      .map((f) => ({ kind, name: `${kind}/${f}`, body: readFileSync(new URL(`${kind}/${f}`, root), 'utf8') })),
  );
}

interface DemoOptions {
  url: string;
  token?: string;
  timeout: string;
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

async function post(base: string, fixture: DemoFixture, opts: DemoOptions): Promise<{ ok: boolean; line: string }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/fhir+json, application/json' };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(`${base}/${fixture.kind}`, {
      method: 'POST',
      headers,
      body: fixture.body,
      signal: AbortSignal.timeout(Number(opts.timeout) * 1000),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    return { ok: false, line: `---  ${fixture.name}  request failed: ${cause}` };
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) {
    const count = resourceCount(body);
    return { ok: true, line: `${res.status}  ${fixture.name}  ${count === undefined ? 'no Bundle in the response' : `${count} resource${count === 1 ? '' : 's'}`}` };
  }
  return { ok: false, line: `${res.status}  ${fixture.name}  failed: ${outcomeText(body) ?? (res.statusText || 'no OperationOutcome in the response')}` };
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('load the demo documents (CTMs, then PPPs, then BPMs from test/fixtures) into a running gateway')
    .option('-u, --url <url>', 'base URL of the gateway', 'http://localhost:8080')
    .option('-t, --token <bearer>', 'bearer token, when the gateway requires authentication')
    .option('--timeout <seconds>', 'timeout of each request', '30')
    .addHelpText(
      'after',
      '\nPOSTs each document to <url>/ctm, <url>/ppp or <url>/bpm and prints one line per document:\n' +
        'HTTP status, fixture, and the number of resources in the transaction-response Bundle (or the error).\n' +
        'Exit code 1 when any document failed.',
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
      // One at a time, in order: a PPP may refer to a CTM posted just before it.
      for (const fixture of fixtures) {
        const result = await post(base, fixture, opts);
        if (!result.ok) failed++;
        process.stdout.write(`${result.line}\n`);
      }
      process.stdout.write(`${fixtures.length - failed}/${fixtures.length} documents loaded into ${base}\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
