// HL7 v2.5 datatype strings as XDS metadata carries them (CX, XCN, XON, DTM), in the exact shapes of the ANS
// sample ITI-41 (fr-interop §2.4). Values are escaped so a `^` or `&` in a name cannot shift the components.
import { IDNAT_STRUCT_OID, IDNPS_OID } from './header.js';
import type { Coded } from './model.js';

/** HL7 v2 escape sequences for the delimiters (`|^~\&`), so free text stays one component. */
export function escapeHl7(text: string): string {
  return text.replace(/[\\|^~&]/g, (c) => ({ '\\': '\\E\\', '|': '\\F\\', '^': '\\S\\', '~': '\\R\\', '&': '\\T\\' })[c] ?? c);
}

/** CX: `<id>^^^&<authority OID>&ISO^<type>` (NH: national health id, i.e. the INS; PI: a local patient id). */
export function cx(id: string, authorityOid: string, identifierType: 'NH' | 'PI'): string {
  return `${escapeHl7(id)}^^^&${authorityOid}&ISO^${identifierType}`;
}

/** XCN of a professional named by IdNat (IDNPS): `<IdNat>^<family>^<given>^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`. */
export function xcn(person: { idnps: string; family: string; given?: string }): string {
  return `${escapeHl7(person.idnps)}^${escapeHl7(person.family)}^${escapeHl7(person.given ?? '')}^^^^^^&${IDNPS_OID}&ISO^D^^^IDNPS`;
}

/** XON of an organisation named by IdNat_Struct: `<name>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNat_Struct>`. */
export function xon(organization: { name: string; idNatStruct: string }): string {
  return `${escapeHl7(organization.name)}^^^^^&${IDNAT_STRUCT_OID}&ISO^IDNST^^^${escapeHl7(organization.idNatStruct)}`;
}

/** A coded value as authorRole / authorSpecialty carry it: `<code>^<display>^<coding scheme OID>`. */
export function codedString(coded: Coded): string {
  return `${escapeHl7(coded.code)}^${escapeHl7(coded.display)}^${coded.codeSystem}`;
}

/**
 * XDS DTM: `YYYYMMDDhhmmss` in UTC. Takes an ISO 8601 instant (with offset) or a Date; a bare date (YYYY-MM-DD)
 * stays a day (`YYYYMMDD`) because shifting it to UTC would invent a time.
 */
export function xdsTime(value: Date | string, field = 'time'): string {
  if (typeof value === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(value)) return value.replace(/-/g, '');
  const date = typeof value === 'string' ? new Date(value) : value;
  if (Number.isNaN(date.getTime()) || (typeof value === 'string' && !/[zZ]|[+-]\d{2}:?\d{2}$/.test(value))) {
    throw new Error(`${field}: "${String(value)}" is not an ISO 8601 instant with an offset`);
  }
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** PID-7 birth date: YYYYMMDD, or YYYYMM / YYYY for a partial date. */
export function hl7Date(isoDate: string): string {
  return isoDate.replace(/-/g, '');
}
