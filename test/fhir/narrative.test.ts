// txt-1 and txt-2 on Narrative.div (issue 13, point 6), parsed as XHTML: what the R4 narrative allows passes, what
// could run code, load content or hide a DTD is refused; and the XML prescan the check (and the DMP peer) rely on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_NARRATIVE_DEPTH, narrativeProblems } from '../../src/fhir/narrative.js';
import { validateResource } from '../../src/fhir/validate.js';
import { xmlPrescanProblem } from '../../src/fhir/xml-prescan.js';

const X = 'xmlns="http://www.w3.org/1999/xhtml"';
const div = (inner: string): string => `<div ${X}>${inner}</div>`;
const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const keys = (d: string): string[] => narrativeProblems(d).map((p) => p.key);

describe('narrativeProblems', () => {
  it('accepts the basic formatting elements, tables, lists, links, images, HTML entities and comments', () => {
    const ok = div(
      '<h1 class="t">Bilan</h1><p style="color: red">Jeanne&nbsp;MARTIN <b>née</b> <i>le</i> 2&#160;mars</p><!-- note -->' +
        '<table border="1"><thead><tr><th scope="col">Médicament</th></tr></thead><tbody><tr><td colspan="2">ELIQUIS</td></tr></tbody></table>' +
        '<ul><li><a href="https://example.org/a?b=1">lien</a></li><li><a href="#ancre" name="n">ici</a></li><li><a href="mailto:x@example.org">m</a></li></ul>' +
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="logo"/><br/><pre>  x  </pre><![CDATA[ a < b ]]>',
    );
    expect(narrativeProblems(ok)).toEqual([]);
  });

  it('an image alone is content (txt-2)', () => {
    expect(narrativeProblems(div('<img src="logo.png" alt=""/>'))).toEqual([]);
  });

  for (const [what, inner] of [
    ['script', '<script>alert(1)</script>'],
    ['iframe', '<iframe src="https://x"></iframe>'],
    ['frame', '<frame src="https://x"/>'],
    ['object', '<object data="x"></object>'],
    ['embed', '<embed src="x"/>'],
    ['form', '<form><input/></form>'],
    ['input', '<input value="x"/>'],
    ['button', '<button>x</button>'],
    ['style', '<style>p { color: red }</style>'],
    ['link', '<link rel="stylesheet" href="https://x/s.css"/>'],
    ['base', '<base href="https://x/"/>'],
    ['meta', '<meta http-equiv="refresh" content="0;url=https://x"/>'],
    ['svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ['body', '<body>x</body>'],
  ] as const) {
    it(`refuses <${what}> (txt-1)`, () => {
      const problems = narrativeProblems(div(`<p>text</p>${inner}`));
      expect(problems[0]).toMatchObject({ key: 'txt-1' });
      expect(problems[0].text).toContain(`<${what}`);
    });
  }

  for (const [what, inner, needle] of [
    ['onclick', '<p onclick="alert(1)">x</p>', 'onclick'],
    ['ONMOUSEOVER', '<img src="a.png" ONMOUSEOVER="alert(1)"/>', 'ONMOUSEOVER'],
    ['javascript: href', '<a href="javascript:alert(1)">x</a>', 'javascript:'],
    ['javascript: with a tab and upper case', '<a href=" JaVa&#9;Script:alert(1)">x</a>', 'javascript:'],
    ['vbscript: src', '<img src="vbscript:x"/>', 'vbscript:'],
    ['data: href', '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', 'data:'],
    ['data:image/svg+xml', '<img src="data:image/svg+xml;base64,PHN2Zz4="/>', 'data:'],
    ['expression() in style', '<p style="width: expression(alert(1))">x</p>', 'style'],
    ['url() in style', '<p style="background: url(https://tracker.example/p.gif)">x</p>', 'style'],
    ['xlink:href', '<a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="https://x">x</a>', 'xlink:href'],
    ['an unknown attribute', '<p data-x="1">x</p>', 'data-x'],
    ['an attribute of another element', '<p href="https://x">x</p>', 'href'],
  ] as const) {
    it(`refuses ${what} (txt-1)`, () => {
      const problems = narrativeProblems(div(inner));
      expect(problems.map((p) => p.key)).toContain('txt-1');
      expect(problems.map((p) => p.text).join(' | ')).toContain(needle);
    });
  }

  it('refuses a DOCTYPE, an entity declaration, a processing instruction', () => {
    expect(narrativeProblems(`<!DOCTYPE div>${div('x')}`)[0].text).toMatch(/DOCTYPE/);
    expect(narrativeProblems(`<!DOCTYPE div [<!ENTITY e "boom">]>${div('&e;')}`)[0].text).toMatch(/DOCTYPE/);
    expect(narrativeProblems(div('<?php echo 1; ?>x'))[0].text).toMatch(/processing instruction/);
  });

  it('refuses a root that is not an XHTML div, and malformed XML', () => {
    expect(keys('<div>x</div>')).toEqual(['txt-1']);
    expect(keys(`<p ${X}>x</p>`)).toEqual(['txt-1']);
    expect(keys(`<div xmlns="urn:other">x</div>`)).toEqual(['txt-1']);
    expect(narrativeProblems(div('<p>x</div>'))[0].text).toMatch(/not well-formed/);
    expect(narrativeProblems(`${div('x')}<p/>`)[0].text).toMatch(/not well-formed/);
    expect(narrativeProblems(div('&unknownentity;'))[0].text).toMatch(/not well-formed/);
  });

  it('txt-2: whitespace only, also inside elements and comments, is no content', () => {
    expect(keys(div(' \n\t '))).toEqual(['txt-2']);
    expect(keys(div('<p> </p><!-- hidden text --><br/>'))).toEqual(['txt-2']);
    // The text of a refused element is not content either.
    expect(keys(div('<script>alert(1)</script>'))).toEqual(['txt-1', 'txt-2']);
  });

  it(`refuses a div nested more than ${MAX_NARRATIVE_DEPTH} levels before parsing it`, () => {
    const n = 200_000;
    const problems = narrativeProblems(div(`${'<span>'.repeat(n)}x${'</span>'.repeat(n)}`));
    expect(problems).toEqual([{ key: 'txt-1', text: `elements nested more than ${MAX_NARRATIVE_DEPTH} levels deep` }]);
    const fits = MAX_NARRATIVE_DEPTH - 1;
    expect(narrativeProblems(div(`${'<span>'.repeat(fits)}x${'</span>'.repeat(fits)}`))).toEqual([]);
  });

  it('reports at most 10 problems', () => {
    expect(narrativeProblems(div('<p onclick="x">x</p>'.repeat(50)))).toHaveLength(10);
  });

  it('property: any text, escaped, in any allowed element, is a valid narrative', () => {
    const allowed = fc.constantFrom('p', 'span', 'b', 'i', 'td', 'li', 'h2', 'pre', 'code', 'a', 'q');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), allowed, (text, el) => {
        fc.pre(text.trim() !== '' && !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(text));
        expect(narrativeProblems(div(`<${el}>${escape(text)}</${el}>`))).toEqual([]);
      }),
    );
  });

  it('property: any on* attribute, on any allowed element, is refused', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{1,12}$/), fc.constantFrom('p', 'a', 'img', 'div', 'td', 'span'), fc.string(), (event, el, value) => {
        const problems = narrativeProblems(div(`<${el} on${event}="${escape(value).replace(/"/g, '&quot;')}">x</${el}>`));
        expect(problems.some((p) => p.key === 'txt-1' && p.text.includes(`on${event}`))).toBe(true);
      }),
    );
  });

  it('property: whatever the string, the check answers (never throws)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(Array.isArray(narrativeProblems(s))).toBe(true);
        expect(Array.isArray(narrativeProblems(div(s)))).toBe(true);
      }),
    );
  });
});

