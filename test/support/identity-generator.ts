// Seedable synthetic French patient identities with ground truth (identity.md §7.7), for the identity service's
// tests and benchmark: persons with valid NIR/NIA, registered at several sources, copies corrupted the French way.
//
// Determinism: every random choice comes from one small PRNG (sfc32) seeded from `seed`; faker's `fr` locale is
// used for its name lists only. Faker's own seeded generator is not used: a call per draw costs more at 1M
// identities, and seeding the shared `faker` instance would disturb other tests. Same (integer) seed + same faker
// version → same output, byte for byte.
import { faker as fakerFr } from '@faker-js/faker/locale/fr';
import type { Patient } from '@medplum/fhirtypes';
import { INS_OIDS, type IdentityStatus, type PatientIdentity } from '../../src/domain/identity.js';
import { insKey } from '../../src/domain/ins.js';
import { mapPatient } from '../../src/fhir/map-common.js';

// ---- public vocabulary ---------------------------------------------------------------------------------------

/** The ways a source copy can differ from the person's true traits; each applied one is named in the ground truth. */
export const CORRUPTION_KINDS = [
  'used-name-as-birth-name',
  'particle-collapse',
  'particle-drop',
  'hyphen-space',
  'second-given-first',
  'accent-drop',
  'accent-add',
  'typo',
  'day-month-swap',
  'partial-date',
  'default-date',
  'new-commune-code',
  'missing-ins',
  'nia-instead-of-nir',
  'status-downgrade',
] as const;
export type CorruptionKind = (typeof CORRUPTION_KINDS)[number];

/** Distinct persons built to look alike (they are not corruptions: each is a real, separate person). */
export type HardCaseKind = 'twin' | 'homonym';

/** Ground truth of one person: the état-civil traits every copy derives from. Shared by the person's copies. */
export interface GeneratedPerson {
  personId: string;
  sex: 'F' | 'M';
  birthName: string;
  /** Birth given names in order; a compound one is a single item (`JEAN-PIERRE`, or `ANNE SOPHIE` before 1999). */
  givenNames: readonly string[];
  /** Spouse's name (married women). */
  usedName?: string;
  /** Full état-civil date; for some born abroad it is the default 31-12 or 01-01 assigned when only the year was known. */
  birthDate: string;
  /** COG code at birth: a commune (Paris/Marseille/Lyon by arrondissement), a DOM commune, or 99xxx for a country. */
  birthPlaceInsee: string;
  /** The person's INS: NIR (OID `nirOid`), or NIA (OID …4.9) for someone born abroad who has no NIR yet. */
  ins: { matricule: string; oid: string };
  /** Born abroad with a NIR: the provisional NIA they had before (used by `nia-instead-of-nir`). */
  formerNia?: string;
  /** Twin: the other twin's id. Homonym: the earlier person whose birth name, first given name and year it shares. */
  hardCase?: { kind: HardCaseKind; of: string };
}

export interface GeneratedIdentity {
  /** As the source sends it; parses with the zod `PatientIdentity` schema. */
  identity: PatientIdentity;
  /** Ground truth: copies with the same personId are the same person. */
  personId: string;
  /** Corruptions applied to this copy, in application order; empty for a faithful copy. */
  corruptions: CorruptionKind[];
  /** 0 for the person's first registration in the stream, 1.. for the extra copies (the duplicates). */
  copy: number;
  person: GeneratedPerson;
}

export interface GenerateOptions {
  seed: number;
  /** Number of distinct persons (twins and homonyms included). */
  persons: number;
  /** Share of source identities that are extra copies of an already registered person (0 ≤ rate ≤ 0.95), e.g. 0.3. */
  duplicateRate: number;
  /** Share of persons who belong to a twin pair (default 0.01). */
  twinsRate?: number;
  /** Share of persons created as homonyms of an earlier person (default 0.01). */
  homonymsRate?: number;
  /** Relative weights of the statuses of source copies (default QUAL 50, VALI 10, RECUP 15, PROV 25); when given, a status left out gets 0. */
  statusMix?: Partial<Record<IdentityStatus, number>>;
  /** Share of source copies carrying at least one corruption (default 0.4). */
  corruptionRate?: number;
  /** Relative weights of the corruption kinds, merged over the built-in ones (0 disables a kind). */
  corruptionWeights?: Partial<Record<CorruptionKind, number>>;
  /** OID of NIR matricules (default the test authority 1.2.250.1.213.1.4.10). */
  nirOid?: string;
}

// ---- PRNG ------------------------------------------------------------------------------------------------------

/** sfc32 seeded through splitmix32: tiny, fast, good enough for test data. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = (Math.trunc(seed) ^ Math.trunc(seed / 0x1_0000_0000) ^ 0x9e3779b9) >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 0x1_0000_0000;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Poisson(mean) by Knuth's method, capped at 20 (means here are below 20). */
  poisson(mean: number): number {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit && k < 20) {
      k++;
      p *= this.next();
    }
    return k;
  }
}

// ---- reference data --------------------------------------------------------------------------------------------

const upper = (s: string): string => s.normalize('NFC').toUpperCase();
const lettersOnly = (s: string): boolean => /^[\p{L}]+$/u.test(s);

/** Accents removed (the names here have no Œ/Æ, which NFD would not split). */
export function deburr(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
}

const fakerPerson = fakerFr.rawDefinitions.person;
const fakerFirst = fakerPerson?.first_name;
const fakerLast = fakerPerson?.last_name?.generic;
if (!fakerFirst?.female || !fakerFirst.male || !fakerLast) throw new Error('faker fr locale has no person name lists');

