// ISO Schematron (queryBinding xslt2) for the tests: compiles a schema to an XSLT 2.0 stylesheet that writes SVRL, and
// runs it with Saxon-HE (Java) over a batch of documents in one JVM. The compiler follows the three steps and the
// semantics of the ISO "skeleton" pipeline the ANS uses (include → abstract-pattern expansion → SVRL stylesheet):
// no XSLT 2 build of the skeleton is packaged on npm or Debian, so the steps are written here (see docs/dmp.md).
//   1. include: every sch:include is replaced by the root element of the file it names (relative to the including file).
//   2. expand: an abstract pattern is dropped; a pattern `is-a` gets its children, each `$param` replaced, in the
//      order of the sch:param elements, in the test/context/select/path attributes and in text (as iso_abstract_expand).
//   3. compile: one mode per active pattern, visited from the root; within a pattern the first rule (in document order)
//      whose context matches a node fires; an `extends` inlines the abstract rule of that id (looked up in the whole
//      schema, as the skeleton does); lets of schema and patterns are global variables, lets of rules local ones;
//      attributes and elements are visited (`@*|*`). Relative doc()/document() URIs resolve against the compiled
//      stylesheet, so it is written next to the .sch it comes from.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';

const SCH = 'http://purl.oclc.org/dsdl/schematron';
const SVRL = 'http://purl.oclc.org/dsdl/svrl';

/** Saxon-HE from Debian's libsaxonhe-java, or the jar named by SAXON_JAR. */
export const SAXON_JAR = process.env.SAXON_JAR ?? '/usr/share/java/Saxon-HE.jar';

export function haveSaxon(): boolean {
  if (!existsSync(SAXON_JAR)) return false;
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface CompiledSchematron {
  /** The XSLT 2.0 stylesheet, next to the .sch it was compiled from. */
  xslt: string;
  /** Asserts and reports in the compiled stylesheet (an extended abstract rule counts once per rule extending it). */
  rules: number;
  /** Patterns run (the active phase's). */
  patterns: number;
}

export interface SvrlFinding {
  kind: 'failed-assert' | 'successful-report';
  /** error, warning or info: a failed assert without role is an error, a report without role is information. */
  severity: 'error' | 'warning' | 'info';
  role: string;
  id: string;
  pattern: string;
  location: string;
  test: string;
  text: string;
}

function parseXml(file: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({ onError: (level, msg) => void (level !== 'warning' && errors.push(msg)) }).parseFromString(
    readFileSync(file, 'utf8'),
    'text/xml',
  );
  if (errors.length > 0) throw new Error(`${file}: ${errors.join('; ')}`);
  return doc as unknown as Document;
}

function children(e: Element, local?: string): Element[] {
  const out: Element[] = [];
  for (let n = e.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === SCH && (!local || (n as Element).localName === local)) out.push(n as Element);
  }
  return out;
}

function descendants(e: Element, local: string): Element[] {
  return Array.from(e.getElementsByTagNameNS(SCH, local));
}

/** Step 1: resolve sch:include recursively. */
function resolveIncludes(e: Element, file: string): void {
  for (const inc of descendants(e, 'include')) {
    const href = inc.getAttribute('href');
    if (!href) throw new Error(`${file}: sch:include without href`);
    const target = path.resolve(path.dirname(file), href);
    const included = parseXml(target).documentElement;
    resolveIncludes(included, target);
    inc.parentNode?.replaceChild(e.ownerDocument.importNode(included, true), inc);
  }
  if (descendants(e, 'extends').some((x) => x.hasAttribute('href'))) throw new Error(`${file}: sch:extends/@href is not supported`);
}

