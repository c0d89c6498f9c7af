// mappings/identity-rules.yaml: loading, weights derived from m/u, field-named errors, score mapping.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import {
  COMPARISON_LEVELS,
  DEFAULT_IDENTITY_RULES_FILE,
  IdentityRulesError,
  compileIdentityRules,
  loadIdentityRules,
  scoreOf,
} from '../../src/identity/rules.js';

type Doc = Record<string, Record<string, unknown>> & { fields: Record<string, Record<string, Record<string, unknown>>> };
const defaultDoc = (): Doc => parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as Doc;

function errorOf(doc: unknown): string {
  try {
    compileIdentityRules(doc, 'test.yaml');
  } catch (err) {
    if (err instanceof IdentityRulesError) return err.message;
    throw err;
  }
  throw new Error('expected an IdentityRulesError');
}

describe('loadIdentityRules', () => {
  it('finds the package rules file by default', () => {
    expect(DEFAULT_IDENTITY_RULES_FILE.endsWith(join('mappings', 'identity-rules.yaml'))).toBe(true);
    expect(existsSync(DEFAULT_IDENTITY_RULES_FILE)).toBe(true);
    expect(loadIdentityRules().source).toBe(DEFAULT_IDENTITY_RULES_FILE);
  });

  it('derives each level weight as log2(m/u) and keeps declared weights', () => {
    const doc = defaultDoc();
    const rules = loadIdentityRules();
    for (const [field, levels] of Object.entries(COMPARISON_LEVELS)) {
      for (const level of levels) {
        const spec = doc.fields[field][level] as { m?: number; u?: number; weight?: number };
        const expected = spec.weight ?? Math.log2((spec.m as number) / (spec.u as number));
        expect((rules.weights as Record<string, Record<string, number>>)[field][level]).toBeCloseTo(expected, 2);
      }
    }
    expect(rules.weights.birthName.exact).toBeGreaterThan(0);
    expect(rules.weights.birthName.different).toBeLessThan(0);
    expect(rules.weights.ins.missing).toBe(0);
  });

  it('down-weights an exact default date (01-01 / 12-31) against an ordinary exact date', () => {
    const { birthDate } = loadIdentityRules().weights;
    expect(birthDate['exact-default']).toBeLessThan(birthDate.exact / 2);
  });

  it('reads a file given explicitly and reports unreadable and non-YAML files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'identity-rules-'));
    const doc = defaultDoc();
    doc.thresholds.possible = 10;
    writeFileSync(join(dir, 'ok.yaml'), stringify(doc));
    expect(loadIdentityRules(join(dir, 'ok.yaml')).thresholds.possible).toBe(10);
    writeFileSync(join(dir, 'bad.yaml'), 'fields: [unclosed');
    expect(() => loadIdentityRules(join(dir, 'bad.yaml'))).toThrow(/is not valid YAML/);
    expect(() => loadIdentityRules(join(dir, 'absent.yaml'))).toThrow(/cannot read identity rules/);
  });
});

describe('field-named errors', () => {
  it('names a probability out of range', () => {
    const doc = defaultDoc();
    doc.fields.birthName.exact = { m: 1.5, u: 0.002 };
    expect(errorOf(doc)).toContain('fields.birthName.exact.m: a probability must be at most 1');
  });

  it('names a missing level and an unknown one', () => {
    const doc = defaultDoc();
    delete doc.fields.givenName['other-form'];
    doc.fields.givenName.nickname = { weight: 1 };
    const message = errorOf(doc);
    expect(message).toContain('fields.givenName.other-form:');
    expect(message).toMatch(/fields\.givenName: .*nickname/);
  });

  it('refuses a level with both m/u and weight, or with m alone', () => {
    const doc = defaultDoc();
    doc.fields.sex.same = { m: 0.98, u: 0.5, weight: 1 };
    doc.fields.sex.different = { m: 0.02 };
    const message = errorOf(doc);
    expect(message).toContain('fields.sex.same: give either m and u, or weight, not both');
    expect(message).toContain('fields.sex.different.u: m and u go together');
  });

  it('refuses levels whose probabilities add up to more than 1', () => {
    const doc = defaultDoc();
    doc.fields.birthPlace.different = { m: 0.5, u: 0.985 };
    expect(errorOf(doc)).toMatch(/fields\.birthPlace: the m probabilities of the levels add up to 1\.47/);
  });

  it('needs probable above possible, a known flag and a positive block cap', () => {
    const doc = defaultDoc();
    doc.thresholds = { probable: 10, possible: 12 };
    doc.policy.flagsBlockingCertain = ['HOMA', 'XXXX'];
    doc.blocking.maxCandidatesPerKey = 0;
    const message = errorOf(doc);
    expect(message).toContain('thresholds.probable: probable must be greater than possible');
    expect(message).toContain('policy.flagsBlockingCertain.1:');
    expect(message).toContain('blocking.maxCandidatesPerKey: at least 1 candidate per key');
    expect(message.startsWith('invalid identity rules (test.yaml):')).toBe(true);
  });

  it('checks the distinct rules: known levels only, never the same INS, a field at least, unique names', () => {
    const doc = defaultDoc();
    doc.policy.distinct = [
      { name: 'bad-level', levels: { sex: ['other'] } },
      { name: 'same-ins', levels: { ins: ['same'], sex: ['different'] } },
      { name: 'empty', levels: {} },
    ];
    const message = errorOf(doc);
    expect(message).toContain('policy.distinct.0.levels.sex.0:');
    expect(message).toContain('policy.distinct.1.levels.ins.0:');
    expect(message).toContain('policy.distinct.2.levels: name at least one field');
    doc.policy.distinct = [
      { name: 'twice', levels: { sex: ['different'] } },
      { name: 'twice', levels: { birthDate: ['different'] } },
    ];
    expect(errorOf(doc)).toContain('policy.distinct: two rules have the same name');
  });

  it('reads the distinct rules of the package file, and none when the setting is absent', () => {
    const rules = loadIdentityRules();
    expect(rules.policy.distinct.length).toBeGreaterThan(0);
    for (const r of rules.policy.distinct) expect(r.levels.ins ?? []).not.toContain('same');
    const doc = defaultDoc();
    delete doc.policy.distinct;
    expect(compileIdentityRules(doc).policy.distinct).toEqual([]);
  });
});

describe('scoreOf', () => {
  it('maps the weight onto 0..1: 0.5 at the midpoint, monotonic, saturating', () => {
    const rules = loadIdentityRules();
    expect(scoreOf(rules.score.midpointWeight, rules)).toBe(0.5);
    expect(scoreOf(rules.score.midpointWeight + rules.score.scale, rules)).toBeCloseTo(2 / 3, 4);
    expect(scoreOf(rules.thresholds.probable, rules)).toBeGreaterThan(scoreOf(rules.thresholds.possible, rules));
    expect(scoreOf(500, rules)).toBe(1);
    expect(scoreOf(-500, rules)).toBe(0);
  });
});
