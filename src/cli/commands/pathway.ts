// `passerelle pathway due [--run] [--at <instant>]`: the pathway's due work (docs/pathway.md "The scheduler") — list the
// open items (D45/D90 windows, decisions' deadline, document regeneration), or run those due at an instant: the
// operators' catch-up, and the demo's way to jump to D45 or D90. Runs beside gateways: each item is claimed once.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { pino } from 'pino';
import { startPathwayScheduler } from '../../services/pathway/scheduler.js';
import { installSubscriptions } from '../../services/subscriptions.js';
import { openStore, storeTarget } from '../../store/open.js';
import { configOf } from '../config.js';

interface DueOptions {
  data?: string;
  config?: string;
  run?: boolean;
  at?: Date;
  finess?: string;
  json?: boolean;
  url?: string;
  token?: string;
}

function gatewayUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected the http(s) URL of a running gateway');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected the http(s) URL of a running gateway');
  return url.href.replace(/\/+$/, '');
}

/** --run --url: the running gateway runs its due work (POST /admin/pathway/run-due), with its own mail settings. */
async function runAtGateway(opts: DueOptions): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${opts.url}/admin/pathway/run-due`, { method: 'POST', headers, body: JSON.stringify(opts.at ? { at: opts.at.toISOString() } : {}), signal: AbortSignal.timeout(300_000) });
  const text = await res.text();
  let body: { at?: string; ran?: number; failed?: number; issue?: { details?: { text?: string }; diagnostics?: string }[] } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    const why = body.issue?.[0]?.details?.text ?? body.issue?.[0]?.diagnostics ?? text.slice(0, 200);
    process.stderr.write(`passerelle pathway: ${opts.url} answered ${res.status}: ${why}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(opts.json ? `${JSON.stringify(body)}\n` : `ran ${body.ran}, failed ${body.failed} (due at ${body.at}, at ${opts.url})\n`);
  if ((body.failed ?? 0) > 0) process.exitCode = 1;
}

function instant(value: string): Date {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value)) throw new InvalidArgumentError('expected an ISO 8601 instant (2026-03-01T09:00:00Z) or a date (2026-03-01)');
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('not a valid date');
  return d;
}

function finess(value: string): string {
  if (!/^(\d{9}|2[AB]\d{7})$/.test(value)) throw new InvalidArgumentError('expected a 9-character FINESS number');
  return value;
}

export function register(program: Command): void {
  const pathway = program.command('pathway').description('the PPP pathway: due work of the scheduler (D45/D90 follow-up, decisions deadline, documents)');
  pathway
    .command('due')
    .description('list the open due items (oldest first), or run those due with --run')
    .option('--run', 'claim and run the items due at --at (default now), like the scheduler of a running gateway')
    .option('--at <instant>', 'the instant to list or run at (ISO 8601; a date means its midnight UTC): later jumps ahead, e.g. to D45', instant)
    .option('--finess <FINESS>', 'list only this establishment’s items', finess)
    .option('--json', 'one JSON object per line')
    .option('-u, --url <url>', 'with --run: ask this running gateway to run its due work (POST /admin/pathway/run-due; its mail settings, e.g. npm start\'s sandbox)', gatewayUrl)
    .option('-t, --token <bearer>', 'with --url: bearer token of a client with scope admin, when the gateway requires authentication')
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)')
    .addHelpText(
      'after',
      '\nWithout --run: lists the items not done nor cancelled (due at or before --at when given).\n' +
        'With --run: runs the items due at --at, each once even beside running gateways, and prints how many ran and failed\n' +
        '(a failed item is kept and retried later with a backoff). Exit code 1 when an item failed.\n\n' +
        'With --run --url: the running gateway runs them itself, with its own configuration (its MSSanté mailbox mails the\n' +
        'prescription requests); a future --at is refused by a gateway with authentication on (development and demos only).\n\n' +
        'Examples:\n  passerelle pathway due\n  passerelle pathway due --run\n  passerelle pathway due --run --at 2026-03-01T09:00:00Z\n' +
        '  passerelle pathway due --run --url http://localhost:8080 --at 2027-01-20T09:00:00Z',
    )
    .action(async (opts: DueOptions) => {
      if (opts.url) {
        if (!opts.run) {
          process.stderr.write('passerelle pathway: --url goes with --run (listing reads the database: --data or DATABASE_URL)\n');
          process.exitCode = 2;
          return;
        }
        await runAtGateway(opts).catch((err: unknown) => {
          process.stderr.write(`passerelle pathway: ${opts.url}: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}\n`);
          process.exitCode = 1;
        });
        return;
      }
      const config = configOf('pathway', opts);
      if (!config) return;
      const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
      if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
      const store = await openStore({ databaseUrl: config.databaseUrl, file: config.database });
      // The writes of the items run here notify the DPIs' Subscriptions like a gateway's.
      const uninstall = installSubscriptions(store, config.outbox.subscriptions);
      try {
        if (opts.run) {
          const logger = pino({ level: config.log.level }, pino.destination(2));
          const scheduler = startPathwayScheduler({ store, config, logger, poll: false, workerId: `cli:${process.pid}` });
          const at = opts.at ?? new Date();
          const r = await scheduler.runDue(at);
          await scheduler.stop();
          process.stdout.write(opts.json ? `${JSON.stringify({ at: at.toISOString(), ...r })}\n` : `ran ${r.ran}, failed ${r.failed} (due at ${at.toISOString()})\n`);
          if (r.failed > 0) process.exitCode = 1;
          return;
        }
        const items = await store.pathway.openDue({ ...(opts.finess ? { finess: opts.finess } : {}), ...(opts.at ? { before: opts.at.toISOString() } : {}), limit: 10_000 });
        for (const d of items) {
          process.stdout.write(
            opts.json
              ? `${JSON.stringify(d)}\n`
              : `${d.dueAt}  ${d.kind.padEnd(17)} CarePlan/${d.carePlan}  ${d.state}${d.attempts ? `  attempts ${d.attempts}` : ''}${d.lastError ? `  last error: ${d.lastError}` : ''}\n`,
          );
        }
        if (!opts.json && items.length === 0) process.stdout.write('no open due item\n');
      } catch (err) {
        process.stderr.write(`passerelle pathway: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        uninstall();
        await store.close();
      }
    });
}
