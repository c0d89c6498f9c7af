// A dispatcher process for bench/outbox.bench.ts: delivers the outbox of the given store to the sink until told
// to stop (SIGTERM), then exits 0. Env: OUTBOX_BENCH_DB (postgres URL or SQLite file), OUTBOX_BENCH_SCHEMA,
// OUTBOX_BENCH_SINK (URL).
import { Dispatcher } from '../src/outbox/dispatcher.js';
import { httpConnector } from '../src/outbox/http-connector.js';
import { openStore } from '../src/store/open.js';

const db = process.env.OUTBOX_BENCH_DB ?? '';
const store = await openStore(db.startsWith('postgres') ? { databaseUrl: db, file: '', ...(process.env.OUTBOX_BENCH_SCHEMA ? { schema: process.env.OUTBOX_BENCH_SCHEMA } : {}) } : { file: db });
const dispatcher = new Dispatcher({
  outbox: store.outbox,
  destinations: { sink: { connector: httpConnector({ url: process.env.OUTBOX_BENCH_SINK ?? '' }), concurrency: 8, retry: { baseMs: 50, maxMs: 500 } } },
  pollMs: 5,
  batch: 64,
  leaseMs: 30_000,
});
dispatcher.start();
process.send?.('ready');
process.once('SIGTERM', () => {
  void dispatcher
    .stop(5000)
    .then(() => store.close())
    .then(() => process.exit(0));
});