describe('validateResource reports them on the div', () => {
  it('as errors with the expression of the div, also in contained resources', () => {
    const issues = validateResource({
      resourceType: 'Patient',
      text: { status: 'generated', div: div('<script>alert(1)</script>x') },
      contained: [{ resourceType: 'Organization', id: 'o', name: 'x', text: { status: 'generated', div: div('<p onclick="x">x</p>') } }],
    } as never);
    expect(issues.filter((i) => i.severity === 'error').map((i) => [i.expression?.[0], i.details?.text?.slice(0, 26)])).toEqual([
      ['Patient.text.div', 'Constraint txt-1 not met: '],
      ['Patient.contained[0].text.div', 'Constraint txt-1 not met: '],
    ]);
  });
});

describe('xmlPrescanProblem', () => {
  it('counts nesting of start tags, skipping empty elements, end tags, comments, CDATA, PIs and quoted `>`', () => {
    expect(xmlPrescanProblem('<a><b/><c x=">" y=\'>\'><d></d></c></a>', 3)).toBeUndefined();
    expect(xmlPrescanProblem('<a><b><c><d/></c></b></a>', 2)).toMatch(/more than 2 levels/);
    expect(xmlPrescanProblem(`<a><!-- <b><c><d> --><![CDATA[<b><c><d>]]><?pi <b><c>?></a>`, 1)).toBeUndefined();
  });

  it('refuses any markup declaration outside comments and CDATA', () => {
    expect(xmlPrescanProblem('<?xml version="1.0"?><!DOCTYPE a><a/>', 10)).toMatch(/DOCTYPE/);
    expect(xmlPrescanProblem('<a><!ENTITY x "y"></a>', 10)).toMatch(/not allowed/);
    expect(xmlPrescanProblem('<a><!-- <!DOCTYPE a> --></a>', 10)).toBeUndefined();
  });

  it('property: a chain of n nested elements is refused exactly when n exceeds the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), (n, max) => {
        const xml = `${'<e a="&gt;>">'.repeat(n)}t${'</e>'.repeat(n)}`;
        expect(xmlPrescanProblem(xml, max) !== undefined).toBe(n > max);
      }),
    );
  });

  it('property: never throws on any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => void xmlPrescanProblem(s, 5)));
  });
});
