// `passerelle audit export`: the audit rows of a period as FHIR AuditEvents, one JSON object per line (NDJSON), in id
// order, read page by page (constant memory whatever the period).
import { toAuditEvent } from '../../fhir/audit-event.js';
import type { AuditFilter } from '../../store/audit-trail.js';
import type { ResourceStore } from '../../store/repository.js';

export const EXPORT_PAGE = 1000;

/** The AuditEvents of rows recorded in [from, before) (ISO instants), each as one NDJSON line. */
export async function* auditEventLines(
  store: Pick<ResourceStore, 'auditTrail'>,
  period: { from?: string; before?: string },
  options: { pageSize?: number; observer?: string } = {},
): AsyncGenerator<string> {
  let afterId = 0;
  for (;;) {
    const filter: AuditFilter = { ...period, afterId };
    const { records } = await store.auditTrail.search({ filter, count: options.pageSize ?? EXPORT_PAGE, offset: 0, order: 'asc', total: false });
    if (records.length === 0) return;
    for (const r of records) yield `${JSON.stringify(toAuditEvent(r, options.observer ? { observer: options.observer } : {}))}\n`;
    afterId = records[records.length - 1].id;
  }
}
