// The text a PDF written by pdfkit shows, page by page, as a reader would extract it: glyphs mapped back to Unicode
// through each font's ToUnicode CMap, in content order. Enough of a reader for pdfkit's own output (indirect objects
// written one after another, Flate streams, Type0 fonts with 2-byte codes), not a general PDF parser.
import { inflateSync } from 'node:zlib';

export interface PageText {
  /** One string per text object (pdfkit writes one per line, or per fragment of a line), outside artifacts. */
  lines: string[];
  /** The same for the artifacts (the running footer). */
  artifacts: string[];
  /** Glyph codes drawn with .notdef (code 0): PDF/A forbids them. */
  notdef: number;
}

interface PdfObject {
  dict: string;
  stream?: Buffer;
}

function readObjects(pdf: Buffer): Map<number, PdfObject> {
  const latin1 = pdf.toString('latin1');
  const objects = new Map<number, PdfObject>();
  const header = /(\d+) 0 obj\n/g;
  for (let m = header.exec(latin1); m; m = header.exec(latin1)) {
    const start = m.index + m[0].length;
    const end = latin1.indexOf('\nendobj', start);
    const streamAt = latin1.indexOf('\nstream\n', start);
    if (streamAt >= 0 && streamAt < end) {
      const dict = latin1.slice(start, streamAt);
      const length = /\/Length (\d+)/.exec(dict);
      if (!length) throw new Error(`object ${m[1]}: stream without a direct /Length`);
      const from = streamAt + '\nstream\n'.length;
      const raw = pdf.subarray(from, from + Number(length[1]));
      objects.set(Number(m[1]), { dict, stream: dict.includes('/FlateDecode') ? inflateSync(raw) : raw });
      header.lastIndex = from + Number(length[1]);
    } else {
      objects.set(Number(m[1]), { dict: latin1.slice(start, end) });
      header.lastIndex = end;
    }
  }
  return objects;
}

function ref(dict: string, key: string): number {
  const m = new RegExp(`/${key} (\\d+) 0 R`).exec(dict);
  if (!m) throw new Error(`no /${key} reference in ${dict.slice(0, 200)}`);
  return Number(m[1]);
}

function utf16be(hex: string): string {
  const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes.readUInt16BE(i));
  return s;
}

/** A ToUnicode CMap as written by pdfkit (bfrange with arrays) or by others (bfrange with a start, bfchar). */
function parseCMap(cmap: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const block of cmap.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const m of block[1].matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F\s]+>)/g)) {
      const [from, to] = [parseInt(m[1], 16), parseInt(m[2], 16)];
      if (m[3].startsWith('[')) {
        [...m[3].matchAll(/<([0-9a-fA-F\s]+)>/g)].forEach((d, i) => map.set(from + i, utf16be(d[1])));
      } else {
        const base = utf16be(m[3].slice(1, -1));
        for (let code = from; code <= to; code++) {
          map.set(code, base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) + code - from));
        }
      }
    }
  }
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const m of block[1].matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F\s]+)>/g)) map.set(parseInt(m[1], 16), utf16be(m[2]));
  }
  return map;
}

const TOKEN = /<<|>>|<[0-9a-fA-F\s]*>|\((?:\\.|[^\\)])*\)|\/[^\s/[\]<>()]+|\[|\]|[-+]?(?:\d+\.?\d*|\.\d+)|[A-Za-z'"*]+/g;

/** The text of every page of `pdf`, in page order. */
export function pdfText(pdf: Buffer): PageText[] {
  const objects = readObjects(pdf);
  const get = (n: number): PdfObject => {
    const o = objects.get(n);
    if (!o) throw new Error(`no object ${n}`);
    return o;
  };
  const catalog = [...objects.values()].find((o) => o.dict.includes('/Type /Catalog'));
  if (!catalog) throw new Error('no catalog');
  const kids = /\/Kids \[([^\]]*)\]/.exec(get(ref(catalog.dict, 'Pages')).dict);
  if (!kids) throw new Error('no /Kids');
  const cmaps = new Map<number, Map<number, string>>();
  return [...kids[1].matchAll(/(\d+) 0 R/g)].map(([, n]) => {
    const page = get(Number(n)).dict;
    const resources = /\/Resources (\d+) 0 R/.test(page) ? get(ref(page, 'Resources')).dict : page;
    const fonts = new Map<string, Map<number, string>>();
    for (const [, name, fontRef] of (/\/Font <<([^>]*)>>/.exec(resources)?.[1] ?? '').matchAll(/\/(\S+) (\d+) 0 R/g)) {
      const toUnicode = ref(get(Number(fontRef)).dict, 'ToUnicode');
      if (!cmaps.has(toUnicode)) cmaps.set(toUnicode, parseCMap(get(toUnicode).stream?.toString('latin1') ?? ''));
      fonts.set(name, cmaps.get(toUnicode) as Map<number, string>);
    }
    const content = get(ref(page, 'Contents')).stream?.toString('latin1') ?? '';
    const result: PageText = { lines: [], artifacts: [], notdef: 0 };
    const marked: string[] = [];
    let operands: string[] = [];
    let font: Map<number, string> | undefined;
    let current: string | undefined;
    for (const [token] of content.matchAll(TOKEN)) {
      if (!/^[A-Za-z'"*]+$/.test(token)) {
        operands.push(token);
        continue;
      }
      switch (token) {
        case 'BDC':
        case 'BMC':
          marked.push(operands[0] ?? '');
          break;
        case 'EMC':
          marked.pop();
          break;
        case 'Tf':
          font = fonts.get(operands[0]?.slice(1) ?? '');
          break;
        case 'BT':
          current = '';
          break;
        case 'ET':
          if (current !== undefined) (marked.includes('/Artifact') ? result.artifacts : result.lines).push(current);
          current = undefined;
          break;
        case 'TJ':
        case 'Tj':
          for (const op of operands) {
            if (!op.startsWith('<') || op.startsWith('<<')) continue;
            const hex = op.slice(1, -1).replace(/\s+/g, '');
            for (let i = 0; i + 3 < hex.length; i += 4) {
              const code = parseInt(hex.slice(i, i + 4), 16);
              if (code === 0) result.notdef++;
              current = (current ?? '') + (font?.get(code) ?? '\ufffd');
            }
          }
          break;
      }
      operands = [];
    }
    return result;
  });
}
