// Enqueueing documents for the DMP (services/document-delivery.ts), on a real SQLite file: the message carries the
// registry's qualified traits with the SENDER's own patient id, names the version it replaces, and is refused —
// audited, nothing enqueued — when the identity is not qualified or the patient objected.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import type { DocumentMessage } from '../../src/documents/message.js';
import { submitDocument, type SubmissionContext } from '../../src/services/submission.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
const config = configFrom({
  outbox: {
    dispatcher: false,
    destinations: { dmp: { kind: 'dmp', url: 'https://127.0.0.1:9/never', tls: { pkcs12: 'unused.p12' } } },
    routes: [{ on: 'ppp.stored', destination: 'dmp' }],
  },
});
const ctx = (): SubmissionContext => ({ now: '2026-11-22T10:00:00+01:00', actor: 'test', fhirBase: 'http://x/fhir', outbox: config.outbox, documents: config.documents });

let dir: string;
let store: ResourceStore;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-docdelivery-'));
  store = await openSqliteStore({ file: path.join(dir, 'db.sqlite') });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const payloads = async (): Promise<DocumentMessage[]> => (await store.outbox.list({ destination: 'dmp', limit: 50, offset: 0 })).items.map((m) => m.payload as DocumentMessage);

describe('documents enqueued for the DMP', () => {
  it('carry the qualified traits of the registry and the sending establishment’s own patient id', async () => {
    await submitDocument(store, 'ppp', fixture(), ctx());
    // Another establishment names the same (qualified) patient with its own IPP: the identity is certain (same INS).
    const other = fixture();
    other.id = 'OTHER-PPP-1';
    other.establishment = { finess: '590780193', name: 'CH de Lille (démo)' };
    other.patient = { ...(other.patient as object), sourceId: { system: 'urn:oid:1.2.250.1.999.1.590780193.1', value: 'IPP-LILLE-7' } };
    await submitDocument(store, 'ppp', other, ctx());
    const [first, second] = await payloads();
    expect(first.patient.sourceId).toEqual({ system: 'urn:oid:1.2.250.1.999.1.800000317.1', value: '80057321' });
    expect(second.patient.sourceId).toEqual({ system: 'urn:oid:1.2.250.1.999.1.590780193.1', value: 'IPP-LILLE-7' });
    expect(second.patient).toMatchObject({ status: 'QUAL', ins: { matricule: '138112A00405796' }, birthName: 'FALCONE' });
    expect(second.ids.setId).not.toBe(first.ids.setId);
  });

  it('a new version names the one it replaces; an unchanged re-send enqueues nothing', async () => {
    const before = (await payloads()).length;
    await submitDocument(store, 'ppp', fixture(), ctx());
    expect(await payloads()).toHaveLength(before);
    await submitDocument(store, 'ppp', { ...fixture(), note: 'révision' }, ctx());
    const last = (await payloads()).at(-1) as DocumentMessage;
    expect(last.ids.version).toBe(2);
    expect(last.ids.replaces).toBe((await payloads())[0].ids.id);
  });

  it('refusals are audited and enqueue nothing: identity not qualified, patient opposition', async () => {
    const before = (await payloads()).length;
    const vali = fixture();
    vali.id = 'VALI-1';
    // Someone else entirely (no candidate: a new identity, settled), validated but not qualified.
    vali.patient = {
      sourceId: { system: 'urn:oid:1.2.250.1.999.1.800000317.1', value: 'OTHER-9' },
      status: 'VALI',
      birthName: 'DURAND',
      firstBirthGivenName: 'Paule',
      birthDate: '1950-05-05',
      sex: 'F',
      birthPlaceInsee: '59350',
    };
    const r1 = await submitDocument(store, 'ppp', vali, ctx());
    const opposed = { ...fixture(), id: 'OPP-1', dmp: { opposition: true } };
    const r2 = await submitDocument(store, 'ppp', opposed, ctx());
    expect(await payloads()).toHaveLength(before);
    const warnings = [r1, r2].map((b) => b.entry?.flatMap((e) => (e.response?.outcome as { issue: { details: { text: string } }[] } | undefined)?.issue ?? []).map((i) => i.details.text));
    expect(warnings[0]?.[0]).toMatch(/^not sent to dmp: the patient identity is VALI, not qualified/);
    expect(warnings[1]?.[0]).toMatch(/objected/);
    const refused = (await store.auditLog({ limit: 100 })).filter((a) => a.action === 'document.refused');
    expect(refused.map((a) => a.detail).sort()).toEqual([expect.stringMatching(/^dmp: the patient identity is VALI/), expect.stringMatching(/^dmp: the patient objected/)]);
  });
});
