// The conflict board per establishment over HTTP for systems (issue 21 point 3): GET /identity/conflicts?establishment=
// <FINESS> answers the board as JSON, or as CSV (`_format=csv` or `Accept: text/csv`). The figures come from
// src/services/conflict-board.ts; who may read which board is `boardAccess` (the regional cell every board, a
// principal bound to an establishment its own: another FINESS is a 403). Parameters are checked like a FINESS
// search: unknown, repeated or malformed → 400 OperationOutcome naming the parameter. The people's page at the same
// path (src/pages/conflict-board-page.ts) answers browsers (Accept text/html, no Authorization header).
import type { Express, Request } from 'express';
import { forbidden, invalid } from '../fhir/outcome.js';
import { boardAccess, boardCsv, conflictBoard } from '../services/conflict-board.js';
import type { AppDeps } from './app.js';
import { auditAccess } from './audit-access.js';

export const CONFLICTS_PATH = '/identity/conflicts';
const PARAMS = ['establishment', '_count', '_offset', '_format'] as const;
const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;

export interface BoardQuery {
  establishment: string;
  limit: number;
  offset: number;
  format: 'json' | 'csv';
}

/** The board's parameters: `establishment` (a 9-digit FINESS, required), `_count` (0–1000), `_offset`, `_format` (json, csv). */
export function boardQuery(query: Request['query']): BoardQuery {
  for (const [name, value] of Object.entries(query)) {
    const shown = name.slice(0, 64);
    if (!(PARAMS as readonly string[]).includes(name)) throw invalid(`${shown}: unknown parameter (expected ${PARAMS.join(', ')})`, shown);
    if (typeof value !== 'string') throw invalid(`${name}: give the parameter once`, name);
  }
  const one = (name: (typeof PARAMS)[number]) => query[name] as string | undefined;
  const establishment = one('establishment');
  if (establishment === undefined) throw invalid('establishment: required (a 9-digit FINESS number)', 'establishment');
  if (!/^\d{9}$/.test(establishment)) throw invalid('establishment: expected a 9-digit FINESS number', 'establishment');
  const int = (name: '_count' | '_offset', fallback: number, max: number): number => {
    const raw = one(name);
    if (raw === undefined) return fallback;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) throw invalid(`${name}: expected an integer from 0 to ${max}`, name);
    return Number(raw);
  };
  const format = one('_format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw invalid('_format: expected "json" or "csv"', '_format');
  return { establishment, limit: int('_count', DEFAULT_PAGE, MAX_PAGE), offset: int('_offset', 0, 999_999_999), format };
}

export function mountConflictBoardRoutes(app: Express, deps: Pick<AppDeps, 'store'>): void {
  const { store } = deps;
  app.get(
    CONFLICTS_PATH,
    auditAccess(store, 'identity.conflicts.read'),
    (req, res, next) => {
      (async () => {
        const q = boardQuery(req.query);
        if (boardAccess(req.client, q.establishment) === 'refused') {
          throw forbidden(`the conflict board of establishment ${q.establishment} is its own and the regional identitovigilance cell’s`);
        }
        const csv = q.format === 'csv' || (req.query._format === undefined && req.accepts(['application/json', 'text/csv']) === 'text/csv' && !!req.get('accept')?.includes('text/csv'));
        const board = await conflictBoard(store, q.establishment, csv ? { limit: Number.MAX_SAFE_INTEGER, offset: 0 } : { limit: q.limit, offset: q.offset });
        if (csv) {
          res.status(200).type('text/csv; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="conflits-${q.establishment}.csv"`);
          res.send(boardCsv(board));
          return;
        }
        res.status(200).json(board);
      })().catch(next);
    },
  );
}