/** Step 2: instantiate abstract patterns. */
function expandAbstractPatterns(schema: Element): void {
  const patterns = descendants(schema, 'pattern');
  const abstract = new Map(patterns.filter((p) => p.getAttribute('abstract') === 'true').map((p) => [p.getAttribute('id') ?? '', p]));
  for (const p of patterns) {
    const isA = p.getAttribute('is-a');
    if (!isA) continue;
    const model = abstract.get(isA);
    if (!model) throw new Error(`pattern ${p.getAttribute('id')}: abstract pattern "${isA}" not found`);
    const params = children(p, 'param').map((x) => [`$${x.getAttribute('name')}`, x.getAttribute('value') ?? ''] as const);
    const expand = (s: string) => params.reduce((acc, [name, value]) => acc.split(name).join(value), s);
    const substitute = (n: Node): void => {
      if (n.nodeType === 3) n.nodeValue = expand(n.nodeValue ?? '');
      if (n.nodeType !== 1) return;
      const el = n as Element;
      for (const a of ['test', 'context', 'select', 'path']) {
        const v = el.getAttribute(a);
        if (v !== null && el.hasAttribute(a)) el.setAttribute(a, expand(v));
      }
      for (let c = el.firstChild; c; c = c.nextSibling) substitute(c);
    };
    for (const c of Array.from(p.childNodes)) p.removeChild(c);
    for (let c = model.firstChild; c; c = c.nextSibling) {
      const copy = c.cloneNode(true);
      substitute(copy);
      p.appendChild(copy);
    }
    p.removeAttribute('is-a');
  }
  for (const p of abstract.values()) p.parentNode?.removeChild(p);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A literal attribute of the SVRL output is an attribute value template: braces are doubled. */
const avt = (s: string) => esc(s).replace(/\{/g, '{{').replace(/\}/g, '}}');

/** Step 3: the SVRL-writing XSLT 2.0 stylesheet. */
function compile(schema: Element, phase: string | undefined): { xslt: string; rules: number; patterns: number } {
  const namespaces = children(schema, 'ns').map((n) => [n.getAttribute('prefix') ?? '', n.getAttribute('uri') ?? ''] as const);
  const abstractRules = new Map(
    descendants(schema, 'rule')
      .filter((r) => r.getAttribute('abstract') === 'true')
      .map((r) => [r.getAttribute('id') ?? '', r]),
  );
  const phaseId = phase ?? schema.getAttribute('defaultPhase') ?? '#ALL';
  let patterns = descendants(schema, 'pattern').filter((p) => p.getAttribute('abstract') !== 'true');
  if (phaseId !== '#ALL') {
    const ph = children(schema, 'phase').find((x) => x.getAttribute('id') === phaseId);
    if (!ph) throw new Error(`phase "${phaseId}" not found`);
    const active = new Set(children(ph, 'active').map((a) => a.getAttribute('pattern')));
    patterns = patterns.filter((p) => active.has(p.getAttribute('id')));
  }
  let rules = 0;
  const out: string[] = [];
  const lets = (e: Element) => children(e, 'let').map((l) => letVariable(l)).join('\n');
  const letVariable = (l: Element): string => {
    if (!l.hasAttribute('value')) throw new Error(`let ${l.getAttribute('name')} without @value is not supported`);
    return `<xsl:variable name="${esc(l.getAttribute('name') ?? '')}" select="${esc(l.getAttribute('value') ?? '')}"/>`;
  };
  const message = (e: Element): string => {
    let s = '';
    for (let n = e.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 3 || n.nodeType === 4) s += esc(n.nodeValue ?? '');
      else if (n.nodeType === 1) {
        const el = n as Element;
        if (el.namespaceURI === SCH && el.localName === 'value-of') s += `<xsl:value-of select="${esc(el.getAttribute('select') ?? '')}"/>`;
        else if (el.namespaceURI === SCH && el.localName === 'name') s += `<xsl:value-of select="name(${esc(el.getAttribute('path') ?? '.')})"/>`;
        else s += message(el);
      }
    }
    return s;
  };
  const check = (a: Element, pattern: string): string => {
    rules++;
    const isAssert = a.localName === 'assert';
    const test = a.getAttribute('test') ?? '';
    const attrs = [
      `test="${avt(test)}"`,
      `role="${avt(a.getAttribute('role') ?? '')}"`,
      `id="${avt(a.getAttribute('id') ?? '')}"`,
      `pattern="${avt(pattern)}"`,
    ].join(' ');
    const report = `<svrl:${isAssert ? 'failed-assert' : 'successful-report'} ${attrs} location="{pl:location(.)}"><svrl:text>${message(a)}</svrl:text></svrl:${isAssert ? 'failed-assert' : 'successful-report'}>`;
    return isAssert ? `<xsl:if test="not(${esc(test)})">${report}</xsl:if>` : `<xsl:if test="${esc(test)}">${report}</xsl:if>`;
  };
  const ruleBody = (r: Element, pattern: string, seen: string[]): string => {
    const parts: string[] = [];
    for (const c of children(r)) {
      if (c.localName === 'let') parts.push(letVariable(c));
      else if (c.localName === 'assert' || c.localName === 'report') parts.push(check(c, pattern));
      else if (c.localName === 'extends') {
        const id = c.getAttribute('rule') ?? '';
        const target = abstractRules.get(id);
        if (!target) throw new Error(`extends: abstract rule "${id}" not found`);
        if (seen.includes(id)) throw new Error(`extends: cycle through "${id}"`);
        parts.push(ruleBody(target, pattern, [...seen, id]));
      }
    }
    return parts.join('\n');
  };

  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:svrl="${SVRL}" xmlns:pl="urn:passerelle:schematron" ${namespaces
      .filter(([p]) => !['xsl', 'xs', 'svrl', 'pl', 'xml'].includes(p))
      .map(([p, u]) => `xmlns:${p}="${esc(u)}"`)
      .join(' ')} exclude-result-prefixes="#all">`,
  );
  out.push('<xsl:output method="xml" indent="no"/>');
  out.push(`<xsl:function name="pl:location" as="xs:string">
  <xsl:param name="n" as="node()"/>
  <xsl:sequence select="if ($n instance of document-node()) then '/' else concat('/', string-join(for $a in $n/ancestor-or-self::node()[not(self::document-node())] return if ($a instance of attribute()) then concat('@', name($a)) else concat(name($a), '[', count($a/preceding-sibling::*[node-name(.) = node-name($a)]) + 1, ']'), '/'))"/>
</xsl:function>`);
  out.push(lets(schema));
  for (const p of patterns) out.push(lets(p));
  out.push('<xsl:template match="/"><svrl:schematron-output>');
  patterns.forEach((p, i) => {
    out.push(`<svrl:active-pattern id="${avt(p.getAttribute('id') ?? '')}"/><xsl:apply-templates select="/" mode="M${i}"/>`);
  });
  out.push('</svrl:schematron-output></xsl:template>');
  patterns.forEach((p, i) => {
    const concrete = children(p, 'rule').filter((r) => r.getAttribute('abstract') !== 'true');
    const id = p.getAttribute('id') ?? `#${i}`;
    concrete.forEach((r, j) => {
      out.push(`<xsl:template match="${esc(r.getAttribute('context') ?? '')}" priority="${1000 + concrete.length - j}" mode="M${i}">`);
      out.push(`<svrl:fired-rule context="${avt(r.getAttribute('context') ?? '')}"/>`);
      out.push(ruleBody(r, id, []));
      out.push(`<xsl:apply-templates select="@*|*" mode="M${i}"/></xsl:template>`);
    });
    out.push(`<xsl:template match="text()" priority="-1" mode="M${i}"/>`);
    out.push(`<xsl:template match="@*|node()" priority="-2" mode="M${i}"><xsl:apply-templates select="@*|*" mode="M${i}"/></xsl:template>`);
  });
  out.push('</xsl:stylesheet>');
  return { xslt: out.join('\n'), rules, patterns: patterns.length };
}

