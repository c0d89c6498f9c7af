// A look at XML text before it is parsed: refuses a document type declaration (DOCTYPE, and with it entity
// declarations) and elements nested deeper than a limit, in one pass without recursion, so that neither the parser
// nor the code walking its tree (much of it recursive) sees such input. Not a parser: malformed XML it lets through
// is left to the parser to refuse.

/**
 * Why the text must not be parsed, or undefined. Comments, CDATA sections and processing instructions are skipped;
 * `<` cannot occur unescaped in text or attribute values, so every other `<` opens a tag.
 */
export function xmlPrescanProblem(xml: string, maxDepth: number): string | undefined {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i >= 0) {
    let next: number;
    if (xml.startsWith('<!--', i)) {
      next = xml.indexOf('-->', i + 4);
      if (next >= 0) next += 3;
    } else if (xml.startsWith('<![CDATA[', i)) {
      next = xml.indexOf(']]>', i + 9);
      if (next >= 0) next += 3;
    } else if (xml.startsWith('<?', i)) {
      next = xml.indexOf('?>', i + 2);
      if (next >= 0) next += 2;
    } else if (xml.startsWith('<!', i)) {
      // <!DOCTYPE, and the declarations only a DTD holds (<!ENTITY, <!ELEMENT…).
      return xml.startsWith('<!DOCTYPE', i) ? 'a DOCTYPE is not allowed' : `markup declaration "${xml.slice(i, i + 12)}…" is not allowed`;
    } else if (xml[i + 1] === '/') {
      depth--;
      next = xml.indexOf('>', i + 2);
      if (next >= 0) next += 1;
    } else {
      // A start tag: its end is the first `>` outside a quoted attribute value.
      let quote = '';
      let j = i + 1;
      for (; j < xml.length; j++) {
        const c = xml[j];
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") {
          quote = c;
        } else if (c === '>') {
          break;
        }
      }
      if (j >= xml.length) return undefined; // unterminated: the parser says so
      if (xml[j - 1] !== '/' && ++depth > maxDepth) return `elements nested more than ${maxDepth} levels deep`;
      next = j + 1;
    }
    if (next < 0) return undefined; // unterminated comment, CDATA or tag: the parser says so
    i = xml.indexOf('<', next);
  }
  return undefined;
}