// faker writes a few names without their accent (Gerard, Riviere): état civil has them with it.
const ACCENTED: Record<string, string> = {
  ANDRE: 'ANDRÉ', BENOIT: 'BENOÎT', CARRE: 'CARRÉ', CLEMENT: 'CLÉMENT', FRANCOIS: 'FRANÇOIS', GERARD: 'GÉRARD',
  GUERIN: 'GUÉRIN', LAINE: 'LAINÉ', LEFEVRE: 'LEFÈVRE', MENARD: 'MÉNARD', NOEL: 'NOËL', PREVOST: 'PRÉVOST',
  REMY: 'RÉMY', RIVIERE: 'RIVIÈRE',
};
const FAKER_LAST_NAMES = fakerLast.map(upper);
const EXTRA_LAST_NAMES = ['HÉBERT', 'LEFÈVRE', 'BÉRANGER', 'CHÂTELAIN', 'LEBOEUF', 'GÉRAUD', 'MÉRIGNAC', 'THÉVENIN'];
/** Particle names (identity.md §3.1): spaced forms as état civil writes them. */
const PARTICLE_NAMES = [
  'DE LA FONTAINE', 'DU PONT', 'LE GALL', "D'ARTAGNAN", "L'HERMITE", 'DE SAINT-EXUPÉRY', 'DE LA ROCHE', 'DU BOIS',
  'DES ROCHES', 'LE BRIS', 'LE GOFF', 'LE CORRE', 'LE BIHAN', "D'ALEMBERT", "D'ESTAING", "L'HUILLIER", 'DE BEAUVOIR',
  'DU BELLAY', 'LA FONTAINE', 'DE LATTRE', 'LE MOAL', 'DE VILLIERS', 'DA COSTA', 'DOS SANTOS', "DE L'ESPINE",
];
const PARTICLE = /^(DE LA |DE L'|DES |DE |DU |DA |DOS |LE |LA |LES |D'|L')(?=\S)/;

// ---- surname frequencies ---------------------------------------------------------------------------------------
// France has ~1.3 million distinct surnames: the most frequent (MARTIN) is carried by ~0.3 % of people and the top
// 150 together by ~10 %. Plain surnames follow that shape: 10 % come from the head (faker's list, Zipf-skewed towards
// its first names, plus EXTRA_LAST_NAMES) and 90 % from a synthetic vocabulary of French-looking names drawn with a
// Zipf–Mandelbrot law, P(rank r) ∝ 1 / (r + offset)^s: a few synthetic names are common, most are rare.
// The offset continues the ranks after the head; with it the commonest synthetic name stays near 0.1 % (a pure
// 1 / r^s over this vocabulary would give rank 1 about 10 % of all draws).

const HEAD_SHARE = 0.1;
const HEAD_OFFSET = 10; // head weight 1 / (r + 10): the first name gets ~3 % of head draws, ~0.3 % of persons
const SYNTHETIC_EXPONENT = 1.05;

/** Ranks 1..n weighted 1 / (r + offset)^s: cumulative weights plus a guide table (Chen's indexed search) for `pickRank`. */
interface RankTable {
  cdf: Float64Array;
  /** guide[k]: the first rank index whose cumulative weight exceeds k / n of the total. */
  guide: Uint32Array;
}

function zipfTable(n: number, offset: number, s: number): RankTable {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 1; r <= n; r++) cdf[r - 1] = total += (r + offset) ** -s;
  const guide = new Uint32Array(n);
  for (let k = 0, i = 0; k < n; k++) {
    const limit = (k / n) * total;
    while (i < n - 1 && cdf[i]! <= limit) i++;
    guide[k] = i;
  }
  return { cdf, guide };
}

/** A 0-based rank: one draw, a guide-table jump, then a short forward scan (O(1) expected, ~1 step on average). */
function pickRank(rng: Rng, { cdf, guide }: RankTable): number {
  const u = rng.next();
  const x = u * cdf[cdf.length - 1]!;
  const last = cdf.length - 1;
  let i = guide[Math.floor(u * cdf.length)]!;
  while (i < last && cdf[i]! <= x) i++;
  return i;
}

const HEAD_RANKS = zipfTable(FAKER_LAST_NAMES.length, HEAD_OFFSET, 1);

// Onomastic pieces: a root ending in a consonant, an optional vowel–consonant middle syllable, a vowel-initial ending.
const SURNAME_ROOTS = [
  'BAR', 'BART', 'BAUD', 'BER', 'BERN', 'BERTH', 'BES', 'BLANCH', 'BOCH', 'BOIS', 'BON', 'BORD', 'BOUCH', 'BOUL',
  'BOUR', 'BOURG', 'BRET', 'BRUN', 'CAB', 'CAMP', 'CARR', 'CAST', 'CHAB', 'CHAMB', 'CHAMP', 'CHAP', 'CHAR', 'CHARP',
  'CHAST', 'CHAUV', 'CHEV', 'CHOL', 'CLAV', 'COCH', 'COLL', 'COMB', 'CORN', 'COUD', 'COUR', 'CROS', 'DAUB', 'DUCH',
  'DUM', 'DUR', 'FAUR', 'FER', 'FERR', 'FLAM', 'FONT', 'FOUCH', 'FOUR', 'GAB', 'GAIL', 'GALL', 'GARN', 'GAUD',
  'GAUTH', 'GERB', 'GIL', 'GIR', 'GOD', 'GOUD', 'GRAN', 'GRIM', 'GROS', 'GUER', 'GUIB', 'GUIL', 'GUILL', 'HERB',
  'HOUD', 'JOL', 'JOUB', 'LAB', 'LAC', 'LAF', 'LAG', 'LAM', 'LAMB', 'LAN', 'LAND', 'LAR', 'LAT', 'LAV', 'LEB', 'LEC',
  'LEF', 'LEG', 'LEM', 'LEN', 'LER', 'LES', 'LIB', 'LOR', 'LOUV', 'MAILL', 'MAL', 'MARCH', 'MART', 'MASS', 'MAUR',
  'MER', 'MERC', 'MICH', 'MON', 'MONT', 'MOR', 'MOUL', 'MOUR', 'NAV', 'NOG', 'PAG', 'PAR', 'PASC', 'PEL', 'PELL',
  'PER', 'PERR', 'PET', 'PICH', 'PIN', 'PLAN', 'POUL', 'RAB', 'RAM', 'RAV', 'REB', 'REN', 'RIB', 'RICH', 'ROB',
  'ROCH', 'ROL', 'ROUS', 'ROUSS', 'ROUV', 'SAB', 'SAL', 'SAUV', 'SEG', 'SOUL', 'TAILL', 'TARD', 'TEST', 'THIB',
  'THOM', 'TOUR', 'TRIB', 'VAL', 'VAN', 'VASS', 'VAUD', 'VERD', 'VERN', 'VIAL', 'VID', 'VIGN', 'VILL', 'VIN', 'VOIS',
];
const SURNAME_MIDDLES = [
  'AB', 'AC', 'AD', 'AG', 'AL', 'ALL', 'AM', 'AN', 'AR', 'AT', 'AV', 'EB', 'EC', 'EL', 'ELL', 'EN', 'ER', 'ET', 'EV',
  'IC', 'IG', 'IL', 'ILL', 'IN', 'IR', 'IV', 'OB', 'OC', 'OL', 'ON', 'OR', 'OUL', 'OUR', 'OUV', 'UR', 'ERN',
];
const SURNAME_ENDINGS = [
  'ARD', 'AUD', 'EAU', 'ET', 'IER', 'IN', 'OT', 'ON', 'ERT', 'AULT', 'OUX', 'AGNE', 'ELIN', 'AC', 'ADE', 'AIN', 'AIS',
  'AL', 'AN', 'AND', 'ANT', 'ARDIN', 'ARDON', 'AS', 'ASSE', 'AT', 'AUT', 'AUX', 'EL', 'ELET', 'ELLE', 'ENOT', 'EREAU',
  'ERET', 'ERIE', 'ERON', 'EROT', 'ES', 'ETTE', 'EUX', 'EY', 'EZ', 'IAU', 'ICHON', 'IE', 'IGNY', 'ILLARD', 'ILLE',
  'ILLON', 'INE', 'INET', 'INOT', 'IOT', 'IS', 'OCHE', 'ODIN', 'OIS', 'OLLE', 'ONNET', 'OUD', 'OUIN', 'OUL', 'OUR',
  'OUSSE', 'OY', 'UCHON', 'UT', 'UEL', 'ENAUD', 'ERAND',
];

