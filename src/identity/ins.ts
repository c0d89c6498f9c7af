// INS parsing for the SRI: the matricule (NIR or NIA) with its key checked in BigInt arithmetic, and the
// assigning authority (OID) telling NIR from NIA and production from test / demo. RNIV: only QUAL emits the INS.
import { INS_OIDS } from '../domain/identity.js';
import { insKey } from '../domain/ins.js';
import type { IdentityStatus } from './types.js';

export type InsKind = 'NIR' | 'NIA';
export type InsEnvironment = 'production' | 'test' | 'demo';

export interface ParsedIns {
  /** 15 characters, upper case, no spaces. */
  matricule: string;
  /** Bare OID (no `urn:oid:`). */
  oid: string;
  kind: InsKind;
  environment: InsEnvironment;
}

/** A matricule or OID that is not a usable INS; `field` names the culprit. */
export class InsError extends Error {
  override readonly name = 'InsError';
  constructor(
    readonly field: 'matricule' | 'oid',
    message: string,
  ) {
    super(`ins.${field}: ${message}`);
  }
}

const AUTHORITIES: Readonly<Record<string, { kind: InsKind; environment: InsEnvironment }>> = {
  [INS_OIDS.NIR]: { kind: 'NIR', environment: 'production' },
  [INS_OIDS.NIA]: { kind: 'NIA', environment: 'production' },
  [INS_OIDS['NIR-TEST']]: { kind: 'NIR', environment: 'test' },
  [INS_OIDS['NIR-DEMO']]: { kind: 'NIR', environment: 'demo' },
};

/** Calculated INS (INS-A / INS-C): obsolete, named in the error so that a sender knows why it is refused. */
const OBSOLETE_OIDS = new Set(['1.2.250.1.213.1.4.1', '1.2.250.1.213.1.4.2']);

/**
 * Parse and check an INS. Spaces in the matricule are tolerated (`2 55 08 14 168 025 38`) and `urn:oid:` is
 * stripped; anything else wrong throws an InsError naming the field and, for a wrong key, the expected key.
 */
export function parseIns(matricule: string, oid: string): ParsedIns {
  const m = matricule.replace(/\s+/g, '').toUpperCase();
  if (m.length !== 15) {
    throw new InsError('matricule', `expected 15 characters (13 + 2-digit key), got ${m.length}`);
  }
  const body = m.slice(0, 13);
  const key = insKey(body);
  if (key === undefined) {
    throw new InsError(
      'matricule',
      'the first 13 characters are not a NIR/NIA: sex or type digit (1, 2, 3, 7 or 8), year, month, département (digits, or 2A / 2B for Corsica), commune, order',
    );
  }
  const given = m.slice(13);
  if (!/^\d{2}$/.test(given)) throw new InsError('matricule', `the key (last 2 characters) must be digits, got "${given}"`);
  if (Number(given) !== key) {
    throw new InsError('matricule', `wrong key ${given}, expected ${String(key).padStart(2, '0')} (97 − first 13 digits mod 97)`);
  }
  const bare = oid.trim().replace(/^urn:oid:/i, '');
  const authority = AUTHORITIES[bare];
  if (!authority) {
    const known = Object.entries(INS_OIDS)
      .map(([name, value]) => `${value} (${name})`)
      .join(', ');
    const why = OBSOLETE_OIDS.has(bare) ? 'obsolete calculated INS (INS-A / INS-C) is refused' : `unknown assigning authority "${bare}"`;
    throw new InsError('oid', `${why}; expected one of ${known}`);
  }
  return { matricule: m, oid: bare, ...authority };
}

/** RNIV: the INS may be emitted (FHIR, CDA, XDS, MSSanté) or used as a linking key only for a qualified identity. */
export function canEmitIns(status: IdentityStatus): boolean {
  return status === 'QUAL';
}
