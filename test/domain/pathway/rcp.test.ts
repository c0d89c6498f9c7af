// The no-RCP rule: sent without an RCP only with a reason, and then not billable for the DAH.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../../src/domain/parse.js';
import { rcpRule } from '../../../src/domain/pathway/rcp.js';

const raw = (): Record<string, unknown> =>
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../fixtures/ppp/hospital-sync-rcp.json'), 'utf8')) as Record<string, unknown>;

describe('rcpRule', () => {
  it('a PPP with an RCP is sendable and billable for the DAH', () => {
    expect(rcpRule(parseDocument('ppp', raw()))).toEqual({ billableDah: true, sendable: true });
  });

  it('without an RCP but with a reason: sendable, not billable, the reason kept', () => {
    const d = raw();
    delete d.rcp;
    d.noRcpReason = 'MT injoignable avant la sortie ; avis recueilli par téléphone.';
    expect(rcpRule(parseDocument('ppp', d))).toEqual({ billableDah: false, sendable: true, reason: 'MT injoignable avant la sortie ; avis recueilli par téléphone.' });
  });

  it('without an RCP nor a reason: not sendable, not billable, and says why', () => {
    const d = raw();
    delete d.rcp;
    const r = rcpRule(parseDocument('ppp', d));
    expect(r).toMatchObject({ billableDah: false, sendable: false });
    expect(r.reason).toContain('noRcpReason');
  });

  it('refuses a no-RCP reason on a PPP that has an RCP', () => {
    const d = raw();
    d.noRcpReason = 'Pas de RCP.';
    expect(() => parseDocument('ppp', d)).toThrow(/ppp\.noRcpReason: a PPP with an RCP has no no-RCP reason/);
  });
});
