// `passerelle identity import --finess` as an operator runs it, on a real SQLite file and on PostgreSQL (DATABASE_URL):
// the anomalies of an imported feed whose sender system holds no FINESS arc reach the conflict board of the
// establishment named by --finess, and no other's; without --finess they stay on no board (as before); a bad --finess
// is refused before anything is written. SQLite takes the bulk path (batch rows), PostgreSQL the one-by-one path.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PatientIdentity } from '../../src/domain/identity.js';
import { conflictBoard } from '../../src/services/conflict-board.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { runCli } from '../support/cli-run.js';
import { available } from '../support/shared.js';
import { toFhirPatient } from '../support/identity-generator.js';

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-import-finess-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OWN = '760000018';
const OTHER = '690000880';
/** A sender whose identifier system holds no FINESS arc: only --finess can put its anomalies on a board. */
const SYSTEM = 'urn:oid:1.2.250.1.999.3.7';

const run = runCli;

/** A Patient of SYSTEM; `qualWithoutIns`: declared QUAL on the wire without an INS (one QUAL_WITHOUT_INS anomaly). */
function patient(localId: string, family: string, qualWithoutIns: boolean): Patient {
  const identity: PatientIdentity = {
    sourceId: { system: SYSTEM, value: localId },
    status: 'VALI',
    birthName: family,
    firstBirthGivenName: 'CAMILLE',
    birthGivenNames: ['CAMILLE'],
    birthDate: '1950-03-14',
    sex: 'F',
    birthPlaceInsee: '76540',
  };
  const p = toFhirPatient(identity);
  if (qualWithoutIns) {
    const status = p.extension?.find((e) => e.url.endsWith('fr-core-identity-reliability'))?.extension?.find((e) => e.url === 'identityStatus');
    status!.valueCoding = { ...status!.valueCoding, code: 'QUAL', display: 'Identité qualifiée' };
  }
  return p;
}

function ndjson(name: string, ps: Patient[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${ps.map((p) => JSON.stringify(p)).join('\n')}\n`);
  return file;
}

interface Target {
  /** Environment and arguments that select the store for the CLI. */
  env: Record<string, string>;
  args: string[];
  open(): Promise<ResourceStore>;
  /** Whether the CLI left the database untouched (no file, or no registry rows). */
  untouched(): Promise<boolean>;
}

function finessTests(dialect: string, target: () => Target): void {
  describe(`passerelle identity import --finess (${dialect})`, () => {
    let t: Target;
    const withFiness = ndjson(`${dialect}-own.ndjson`, [patient('A1', 'MARTIN', true), patient('A2', 'DURAND', false), patient('A3', 'LEFEVRE', true)]);
    const withoutFiness = ndjson(`${dialect}-none.ndjson`, [patient('B1', 'MOREAU', true)]);
    beforeAll(() => {
      t = target();
    });

    it('a bad --finess is refused with a message naming the option, before anything is written', async () => {
      for (const bad of ['12345', '7600000181', '76000001X', '']) {
        const r = run(t.env, 'identity', 'import', withFiness, ...t.args, '--finess', bad);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('--finess');
        expect(r.stderr).toMatch(/FINESS number of 9 characters/);
        expect(r.stdout).toBe('');
      }
      expect(await t.untouched()).toBe(true);
    });

    it('with --finess: every anomaly carries it and is on that establishment’s board, not another’s', async () => {
      const r = run(t.env, 'identity', 'import', withFiness, ...t.args, '--finess', OWN);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^\s+QUAL_WITHOUT_INS\s+2$/m);
      expect(r.stdout).toContain(`anomalies recorded for establishment ${OWN}`);
      const store = await t.open();
      try {
        const stored = await store.identityAnomalies.list();
        expect(stored.map((a) => [a.sourceId, a.code, a.finess]).sort()).toEqual([
          ['A1', 'QUAL_WITHOUT_INS', OWN],
          ['A3', 'QUAL_WITHOUT_INS', OWN],
        ]);
        const own = await conflictBoard(store, OWN, { limit: 100, offset: 0 });
        expect(own.anomalies.total).toBe(2);
        expect(own.anomalies.byCode).toEqual({ QUAL_WITHOUT_INS: 2 });
        expect(own.anomalies.recent.map((a) => a.sourceId).sort()).toEqual(['A1', 'A3']);
        const other = await conflictBoard(store, OTHER, { limit: 100, offset: 0 });
        expect(other.anomalies.total).toBe(0);
      } finally {
        await store.close();
      }
    });

    it('without --finess: the anomalies name no establishment and stay off the boards, and the summary says so', async () => {
      const r = run(t.env, 'identity', 'import', withoutFiness, ...t.args, '--json');
      expect(r.status).toBe(0);
      const summary = JSON.parse(r.stdout) as { anomalies: Record<string, number>; finess?: string };
      expect(summary.anomalies).toEqual({ QUAL_WITHOUT_INS: 1 });
      expect(summary.finess).toBeUndefined();
      expect(run(t.env, 'identity', 'import', withoutFiness, ...t.args).stdout).toContain('on no establishment’s conflict board');
      const store = await t.open();
      try {
        const b1 = (await store.identityAnomalies.list({ sourceSystem: SYSTEM })).filter((a) => a.sourceId === 'B1');
        expect(b1.length).toBeGreaterThan(0);
        expect(b1.every((a) => a.finess === undefined)).toBe(true);
        expect((await conflictBoard(store, OWN, { limit: 100, offset: 0 })).anomalies.total).toBe(2);
      } finally {
        await store.close();
      }
    });
  });
}

finessTests('sqlite', () => {
  const data = path.join(dir, 'data');
  const file = path.join(data, 'passerelle.sqlite');
  return {
    env: {},
    args: ['--data', data],
    open: () => openSqliteStore({ file }),
    untouched: async () => !existsSync(file),
  };
});

const pgDown = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL}`, pgDown === undefined, 'passerelle identity import --finess on PostgreSQL')) {
  const schema = `passerelle_import_finess_${process.pid}`;
  let created = false;
  afterAll(async () => {
    if (created) await dropPgSchema(schema);
  });
  finessTests('postgresql', () => {
    const u = new URL(PG_TEST_URL);
    u.searchParams.set('options', `-c search_path=${schema}`);
    const open = async (): Promise<ResourceStore> => {
      created = true;
      return openPgStore({ url: PG_TEST_URL, schema });
    };
    return {
      env: { DATABASE_URL: u.toString() },
      args: [],
      open,
      untouched: async () => {
        const store = await open();
        try {
          let n = 0;
          for await (const _ of store.identities.links()) n++;
          return n === 0 && (await store.identityAnomalies.list()).length === 0;
        } finally {
          await store.close();
        }
      },
    };
  });
}
