// Documents built on worker threads (isolated-build.ts): the same bytes as in this thread, and a document that blows
// the time or memory limit fails alone — its thread is stopped, the gateway's thread never blocks, the next document builds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DocumentBuildLimitError, isolatedDocumentBuilder } from '../../src/documents/isolated-build.js';
import { buildDocument } from '../../src/documents/pipeline.js';
import { compileDocumentSettings, DEFAULT_DOCUMENT_SETTINGS_FILE, loadDocumentSettings, withCodeMaps } from '../../src/documents/settings.js';
import { loadMappingSet } from '../../src/mappings/load.js';
import type { SourceDocument } from '../../src/documents/model.js';
import { fixtureRequest } from './requests.js';

const settings = loadDocumentSettings();
const repoDoc = (): Record<string, unknown> => parseYaml(readFileSync(DEFAULT_DOCUMENT_SETTINGS_FILE, 'utf8')) as Record<string, unknown>;
const options = { sourceId: '1.2.250.1.999.42.0' };
const builders: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const b of builders) await b.close();
});

/** A PPP whose problems hold `words` words of free text: rendering time grows with it. */
function bigRequest(words: number) {
  const req = fixtureRequest('ppp', 'hospital-sync-rcp');
  const source = req.source as Extract<SourceDocument, { kind: 'ppp' }>;
  const detail = Array.from({ length: words }, (_, i) => `mot${i}`).join(' ');
  const problems = source.document.problems.map((p) => ({ ...p, detail }));
  return { ...req, source: { ...source, document: { ...source.document, problems } } } as typeof req;
}

describe('isolated document builder', () => {
  it('builds the very bytes the pipeline builds in this thread (PDF, CDA, metadata)', async () => {
    const builder = isolatedDocumentBuilder({ timeoutMs: 60_000 });
    builders.push(builder);
    const req = fixtureRequest('ppp', 'hospital-sync-rcp');
    const [inWorker, inThread] = await Promise.all([builder.build(req, settings, options), buildDocument(req, settings, options)]);
    expect(Buffer.isBuffer(inWorker.cda)).toBe(true);
    expect(inWorker.cda.equals(inThread.cda)).toBe(true);
    expect(inWorker.pdf.equals(inThread.pdf)).toBe(true);
    expect(inWorker.submission.documents[0].content.equals(inThread.submission.documents[0].content)).toBe(true);
    expect(inWorker.submission.documents[0].entry).toEqual(inThread.submission.documents[0].entry);
  }, 60_000);

  it('settings with code maps cross to the worker as data: the mapped code in the CDA, a FINESS not listed reported here', async () => {
    const builder = isolatedDocumentBuilder({ timeoutMs: 60_000 });
    builders.push(builder);
    const set = await loadMappingSet(path.join(import.meta.dirname, '../../mappings'));
    const unmapped: string[] = [];
    const mapped = withCodeMaps(compileDocumentSettings({ ...repoDoc(), codeMaps: { healthcareFacilityTypeCode: 'establishment-sectors' } }), {
      get: (n) => set.codeMaps.get(n),
      onUnmapped: (map, finess) => unmapped.push(`${map}|${finess}`),
    });
    const at = (finess: string) => {
      const req = fixtureRequest('ppp', 'hospital-sync-rcp');
      const source = req.source as Extract<SourceDocument, { kind: 'ppp' }>;
      return { ...req, source: { ...source, document: { ...source.document, establishment: { ...source.document.establishment, finess } } } } as typeof req;
    };
    const clinic = await builder.build(at('800009994'), mapped, options);
    const facility = (cda: Buffer): string => /<healthCareFacility>([\s\S]*?)<\/healthCareFacility>/.exec(cda.toString('utf8'))?.[1] ?? '';
    expect(facility(clinic.cda)).toContain('code="SA04"');
    expect(facility(clinic.cda)).toContain('codeSystem="1.2.250.1.71.4.2.4"');
    const other = await builder.build(at('590000013'), mapped, options);
    expect(facility(other.cda)).toContain('code="SA01"');
    expect(unmapped).toEqual(['establishment-sectors|590000013']);
  }, 60_000);

  it('a document over the time limit fails with the reason, the event loop keeps turning, and the next one builds', async () => {
    const builder = isolatedDocumentBuilder({ timeoutMs: 4_000 });
    builders.push(builder);
    await builder.build(fixtureRequest('ppp', 'hospital-sync-rcp'), settings, options); // the thread is up
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 50);
    const poison = builder.build(bigRequest(150_000), settings, options);
    // Queued behind the poison one: its own time limit starts when its turn comes.
    const next = builder.build(fixtureRequest('ppp', 'ppp-12-medicines'), settings, options);
    await expect(poison).rejects.toBeInstanceOf(DocumentBuildLimitError);
    await expect(poison).rejects.toThrow(/longer than 4000 ms/);
    expect((await next).cda.length).toBeGreaterThan(1000);
    clearInterval(ticker);
    expect(ticks).toBeGreaterThan(40); // this thread was never blocked (4 s of 50 ms ticks, less scheduling noise)
  }, 60_000);

  it('a document over the memory limit fails with the reason instead of exhausting the gateway’s heap', async () => {
    const builder = isolatedDocumentBuilder({ timeoutMs: 120_000, maxMemoryMb: 96 });
    builders.push(builder);
    const poison = builder.build(bigRequest(200_000), settings, options); // ~800 MB of heap in one thread
    await expect(poison).rejects.toBeInstanceOf(DocumentBuildLimitError);
    await expect(poison).rejects.toThrow(/more than 96 MiB/);
    expect((await builder.build(fixtureRequest('ppp', 'hospital-sync-rcp'), settings, options)).pdf.length).toBeGreaterThan(1000);
  }, 120_000);
});
