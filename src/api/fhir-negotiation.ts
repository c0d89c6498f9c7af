// What a FHIR client gets back: the representation (JSON only; a Binary's own bytes when asked by its content type),
// and how much of a written resource (`Prefer: return=`). Pure functions of the request headers and query.
import { OperationOutcomeError, issue, outcome } from '../fhir/outcome.js';

/** `_format` values (and media types) that mean FHIR JSON. */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const JSON_MEDIA_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

/** 406: the client accepts none of the representations we serve. */
export function notAcceptable(text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('not-supported', text, expression)], 'not-acceptable'));
}

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/** `Accept` parsed into media ranges; parameters other than `q` (`fhirVersion`, `charset`) are ignored. */
function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    const slash = range.indexOf('/');
    if (slash <= 0) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) q = Math.min(1, Number(m[1]) || 0);
    }
    ranges.push({ type: range.slice(0, slash).toLowerCase(), subtype: range.slice(slash + 1).toLowerCase(), q });
  }
  return ranges;
}

/** Quality the client gives `mediaType`: the q of the most specific matching range (RFC 9110 §12.5.1), 0 if none. */
function quality(ranges: MediaRange[], mediaType: string): { q: number; specificity: number } {
  const [type, subtype] = mediaType.toLowerCase().split('/');
  let best = { q: 0, specificity: -1 };
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (specificity > best.specificity) best = { q: r.q, specificity };
  }
  return best;
}

function jsonQuality(ranges: MediaRange[]): { q: number; specificity: number } {
  return JSON_MEDIA_TYPES.map((t) => quality(ranges, t)).reduce((a, b) => (b.q > a.q || (b.q === a.q && b.specificity > a.specificity) ? b : a));
}

export interface Negotiation {
  /** `_format` query value, if any (it overrides `Accept`, as FHIR says). */
  format?: string | null;
  accept?: string;
}

/** Throws 406 unless the client accepts FHIR JSON. */
export function assertJsonAcceptable({ format, accept }: Negotiation): void {
  if (format) {
    if (JSON_FORMATS.has(format.trim().toLowerCase())) return;
    throw notAcceptable(`_format "${format}" is not served: this server answers FHIR JSON only (_format=json or application/fhir+json)`, '_format');
  }
  if (accept === undefined || accept.trim() === '') return;
  if (jsonQuality(parseAccept(accept)).q > 0) return;
  throw notAcceptable(`Accept "${accept}" names no representation this server produces: it answers FHIR JSON only (application/fhir+json)`, 'Accept');
}

/**
 * For a Binary read: `raw` when the client prefers the Binary's own content type to FHIR JSON (an `Accept:
 * application/pdf`), `json` otherwise; 406 when it accepts neither. Ties go to JSON, unless only the content
 * type was named explicitly.
 */
export function binaryRepresentation({ format, accept }: Negotiation, contentType: string | undefined): 'json' | 'raw' {
  if (format || accept === undefined || accept.trim() === '' || !contentType) {
    assertJsonAcceptable({ format, accept });
    return 'json';
  }
  const ranges = parseAccept(accept);
  const json = jsonQuality(ranges);
  const own = quality(ranges, contentType.split(';')[0].trim());
  if (own.q > json.q || (own.q > 0 && own.q === json.q && own.specificity > json.specificity)) return 'raw';
  if (json.q > 0) return 'json';
  throw notAcceptable(`Accept "${accept}" matches neither this Binary's content type ${contentType} nor FHIR JSON`, 'Accept');
}

export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** `Prefer: return=…` (RFC 7240, FHIR R4 §3.1.0.8.4); anything else (or none) means the representation. */
export function preferReturn(header: string | undefined): PreferReturn {
  for (const part of (header ?? '').split(/[,;]/)) {
    const m = /^\s*return\s*=\s*"?([A-Za-z]+)"?\s*$/.exec(part);
    if (!m) continue;
    if (m[1] === 'minimal' || m[1] === 'OperationOutcome' || m[1] === 'representation') return m[1];
  }
  return 'representation';
}
