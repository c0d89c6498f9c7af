// What a search's audit row keeps of its query: parameter names always, values only where they are ids, codes or
// paging (never a name, a birth date, an INS or free text: audit rows hold ids only).
/** Parameters whose values are kept (references, ids, codes, paging, result shaping). */
const KEPT = new Set([
  '_id', '_count', '_offset', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude', '_lastUpdated', '_type',
  'patient', 'subject', 'encounter', 'based-on', 'part-of', 'basedOn', 'partOf', 'owner', 'requester', 'performer', 'author',
  'status', 'intent', 'category', 'code', 'date', 'type', 'focus', 'context', 'agent', 'entity', 'action', 'outcome', 'state', 'format',
]);

/** The query string with the values of other parameters replaced by `*` (`family=*`). */
export function maskedQuery(params: URLSearchParams): string {
  const out: string[] = [];
  for (const [k, v] of params) {
    const base = k.split(':')[0].split('.')[0];
    // A chained or reverse-chained parameter (`subject.name`, `_has:…`) may carry anything: masked.
    const kept = KEPT.has(base) && !k.includes('.') && !k.startsWith('_has');
    out.push(`${encodeURIComponent(k)}=${kept ? encodeURIComponent(v) : '*'}`);
  }
  return out.join('&');
}