/**
 * Compiles `<dir>/<sch>` (a schema inside a writable copy of its folder tree) into `<same folder>/<name>.xsl`;
 * a second call with the same output reuses it.
 */
export function compileSchematron(schFile: string, options: { phase?: string } = {}): CompiledSchematron {
  const xslt = schFile.replace(/\.sch$/, `${options.phase ? `-${options.phase}` : ''}.compiled.xsl`);
  const meta = `${xslt}.json`;
  if (existsSync(xslt) && existsSync(meta)) return { xslt, ...(JSON.parse(readFileSync(meta, 'utf8')) as Omit<CompiledSchematron, 'xslt'>) };
  const doc = parseXml(schFile);
  const schema = doc.documentElement;
  if (schema.namespaceURI !== SCH || schema.localName !== 'schema') throw new Error(`${schFile}: not an ISO Schematron schema`);
  if (schema.getAttribute('queryBinding') !== 'xslt2') throw new Error(`${schFile}: queryBinding is not xslt2`);
  resolveIncludes(schema, schFile);
  expandAbstractPatterns(schema);
  const compiled = compile(schema, options.phase);
  writeFileSync(xslt, compiled.xslt);
  writeFileSync(meta, JSON.stringify({ rules: compiled.rules, patterns: compiled.patterns }));
  return { xslt, rules: compiled.rules, patterns: compiled.patterns };
}