let syntheticCache: { names: readonly string[]; ranks: RankTable } | undefined;

/**
 * The synthetic surname vocabulary, by rank, with its cumulative Zipf weights. Built once, on first use, and the same
 * whatever the seed: two-piece names (shorter, like the commonest real ones) take the first ranks, then three-piece
 * ones, each tier in a fixed shuffled order. Uppercase ASCII, 4–14 letters, never one of the head names.
 */
function syntheticSurnames(): { names: readonly string[]; ranks: RankTable } {
  if (syntheticCache) return syntheticCache;
  const taken = new Set([...FAKER_LAST_NAMES, ...EXTRA_LAST_NAMES].map(deburr));
  const shape = /^[A-Z]{4,14}$/;
  const awkward = /(.)\1\1|(..)\2|(...).*\3/; // triple letter, stutter (ORORON), a trigram twice (GUILLILLON)
  const tier = (forms: Iterable<string>): string[] => {
    const out: string[] = [];
    for (const f of forms) {
      if (!shape.test(f) || awkward.test(f) || taken.has(f)) continue;
      taken.add(f);
      out.push(f);
    }
    return out;
  };
  const two = tier(SURNAME_ROOTS.flatMap((r) => SURNAME_ENDINGS.map((e) => r + e)));
  const three = tier(SURNAME_ROOTS.flatMap((r) => SURNAME_MIDDLES.flatMap((m) => SURNAME_ENDINGS.map((e) => r + m + e))));
  const order = new Rng(0x5eed_f00d);
  for (const list of [two, three]) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = order.int(i + 1);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
  }
  const names = [...two, ...three];
  syntheticCache = { names, ranks: zipfTable(names.length, FAKER_LAST_NAMES.length, SYNTHETIC_EXPONENT) };
  return syntheticCache;
}

const FAKER_FEMALE = [...fakerFirst.female, ...(fakerFirst.generic ?? [])].filter(lettersOnly).map(upper);
const FAKER_MALE = [...fakerFirst.male, ...(fakerFirst.generic ?? [])].filter(lettersOnly).map(upper);
// Frequent names of the 1930–1960 generations, drawn often so that collisions on given names look French.
const FREQUENT_FEMALE = [
  'MARIE', 'JEANNE', 'FRANÇOISE', 'MONIQUE', 'CATHERINE', 'NATHALIE', 'ISABELLE', 'JACQUELINE', 'ANNE', 'SYLVIE',
  'MARTINE', 'NICOLE', 'NADINE', 'CHRISTINE', 'SUZANNE', 'DENISE', 'GERMAINE', 'MADELEINE', 'YVETTE', 'SIMONE',
  'HÉLÈNE', 'GENEVIÈVE', 'RENÉE', 'ODETTE', 'PAULETTE', 'THÉRÈSE', 'COLETTE', 'JOSETTE', 'DANIELLE', 'BRIGITTE',
  'CÉCILE', 'AGNÈS', 'ÉLISABETH', 'MICHÈLE', 'CHANTAL', 'JOSIANE', 'ANDRÉE', 'LUCIENNE', 'GISÈLE', 'REINE',
];
const FREQUENT_MALE = [
  'JEAN', 'PIERRE', 'MICHEL', 'ANDRÉ', 'PHILIPPE', 'RENÉ', 'LOUIS', 'ALAIN', 'JACQUES', 'BERNARD', 'MARCEL',
  'DANIEL', 'ROGER', 'ROBERT', 'PAUL', 'GEORGES', 'HENRI', 'GÉRARD', 'FRANÇOIS', 'CHRISTIAN', 'PATRICK', 'NICOLAS',
  'FRÉDÉRIC', 'THIERRY', 'LUCIEN', 'RAYMOND', 'MAURICE', 'GUY', 'YVES', 'JOSEPH', 'ÉMILE', 'LÉON', 'GILBERT',
];
const COMPOUND_FEMALE = [
  'MARIE-CLAIRE', 'MARIE-THÉRÈSE', 'MARIE-FRANCE', 'MARIE-HÉLÈNE', 'ANNE-SOPHIE', 'ANNE-MARIE', 'MARIE-CHRISTINE',
  'MARIE-LOUISE', 'MARIE-JOSÉ', 'MARIE-NOËLLE', 'MARIE-PIERRE', 'MARIE-ANNE', 'ANNE-LAURE', 'MARIE-ODILE',
];
const COMPOUND_MALE = [
  'JEAN-PIERRE', 'JEAN-CLAUDE', 'JEAN-MARC', 'JEAN-LUC', 'JEAN-FRANÇOIS', 'JEAN-PAUL', 'JEAN-MICHEL', 'JEAN-LOUIS',
  'JEAN-JACQUES', 'PIERRE-YVES', 'JEAN-BAPTISTE', 'PAUL-HENRI', 'JEAN-YVES', 'JEAN-RENÉ',
];

interface Place {
  code: string;
  name: string;
  kind: 'metro' | 'dom' | 'abroad';
  /** Another code for the same place: the commune code of an arrondissement, or the commune nouvelle it merged into. */
  current?: string;
}

