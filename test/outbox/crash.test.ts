// Real processes: a gateway (`passerelle serve`) delivers 1,000 messages to a local HTTP receiver, is killed with
// SIGKILL in the middle, started again: every message is delivered, the receiver saw every key (exactly once after
// its dedupe), and the outbox says delivered for all. Then SIGTERM: the gateway stops cleanly with exit code 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { startReceiver, waitFor } from './receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-crash-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function gateway(config: string): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', config], {
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('outbox across a crash (real gateway processes, SQLite file)', () => {
  it('delivers 1,000 messages exactly once after dedupe despite kill -9 mid-delivery, then stops cleanly on SIGTERM', async () => {
    const receiver = await startReceiver();
    receiver.delayMs = 3;
    const data = join(dir, 'data');
    const config = join(dir, 'passerelle.yaml');
    writeFileSync(
      config,
      [
        'port: 0',
        `dataDir: ${data}`,
        'log: { level: warn }',
        'outbox:',
        '  leaseMs: 1500',
        '  pollMs: 20',
        '  destinations:',
        `    sink: { kind: http, url: "${receiver.url}", concurrency: 8, baseDelayMs: 50, maxDelayMs: 500 }`,
        '',
      ].join('\n'),
    );
    const store: ResourceStore = await openSqliteStore({ file: join(data, 'passerelle.sqlite') });
    try {
      for (let b = 0; b < 10; b++) {
        await store.transaction(async (tx) => {
          for (let i = b * 100; i < (b + 1) * 100; i++) {
            await tx.outbox.enqueue({ destination: 'sink', orderingKey: `Patient/${i % 50}`, idempotencyKey: `msg-${i}`, payload: { i } });
          }
        });
      }
      const delivered = async (): Promise<number> => (await store.outbox.list({ state: 'delivered', limit: 0, offset: 0 })).total;

      const first = gateway(config);
      await waitFor(() => receiver.accepted.length >= 250, 60_000, 'the first deliveries');
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe(null);
      const before = receiver.accepted.length;
      expect(before).toBeLessThan(1000);
      // Messages in flight when it died stay claimed until their lease expires, then the next process takes them.
      expect((await store.outbox.list({ state: 'inflight', limit: 0, offset: 0 })).total + (await delivered())).toBeGreaterThan(0);

      const second = gateway(config);
      await waitFor(async () => (await delivered()) === 1000, 90_000, 'every message delivered after the restart');
      expect(receiver.hits.size).toBe(1000);
      expect(new Set(receiver.accepted).size).toBe(1000);
      for (let i = 0; i < 1000; i++) expect(receiver.hits.get(`msg-${i}`), `msg-${i}`).toBeGreaterThanOrEqual(1);
      expect((await store.outbox.list({ state: 'dead', limit: 0, offset: 0 })).total).toBe(0);

      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      await store.close();
      await receiver.close();
    }
  }, 180_000);
});
