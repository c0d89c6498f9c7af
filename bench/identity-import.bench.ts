// `passerelle identity import` end to end on SQLite (issue 22): an NDJSON file of IMPORT_BENCH_IDENTITIES FHIR
// Patients read as the CLI reads it, registered on the bulk path, then every federated identity's FHIR Patient and
// its sources' Patients written (`drainProjections`). Beside it, from the same run, the registry phase alone (the
// baseline: what the import did before the Patients were counted). IMPORT_BENCH_PROFILE=1 writes nothing more; run
// it under `node --cpu-prof --import tsx` to profile both phases.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPatients, ndjsonLines } from '../src/services/identity-import.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { iterateIdentities, toFhirPatient } from '../test/support/identity-generator.js';
import { machine, peakRssMiB } from './stats.js';

const N = Number(process.env.IMPORT_BENCH_IDENTITIES ?? 100_000);
const SEED = 20260303;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

const dir = mkdtempSync(join(tmpdir(), 'passerelle-import-'));
try {
  const file = join(dir, 'patients.ndjson');
  const lines: string[] = [];
  for (const g of iterateIdentities({ seed: SEED, persons: Math.round(N / 1.3), duplicateRate: 0.3 })) {
    lines.push(JSON.stringify(toFhirPatient(g.identity)));
    if (lines.length >= N) break;
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  lines.length = 0;

  const store = await openSqliteStore({ file: join(dir, 'gateway.sqlite') });
  let projectionTotal = 0;
  // CPU seconds of the process (every thread) by phase: on a shared machine wall time also counts the others' work.
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const cpuStart = cpu();
  let cpuRegistry = 0;
  const s = await importPatients(store, ndjsonLines(createReadStream(file)), {
    ctx: { actor: 'bench' },
    onProjection: (p) => {
      if (cpuRegistry === 0) cpuRegistry = cpu() - cpuStart;
      projectionTotal = p.total;
    },
  });
  const cpuAll = cpu() - cpuStart;
  const pending = await store.identities.countProjectionPending();
  const patients = await store.search({ resourceType: 'Patient', predicates: [], count: 0, offset: 0, total: true });
  await store.close();

  console.log(`machine: ${machine()}; ${int(N)} source identities (seed ${SEED}, 30 % duplicates), NDJSON file, SQLite file`);
  const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(70)}: ${figure}${beside ? `   ${beside}` : ''}`);
  line(
    `identity import end to end (registry + Patients), ${int(N)} identities`,
    `${int(s.identitiesPerSecond)} identities/s`,
    `(${s.seconds.toFixed(1)} s, CPU ${cpuAll.toFixed(1)} s; aim ≥ 8,000/s)`,
  );
  line(
    '  baseline: registry phase alone, same run',
    `${int(s.registryIdentitiesPerSecond)} identities/s`,
    `(${s.registrySeconds.toFixed(1)} s, CPU ${cpuRegistry.toFixed(1)} s; end to end is ${((100 * s.identitiesPerSecond) / s.registryIdentitiesPerSecond).toFixed(0)} % of it)`,
  );
  line(
    '  Patients phase',
    `${int(s.projected / s.projectionSeconds)} federated identities/s`,
    `(${s.projectionSeconds.toFixed(1)} s, CPU ${(cpuAll - cpuRegistry).toFixed(1)} s, for ${int(s.projected)} federated identities and their ${int(s.registered)} sources; ${int(patients.total ?? 0)} Patients stored, ${int(pending)} left pending; progress total ${int(projectionTotal)})`,
  );
  line('  peak RSS', `${peakRssMiB().toFixed(0)} MiB`, `load average at the end ${loadavg()[0].toFixed(1)} (${cpus().length} cores)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
