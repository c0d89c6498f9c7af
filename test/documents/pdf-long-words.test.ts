// Issue 13, point 1: one unbroken word of 100 KB in a free text blocked the event loop and exhausted the heap while its
// PDF was laid out (pdfkit cuts a word wider than the line in quadratic time and memory). Long words are now cut into
// line-wide pieces before pdfkit sees them (long-words.ts): rendering stays linear, and every character is still there.
import { afterEach, describe, expect, it } from 'vitest';
import { documentHeader } from '../../src/documents/header.js';
import { breakLongWords, LONG_RUN } from '../../src/documents/long-words.js';
import type { DocumentRequest } from '../../src/documents/model.js';
import { renderPdf } from '../../src/documents/pdf.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import type { DocumentKind } from '../../src/domain/parse.js';
import { pdfText, type PageText } from './pdf-text.js';
import { fixtureRequest } from './requests.js';

const settings = loadDocumentSettings();

// A render holds the thread for seconds, and nothing in it waits for I/O: let the worker answer the test runner between
// two tests, or its pending calls time out (vitest gives them 60 s) while the renders follow one another.
afterEach(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));

/** A word of `length` characters (letters, accented ones included, and digits) without any break opportunity. */
function word(length: number, seed = 1): string {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèàçôùÉ0123456789';
  let state = seed * 2654435761 >>> 0 || 1; // xorshift32: no run of it repeats within a few megabytes
  let s = '';
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    s += letters[state % letters.length];
  }
  return s;
}

/** The body text of a PDF (artifacts left out), its lines joined with nothing: a word cut over lines reads whole. */
function body(pages: readonly PageText[]): string {
  return pages.flatMap((p) => p.lines).join('');
}

/** Whether `text` holds `part`, said without printing either (both may be megabytes long). */
function expectToHold(text: string, part: string, what: string): void {
  expect(text.includes(part), `${what} (${part.length} characters from "${part.slice(0, 20)}…") is printed`).toBe(true);
}

/** Every page has one footer line (an artifact), which ends with its page number. */
function expectOneLineFooters(pages: readonly PageText[]): void {
  pages.forEach((p, i) => {
    expect(p.artifacts).toHaveLength(1);
    expect(p.artifacts[0]).toMatch(new RegExp(` — page ${i + 1}/${pages.length}$`));
  });
}

describe('breakLongWords', () => {
  const perCodePoint = (s: string): number => [...s].length; // every character, the newline included, 1 unit wide

  it('leaves a text without long words as it is', () => {
    const text = `Pas de mot long ici ; ${'x'.repeat(LONG_RUN)} non plus.`;
    expect(breakLongWords(text, 10, perCodePoint)).toBe(text);
  });

  it('leaves a long word that fits the line as it is', () => {
    const text = `avant ${word(200)} après`;
    expect(breakLongWords(text, 200, perCodePoint)).toBe(text);
  });

  it('cuts a long word into pieces that fit the line with the newline after them, every character kept in order', () => {
    const long = word(1000);
    const text = `avant ${long} après\n${word(30, 2)} fin`;
    const cut = breakLongWords(text, 40, perCodePoint);
    expect(cut.replaceAll('\n', '')).toBe(text.replaceAll('\n', ''));
    const pieces = breakLongWords(long, 40, perCodePoint).split('\n');
    expect(pieces.join('')).toBe(long);
    expect(pieces.slice(0, -1).every((p) => p.length === 38)).toBe(true); // 40, less the newline and a rounding margin
    expect(cut).toContain(`\n${word(30, 2)} fin`);
    expect(cut.startsWith(`avant ${pieces[0]}\n`)).toBe(true);
  });

  it('never separates a mark, a joiner, a modifier or a surrogate pair from the character before it', () => {
    const run = 'é👍🏽👨‍👩‍👧a\u0301\u0327🇫🇷x'.repeat(50);
    const pieces = breakLongWords(run, 7, perCodePoint).split('\n');
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.join('')).toBe(run);
    for (const p of pieces.slice(1)) expect(p).not.toMatch(/^[\p{M}\u200d\u{1f3fb}-\u{1f3ff}\udc00-\udfff]/u);
    for (const p of pieces.slice(0, -1)) expect(p).not.toMatch(/[\u200d\ud800-\udbff]$/);
  });

  it('puts one character a line when the line is narrower than a character', () => {
    const long = word(100);
    expect(breakLongWords(long, 0.5, perCodePoint)).toBe([...long].join('\n'));
  });

  it('measures every character once and every piece once more: linear in the word', () => {
    const long = word(1_000_000);
    let measured = 0;
    const cut = breakLongWords(long, 80, (s) => {
      measured += s.length;
      return perCodePoint(s);
    });
    expect(cut.replaceAll('\n', '')).toBe(long);
    expect(measured).toBeLessThan(2.1 * long.length);
  });
});

