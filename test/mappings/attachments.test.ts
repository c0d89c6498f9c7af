// Which BPM format an MSSanté attachment selects (issue 19): file-name globs first, then the media type.
import { describe, expect, it } from 'vitest';
import { formatOfAttachment, globToRegExp } from '../../src/mappings/attachments.js';
import { fakeMapping } from './fake-loader.js';

describe('attachments in a vendor format', () => {
  const pgx = fakeMapping('pgx', { fileNames: ['*.pgx.xml', 'BPM_??.xml'], mediaTypes: ['application/vnd.pharmagest.bpm+xml'] });
  const ppp = fakeMapping('dpi', { kind: 'ppp', fileNames: ['*.xml'] });
  it('globs: * and ?, case-insensitive, the whole name, regex characters literal', () => {
    expect(globToRegExp('*.pgx.xml').test('Export 01.PGX.XML')).toBe(true);
    expect(globToRegExp('*.pgx.xml').test('a.pgx.xml.zip')).toBe(false);
    expect(globToRegExp('BPM_??.xml').test('bpm_12.xml')).toBe(true);
    expect(globToRegExp('a+b(1).xml').test('a+b(1).xml')).toBe(true);
    expect(globToRegExp('*.xml').test('a/b.xml')).toBe(false);
  });
  it('selects a BPM format by file name (base name), then by media type; never a format of another kind', () => {
    expect(formatOfAttachment([ppp, pgx], '../x/export.pgx.xml', undefined)?.name).toBe('pgx');
    expect(formatOfAttachment([ppp, pgx], 'export.bin', 'application/vnd.pharmagest.bpm+xml; charset=utf-8')?.name).toBe('pgx');
    expect(formatOfAttachment([ppp, pgx], 'other.xml', 'text/xml')).toBeUndefined();
    expect(formatOfAttachment([ppp, pgx], undefined, undefined)).toBeUndefined();
  });
});
