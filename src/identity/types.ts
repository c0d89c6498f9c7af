// The identity service's vocabulary (SRI style): source identities as senders name patients, their
// normalised comparison keys, candidates (federated identities) and match results with RNIV-aware grades.
import type { PatientIdentity } from '../domain/identity.js';

export type { IdentityStatus } from '../domain/identity.js';
import type { IdentityStatus } from '../domain/identity.js';

/** FR Core table 0445 attributes used by the SRI (doublon / collision / homonyme / doubtful / deactivated). */
export type IdentityFlag = 'DPOT' | 'DOUA' | 'COLP' | 'COLV' | 'HOMD' | 'HOMA' | 'DOUT' | 'FICT' | 'DESA';

/** FHIR match-grade codes (http://terminology.hl7.org/CodeSystem/match-grade). */
export type MatchGrade = 'certain' | 'probable' | 'possible' | 'certainly-not';

/** An identity as a source sends it: the sender's own id (system + local id) and the traits. */
export type SourceIdentity = PatientIdentity;

export interface PartialBirthDate {
  year: number;
  month?: number;
  day?: number;
  /** 01-01 or 31-12: dates état civil assigns by default when only the year is known (down-weighted). */
  defaultDate: boolean;
}

/** Comparison keys of one identity, computed once (normalise.ts); originals stay in `source`. */
export interface NormalisedIdentity {
  source: SourceIdentity;
  /**
   * Upper case, accents removed, separators unified but kept (`DE LA FONTAINE`, `D'ARTAGNAN`): equality here is the
   * `exact` level, the only birth-name agreement that counts as a strict trait for an automatic decision.
   */
  birthNameForm: string;
  /** Upper case, accents removed, spaces / hyphens / apostrophes removed (`DE LA FONTAINE` → `DELAFONTAINE`). */
  birthNameKey: string;
  /** Same with particles (DE, DU, DE LA, LE, D', L'…) dropped: for blocking only. */
  birthNameNoParticles: string;
  /** French phonetic key of the birth name. */
  birthNamePhonetic: string;
  usedNameKey?: string;
  /** First birth given name as `birthNameForm` (`JEAN-PIERRE` stays `JEAN-PIERRE`): the `exact` level. */
  firstGivenForm: string;
  /** First birth given name, collapsed (`JEAN-PIERRE` → `JEANPIERRE`). */
  firstGivenKey: string;
  /** Alternative forms to compare given names (each token, hyphen-joined pairs, the whole list collapsed). */
  givenKeys: string[];
  /** Collapsed key of each birth given name, the first one first (blocking: a copy listing them in another order). */
  birthGivenKeys: string[];
  birthDate: PartialBirthDate;
  sex: 'F' | 'M' | 'I';
  birthPlace?: { code: string; abroad: boolean };
  ins?: { matricule: string; oid: string; kind: 'NIR' | 'NIA' };
  status: IdentityStatus;
}

/** What the matcher compares: the normalised keys without the original traits (kept small in the index). */
export type MatchTraits = Omit<NormalisedIdentity, 'source'>;

/** A federated identity offered to the matcher: its reference traits, status and flags. */
export interface Candidate {
  federatedId: string;
  identity: MatchTraits;
  flags: readonly IdentityFlag[];
}

/** One field of the comparison vector: its agreement level and the log-odds weight it earned. */
export interface FieldComparison {
  field: 'ins' | 'birthName' | 'usedName' | 'givenName' | 'birthDate' | 'sex' | 'birthPlace';
  /** e.g. `exact`, `collapsed`, `phonetic`, `jw>=0.92`, `partial`, `day-month-swapped`, `missing`, `different`. */
  level: string;
  weight: number;
}

export interface MatchResult {
  federatedId: string;
  /** Fellegi–Sunter log-odds sum. */
  weight: number;
  /** `weight` mapped onto 0..1 (1 = most certain), for `search.score`. */
  score: number;
  grade: MatchGrade;
  comparisons: FieldComparison[];
  /** Why the policy chose this grade (human-readable, French-free English). */
  reasons: string[];
  /** Flag to raise on the review item: DPOT (potential duplicate) or COLP (same INS, a strict trait differs). */
  flag?: 'DPOT' | 'COLP';
}
