// The French words the pages show for the model's codes (roles, tenants, identity statuses, match grades).
import type { Role, Tenant } from '../domain/access/model.js';

export const ROLE_LABELS: Record<Role, string> = {
  dpi: 'Logiciel hospitalier (DPI)',
  lgo: 'Logiciel d’officine (LGO)',
  integrator: 'Intégrateur',
  'case-manager': 'Gestionnaire de cas',
  pharmacist: 'Pharmacien hospitalier',
  identitovigilance: 'Référent identitovigilance',
  regional: 'Coordinateur régional',
  auditor: 'Auditeur',
  admin: 'Administrateur',
};

export function tenantLabel(t: Tenant | undefined): string {
  if (!t) return 'Aucun';
  if (t.kind === 'establishment') return `Établissement (FINESS ${t.finess})`;
  if (t.kind === 'pharmacy') return `Pharmacie (FINESS ${t.finess})`;
  return `Région ${t.code}`;
}

export const STATUS_LABELS: Record<string, string> = { PROV: 'Provisoire', RECUP: 'Récupérée', VALI: 'Validée', QUAL: 'Qualifiée' };
export const GRADE_LABELS: Record<string, string> = { certain: 'Certain', probable: 'Probable', possible: 'Possible', 'certainly-not': 'Exclu' };
export const FLAG_LABELS: Record<string, string> = { DPOT: 'Doublon potentiel', COLP: 'Collision potentielle' };
export const DECISION_LABELS: Record<string, string> = { same: 'Même patient', different: 'Patients différents' };
export const FIELD_LABELS: Record<string, string> = {
  ins: 'INS',
  birthName: 'Nom de naissance',
  usedName: 'Nom utilisé',
  givenName: 'Prénoms',
  birthDate: 'Date de naissance',
  sex: 'Sexe',
  birthPlace: 'Lieu de naissance',
};
export const SEX_LABELS: Record<string, string> = { F: 'Féminin', M: 'Masculin', I: 'Indéterminé' };

/** 1969-05-12 → 12/05/1969; partial dates keep what they have (05/1969, 1969). */
export function frenchDate(d: string | undefined): string {
  if (!d) return '—';
  const [y, m, day] = d.split('-');
  return [day, m, y].filter(Boolean).join('/');
}

/** An instant in Paris time, e.g. 05/12/2026 23:41. */
export function frenchInstant(iso: string | undefined): string {
  if (!iso) return '—';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris' }).format(t);
}

/** The matcher's agreement levels in words; an unknown level is shown as it is. */
export const LEVEL_LABELS: Record<string, string> = {
  exact: 'identique',
  same: 'identique',
  collapsed: 'identique aux espaces et tirets près',
  phonetic: 'proche à l’oreille',
  partial: 'partielle',
  'day-month-swapped': 'jour et mois inversés',
  missing: 'absent',
  different: 'différent',
  'jaro-winkler': 'orthographe voisine',
  'used-name': 'égal au nom utilisé de l’autre identité',
  'other-form': 'présent parmi les prénoms de l’autre identité',
  'exact-default': 'identique (date par défaut 01/01 ou 31/12)',
  'partial-agree': 'compatible (date incomplète)',
  'year-only': 'même année seulement',
  'same-country': 'même pays (né à l’étranger)',
  'same-department': 'même département',
  'other-authority': 'attribué par une autre autorité',
};
