// Who may read which report (issue 20, docs/reports.md "Access"): the scope `reports.read` (role `regional`, or
// `admin`); a principal bound to a region (or a gateway without authentication) sees every establishment or the one it
// asks for; one bound to an establishment sees its own only (another's: 403); a pharmacy none (403).
import type { Request } from 'express';
import { forbidden } from '../fhir/outcome.js';
import { isTenantBound } from '../domain/access/model.js';

/** The establishment the request's report is restricted to: the one asked for, bounded by the principal's tenant. */
export function reportFiness(req: Request, asked: string | undefined): string | undefined {
  if (!isTenantBound(req.client)) return asked;
  const tenant = req.client.tenant;
  if (!tenant || tenant.kind === 'region') return asked;
  if (tenant.kind !== 'establishment') throw forbidden('The reports are an establishment’s or the region’s: this client is bound to a pharmacy');
  if (asked !== undefined && asked !== tenant.finess) throw forbidden(`This client sees the reports of establishment ${tenant.finess} only`);
  return tenant.finess;
}
