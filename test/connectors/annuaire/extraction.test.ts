import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readExtraction, type DirectoryRecord, type LineError } from '../../../src/connectors/annuaire/extraction.js';
import { SAMPLE_BAD, SAMPLE_HEADER, sampleExtraction } from '../../support/annuaire-sample.js';

async function read(text: string | Buffer[], maxLineBytes?: number): Promise<{ records: DirectoryRecord[]; errors: LineError[] }> {
  const records: DirectoryRecord[] = [];
  const errors: LineError[] = [];
  const input = Readable.from(typeof text === 'string' ? [Buffer.from(text)] : text);
  for await (const item of readExtraction(input, maxLineBytes ? { maxLineBytes } : {})) {
    if ('record' in item) records.push(item.record);
    else errors.push(item.error);
  }
  return { records, errors };
}

describe('extraction correspondance MSSanté reader', () => {
  it('reads the records and reports each bad line by its number', async () => {
    const { records, errors } = await read(sampleExtraction());
    expect(records.map((r) => r.line)).toEqual([2, 3, 4, 5, 7, 9, 11, 13]);
    expect(records[0]).toEqual({
      line: 2,
      address: 'helene.lefevre@medecin.mssante.fr',
      balType: 'PER',
      ppId: '10001234567',
      ppIdKind: 'RPPS',
      family: 'LEFÈVRE',
      given: 'Hélène',
      profession: 'Médecin',
      specialty: 'Médecine générale',
      structureId: '590780193',
      structureIdKind: 'FINESS',
      structureName: 'Cabinet du Beffroi',
      postcode: '59000',
      city: 'LILLE',
    });
    expect(records.find((r) => r.line === 5)).toMatchObject({ balType: 'ORG', structureId: '590780193', structureIdKind: 'FINESS' });
    expect(records.find((r) => r.line === 5)?.ppId).toBeUndefined();
    expect(records.find((r) => r.line === 9)).toMatchObject({ ppId: '592345678', ppIdKind: 'ADELI', family: 'DE LA CROIX', given: 'Zoé' });
    expect(records.find((r) => r.line === 13)).toMatchObject({ structureId: '2A0000015', structureIdKind: 'FINESS', structureName: 'CH d’Ajaccio (test)' });
    expect(new Set(records.map((r) => r.balType))).toEqual(new Set(['PER', 'CAB', 'ORG', 'APP']));
    expect(errors.map((e) => e.line)).toEqual([SAMPLE_BAD.missingAddress, SAMPLE_BAD.badRpps, SAMPLE_BAD.wrongColumns, SAMPLE_BAD.bidi, SAMPLE_BAD.notEmail]);
    expect(errors[0]!.reason).toMatch(/no address/);
    expect(errors[1]!.reason).toMatch(/RPPS "1000123" is not 11 digits/);
    expect(errors[2]!.reason).toBe(`14 columns, the header has ${SAMPLE_HEADER.length}`);
    expect(errors[3]!.reason).toMatch(/column 9 contains U\+202E \(bidirectional/);
    expect(errors[4]!.reason).toMatch(/is not an e-mail address/);
  });

  it('survives hostile input: a huge line, control characters, a BOM, chunks split anywhere, a missing last newline', async () => {
    const text = sampleExtraction().split('\r\n');
    text.splice(3, 0, `PER|${'x'.repeat(200_000)}@a.fr|8`); // line 4 becomes huge
    text[4] = text[4]!.replace('NGUYEN', 'NGU\u0000YEN'); // line 5 (the pharmacist, moved down one)
    const bytes = Buffer.from(`\ufeff${text.join('\n').trimEnd()}`);
    // Split into 7-byte chunks, cutting through multi-byte characters.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
    const { records, errors } = await read(chunks, 4096);
    expect(errors.slice(0, 2)).toEqual([
      { line: 4, reason: 'line longer than 4096 bytes' },
      { line: 5, reason: 'column 9 contains U+0000 (control character)' },
    ]);
    expect(records.map((r) => r.line)).toEqual([2, 3, 5, 6, 8, 10, 12, 14].filter((l) => l !== 5));
    expect(records[0]!.family).toBe('LEFÈVRE');
    expect(records.at(-1)!.address).toBe('secretariat@ch-ajaccio-test.mssante.fr');
  });

  it('refuses a file without an "Adresse BAL" column, or whose header is too long', async () => {
    await expect(read('a|b|c\n1|2|3\n')).rejects.toThrow(/no "Adresse BAL" column/);
    await expect(read(`${'Adresse BAL|'.repeat(1000)}\nx@y.fr\n`, 4096)).rejects.toThrow(/line 1: the header is longer than 4096 bytes/);
  });
});