const METRO: Array<[string, string, string?]> = [
  ['75104', 'Paris 4e', '75056'], ['75108', 'Paris 8e', '75056'], ['75112', 'Paris 12e', '75056'],
  ['75114', 'Paris 14e', '75056'], ['75115', 'Paris 15e', '75056'], ['75118', 'Paris 18e', '75056'],
  ['75120', 'Paris 20e', '75056'], ['13201', 'Marseille 1er', '13055'], ['13205', 'Marseille 5e', '13055'],
  ['13208', 'Marseille 8e', '13055'], ['13213', 'Marseille 13e', '13055'], ['69383', 'Lyon 3e', '69123'],
  ['69386', 'Lyon 6e', '69123'], ['69388', 'Lyon 8e', '69123'],
  // Communes merged into a commune nouvelle (code at birth → code of the new commune).
  ['74268', 'Seynod', '74010'], ['74011', 'Annecy-le-Vieux', '74010'], ['91182', 'Courcouronnes', '91228'],
  ['50173', 'Équeurdreville-Hainneville', '50129'], ['50602', 'Tourlaville', '50129'],
  ['31555', 'Toulouse'], ['06088', 'Nice'], ['44109', 'Nantes'], ['67482', 'Strasbourg'], ['34172', 'Montpellier'],
  ['33063', 'Bordeaux'], ['59350', 'Lille'], ['35238', 'Rennes'], ['51454', 'Reims'], ['42218', 'Saint-Étienne'],
  ['83137', 'Toulon'], ['38185', 'Grenoble'], ['21231', 'Dijon'], ['49007', 'Angers'], ['30189', 'Nîmes'],
  ['63113', 'Clermont-Ferrand'], ['72181', 'Le Mans'], ['13001', 'Aix-en-Provence'], ['29019', 'Brest'],
  ['37261', 'Tours'], ['80021', 'Amiens'], ['87085', 'Limoges'], ['57463', 'Metz'], ['25056', 'Besançon'],
  ['66136', 'Perpignan'], ['45234', 'Orléans'], ['76540', 'Rouen'], ['14118', 'Caen'], ['54395', 'Nancy'],
  ['68224', 'Mulhouse'], ['86194', 'Poitiers'], ['64445', 'Pau'], ['17300', 'La Rochelle'], ['29232', 'Quimper'],
  ['22278', 'Saint-Brieuc'], ['11069', 'Carcassonne'], ['81004', 'Albi'], ['73065', 'Chambéry'], ['74010', 'Annecy'],
  ['18033', 'Bourges'], ['28085', 'Chartres'], ['62041', 'Arras'], ['10387', 'Troyes'], ['88160', 'Épinal'],
  ['90010', 'Belfort'], ['78646', 'Versailles'], ['92012', 'Boulogne-Billancourt'], ['93066', 'Saint-Denis'],
  ['94028', 'Créteil'], ['50129', 'Cherbourg-en-Cotentin'], ['91228', 'Évry-Courcouronnes'],
  ['2A004', 'Ajaccio'], ['2B033', 'Bastia'],
];
const DOM: Array<[string, string]> = [
  ['97105', 'Basse-Terre'], ['97120', 'Pointe-à-Pitre'], ['97209', 'Fort-de-France'], ['97411', 'Saint-Denis (La Réunion)'],
  ['97302', 'Cayenne'], ['97611', 'Mamoudzou'],
];
const ABROAD: Array<[string, string]> = [
  ['99109', 'Allemagne'], ['99110', 'Autriche'], ['99122', 'Pologne'], ['99127', 'Italie'], ['99131', 'Belgique'],
  ['99132', 'Royaume-Uni'], ['99134', 'Espagne'], ['99135', 'Pays-Bas'], ['99139', 'Portugal'], ['99140', 'Suisse'],
  ['99208', 'Turquie'], ['99243', 'Viet Nam'], ['99322', 'Cameroun'], ['99326', "Côte d'Ivoire"], ['99335', 'Mali'],
  ['99341', 'Sénégal'], ['99350', 'Maroc'], ['99351', 'Tunisie'], ['99352', 'Algérie'],
];

/** The embedded birthplaces (~100): communes across départements incl. Corsica, DOM communes, countries. */
export const BIRTHPLACES: readonly Place[] = [
  ...METRO.map(([code, name, current]): Place => (current ? { code, name, kind: 'metro', current } : { code, name, kind: 'metro' })),
  ...DOM.map(([code, name]): Place => ({ code, name, kind: 'dom' })),
  ...ABROAD.map(([code, name]): Place => ({ code, name, kind: 'abroad' })),
];
const PLACE_INDEX = new Map(BIRTHPLACES.map((p, i) => [p.code, i]));
const PLACES_BY_KIND = {
  metro: BIRTHPLACES.filter((p) => p.kind === 'metro'),
  dom: BIRTHPLACES.filter((p) => p.kind === 'dom'),
  abroad: BIRTHPLACES.filter((p) => p.kind === 'abroad'),
};

export function birthplace(code: string): Place | undefined {
  const i = PLACE_INDEX.get(code);
  return i === undefined ? undefined : BIRTHPLACES[i];
}

/** Luhn check digit, as FINESS numbers carry one. */
function withLuhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

interface Source {
  system: string;
  kind: 'hospital' | 'pharmacy';
  /** Pharmacy software often keeps only the first given name. */
  sendsGivenList: number;
}
// Fictitious FINESS under a private test arc (1.2.250.1.999): départements ≥ 10 so that no OID arc has a leading zero.
const HOSPITAL_DEPTS = ['75', '13', '69', '33', '31', '59', '67', '44', '35', '76', '97', '57'];
const PHARMACY_DEPTS = ['75', '75', '92', '93', '94', '13', '69', '33', '31', '59', '67', '44', '35', '76', '29', '34', '38', '63', '97', '57', '21', '45', '51', '80'];
export const SOURCES: readonly Source[] = [
  ...HOSPITAL_DEPTS.map((d, i): Source => ({
    system: `urn:oid:1.2.250.1.999.1.${withLuhn(`${d}00${String(1001 + i * 37).padStart(4, '0')}`)}.1`,
    kind: 'hospital',
    sendsGivenList: 0.95,
  })),
  ...PHARMACY_DEPTS.map((d, i): Source => ({
    system: `urn:oid:1.2.250.1.999.2.${withLuhn(`${d}20${String(2003 + i * 53).padStart(4, '0')}`)}`,
    kind: 'pharmacy',
    sendsGivenList: 0.5,
  })),
];

const DEFAULT_STATUS_MIX: Record<IdentityStatus, number> = { QUAL: 50, VALI: 10, RECUP: 15, PROV: 25 };

const DEFAULT_CORRUPTION_WEIGHTS: Record<CorruptionKind, number> = {
  'used-name-as-birth-name': 6,
  'particle-collapse': 8,
  'particle-drop': 6,
  'hyphen-space': 8,
  'second-given-first': 6,
  'accent-drop': 10,
  'accent-add': 4,
  typo: 12,
  'day-month-swap': 6,
  'partial-date': 5,
  'default-date': 4,
  'new-commune-code': 6,
  'missing-ins': 8,
  'nia-instead-of-nir': 8,
  'status-downgrade': 5,
};

/** Kinds that cannot combine in one copy (they act on the same trait). */
const GROUPS: Partial<Record<CorruptionKind, readonly string[]>> = {
  'used-name-as-birth-name': ['birth-name'],
  'particle-collapse': ['birth-name'],
  'particle-drop': ['birth-name'],
  'accent-drop': ['accent'],
  'accent-add': ['accent'],
  'day-month-swap': ['date'],
  'partial-date': ['date'],
  'default-date': ['date'],
  'missing-ins': ['ins', 'status'],
  'nia-instead-of-nir': ['ins'],
  'status-downgrade': ['status'],
};