/** Runs a compiled schematron over the documents (one JVM for all of them); findings per document name. */
export function runSchematron(compiled: CompiledSchematron, docs: readonly { name: string; xml: string }[], workDir: string): Map<string, SvrlFinding[]> {
  const input = path.join(workDir, 'in');
  const output = path.join(workDir, 'out');
  mkdirSync(input, { recursive: true });
  mkdirSync(output, { recursive: true });
  for (const d of docs) writeFileSync(path.join(input, `${d.name}.xml`), d.xml);
  try {
    execFileSync('java', ['-Xss8m', '-cp', SAXON_JAR, 'net.sf.saxon.Transform', `-s:${input}`, `-xsl:${compiled.xslt}`, `-o:${output}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString('utf8') ?? String(e);
    throw new Error(`Saxon failed running ${compiled.xslt}:\n${stderr.slice(0, 4000)}`);
  }
  const produced = new Set(readdirSync(output));
  const result = new Map<string, SvrlFinding[]>();
  for (const d of docs) {
    const file = `${d.name}.xml`;
    if (!produced.has(file)) throw new Error(`no SVRL report for ${d.name}`);
    result.set(d.name, svrlFindings(parseXml(path.join(output, file))));
  }
  return result;
}

function svrlFindings(svrl: Document): SvrlFinding[] {
  const findings: SvrlFinding[] = [];
  for (const kind of ['failed-assert', 'successful-report'] as const) {
    for (const e of Array.from(svrl.getElementsByTagNameNS(SVRL, kind))) {
      const role = e.getAttribute('role') ?? '';
      const r = role.toLowerCase();
      const severity =
        r === 'error' || r === 'fatal' || (r === '' && kind === 'failed-assert') ? 'error' : r === 'warning' || r === 'warn' ? 'warning' : 'info';
      findings.push({
        kind,
        severity,
        role,
        id: e.getAttribute('id') ?? '',
        pattern: e.getAttribute('pattern') ?? '',
        location: e.getAttribute('location') ?? '',
        test: e.getAttribute('test') ?? '',
        text: (e.textContent ?? '').replace(/\s+/g, ' ').trim(),
      });
    }
  }
  return findings;
}

/** An IHE SVS value set (`RetrieveValueSetResponse`) in the ART-DECOR `valueSets/valueSet/conceptList/concept` format. */
export function artDecorValueSet(svsXml: string): string {
  const SVS = 'urn:ihe:iti:svs:2008';
  const svs = new DOMParser().parseFromString(svsXml, 'text/xml');
  const vs = svs.getElementsByTagNameNS(SVS, 'ValueSet')[0];
  const attr = (e: { getAttribute(n: string): string | null }, n: string) => esc(e.getAttribute(n) ?? '');
  const concepts = Array.from(svs.getElementsByTagNameNS(SVS, 'Concept')).map(
    (c) => `         <concept code="${attr(c, 'code')}" codeSystem="${attr(c, 'codeSystem')}" displayName="${attr(c, 'displayName')}" level="0" type="L"/>`,
  );
  if (!vs || concepts.length === 0) throw new Error('not an SVS value set with concepts');
  const name = attr(vs, 'displayName').replace(/\.tabs$/, '');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<valueSets xmlns="urn:hl7-org:v3" xmlns:hl7="urn:hl7-org:v3">',
    `   <valueSet xmlns="" id="${attr(vs, 'id')}" name="${name}" displayName="${name}" statusCode="final">`,
    '      <conceptList>',
    ...concepts,
    '      </conceptList>',
    '   </valueSet>',
    '</valueSets>',
    '',
  ].join('\n');
}
