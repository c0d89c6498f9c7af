// A local HTTP receiver for outbox tests: counts deliveries by Idempotency-Key (deduping as a real receiver would),
// can refuse (an outage), reject some keys for good (a poison message) and answer slowly.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Receiver {
  url: string;
  /** Requests received per idempotency key (before dedupe). */
  hits: Map<string, number>;
  /** Keys in the order they were first accepted. */
  accepted: string[];
  /** Answer 503 to everything while true. */
  down: boolean;
  /** Keys answered 400 (a permanent refusal). */
  poison: Set<string>;
  /** Keys always answered 503 (a failure the dispatcher retries until the cap). */
  failing: Set<string>;
  delayMs: number;
  requests: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    hits: new Map(),
    accepted: [],
    down: false,
    poison: new Set(),
    failing: new Set(),
    delayMs: 0,
    requests: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      const key = String(req.headers['idempotency-key'] ?? '');
      const answer = (): void => {
        if (r.down) {
          res.writeHead(503).end('down for maintenance');
          return;
        }
        if (r.failing.has(key)) {
          res.writeHead(503).end('cannot process this one');
          return;
        }
        if (r.poison.has(key)) {
          res.writeHead(400).end('refused: bad payload');
          return;
        }
        r.hits.set(key, (r.hits.get(key) ?? 0) + 1);
        if (r.hits.get(key) === 1) r.accepted.push(key);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
      if (r.delayMs > 0) setTimeout(answer, r.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/inbox`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
