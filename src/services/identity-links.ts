// Every source identity with its federated identity, as CSV (`source_system,source_id,federated_id,decision,score`)
// or NDJSON, streamed page by page from the registry. Shared by `passerelle identity links` and GET /identity/links.
import type { LinkRow } from '../identity/records.js';

export const LINK_FORMATS = ['csv', 'ndjson'] as const;
export type LinkFormat = (typeof LINK_FORMATS)[number];

export const LINKS_CSV_HEADER = 'source_system,source_id,federated_id,decision,score';

export const LINK_MEDIA_TYPES: Record<LinkFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** RFC 4180 quoting, only where a field needs it (system URIs rarely do). */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function linkCsvLine(r: LinkRow): string {
  return [r.source_system, r.source_id, r.federated_id, r.decision, r.score === undefined ? '' : String(r.score)].map(csvField).join(',');
}

/** The export as text lines, each ending with a newline (header first for CSV). */
export async function* linkLines(rows: AsyncIterable<LinkRow>, format: LinkFormat): AsyncGenerator<string> {
  if (format === 'csv') yield `${LINKS_CSV_HEADER}\n`;
  for await (const r of rows) yield `${format === 'csv' ? linkCsvLine(r) : JSON.stringify(r)}\n`;
}