describe('renderPdf: one unbroken word of 1 KB to 1 MB in a problem’s detail', () => {
  const pageCounts = new Map<number, number>();

  async function renderWithDetail(detail: string): Promise<PageText[]> {
    const req = fixtureRequest('ppp', 'hospital-sync-rcp');
    if (req.source.kind !== 'ppp') throw new Error('not a PPP');
    const [first, ...rest] = req.source.document.problems;
    req.source.document.problems = [{ ...first, detail }, ...rest];
    return pdfText(await renderPdf(req, documentHeader(req, settings)));
  }

  it.each([0, 1_000, 10_000, 100_000, 1_000_000])('renders a word of %i characters whole, on pages of their own', async (size) => {
    const long = word(size);
    const pages = await renderWithDetail(size === 0 ? 'Détail court.' : long);
    pageCounts.set(size, pages.length);
    expectToHold(body(pages), long, 'the word');
    expect(pages.every((p) => p.notdef === 0)).toBe(true);
    expectOneLineFooters(pages);
  }, 60_000);

  it('takes pages in proportion to the word’s length', () => {
    const extra = (size: number): number => (pageCounts.get(size) ?? NaN) - (pageCounts.get(0) ?? NaN);
    // ~5,000 characters a page: 100 KB take ~20 pages, 1 MB ~200.
    expect(extra(100_000)).toBeGreaterThan(15);
    expect(extra(100_000)).toBeLessThan(30);
    expect(extra(1_000_000) / extra(100_000)).toBeGreaterThan(8);
    expect(extra(1_000_000) / extra(100_000)).toBeLessThan(12);
  });
});

describe('renderPdf: a long word in every text that reaches the PDF', () => {
  /** Free-text and name fields of the sources (not ids, codes or dates, which are validated). */
  const TEXT_KEYS = new Set(['text', 'detail', 'comment', 'reason', 'criterion', 'note', 'family', 'given', 'name', 'birthName', 'usedName', 'usedGivenName', 'firstBirthGivenName', 'birthGivenNames']);

  /**
   * Fields not to be found: the first given name when all the given names are printed (it is in the footer, cut short
   * when names are long), the RCP messages other than the MT's and the PHO's opinions (not printed), and a current
   * dosage in the FCT table, which follows the drug's name in its cell: pdfkit cuts a cell at a page's height, and a
   * 10,000-character name fills more than that in its column.
   */
  const NOT_PRINTED = [/^patient\.firstBirthGivenName$/, /^rcp\.messages\[\d+\]\.text$/, /^fct\.lines\[\d+\]\.current\.dosage\.text$/];

  /** Replace every such field of `value` by a word of its own, `length` characters long, recorded with its path. */
  function lengthen(value: unknown, length: number, words: Map<string, string>, path = ''): void {
    if (Array.isArray(value)) {
      value.forEach((item, i) => lengthen(item, length, words, `${path}[${i}]`));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    for (const [key, v] of Object.entries(record)) {
      const at = path ? `${path}.${key}` : key;
      const fresh = (where: string): string => {
        const w = word(length, words.size + 7);
        words.set(where, w);
        return w;
      };
      if (TEXT_KEYS.has(key) && typeof v === 'string') record[key] = fresh(at);
      else if (TEXT_KEYS.has(key) && Array.isArray(v) && v.every((x) => typeof x === 'string')) record[key] = v.map((_, i) => fresh(`${at}[${i}]`));
      else lengthen(v, length, words, at);
    }
  }

  it.each([
    ['ppp', 'hospital-sync-rcp'],
    ['ctm', 'admission-divergences'],
    ['bpm', 'self-medication-remote'],
  ] as const)('%s %s: every word is printed, and the layout stays linear', async (kind: DocumentKind, name: string) => {
    const req: DocumentRequest = fixtureRequest(kind, name);
    const words = new Map<string, string>();
    lengthen(req.source.document, 10_000, words); // the patient too: the request shares the source's object
    expect(words.size).toBeGreaterThan(10);
    const header = documentHeader(req, settings);
    const pages = pdfText(await renderPdf(req, { ...header, title: `${header.title} ${word(10_000, 3)}` }));
    const text = body(pages);
    // A table row is at most a page high (pdfkit cuts a cell's text there), so a table cell shows the word's first lines.
    for (const [path, w] of words) if (!NOT_PRINTED.some((re) => re.test(path))) expectToHold(text, w.slice(0, 500), path);
    expectToHold(text, word(10_000, 3), 'the title');
    expect(pages.every((p) => p.notdef === 0)).toBe(true);
    expectOneLineFooters(pages);
  }, 60_000);

  it('prints the whole word in names, titles, paragraphs and entries', async () => {
    const req = fixtureRequest('ppp', 'hospital-sync-rcp');
    if (req.source.kind !== 'ppp') throw new Error('not a PPP');
    const ppp = req.source.document;
    const [birthName, author, rcpText, recommendation, note, title] = [1, 2, 3, 4, 5, 6].map((seed) => word(20_000, seed));
    ppp.patient.birthName = birthName;
    ppp.author.family = author;
    if (ppp.rcp) ppp.rcp.messages = ppp.rcp.messages.map((m) => ({ ...m, text: rcpText }));
    ppp.recommendations = ppp.recommendations.map((r) => ({ ...r, text: recommendation }));
    ppp.note = note;
    const header = documentHeader(req, settings);
    const pages = pdfText(await renderPdf(req, { ...header, title }));
    const text = body(pages);
    const printed = { birthName, author, rcpText, recommendation, note, title };
    for (const [what, w] of Object.entries(printed)) expectToHold(text, w, what);
    expectOneLineFooters(pages);
    expect(pages[0].artifacts[0]).toMatch(/^\S+…, né\(e\) le 02\/11\/1938 — \S+… — page 1\/\d+$/);
  }, 60_000);
});
