// The matcher's reasons (src/identity/decide.ts, collision.ts) in the referent's French, for the review page only:
// review items keep them in English as the matcher wrote them (stored data, returned so by the JSON API). Pure.
import { FIELD_LABELS, LEVEL_LABELS, STATUS_LABELS } from './labels.js';

/** Put before a reason no template below recognises, so the referent knows it is the comparator's own text. */
export const UNTRANSLATED_PREFIX = '(texte du comparateur)';

/** A table lookup that never answers with an inherited property (`constructor`, `toString`…). */
const known = (table: Readonly<Record<string, string>>, key: string): string | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

const FRENCH_NUMBER = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 3, useGrouping: false });
const NUMBER = String.raw`(-?\d+(?:\.\d+)?)`;
const number = (s: string): string => FRENCH_NUMBER.format(Number(s));

/** `VALI` → `validée (VALI)`: the word the page uses, with the RNIV code a referent searches for. */
function status(code: string): string | undefined {
  const label = known(STATUS_LABELS, code);
  return label && `${label.toLowerCase()} (${code})`;
}

/** `birthName, sex` (collision.ts) → `Nom de naissance, Sexe`; undefined when a name is not a field. */
function fields(list: string): string | undefined {
  const out = list.split(', ').map((f) => known(FIELD_LABELS, f));
  return out.every((f) => f !== undefined) ? out.join(', ') : undefined;
}

/** decide.ts's `describe`: `birthName phonetic, sex missing` → `Nom de naissance : proche à l’oreille ; Sexe : absent`. */
function traitLevels(list: string): string | undefined {
  const out: string[] = [];
  for (const part of list.split(', ')) {
    const m = /^(\w+) ([a-z-]+)$/.exec(part);
    const f = m && known(FIELD_LABELS, m[1]!);
    const l = m && known(LEVEL_LABELS, m[2]!);
    if (!f || !l) return undefined;
    out.push(`${f} : ${l}`);
  }
  return out.join(' ; ');
}

/** givenListsConflict's two answers. */
const LIST_SIDES: Readonly<Record<string, string>> = {
  'a name of the query is not in the candidate list': 'un prénom de l’identité nouvelle manque dans la liste de l’identité existante',
  'a name of the candidate is not in the query list': 'un prénom de l’identité existante manque dans la liste de l’identité nouvelle',
};

const EQUAL = String.raw`the five strict traits are equal after normalisation \(query (\w+), candidate (\w+)\)`;
function equal(query: string, candidate: string): string | undefined {
  const q = status(query);
  const c = status(candidate);
  return q && c && `Les cinq traits stricts sont identiques après normalisation (identité nouvelle ${q}, identité existante ${c})`;
}

/**
 * One template of the matcher: `pattern` matches the whole English reason, `french` rewrites it (undefined when a part
 * it names is unknown, so the reason is shown untranslated rather than half translated).
 */
interface ReasonTemplate {
  id: string;
  pattern: RegExp;
  french: (m: RegExpExecArray) => string | undefined;
}