// ---- persons ---------------------------------------------------------------------------------------------------

const pad2 = (n: number): string => String(n).padStart(2, '0');
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInFast = (year: number, month: number): number =>
  month === 2 ? (isLeap(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;

interface Draft {
  birthName: string;
  givenNames: string[];
  sendList: boolean;
  usedName?: string;
  usedGivenName?: string;
  birthDate: string;
  sex: 'F' | 'M';
  place: string;
  ins?: { matricule: string; oid: string };
  status: IdentityStatus;
}

interface Scheduled {
  due: number;
  seq: number;
  person: GeneratedPerson;
  copy: number;
  source: number;
}

/** Binary min-heap on (due, seq): the copies waiting for their turn in the stream. */
class Schedule {
  private readonly items: Scheduled[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Scheduled | undefined {
    return this.items[0];
  }

  private less(x: Scheduled, y: Scheduled): boolean {
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }

  push(item: Scheduled): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Scheduled | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function rate(name: string, value: number | undefined, fallback: number, max = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || v > max) throw new RangeError(`${name}: expected a number between 0 and ${max}, got ${String(value)}`);
  return v;
}

function weights<K extends string>(name: string, defaults: Record<K, number>, given: Partial<Record<K, number>> | undefined, replace: boolean): Array<[K, number]> {
  const keys = Object.keys(defaults) as K[];
  const entries = keys.map((k): [K, number] => [k, given?.[k] ?? (replace && given ? 0 : defaults[k])]);
  for (const [k, w] of entries) if (!Number.isFinite(w) || w < 0) throw new RangeError(`${name}.${k}: expected a weight ≥ 0, got ${w}`);
  if (entries.every(([, w]) => w === 0)) throw new RangeError(`${name}: at least one weight must be > 0`);
  return entries;
}

function weighted<K>(rng: Rng, entries: ReadonlyArray<readonly [K, number]>): K {
  let total = 0;
  for (const [, w] of entries) total += w;
  let x = rng.next() * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

/** The NIR/NIA order numbers already given in each (kind, year, month, place) bucket, so no two persons share one. */
class OrderNumbers {
  private readonly used: Uint16Array;
  private readonly salt: number;

  constructor(seed: number) {
    this.used = new Uint16Array(4 * 100 * 12 * BIRTHPLACES.length);
    this.salt = Math.imul(Math.trunc(seed) | 0, 0x9e3779b1) >>> 0;
  }

  private bucket(first: string, year: number, month: number, place: string): number {
    const kind = first === '1' ? 0 : first === '2' ? 1 : first === '7' ? 2 : 3;
    return ((kind * 100 + (year % 100)) * 12 + (month - 1)) * BIRTHPLACES.length + PLACE_INDEX.get(place)!;
  }

  /** `count` consecutive order numbers (1..999) in the bucket; the bucket starts at a pseudo-random offset. */
  take(first: string, year: number, month: number, place: string, count: number): number[] | undefined {
    const b = this.bucket(first, year, month, place);
    let h = Math.imul(b ^ this.salt, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    const start = ((h ^ (h >>> 16)) >>> 0) % 999;
    for (;;) {
      const k = this.used[b]!;
      if (k + count > 999) return undefined;
      const order = ((start + k) % 999) + 1;
      if (order + count - 1 > 999) {
        this.used[b] = k + 1; // would wrap 999 → 001: consecutive numbers are needed, skip it
        continue;
      }
      this.used[b] = k + count;
      return Array.from({ length: count }, (_, i) => order + i);
    }
  }
}

function matricule(body: string): string {
  const key = insKey(body);
  if (key === undefined) throw new Error(`generated INS body "${body}" has no NIR/NIA shape`);
  return body + pad2(key);
}

class PersonFactory {
  private count = 0;
  private readonly recent: GeneratedPerson[] = [];
  private readonly orders: OrderNumbers;

  constructor(
    private readonly rng: Rng,
    seed: number,
    private readonly nirOid: string,
  ) {
    this.orders = new OrderNumbers(seed);
  }

  private nextId(): string {
    this.count++;
    return `P${String(this.count).padStart(7, '0')}`;
  }

  private lastName(): string {
    const r = this.rng.next();
    if (r < 0.08) return this.rng.pick(PARTICLE_NAMES);
    if (r < 0.14) {
      const a = this.plainLastName();
      let b = this.plainLastName();
      while (b === a) b = this.plainLastName();
      return `${a}-${b}`;
    }
    return this.plainLastName();
  }

  /** 10 %: a head name (Zipf-skewed faker list, accents as état civil writes them, or an extra); 90 %: a synthetic one. */
  private plainLastName(): string {
    if (!this.rng.chance(HEAD_SHARE)) {
      const { names, ranks } = syntheticSurnames();
      return names[pickRank(this.rng, ranks)]!;
    }
    if (this.rng.chance(0.05)) return this.rng.pick(EXTRA_LAST_NAMES);
    const name = FAKER_LAST_NAMES[pickRank(this.rng, HEAD_RANKS)]!;
    const accented = ACCENTED[name];
    return accented && this.rng.chance(0.7) ? accented : name;
  }

  private simpleGiven(sex: 'F' | 'M'): string {
    if (this.rng.chance(0.5)) return this.rng.pick(sex === 'F' ? FREQUENT_FEMALE : FREQUENT_MALE);
    return this.rng.pick(sex === 'F' ? FAKER_FEMALE : FAKER_MALE);
  }

  private firstGiven(sex: 'F' | 'M', year: number): string {
    if (!this.rng.chance(0.15)) return this.simpleGiven(sex);
    const name = this.rng.pick(sex === 'F' ? COMPOUND_FEMALE : COMPOUND_MALE);
    // Before the 1999 IGREC rule a compound prénom was often written with a plain space.
    return year < 1999 && this.rng.chance(0.35) ? name.replace('-', ' ') : name;
  }

  private givenNames(sex: 'F' | 'M', year: number, first?: string): string[] {
    const r = this.rng.next();
    const n = r < 0.35 ? 1 : r < 0.75 ? 2 : 3;
    const names = [first ?? this.firstGiven(sex, year)];
    while (names.length < n) {
      const g = this.simpleGiven(sex);
      if (!names.some((x) => x.split(/[- ]/).includes(g))) names.push(g);
    }
    return names;
  }

  private birthYear(): number {
    const r = this.rng.next();
    if (r < 0.62) return this.rng.between(1930, 1960);
    if (r < 0.87) return this.rng.between(1961, 1985);
    if (r < 0.97) return this.rng.between(1986, 2010);
    return this.rng.between(1920, 1929);
  }

  private place(): Place {
    const r = this.rng.next();
    return this.rng.pick(r < 0.87 ? PLACES_BY_KIND.metro : r < 0.91 ? PLACES_BY_KIND.dom : PLACES_BY_KIND.abroad);
  }

  private date(year: number, abroad: boolean): string {
    // Born abroad with only the year known: état civil assigns 31-12 (01-01 in older practice), identity.md §3.2.
    if (abroad && this.rng.chance(0.12)) return this.rng.chance(0.7) ? `${year}-12-31` : `${year}-01-01`;
    const month = this.rng.between(1, 12);
    return `${year}-${pad2(month)}-${pad2(this.rng.between(1, daysInFast(year, month)))}`;
  }

  private usedName(sex: 'F' | 'M', year: number, birthName: string): string | undefined {
    if (sex !== 'F' || year > 1998 || !this.rng.chance(0.55)) return undefined;
    let spouse = this.lastName();
    while (spouse === birthName) spouse = this.lastName();
    return spouse;
  }

  /** INS of a person (or of `count` twins, consecutive order numbers); undefined when the bucket is full. */
  private insFor(sex: 'F' | 'M', birthDate: string, place: Place, count: number): Array<Pick<GeneratedPerson, 'ins' | 'formerNia'>> | undefined {
    const year = Number(birthDate.slice(0, 4));
    const month = Number(birthDate.slice(5, 7));
    const abroad = place.kind === 'abroad';
    const niaOnly = abroad && this.rng.chance(0.1);
    const niaFirst = sex === 'M' ? '7' : '8';
    const nirFirst = sex === 'M' ? '1' : '2';
    const prefix = (first: string) => `${first}${pad2(year % 100)}${pad2(month)}${place.code}`;
    const niaOrders = abroad ? this.orders.take(niaFirst, year, month, place.code, count) : undefined;
    if (abroad && !niaOrders) return undefined;
    const nias = niaOrders?.map((o) => matricule(prefix(niaFirst) + String(o).padStart(3, '0')));
    if (niaOnly) return nias!.map((m) => ({ ins: { matricule: m, oid: INS_OIDS.NIA } }));
    const orders = this.orders.take(nirFirst, year, month, place.code, count);
    if (!orders) return undefined;
    return orders.map((o, i) => {
      const ins = { matricule: matricule(prefix(nirFirst) + String(o).padStart(3, '0')), oid: this.nirOid };
      return nias ? { ins, formerNia: nias[i]! } : { ins };
    });
  }

  private remember(p: GeneratedPerson): void {
    if (this.recent.length < 512) this.recent.push(p);
    else this.recent[this.rng.int(512)] = p;
  }

  /** One new person with fresh traits (`count` = 2: a twin pair). */
  create(count: 1 | 2): GeneratedPerson[] {
    for (;;) {
      const sex: 'F' | 'M' = this.rng.chance(0.53) ? 'F' : 'M';
      const year = this.birthYear();
      const place = this.place();
      const birthDate = this.date(year, place.kind === 'abroad');
      const ins = this.insFor(sex, birthDate, place, count);
      if (!ins) continue; // that bucket's 999 order numbers are used up: draw another person
      const birthName = this.lastName();
      const givenNames = this.givenNames(sex, year);
      const persons = ins.map((insPart, i): GeneratedPerson => {
        let names = givenNames;
        if (i > 0) {
          let first = this.firstGiven(sex, year);
          while (givenNames.some((g) => deburr(g).replace(/[- ]/g, '') === deburr(first).replace(/[- ]/g, ''))) first = this.firstGiven(sex, year);
          names = [first, ...givenNames.slice(1)];
        }
        const usedName = this.usedName(sex, year, birthName);
        return {
          personId: this.nextId(),
          sex,
          birthName,
          givenNames: names,
          ...(usedName ? { usedName } : {}),
          birthDate,
          birthPlaceInsee: place.code,
          ...insPart,
        };
      });
      if (persons.length === 2) {
        persons[0]!.hardCase = { kind: 'twin', of: persons[1]!.personId };
        persons[1]!.hardCase = { kind: 'twin', of: persons[0]!.personId };
      }
      for (const p of persons) this.remember(p);
      return persons;
    }
  }

  /** A different person sharing birth name, first given name (hence sex) and birth year with a recent one. */
  homonym(): GeneratedPerson | undefined {
    if (this.recent.length === 0) return undefined;
    const of = this.rng.pick(this.recent);
    const year = Number(of.birthDate.slice(0, 4));
    for (;;) {
      const place = this.place();
      const birthDate = this.date(year, place.kind === 'abroad');
      if (birthDate === of.birthDate) continue;
      const ins = this.insFor(of.sex, birthDate, place, 1);
      if (!ins) continue;
      const usedName = this.usedName(of.sex, year, of.birthName);
      const p: GeneratedPerson = {
        personId: this.nextId(),
        sex: of.sex,
        birthName: of.birthName,
        givenNames: this.givenNames(of.sex, year, of.givenNames[0]),
        ...(usedName ? { usedName } : {}),
        birthDate,
        birthPlaceInsee: place.code,
        ...ins[0]!,
        hardCase: { kind: 'homonym', of: of.personId },
      };
      return p;
    }
  }
}

// ---- corruptions -----------------------------------------------------------------------------------------------

const ACCENTED_CHAR = /[\u00C0-\u017F]/;
const hasAccent = (d: Draft): boolean =>
  ACCENTED_CHAR.test(d.birthName) || d.givenNames.some((g) => ACCENTED_CHAR.test(g)) || (d.usedName !== undefined && ACCENTED_CHAR.test(d.usedName));
const isDefaultDay = (date: string): boolean => date.endsWith('-01-01') || date.endsWith('-12-31');
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The birth name collapsed after its particle (`DE LA FONTAINE` → `DELAFONTAINE`), or undefined without one. */
export function collapseParticle(name: string): string | undefined {
  const m = PARTICLE.exec(name);
  return m ? m[1]!.replace(/[ ']/g, '') + name.slice(m[0].length) : undefined;
}

/** The birth name without its particle (`DE LA FONTAINE` → `FONTAINE`), or undefined without one. */
export function dropParticle(name: string): string | undefined {
  const m = PARTICLE.exec(name);
  return m ? name.slice(m[0].length) : undefined;
}

function applicable(kind: CorruptionKind, d: Draft, p: GeneratedPerson): boolean {
  switch (kind) {
    case 'used-name-as-birth-name':
      return d.usedName !== undefined;
    case 'particle-collapse':
    case 'particle-drop':
      return PARTICLE.test(d.birthName);
    case 'hyphen-space':
      return d.givenNames.some((g) => /[- ]/.test(g)) || /-/.test(d.birthName);
    case 'second-given-first':
      return d.givenNames.length >= 2;
    case 'accent-drop':
      return hasAccent(d);
    case 'accent-add':
      return d.birthName.includes('E') || d.givenNames[0]!.includes('E');
    case 'typo':
      return true;
    case 'day-month-swap': {
      const month = Number(d.birthDate.slice(5, 7));
      const day = Number(d.birthDate.slice(8, 10));
      return day <= 12 && day !== month;
    }
    case 'partial-date':
      return d.status !== 'QUAL';
    case 'default-date':
      return !isDefaultDay(d.birthDate);
    case 'new-commune-code':
      return birthplace(d.place)?.current !== undefined;
    case 'missing-ins':
      return d.ins !== undefined;
    case 'nia-instead-of-nir':
      return d.ins !== undefined && p.formerNia !== undefined;
    case 'status-downgrade':
      return d.status === 'QUAL';
  }
}

function replaceAt(s: string, i: number, c: string): string {
  return s.slice(0, i) + c + s.slice(i + 1);
}

/** One substitution or adjacent transposition, never a mere accent change. */
function typo(rng: Rng, s: string): string {
  const letters: number[] = [];
  for (let i = 0; i < s.length; i++) if (/\p{L}/u.test(s[i]!)) letters.push(i);
  for (let attempt = 0; attempt < 20; attempt++) {
    if (letters.length >= 2 && rng.chance(0.35)) {
      const k = rng.int(letters.length - 1);
      const i = letters[k]!;
      const j = letters[k + 1]!;
      if (j === i + 1 && deburr(s[i]!) !== deburr(s[j]!)) return s.slice(0, i) + s[j] + s[i] + s.slice(j + 1);
      continue;
    }
    const i = rng.pick(letters);
    const c = LETTERS[rng.int(26)]!;
    if (c !== deburr(s[i]!)) return replaceAt(s, i, c);
  }
  return replaceAt(s, letters[0]!, deburr(s[letters[0]!]!) === 'Z' ? 'S' : 'Z');
}

/** Applies one corruption; false when it turned out to change nothing (then it is not recorded). */
function corrupt(kind: CorruptionKind, d: Draft, p: GeneratedPerson, rng: Rng): boolean {
  switch (kind) {
    case 'used-name-as-birth-name': {
      if (!d.usedName) return false;
      d.birthName = d.usedName;
      delete d.usedName;
      return true;
    }
    case 'particle-collapse':
    case 'particle-drop': {
      const changed = kind === 'particle-collapse' ? collapseParticle(d.birthName) : dropParticle(d.birthName);
      if (changed === undefined) return false;
      d.birthName = changed;
      return true;
    }
    case 'hyphen-space': {
      const targets = d.givenNames.flatMap((g, i) => (/[- ]/.test(g) ? [i] : []));
      if (targets.length === 0 || (/-/.test(d.birthName) && rng.chance(0.3))) {
        if (!/-/.test(d.birthName)) return false;
        d.birthName = d.birthName.replace(/-/g, rng.chance(0.6) ? ' ' : '');
        return true;
      }
      const i = rng.pick(targets);
      const g = d.givenNames[i]!;
      const r = rng.next();
      if (r < 0.25) {
        // `JEAN PIERRE` read as two prénoms: the list gains an item and the first prénom is only `JEAN`.
        d.givenNames.splice(i, 1, ...g.split(/[- ]/));
      } else if (r < 0.55) {
        d.givenNames[i] = g.replace(/[- ]/g, '');
      } else {
        d.givenNames[i] = g.includes('-') ? g.replace(/-/g, ' ') : g.replace(/ /g, '-');
      }
      return true;
    }
    case 'second-given-first': {
      const [a, b] = d.givenNames;
      if (a === undefined || b === undefined) return false;
      d.givenNames[0] = b;
      d.givenNames[1] = a;
      return true;
    }
    case 'accent-drop': {
      if (!hasAccent(d)) return false;
      d.birthName = deburr(d.birthName);
      d.givenNames = d.givenNames.map(deburr);
      if (d.usedName) d.usedName = deburr(d.usedName);
      if (d.usedGivenName) d.usedGivenName = deburr(d.usedGivenName);
      return true;
    }
    case 'accent-add': {
      const onBirthName = d.birthName.includes('E') && (!d.givenNames[0]!.includes('E') || rng.chance(0.6));
      const s = onBirthName ? d.birthName : d.givenNames[0]!;
      const positions: number[] = [];
      for (let i = 0; i < s.length; i++) if (s[i] === 'E') positions.push(i);
      if (positions.length === 0) return false;
      const changed = replaceAt(s, rng.pick(positions), rng.chance(0.7) ? 'É' : 'È');
      if (onBirthName) d.birthName = changed;
      else d.givenNames[0] = changed;
      return true;
    }
    case 'typo': {
      if (rng.chance(0.6)) d.birthName = typo(rng, d.birthName);
      else d.givenNames[0] = typo(rng, d.givenNames[0]!);
      return true;
    }
    case 'day-month-swap': {
      d.birthDate = `${d.birthDate.slice(0, 4)}-${d.birthDate.slice(8, 10)}-${d.birthDate.slice(5, 7)}`;
      return true;
    }
    case 'partial-date': {
      d.birthDate = rng.chance(0.6) ? d.birthDate.slice(0, 7) : d.birthDate.slice(0, 4);
      return true;
    }
    case 'default-date': {
      d.birthDate = `${d.birthDate.slice(0, 4)}${rng.chance(0.7) ? '-12-31' : '-01-01'}`;
      return true;
    }
    case 'new-commune-code': {
      const current = birthplace(d.place)?.current;
      if (!current) return false;
      d.place = current;
      return true;
    }
    case 'missing-ins': {
      if (!d.ins) return false;
      delete d.ins;
      // A qualified identity cannot travel without its INS: the copy reads as document-checked only.
      if (d.status === 'QUAL') d.status = 'VALI';
      return true;
    }
    case 'nia-instead-of-nir': {
      if (!d.ins || !p.formerNia) return false;
      d.ins = { matricule: p.formerNia, oid: INS_OIDS.NIA };
      return true;
    }
    case 'status-downgrade': {
      if (d.status !== 'QUAL') return false;
      d.status = 'PROV';
      return true;
    }
  }
}

// ---- the stream ------------------------------------------------------------------------------------------------

/**
 * Source identities one at a time, persons interleaved as a regional SRI receives them: a person's extra copies
 * arrive later, spread over a window of the stream. Memory stays bounded by that window.
 */
export function* iterateIdentities(options: GenerateOptions): Generator<GeneratedIdentity, void, undefined> {
  const { seed, persons } = options;
  if (!Number.isInteger(persons) || persons < 0) throw new RangeError(`persons: expected an integer ≥ 0, got ${persons}`);
  if (!Number.isFinite(seed)) throw new RangeError(`seed: expected a number, got ${seed}`);
  const duplicateRate = rate('duplicateRate', options.duplicateRate, 0, 0.95);
  const twinsRate = rate('twinsRate', options.twinsRate, 0.01);
  const homonymsRate = rate('homonymsRate', options.homonymsRate, 0.01);
  const corruptionRate = rate('corruptionRate', options.corruptionRate, 0.4);
  const statusMix = weights('statusMix', DEFAULT_STATUS_MIX, options.statusMix, true);
  const corruptionWeights = weights('corruptionWeights', DEFAULT_CORRUPTION_WEIGHTS, options.corruptionWeights, false);
  const nirOid = (options.nirOid ?? INS_OIDS['NIR-TEST']).replace(/^urn:oid:/, '');

  const rng = new Rng(seed);
  const factory = new PersonFactory(rng, seed, nirOid);
  const schedule = new Schedule();
  const sourceCounters = new Uint32Array(SOURCES.length);
  // Extra copies per person ~ Poisson(m): copies / all identities = m / (1 + m) = duplicateRate.
  const extraMean = duplicateRate / (1 - duplicateRate);
  // A creation event yields a twin pair with probability q: persons in pairs / all persons = 2q / (1 + q) = twinsRate.
  const pairChance = twinsRate / (2 - twinsRate);
  const homonymChance = homonymsRate * (1 + pairChance);
  const window = Math.max(8, Math.min(20_000, Math.ceil(persons / 4)));

  let slot = 0;
  let seq = 0;
  let made = 0;

  const register = (person: GeneratedPerson, firstDue: number): void => {
    const first = rng.int(SOURCES.length);
    const used = [first];
    schedule.push({ due: firstDue, seq: seq++, person, copy: 0, source: first });
    const extras = extraMean > 0 ? rng.poisson(extraMean) : 0;
    for (let c = 1; c <= extras; c++) {
      let source = rng.pick(used); // 10%: a second record in the same domain (a doublon)
      if (!rng.chance(0.1)) {
        for (let tries = 0; tries < 5 && used.includes(source); tries++) source = rng.int(SOURCES.length);
        used.push(source);
      }
      schedule.push({ due: firstDue + 1 + rng.int(window), seq: seq++, person, copy: c, source });
    }
  };

  const createPersons = (): void => {
    const r = rng.next();
    if (made + 2 <= persons && r < pairChance) {
      const [a, b] = factory.create(2);
      register(a!, slot);
      register(b!, slot + 1 + rng.int(window));
      made += 2;
      return;
    }
    const h = r < pairChance + homonymChance ? factory.homonym() : undefined;
    register(h ?? factory.create(1)[0]!, slot);
    made += 1;
  };

  const emit = (s: Scheduled): GeneratedIdentity => {
    const source = SOURCES[s.source]!;
    const n = ++sourceCounters[s.source]!;
    const value = source.kind === 'hospital' ? String(100_000_000 + n * 7 + (s.source % 7)) : `PH${String(n).padStart(8, '0')}`;
    const status = weighted(rng, statusMix);
    const p = s.person;
    const d: Draft = {
      birthName: p.birthName,
      givenNames: [...p.givenNames],
      sendList: rng.chance(source.sendsGivenList),
      ...(p.usedName ? { usedName: p.usedName } : {}),
      birthDate: p.birthDate,
      sex: p.sex,
      place: p.birthPlaceInsee,
      ...(status === 'QUAL' || status === 'RECUP' ? { ins: p.ins } : {}),
      status,
    };
    if (p.givenNames.length > 1 && rng.chance(0.03)) d.usedGivenName = p.givenNames[1]!;

    const corruptions: CorruptionKind[] = [];
    if (rng.chance(corruptionRate)) {
      const r = rng.next();
      const wanted = r < 0.7 ? 1 : r < 0.92 ? 2 : 3;
      const candidates = corruptionWeights.filter(([k, w]) => w > 0 && applicable(k, d, p));
      const chosen = new Set<CorruptionKind>();
      const blocked = new Set<string>();
      while (chosen.size < wanted) {
        const open = candidates.filter(([k]) => !chosen.has(k) && !(GROUPS[k] ?? []).some((g) => blocked.has(g)));
        if (open.length === 0) break;
        const k = weighted(rng, open);
        chosen.add(k);
        for (const g of GROUPS[k] ?? []) blocked.add(g);
      }
      for (const k of CORRUPTION_KINDS) if (chosen.has(k) && corrupt(k, d, p, rng)) corruptions.push(k);
    }

    const identity: PatientIdentity = {
      sourceId: { system: source.system, value },
      ...(d.ins ? { ins: { ...d.ins } } : {}),
      status: d.status,
      birthName: d.birthName,
      firstBirthGivenName: d.givenNames[0]!,
      ...(d.sendList ? { birthGivenNames: d.givenNames } : {}),
      ...(d.usedName ? { usedName: d.usedName } : {}),
      ...(d.usedGivenName ? { usedGivenName: d.usedGivenName } : {}),
      birthDate: d.birthDate,
      sex: d.sex,
      birthPlaceInsee: d.place,
    };
    slot++;
    return { identity, personId: p.personId, corruptions, copy: s.copy, person: p };
  };

  for (;;) {
    const top = schedule.peek();
    if (top && (top.due <= slot || made >= persons)) {
      yield emit(schedule.pop()!);
    } else if (made < persons) {
      createPersons();
    } else {
      return;
    }
  }
}

/** All identities at once (convenient below a few hundred thousand; use `iterateIdentities` beyond). */
export function generateIdentities(options: GenerateOptions): { identities: GeneratedIdentity[] } {
  return { identities: [...iterateIdentities(options)] };
}

/**
 * FR Core-style Patient, as `passerelle identity import` reads it: official name (birth name, first birth given
 * name, birth-list extension), usual name for the used name, gender, birthDate, birthPlace INSEE code, the source
 * identifier (`usual`) and, only for QUAL, the INS (`official`). The same mapping the gateway emits with.
 */
export function toFhirPatient(identity: PatientIdentity): Patient & { id: string } {
  return mapPatient(identity);
}

/** Ground-truth CSV header and row (`source_system,source_id,…`), joinable with `passerelle identity links --format csv`. */
export const TRUTH_CSV_HEADER = 'source_system,source_id,person_id,copy,corruptions,hard_case,related_person_id';
export function truthCsvRow(g: GeneratedIdentity): string {
  const h = g.person.hardCase;
  return [g.identity.sourceId.system, g.identity.sourceId.value, g.personId, g.copy, g.corruptions.join('|'), h?.kind ?? '', h?.of ?? ''].join(',');
}
