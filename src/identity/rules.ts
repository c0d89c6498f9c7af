// Identity matching rules from mappings/identity-rules.yaml: Fellegi–Sunter level weights (from m/u or declared),
// thresholds, score mapping, hot-block cap and policy guards. Loaded once, zod-checked, passed down.
import { z } from 'zod';
import { packagedMappingFile, readYamlFile } from '../mapping-files.js';
import type { IdentityFlag } from './types.js';

/** The comparison fields and their levels, strongest first: the first level that holds is the field's level. */
export const COMPARISON_LEVELS = {
  ins: ['same', 'different', 'other-authority', 'missing'],
  birthName: ['exact', 'collapsed', 'phonetic', 'jaro-winkler', 'used-name', 'different', 'missing'],
  givenName: ['exact', 'collapsed', 'other-form', 'jaro-winkler', 'different', 'missing'],
  birthDate: ['exact', 'exact-default', 'partial-agree', 'day-month-swapped', 'year-only', 'different'],
  sex: ['same', 'different', 'missing'],
  birthPlace: ['exact', 'same-country', 'same-department', 'different', 'missing'],
} as const;

export type ComparedField = keyof typeof COMPARISON_LEVELS;
export type LevelOf<F extends ComparedField> = (typeof COMPARISON_LEVELS)[F][number];
export type LevelWeights = { [F in ComparedField]: Readonly<Record<LevelOf<F>, number>> };

const IDENTITY_FLAGS = ['DPOT', 'DOUA', 'COLP', 'COLV', 'HOMD', 'HOMA', 'DOUT', 'FICT', 'DESA'] as const satisfies readonly IdentityFlag[];

/**
 * A review item a referent would always answer "different persons": when every field it names is at one of the listed
 * levels, the pair is `certainly-not` (a new identity) instead of `possible` / `probable`. Never applied to a pair
 * with the same INS (a possible collision, COLP) nor to five equal strict traits: a rule only removes review items,
 * it never links.
 */
export interface DistinctRule {
  name: string;
  levels: { readonly [F in ComparedField]?: readonly LevelOf<F>[] };
  /** The rule does not hold when either birth date is a default date (01-01 / 12-31), the commonest date error. */
  unlessDefaultDate: boolean;
}

export interface IdentityRules {
  /** File the rules came from (or a label for inline rules). */
  source: string;
  /** log2(m/u) per field level, in bits, rounded to 0.001. */
  weights: LevelWeights;
  jaroWinkler: { birthName: number; givenName: number };
  thresholds: { probable: number; possible: number };
  score: { midpointWeight: number; scale: number };
  blocking: { maxCandidatesPerKey: number };
  policy: { flagsBlockingCertain: readonly IdentityFlag[]; certainOnDefaultDateAbroad: boolean; distinct: readonly DistinctRule[] };
}

export class IdentityRulesError extends Error {
  override readonly name = 'IdentityRulesError';
}

const probability = z
  .number({ message: 'expected a number' })
  .gt(0, 'a probability must be greater than 0')
  .lte(1, 'a probability must be at most 1');

const levelSchema = z
  .object({ m: probability.optional(), u: probability.optional(), weight: z.number().finite().optional() })
  .strict()
  .superRefine((l, ctx) => {
    const mu = l.m !== undefined || l.u !== undefined;
    if (mu && l.weight !== undefined) ctx.addIssue({ code: 'custom', message: 'give either m and u, or weight, not both' });
    else if (!mu && l.weight === undefined) ctx.addIssue({ code: 'custom', message: 'give m and u, or weight' });
    else if (mu && (l.m === undefined || l.u === undefined)) {
      ctx.addIssue({ code: 'custom', path: [l.m === undefined ? 'm' : 'u'], message: 'm and u go together' });
    }
  });
type LevelSpec = z.infer<typeof levelSchema>;

function fieldSchema(levels: readonly string[]) {
  const shape: Record<string, typeof levelSchema> = {};
  for (const level of levels) shape[level] = levelSchema;
  return z
    .object(shape)
    .strict()
    .superRefine((field, ctx) => {
      // Levels are mutually exclusive outcomes, so their probabilities cannot add up to more than 1.
      for (const p of ['m', 'u'] as const) {
        const sum = Object.values(field).reduce((acc, l) => acc + (l[p] ?? 0), 0);
        if (sum > 1 + 1e-9) {
          ctx.addIssue({ code: 'custom', message: `the ${p} probabilities of the levels add up to ${+sum.toFixed(6)}, more than 1 (levels are mutually exclusive)` });
        }
      }
    });
}

const distinctLevels = <F extends ComparedField>(f: F) =>
  z.array(z.enum(COMPARISON_LEVELS[f] as unknown as [LevelOf<F>, ...LevelOf<F>[]])).min(1, 'list at least one level').optional();

const distinctRuleSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a rule name is lower case letters, digits and hyphens'),
    levels: z
      .object({
        // `same` INS is left out on purpose: a rule never settles a possible collision.
        ins: z.array(z.enum(['different', 'other-authority', 'missing'])).min(1, 'list at least one level').optional(),
        birthName: distinctLevels('birthName'),
        givenName: distinctLevels('givenName'),
        birthDate: distinctLevels('birthDate'),
        sex: distinctLevels('sex'),
        birthPlace: distinctLevels('birthPlace'),
      })
      .strict()
      .refine((l) => Object.keys(l).length > 0, { message: 'name at least one field' }),
    unlessDefaultDate: z.boolean().default(false),
  })
  .strict();

const similarity = z.number().gt(0, 'a similarity threshold must be in (0, 1)').lt(1, 'a similarity threshold must be in (0, 1)');

const rulesSchema = z
  .object({
    version: z.literal(1, { message: 'expected version: 1' }),
    fields: z
      .object({
        ins: fieldSchema(COMPARISON_LEVELS.ins),
        birthName: fieldSchema(COMPARISON_LEVELS.birthName),
        givenName: fieldSchema(COMPARISON_LEVELS.givenName),
        birthDate: fieldSchema(COMPARISON_LEVELS.birthDate),
        sex: fieldSchema(COMPARISON_LEVELS.sex),
        birthPlace: fieldSchema(COMPARISON_LEVELS.birthPlace),
      })
      .strict(),
    jaroWinkler: z.object({ birthName: similarity, givenName: similarity }).strict(),
    thresholds: z
      .object({ probable: z.number().finite(), possible: z.number().finite() })
      .strict()
      .refine((t) => t.probable > t.possible, { message: 'probable must be greater than possible', path: ['probable'] }),
    score: z.object({ midpointWeight: z.number().finite(), scale: z.number().positive('scale must be greater than 0') }).strict(),
    blocking: z.object({ maxCandidatesPerKey: z.number().int('expected an integer').min(1, 'at least 1 candidate per key') }).strict(),
    policy: z
      .object({
        flagsBlockingCertain: z.array(z.enum(IDENTITY_FLAGS)),
        certainOnDefaultDateAbroad: z.boolean(),
        distinct: z
          .array(distinctRuleSchema)
          .default([])
          .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, { message: 'two rules have the same name' }),
      })
      .strict(),
  })
  .strict();

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function levelWeight(l: LevelSpec): number {
  if (l.weight !== undefined) return l.weight;
  // The schema guarantees m and u here.
  return round3(Math.log2((l.m ?? 1) / (l.u ?? 1)));
}

function compileWeights<F extends ComparedField>(field: F, spec: Record<string, LevelSpec>): Record<LevelOf<F>, number> {
  const out = {} as Record<LevelOf<F>, number>;
  for (const level of COMPARISON_LEVELS[field] as readonly LevelOf<F>[]) out[level] = levelWeight(spec[level]);
  return out;
}

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => `  ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  return `invalid identity rules (${source}):\n${lines.join('\n')}`;
}

/** Check and compile an already-parsed rules document; throws IdentityRulesError naming each bad field. */
export function compileIdentityRules(doc: unknown, source = '(inline)'): IdentityRules {
  const parsed = rulesSchema.safeParse(doc);
  if (!parsed.success) throw new IdentityRulesError(formatIssues(parsed.error, source));
  const r = parsed.data;
  return {
    source,
    weights: {
      ins: compileWeights('ins', r.fields.ins),
      birthName: compileWeights('birthName', r.fields.birthName),
      givenName: compileWeights('givenName', r.fields.givenName),
      birthDate: compileWeights('birthDate', r.fields.birthDate),
      sex: compileWeights('sex', r.fields.sex),
      birthPlace: compileWeights('birthPlace', r.fields.birthPlace),
    },
    jaroWinkler: r.jaroWinkler,
    thresholds: r.thresholds,
    score: r.score,
    blocking: r.blocking,
    policy: r.policy,
  };
}

export const DEFAULT_IDENTITY_RULES_FILE: string = packagedMappingFile('identity-rules.yaml');

/** Read, check and compile the rules file. Throws IdentityRulesError (unreadable file, bad YAML, bad field). */
export function loadIdentityRules(file: string = DEFAULT_IDENTITY_RULES_FILE): IdentityRules {
  const doc = readYamlFile(file, 'identity rules', (message) => new IdentityRulesError(message));
  return compileIdentityRules(doc, file);
}

/** search.score in 0..1 from a weight: a logistic curve, 0.5 at `midpointWeight`, odds doubling every `scale` bits. */
export function scoreOf(weight: number, rules: Pick<IdentityRules, 'score'>): number {
  const s = 1 / (1 + 2 ** (-(weight - rules.score.midpointWeight) / rules.score.scale));
  return Math.round(s * 10000) / 10000;
}
