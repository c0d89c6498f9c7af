// `passerelle outbox list|show|redrive|pause|resume`: the outbox of the configured store, for operators (the same
// as HTTP under /admin/outbox). Works beside running gateways: every change is one short transaction.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { messageDetail, unknownDestinationProblem } from '../../api/ops-routes.js';
import type { Config } from '../../config.js';
import { configOf } from '../config.js';
import { OperationOutcomeError } from '../../fhir/outcome.js';
import { OUTBOX_STATES, type OutboxState } from '../../store/outbox-repository.js';
import type { ResourceStore } from '../../store/repository.js';
import { openStore, storeTarget } from '../../store/open.js';

interface StoreOptions {
  data?: string;
  config?: string;
}

function fail(message: string, code = 2): void {
  process.stderr.write(`passerelle outbox: ${message}\n`);
  process.exitCode = code;
}

async function withStore(opts: StoreOptions, fn: (store: ResourceStore, config: Config) => Promise<void>): Promise<void> {
  const config = configOf('outbox', opts);
  if (!config) return;
  const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
  if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
  const store = await openStore({ databaseUrl: config.databaseUrl, file: config.database });
  try {
    await fn(store, config);
  } catch (err) {
    fail(err instanceof OperationOutcomeError ? (err.outcome.issue[0]?.details?.text ?? err.message) : (err as Error).message, 1);
  } finally {
    await store.close();
  }
}

function state(value: string): OutboxState {
  if (!(OUTBOX_STATES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${OUTBOX_STATES.join(', ')}`);
  return value as OutboxState;
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 1000) throw new InvalidArgumentError('expected an integer from 0 to 1000');
  return n;
}

const storeOptions = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)');

export function register(program: Command): void {
  const outbox = program.command('outbox').description('inspect and operate the outbox of messages to deliver');

  storeOptions(
    outbox
      .command('list')
      .description('list messages, oldest first (no payloads)')
      .option('-s, --state <state>', `only this state: ${OUTBOX_STATES.join(' | ')}`, state)
      .option('--destination <name>', 'only this destination')
      .option('-n, --count <n>', 'at most this many', count, 50)
      .option('--offset <n>', 'skip this many', count, 0)
      .option('--json', 'one JSON object per line'),
  ).action((opts: StoreOptions & { state?: OutboxState; destination?: string; count: number; offset: number; json?: boolean }) =>
    withStore(opts, async (store) => {
      const page = await store.outbox.list({
        ...(opts.state ? { state: opts.state } : {}),
        ...(opts.destination ? { destination: opts.destination } : {}),
        limit: opts.count,
        offset: opts.offset,
      });
      for (const { payload: _p, ...m } of page.items) {
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(m)}\n`
            : `${m.id}  ${m.state.padEnd(9)} ${m.destination.padEnd(16)} attempts ${String(m.attempts).padStart(2)}${m.interrupted ? ` (${m.interrupted} unfinished)` : ''}  next ${m.nextAttemptAt}  key ${m.idempotencyKey}${m.lastError ? `  last error: ${m.lastError}` : ''}\n`,
        );
      }
      if (!opts.json) process.stderr.write(`${page.items.length} of ${page.total} message(s)\n`);
    }),
  );

  storeOptions(outbox.command('show <id>').description('one message with its payload and every attempt')).action((id: string, opts: StoreOptions) =>
    withStore(opts, async (store) => {
      process.stdout.write(`${JSON.stringify(await messageDetail(store, id), null, 2)}\n`);
    }),
  );

  storeOptions(
    outbox
      .command('redrive [id]')
      .description('make a dead message pending again (its attempts reset), or every dead one with --all-dead')
      .option('--all-dead', 'every dead message')
      .option('--destination <name>', 'with --all-dead: only this destination'),
  ).action((id: string | undefined, opts: StoreOptions & { allDead?: boolean; destination?: string }) =>
    withStore(opts, async (store) => {
      if (opts.allDead) {
        const n = await store.outbox.redriveDead(opts.destination);
        process.stdout.write(`${n} dead message(s) redriven\n`);
        return;
      }
      if (!id) return fail('give a message id, or --all-dead');
      if (!(await store.outbox.get(id))) return fail(`message ${id} not found`, 1);
      if (!(await store.outbox.redrive(id))) return fail(`message ${id} is not dead: only a dead message can be redriven`, 1);
      process.stdout.write(`${id} redriven\n`);
    }),
  );

  for (const action of ['pause', 'resume'] as const) {
    storeOptions(
      outbox
        .command(`${action} <destination>`)
        .description(action === 'pause' ? 'stop delivering to a destination (messages keep queueing)' : 'deliver to a paused destination again'),
    ).action((destination: string, opts: StoreOptions) =>
      withStore(opts, async (store, config) => {
        // `serve` adds the sandbox DMP peer as destination `dmp` when the configuration enables it.
        const configured = Object.keys(config.outbox.destinations);
        if (config.sandbox.dmp.enabled && !configured.includes('dmp')) configured.push('dmp');
        const problem = await unknownDestinationProblem(store, configured, destination);
        if (problem) return fail(`${problem}\n(nothing was ${action === 'pause' ? 'paused' : 'resumed'})`, 1);
        await store.outbox.setPaused(destination, action === 'pause');
        process.stdout.write(`${destination} ${action === 'pause' ? 'paused' : 'resumed'}\n`);
      }),
    );
  }
}
