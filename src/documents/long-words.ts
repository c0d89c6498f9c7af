// Over-long words, cut into line-wide pieces before pdfkit lays them out.
//
// pdfkit's LineWrapper cuts a word wider than the line one line at a time, measuring the whole rest of the word again
// after each cut, and its font caches the layout of every such rest (EmbeddedFont.layoutCache): time and memory grow
// with the square of the word's length (a 30 KB word took 32 s and 2.7 GB; an upstream bug, still open). A word whose
// pieces are each narrower than the line is laid out in linear time.
//
// The pieces are separated by a newline, a mandatory break for the wrapper that draws nothing (pdfkit strips it from
// each line before encoding it). A zero-width space would have been an optional break, but fontkit draws that
// default-ignorable character with the space glyph, so the ToUnicode map turns it into a space inside the word (or a
// real space into U+200B), and text extracted from the PDF would no longer hold the word as written.

/** A run of at most this many UTF-16 code units is left as written: pdfkit cuts it itself, at a cost that stays small. */
export const LONG_RUN = 64;

/**
 * The break opportunities that end a run: the spaces and line ends of UAX #14 (classes SP, BK, CR, LF, NL, ZW and the
 * spaces of class BA). Other break opportunities (after a hyphen, between ideographs…) are not looked for: a run that
 * holds some is at worst cut where pdfkit could have broken it itself, and only if it is wider than the line.
 */
function endsRun(code: number): boolean {
  return (
    (code >= 0x09 && code <= 0x0d) ||
    code === 0x20 ||
    code === 0x85 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x2006) ||
    (code >= 0x2008 && code <= 0x200b) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** Code points that belong with the one before them: marks, joiners, variation selectors, emoji modifiers and tags. */
const JOINS_PREVIOUS = /[\p{M}\u200c\u200d\u{1f3fb}-\u{1f3ff}\u{e0020}-\u{e007f}]/uy;

/** Whether `s` may be cut before index `i` (a code point boundary) without splitting a character as it is read. */
function canCut(s: string, i: number): boolean {
  if (s.charCodeAt(i - 1) === 0x200d) return false;
  JOINS_PREVIOUS.lastIndex = i;
  return !JOINS_PREVIOUS.test(s);
}

/** The index after the code point at `i`. */
function nextCodePoint(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? i + 2 : i + 1;
}

/** The index of the code point before index `i`. */
function previousCodePoint(s: string, i: number): number {
  const c = s.charCodeAt(i - 1);
  return c >= 0xdc00 && c <= 0xdfff && i >= 2 ? i - 2 : i - 1;
}

/**
 * `text` with every run longer than LONG_RUN and wider than `width` cut into pieces that each fit `width`, separated by
 * newlines; the characters themselves are kept, in order. `measure` is the width of a string in the font and size the
 * text will be drawn in (pdfkit's `widthOfString`). Linear in the text's length: every character is measured once on its
 * own, each piece once more as a whole (kerning may widen it). A text without long runs is returned as is.
 */
export function breakLongWords(text: string, width: number, measure: (s: string) => number): string {
  let out: string[] | undefined;
  let copied = 0;
  let runStart = 0;
  const widths = new Map<string, number>();
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && !endsRun(text.charCodeAt(i))) continue;
    if (i - runStart > LONG_RUN) {
      const run = text.slice(runStart, i);
      const cut = cutRun(run, width, measure, widths);
      if (cut !== run) {
        out ??= [];
        out.push(text.slice(copied, runStart), cut);
        copied = i;
      }
    }
    runStart = i + 1;
  }
  if (!out) return text;
  out.push(text.slice(copied));
  return out.join('');
}

function cutRun(run: string, width: number, measure: (s: string) => number, widths: Map<string, number>): string {
  const charWidth = (from: number, to: number): number => {
    const ch = run.slice(from, to);
    let w = widths.get(ch);
    if (w === undefined) widths.set(ch, (w = measure(ch)));
    return w;
  };
  // A run that fits the line is pdfkit's to place (characters first: a run of a megabyte is not measured as a whole).
  let total = 0;
  for (let i = 0; i < run.length && total <= width; ) {
    const next = nextCodePoint(run, i);
    total += charWidth(i, next);
    i = next;
  }
  if (total <= width && measure(run) <= width) return run;
  // pdfkit measures a word with the newline that ends it (drawn as nothing, measured as the .notdef glyph).
  const target = width - measure('\n') - 0.01;
  const pieces: string[] = [];
  let start = 0;
  while (start < run.length) {
    // The longest prefix of what is left whose characters, side by side, fit the line, cut where a character ends.
    let end = start;
    let sum = 0;
    let lastCut = -1;
    while (end < run.length) {
      const next = nextCodePoint(run, end);
      sum += charWidth(end, next);
      if (sum > target) break;
      end = next;
      if (end < run.length && canCut(run, end)) lastCut = end;
    }
    let cut = end >= run.length || (end > start && canCut(run, end)) ? end : lastCut > start ? lastCut : end;
    if (cut <= start) cut = nextCodePoint(run, start); // a line narrower than one character: one character a line
    // Kerning may make the piece wider than its characters side by side.
    while (measure(run.slice(start, cut)) > target && previousCodePoint(run, cut) > start) {
      do cut = previousCodePoint(run, cut);
      while (previousCodePoint(run, cut) > start && !canCut(run, cut));
    }
    pieces.push(run.slice(start, cut));
    start = cut;
  }
  return pieces.join('\n');
}
