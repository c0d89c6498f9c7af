// Grants for a database written before tenants (src/services/access/backfill.ts): derived from the stored documents,
// they are the grants the submissions themselves write.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { backfillGrants } from '../../src/services/access/backfill.js';
import { call, fixture, startTestServer, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes]);
  for (const [kind, file] of [['ppp', 'ppp/ppp-12-medicines.json'], ['ctm', 'ctm/admission-divergences.json'], ['ppp', 'ppp/town-async-rcp.json'], ['bpm', 'bpm/self-medication-remote.json']]) {
    const r = await call(`${srv.url}/${kind}`, { body: fixture(file), headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(200);
  }
}, 60_000);
afterAll(async () => srv.close());

describe('backfill of grants', () => {
  it('derives from the stored documents the grants their submissions wrote', async () => {
    const file = readdirSync(srv.dataDir).find((f) => /\.(db|sqlite)$/.test(f)) as string;
    const db = new Database(path.join(srv.dataDir, file));
    const rows = (): { tenant: string; patient: string }[] => db.prepare('SELECT tenant, patient FROM access_patient ORDER BY tenant, patient').all() as never;
    const written = rows();
    expect(written.length).toBeGreaterThan(4);
    db.prepare('DELETE FROM access_patient').run();
    expect(rows()).toEqual([]);
    const summary = await backfillGrants(srv.store);
    expect(summary.documents).toBeGreaterThanOrEqual(4);
    expect(rows()).toEqual(written);
    // Idempotent.
    await backfillGrants(srv.store);
    expect(rows()).toEqual(written);
    db.close();
  });

  it('passerelle db backfill-grants does it from the command line', () => {
    const file = readdirSync(srv.dataDir).find((f) => /\.(db|sqlite)$/.test(f)) as string;
    const db = new Database(path.join(srv.dataDir, file));
    const count = (): number => (db.prepare('SELECT count(*) AS n FROM access_patient').get() as { n: number }).n;
    const before = count();
    db.prepare('DELETE FROM access_patient').run();
    const r = spawnSync(process.execPath, ['bin/passerelle.js', 'db', 'backfill-grants', '--data', srv.dataDir, '--json'], {
      encoding: 'utf8',
      env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', DATABASE_URL: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dialect: 'sqlite', documents: expect.any(Number) });
    expect(count()).toBe(before);
    db.close();
  });
});