export const REASON_TEMPLATES: readonly ReasonTemplate[] = [
  {
    id: 'weight-probable',
    pattern: new RegExp(`^weight ${NUMBER} ≥ probable threshold ${NUMBER}$`),
    french: (m) => `Poids ${number(m[1]!)}, au moins le seuil de la correspondance « probable » (${number(m[2]!)})`,
  },
  {
    id: 'weight-possible',
    pattern: new RegExp(`^weight ${NUMBER} ≥ possible threshold ${NUMBER}$`),
    french: (m) => `Poids ${number(m[1]!)}, au moins le seuil de la correspondance « possible » (${number(m[2]!)})`,
  },
  {
    id: 'weight-below-kept',
    pattern: new RegExp(`^weight ${NUMBER} below possible threshold ${NUMBER}, kept for review$`),
    french: (m) => `Poids ${number(m[1]!)}, sous le seuil de la correspondance « possible » (${number(m[2]!)}) : gardé pour examen malgré tout`,
  },
  {
    id: 'weight-below',
    pattern: new RegExp(`^weight ${NUMBER} below possible threshold ${NUMBER}$`),
    french: (m) => `Poids ${number(m[1]!)}, sous le seuil de la correspondance « possible » (${number(m[2]!)})`,
  },
  {
    id: 'ins-different',
    pattern: /^different INS matricules under the same authority: different persons$/,
    french: () => 'Matricules INS différents pour la même autorité d’attribution : patients différents',
  },
  {
    id: 'ins-same-traits-differ',
    pattern: /^same INS but strict traits differ \((.+)\): potential collision \(COLP\)$/,
    french: (m) => {
      const t = traitLevels(m[1]!);
      return t && `Même INS mais des traits stricts diffèrent (${t}) : collision potentielle (COLP)`;
    },
  },
  {
    id: 'ins-same-qualified',
    pattern: /^same INS matricule and authority, both identities qualified \(QUAL\)$/,
    french: () => 'Même matricule INS et même autorité d’attribution, les deux identités sont qualifiées (QUAL)',
  },
  {
    id: 'equal',
    pattern: new RegExp(`^${EQUAL}$`),
    french: (m) => equal(m[1]!, m[2]!),
  },
  {
    id: 'equal-certain',
    pattern: new RegExp(`^${EQUAL}: (same INS, )?at least one side VALI or QUAL, no INS conflict$`),
    french: (m) => {
      const e = equal(m[1]!, m[2]!);
      return e && `${e} : ${m[3] ? 'même INS, ' : ''}au moins une identité validée (VALI) ou qualifiée (QUAL), pas de conflit d’INS`;
    },
  },
  {
    id: 'given-lists-differ',
    pattern: /^the lists of birth given names differ \((.+)\): possibly twins, review$/,
    french: (m) => {
      const side = known(LIST_SIDES, m[1]!);
      return side && `Les listes de prénoms de naissance diffèrent (${side}) : jumeaux possibles, à examiner`;
    },
  },
  {
    id: 'candidate-flagged',
    pattern: /^candidate flagged ([A-Z]{4}(?:, [A-Z]{4})*): never auto-linked$/,
    french: (m) => `Identité existante signalée ${m[1]!} : jamais rapprochée automatiquement`,
  },
  {
    id: 'neither-trusted',
    pattern: /^neither identity is VALI or QUAL: review$/,
    french: () => 'Aucune des deux identités n’est validée (VALI) ni qualifiée (QUAL) : à examiner',
  },
  {
    id: 'default-date-abroad',
    pattern: /^a default birth date \(01-01 \/ 12-31\) with a birthplace abroad \(country only\) is shared by too many people to auto-link$/,
    french: () =>
      'Une date de naissance par défaut (01/01 ou 31/12) avec un lieu de naissance à l’étranger (le pays seulement) est partagée par trop de personnes pour un rapprochement automatique',
  },
  {
    id: 'not-certain',
    pattern: /^not certain: (.+)$/,
    french: (m) => {
      const t = traitLevels(m[1]!);
      return t && `Correspondance non « certaine » : ${t}`;
    },
  },
  {
    id: 'distinct-rule',
    pattern: /^distinct rule ([a-z0-9][a-z0-9-]*): a referent always answers "different persons" \(a new identity, never a link\)$/,
    french: (m) => `Règle de distinction « ${m[1]!} » : un référent répond toujours « Patients différents » (nouvelle identité, jamais de rapprochement)`,
  },
  {
    id: 'twin-guard',
    pattern: /^another candidate \((.+)\) shares the birth name, birth date, sex and birthplace: possible twin or homonym, review$/,
    french: (m) =>
      `Une autre identité candidate (${m[1]!}) a les mêmes nom de naissance, date de naissance, sexe et lieu de naissance : jumeau ou homonyme possible, à examiner`,
  },
  {
    id: 'collision',
    pattern: /^a known source of a qualified identity changed strict traits \((.+)\): potential collision \(COLP\), the identity is (\w+) until a person decides$/,
    french: (m) => {
      const f = fields(m[1]!);
      const s = status(m[2]!);
      return f && s && `Une source connue d’une identité qualifiée a changé des traits stricts (${f}) : collision potentielle (COLP), l’identité reste ${s} jusqu’à la décision d’une personne`;
    },
  },
];

/** The French of a known reason and the template it came from, or undefined for a text no template recognises. */
export function translateReason(reason: string): { template: string; text: string } | undefined {
  for (const t of REASON_TEMPLATES) {
    const m = t.pattern.exec(reason);
    if (!m) continue;
    const text = t.french(m);
    return text === undefined ? undefined : { template: t.id, text };
  }
  return undefined;
}

/** What the page shows for a reason: its French, else the original marked as the comparator's text. */
export function reasonLabel(reason: string): string {
  return translateReason(reason)?.text ?? `${UNTRANSLATED_PREFIX} ${reason}`;
}
