// The pages' two small guards: the return path after sign-in never leaves the site (no open redirect), and the
// `html` tagged template escapes every interpolated value unless it is itself markup we wrote.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { html } from '../../src/pages/html.js';
import { safeReturnPath, signInUrl } from '../../src/pages/return-path.js';
import { rppsOf } from '../../src/pages/sign-in.js';

describe('safeReturnPath', () => {
  it('keeps a path of the site, with its query', () => {
    expect(safeReturnPath('/identity/review/01a2-b3?enregistre=1')).toBe('/identity/review/01a2-b3?enregistre=1');
    expect(safeReturnPath('/accueil')).toBe('/accueil');
  });

  it('refuses other hosts, schemes, protocol-relative and backslash tricks, control characters and huge values', () => {
    for (const v of ['https://evil.example', '//evil.example', '/.//evil.example', '/a/..//evil.example', '/%2e//evil.example', '/\\evil.example', '\\\\evil.example', 'javascript:alert(1)', 'accueil', '', '/a\nb', '/\t/evil.example', `/${'a'.repeat(600)}`, ['/a'], 42]) {
      expect(safeReturnPath(v), JSON.stringify(v)).toBeUndefined();
    }
  });

  it('property: whatever comes in, what comes out resolves to the same origin', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl(), fc.webPath(), fc.string().map((s) => `/${s}`), fc.string().map((s) => `//${s}`)), (v) => {
        const out = safeReturnPath(v);
        if (out === undefined) return;
        expect(out.startsWith('/')).toBe(true);
        expect(new URL(out, 'https://gw.example').origin).toBe('https://gw.example');
        expect(new URL(signInUrl(out), 'https://gw.example').origin).toBe('https://gw.example');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('html', () => {
  it('escapes interpolated text, attributes included, and nested arrays; keeps fragments of html', () => {
    const name = `<script>alert("x")</script> & 'o'`;
    const out = html`<p title="${name}">${name}</p>${[html`<b>${'<i>'}</b>`, '<u>']}`.value;
    expect(out).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;o&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;o&#39;</p><b>&lt;i&gt;</b>&lt;u&gt;',
    );
    expect(html`${undefined}${null}${false}${0}`.value).toBe('0');
  });
});

describe('rppsOf', () => {
  it('reads the RPPS from a claim, a dotted path, or the national id form 8 + RPPS', () => {
    expect(rppsOf({ rpps: '10000000029' }, 'rpps')).toBe('10000000029');
    expect(rppsOf({ SubjectNameID: '810000000029' }, 'SubjectNameID')).toBe('10000000029');
    expect(rppsOf({ a: { b: '123456789' } }, 'a.b')).toBe('123456789');
    expect(rppsOf({ rpps: 'x10000000029' }, 'rpps')).toBeUndefined();
    expect(rppsOf({ rpps: 10000000029 }, 'rpps')).toBeUndefined();
  });
});
