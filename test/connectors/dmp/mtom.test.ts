import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildMultipartRelated, parseContentType, parseMultipartRelated, resolveXopIncludes } from '../../../src/connectors/dmp/mtom.js';

const ROOT_TYPE = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"';

describe('MTOM multipart/related', () => {
  it('round-trips arbitrary binary parts byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 4 }), (root, attachments) => {
        const built = buildMultipartRelated(
          { contentId: '0.1', contentType: ROOT_TYPE, body: Buffer.from(root) },
          attachments.map((a, i) => ({ contentId: `0.${i + 2}`, contentType: 'application/octet-stream', body: Buffer.from(a) })),
          { boundary: 'MIMEBoundary_test', type: 'application/xop+xml', startInfo: 'application/soap+xml', action: 'urn:x' },
        );
        const parsed = parseMultipartRelated(built.contentType, built.body);
        expect(parsed.root.contentId).toBe('0.1');
        expect(parsed.root.body.equals(Buffer.from(root))).toBe(true);
        expect(parsed.parts).toHaveLength(attachments.length + 1);
        attachments.forEach((a, i) => expect(parsed.byContentId.get(`0.${i + 2}`)?.body.equals(Buffer.from(a))).toBe(true));
      }),
    );
  });

  it('writes the Content-Type of fr-interop §2.2', () => {
    const { contentType } = buildMultipartRelated({ contentId: '0.1', contentType: ROOT_TYPE, body: Buffer.from('<x/>') }, [], {
      boundary: 'b1',
      type: 'application/xop+xml',
      startInfo: 'application/soap+xml',
      action: 'urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b',
    });
    expect(contentType).toBe('multipart/related; boundary="b1"; type="application/xop+xml"; start="<0.1>"; start-info="application/soap+xml"; action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"');
    expect(parseContentType(contentType).params).toEqual({
      boundary: 'b1',
      type: 'application/xop+xml',
      start: '<0.1>',
      'start-info': 'application/soap+xml',
      action: 'urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b',
    });
  });

  it('reads a message with bare LF line ends, an unquoted boundary, a base64 part and the root not first', () => {
    const body = Buffer.from(
      [
        'preamble to ignore',
        '--b2',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: base64',
        'Content-ID: <doc@x>',
        '',
        Buffer.from('hello').toString('base64'),
        '--b2',
        'content-type: application/xop+xml;',
        '  type="application/soap+xml"',
        'Content-ID: <root@x>',
        '',
        '<e/>',
        '--b2--',
        '',
      ].join('\n'),
    );
    const parsed = parseMultipartRelated('Multipart/Related; boundary=b2; start="<root@x>"; type="application/xop+xml"', body);
    expect(parsed.root.body.toString()).toBe('<e/>');
    expect(parsed.root.contentType).toBe('application/xop+xml; type="application/soap+xml"');
    expect(parsed.byContentId.get('doc@x')?.body.toString()).toBe('hello');
  });

  it('refuses a truncated message and a missing start part', () => {
    const { contentType, body } = buildMultipartRelated({ contentId: '0.1', contentType: ROOT_TYPE, body: Buffer.from('<x/>') }, [], { boundary: 'b3', type: 'application/xop+xml' });
    expect(() => parseMultipartRelated(contentType, body.subarray(0, body.length - 8))).toThrow(/closing delimiter/);
    expect(() => parseMultipartRelated(contentType.replace('<0.1>', '<0.9>'), body)).toThrow(/start part <0.9>/);
    expect(() => parseMultipartRelated('application/soap+xml', body)).toThrow(/multipart\/related/);
  });

  it('refuses to build when the boundary occurs in a part', () => {
    expect(() => buildMultipartRelated({ contentId: '0.1', contentType: ROOT_TYPE, body: Buffer.from('x\r\n--b4\r\n') }, [], { boundary: 'b4', type: 'application/xop+xml' })).toThrow(/boundary/);
  });

  it('replaces each xop:Include by the base64 of its part', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const xml = '<a xmlns:x="urn:ihe:iti:xds-b:2007"><x:Document id="d1"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:0.2"/></x:Document></a>';
    const parts = new Map([['0.2', { headers: {}, contentId: '0.2', body: bytes }]]);
    expect(resolveXopIncludes(xml, parts)).toBe(`<a xmlns:x="urn:ihe:iti:xds-b:2007"><x:Document id="d1">${bytes.toString('base64')}</x:Document></a>`);
    expect(() => resolveXopIncludes(xml.replace('0.2', '0.3'), parts)).toThrow(/<0.3>/);
  });
});
