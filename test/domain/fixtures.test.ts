// Every demo fixture is a valid canonical document; every bad-input fixture fails at the JSON path it names.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INS_OIDS, InputError, parseDocument, type DocumentKind } from '../../src/domain/index.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const KINDS: DocumentKind[] = ['ppp', 'ctm', 'bpm'];

function readJson(url: URL): unknown {
  return JSON.parse(readFileSync(url, 'utf8'));
}

function inputs(dir: string): string[] {
  return readdirSync(new URL(`${dir}/`, FIXTURES))
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .sort();
}

const valid = KINDS.flatMap((kind) => inputs(kind).map((file) => ({ kind, file, input: readJson(new URL(`${kind}/${file}`, FIXTURES)) })));

describe('demo fixtures', () => {
  it('cover the three documents (at least 9 in all)', () => {
    expect(valid.length).toBeGreaterThanOrEqual(9);
    for (const kind of KINDS) expect(valid.some((f) => f.kind === kind)).toBe(true);
  });

  it.each(valid.map((f) => [`${f.kind}/${f.file}`, f] as const))('%s parses', (_name, f) => {
    expect(() => parseDocument(f.kind, f.input)).not.toThrow();
  });

  it('carry only test INS (NIR test OID), never a production NIR', () => {
    for (const f of valid) {
      const doc = parseDocument(f.kind, f.input);
      if (doc.patient.ins) expect(doc.patient.ins.oid, `${f.kind}/${f.file}`).toBe(INS_OIDS['NIR-TEST']);
    }
  });

  it('ppp-12-medicines has the shape the benchmark relies on: 12 medicines, 6 problems, 6 recommendations', () => {
    const ppp = parseDocument('ppp', readJson(new URL('ppp/ppp-12-medicines.json', FIXTURES)));
    expect(ppp.medications).toHaveLength(12);
    expect(ppp.problems).toHaveLength(6);
    expect(ppp.recommendations).toHaveLength(6);
    expect(ppp.problems.filter((p) => p.code.startsWith('6.')).length).toBeGreaterThanOrEqual(3);
    const actions = ppp.recommendations.map((r) => (r.kind === 'medication' ? r.action : 'service'));
    expect(actions).toEqual(expect.arrayContaining(['stop', 'substitute', 'dose', 'service']));
  });

  it('CTM fixtures include an unvalidated BMO and a validated one with DID, DIND and DNI lines', () => {
    const ctms = valid.filter((f) => f.kind === 'ctm').map((f) => parseDocument('ctm', f.input));
    expect(ctms.some((c) => !c.bmo.validation)).toBe(true);
    const divergences = ctms.filter((c) => c.bmo.validation).flatMap((c) => c.fct?.lines.map((l) => l.divergence) ?? []);
    expect(divergences).toEqual(expect.arrayContaining(['DID', 'DIND', 'DNI']));
  });
});

const invalid = inputs('invalid').map((file) => {
  const path = readFileSync(new URL(`invalid/${file.replace(/\.json$/, '.error.txt')}`, FIXTURES), 'utf8').trim();
  return { file, path, kind: path.split(/[.[]/)[0] as DocumentKind, input: readJson(new URL(`invalid/${file}`, FIXTURES)) };
});

describe('bad-input fixtures', () => {
  it('exist', () => expect(invalid.length).toBeGreaterThanOrEqual(5));

  it.each(invalid.map((f) => [f.file, f] as const))('%s fails at the expected path, and only there', (_name, f) => {
    expect(KINDS).toContain(f.kind);
    let error: unknown;
    try {
      parseDocument(f.kind, f.input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).issues.map((i) => i.path)).toEqual([f.path]);
  });
});
