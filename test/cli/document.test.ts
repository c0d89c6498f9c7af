// `passerelle document <pdf|cda|iti41>`: the artefacts the DMP route sends, written to a file by the real CLI process,
// then read back with the repository's own readers (ITI-41, VIHF) and checked against the /work/shared XSDs.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { XMLSerializer } from '@xmldom/xmldom';
import { afterAll, describe, expect, it } from 'vitest';
import { readIti41Request } from '../../src/connectors/dmp/iti41.js';
import { verifyVihfAssertion } from '../../src/connectors/dmp/vihf.js';
import { NS } from '../../src/connectors/dmp/xds-constants.js';
import { child, children, descendants, parseXml, textOf } from '../../src/connectors/dmp/xml-dom.js';
import { loadTestPki } from '../../src/sandbox/pki.js';
import { haveShared, validateXds } from '../connectors/dmp/xds-schemas.js';
import { haveCdaSchema, validateCda } from '../documents/cda-schemas.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-document-cli-'));
// The test PKI is generated here by the first iti41 run (PASSERELLE_DATA), never in the repository's ./var.
const data = path.join(dir, 'data');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const QUAL_PPP = 'test/fixtures/ppp/hospital-sync-rcp.json';
const VALI_PPP = 'test/fixtures/ppp/town-async-rcp.json';
// One fixed document time: the PDF, the CDA and the CDA inside the ITI-41 request must then be byte-identical.
const NOW = '2026-01-15T10:00:00+01:00';
// Each run starts a Node process that compiles TypeScript and renders a PDF (2–4 s on a small machine).
const CLI_TIMEOUT = 60_000;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously (so independent runs can overlap) with a clean environment. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      // Empty values are ignored by loadConfig: the developer's own PORT / config / passphrase cannot leak in.
      env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DMP_PASSPHRASE: '', LOG_LEVEL: '', PASSERELLE_DATA: data },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    proc.on('error', reject);
    proc.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Writes one artefact to a fresh file under the temp dir; returns the run and the file's path. */
async function artefact(kind: 'pdf' | 'cda' | 'iti41', name: string, ...extra: string[]): Promise<Run & { file: string }> {
  const file = path.join(dir, name);
  const r = await run('document', kind, 'ppp', QUAL_PPP, '-o', file, ...extra);
  return { ...r, file };
}

/** Memoised artefacts at NOW: several tests compare against the same PDF and CDA, one process run each is enough. */
const once = <T>(fn: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
};
const pdfAtNow = once(async () => {
  const r = await artefact('pdf', 'now.pdf', '--now', NOW);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readFileSync(r.file);
});
const cdaAtNow = once(async () => {
  const r = await artefact('cda', 'now.xml', '--now', NOW);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readFileSync(r.file);
});

/**
 * The inline ITI-41 request at NOW. Only ever run after the mtom test: two iti41 processes started together on a fresh
 * data dir would both generate the test PKI into the same directory, and the files on disk could mix the two.
 */
const inlineAtNow = once(async () => {
  const r = await artefact('iti41', 'iti41.xml', '--now', NOW, '--encoding', 'inline');
  expect(r.status).toBe(0);
  return { contentType: contentTypeOf(r.stderr), envelope: readFileSync(r.file) };
});

/** The `Content-Type: …` line the iti41 artefact prints on stderr (the multipart boundary lives only there). */
function contentTypeOf(stderr: string): string {
  const m = /^Content-Type: (.+)$/m.exec(stderr);
  if (!m) throw new Error(`no Content-Type line on stderr:\n${stderr}`);
  return m[1];
}

describe('passerelle document', () => {
  it('--help documents the three artefacts, the kinds and the exit code', async () => {
    const r = await run('document', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('pdf | cda | iti41');
    expect(r.stdout).toContain('ppp | ctm | bpm');
    for (const option of ['--output', '--now', '--doc-version', '--replaces', '--encoding', '--pkcs12', '--to']) expect(r.stdout).toContain(option);
    expect(r.stdout).toContain('Content-Type on stderr');
    expect(r.stdout).toMatch(/Exit code 2/);
  });

  it(
    'pdf: a PDF/A file, byte-identical for the same --now',
    async () => {
      // The second run overlaps the memoised first one: determinism must not depend on timing.
      const [first, again] = await Promise.all([pdfAtNow(), artefact('pdf', 'again.pdf', '--now', NOW)]);
      expect(first.subarray(0, 8).toString('latin1')).toBe('%PDF-1.7');
      expect(first.includes('pdfaid:part')).toBe(true);
      expect(again.status).toBe(0);
      expect(readFileSync(again.file).equals(first)).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it(
    'cda: its nonXMLBody is the PDF the pdf artefact writes for the same --now',
    async () => {
      const [pdf, cda] = await Promise.all([pdfAtNow(), cdaAtNow()]);
      const doc = parseXml(cda.toString('utf8'));
      expect(doc.documentElement.localName).toBe('ClinicalDocument');
      const component = child(doc.documentElement, NS.hl7v3, 'component');
      const text = child(child(component as Element, NS.hl7v3, 'nonXMLBody') as Element, NS.hl7v3, 'text') as Element;
      expect(text.getAttribute('mediaType')).toBe('application/pdf');
      expect(text.getAttribute('representation')).toBe('B64');
      expect(Buffer.from(textOf(text), 'base64').equals(pdf)).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it.skipIf(!haveCdaSchema)(
    'cda: valid against CDA_extended.xsd',
    async () => {
      const result = await validateCda((await cdaAtNow()).toString('utf8'));
      expect(result.errors.map((e) => e.message)).toEqual([]);
      expect(result.valid).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it(
    'cda --doc-version 2 --replaces 1: versionNumber 2 and a relatedDocument RPLC to version 1',
    async () => {
      const r = await artefact('cda', 'v2.xml', '--now', NOW, '--doc-version', '2', '--replaces', '1');
      expect(r.status).toBe(0);
      const xml = readFileSync(r.file, 'utf8');
      expect(xml).toContain('<relatedDocument typeCode="RPLC">');
      const doc = parseXml(xml);
      expect(child(doc.documentElement, NS.hl7v3, 'versionNumber')?.getAttribute('value')).toBe('2');
      // The parent is version 1 of the same set: its id is what the version-1 CDA carries as its own id.
      const v1Id = child(parseXml((await cdaAtNow()).toString('utf8')).documentElement, NS.hl7v3, 'id')?.getAttribute('root');
      const related = child(doc.documentElement, NS.hl7v3, 'relatedDocument') as Element;
      const parentId = child(child(related, NS.hl7v3, 'parentDocument') as Element, NS.hl7v3, 'id')?.getAttribute('root');
      expect(parentId).toBe(v1Id);
    },
    CLI_TIMEOUT,
  );

  it('--replaces must name an earlier version: exit 2', async () => {
    const r = await artefact('cda', 'bad-replaces.xml', '--doc-version', '1', '--replaces', '1');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--replaces 1');
    expect(existsSync(r.file)).toBe(false);
  });

  it(
    'iti41 (mtom): multipart Content-Type on stderr; reads back to the same CDA and a VIHF signed by the test PKI',
    async () => {
      const r = await artefact('iti41', 'iti41.mime', '--now', NOW);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain('TEST organisation certificate');
      const contentType = contentTypeOf(r.stderr);
      expect(contentType).toMatch(/^multipart\/related;/);
      expect(contentType).toContain('type="application/xop+xml"');

      const received = readIti41Request(contentType, readFileSync(r.file));
      expect(received.action).toBe('urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b');
      expect(received.submitObjectsRequest).toBeDefined();
      // The CDA is one of the documents (the other is the XAdES submission signature), byte for byte the cda artefact.
      const cda = await cdaAtNow();
      const matching = [...received.documents].filter(([, bytes]) => bytes.equals(cda));
      expect(matching).toHaveLength(1);
      const [entryId] = matching[0];
      const entry = descendants(received.submitObjectsRequest as Element, NS.rim, 'ExtrinsicObject').find((e) => e.getAttribute('id') === entryId);
      expect(entry?.getAttribute('mimeType')).toBe('text/xml');

      // The PKI the command generated under PASSERELLE_DATA is the one the VIHF chains to.
      const pki = await loadTestPki(path.join(data, 'certs'));
      const vihf = verifyVihfAssertion(received.envelope, pki.pem.ca);
      expect(vihf.reason).toBeUndefined();
      expect(vihf.ok).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it(
    'iti41 --encoding inline: a SOAP envelope carrying the same CDA as base64',
    async () => {
      const { contentType, envelope } = await inlineAtNow();
      expect(contentType).toMatch(/^application\/soap\+xml/);
      const received = readIti41Request(contentType, envelope);
      expect(received.envelope).toContain('<soap:Envelope');
      const cda = await cdaAtNow();
      expect([...received.documents.values()].filter((b) => b.equals(cda))).toHaveLength(1);
    },
    CLI_TIMEOUT,
  );

  it.skipIf(!haveShared)(
    'iti41 --encoding inline: the SOAP Body child validates against the XDS.b XSD',
    async () => {
      const { envelope } = await inlineAtNow();
      const body = child(parseXml(envelope.toString('utf8')).documentElement, NS.soap12, 'Body') as Element;
      const request = children(body, NS.xdsb, 'ProvideAndRegisterDocumentSetRequest')[0];
      expect(request).toBeDefined();
      const xml = new XMLSerializer().serializeToString(request as unknown as Parameters<XMLSerializer['serializeToString']>[0]);
      const result = await validateXds(xml);
      expect(result.errors.map((e) => e.rawMessage)).toEqual([]);
      expect(result.valid).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it('iti41 for a patient whose identity is not qualified (VALI): exit 2 naming ppp.patient', async () => {
    const file = path.join(dir, 'vali.mime');
    const r = await run('document', 'iti41', 'ppp', VALI_PPP, '-o', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ppp\.patient: .*qualified/m);
    expect(existsSync(file)).toBe(false);
  });

  it('invalid input: exit 2 with one line naming the offending field, nothing written', async () => {
    const input = JSON.parse(readFileSync(path.join(root, QUAL_PPP), 'utf8')) as { problems: { code: string }[] };
    input.problems[0].code = '99';
    const bad = path.join(dir, 'bad-ppp.json');
    writeFileSync(bad, JSON.stringify(input));
    const file = path.join(dir, 'bad.pdf');
    const r = await run('document', 'pdf', 'ppp', bad, '-o', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ppp\.problems\[0\]\.code: /m);
    expect(existsSync(file)).toBe(false);
  });
  it(
    'cda: the facility type comes from the code map documents.yaml names (codeMaps), read from the mappings folder',
    async () => {
      // A private clinic the shipped example map (mappings/codemaps/establishment-sectors.yaml) codes SA04.
      const input = JSON.parse(readFileSync(path.join(root, QUAL_PPP), 'utf8')) as { establishment: { finess: string } };
      input.establishment.finess = '800009994';
      const ppp = path.join(dir, 'clinic-ppp.json');
      writeFileSync(ppp, JSON.stringify(input));
      const settings = path.join(dir, 'documents-codemaps.yaml');
      writeFileSync(settings, readFileSync(path.join(root, 'mappings/documents.yaml'), 'utf8').replace('codeMaps: {}', 'codeMaps: { healthcareFacilityTypeCode: establishment-sectors }'));
      const config = path.join(dir, 'codemaps-config.yaml');
      writeFileSync(config, `documents:\n  settings: ${JSON.stringify(settings)}\nmappings:\n  dir: ${JSON.stringify(path.join(root, 'mappings'))}\n`);
      const file = path.join(dir, 'clinic.cda.xml');
      const r = await run('document', 'cda', 'ppp', ppp, '-o', file, '--config', config, '--now', NOW);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const facility = descendants(parseXml(readFileSync(file, 'utf8')).documentElement, NS.hl7v3, 'healthCareFacility')[0];
      const code = facility && child(facility, NS.hl7v3, 'code');
      expect(code?.getAttribute('code')).toBe('SA04');
      expect(code?.getAttribute('codeSystem')).toBe('1.2.250.1.71.4.2.4');
      // A settings file naming a map the folder does not have: exit 2, nothing written.
      writeFileSync(settings, readFileSync(path.join(root, 'mappings/documents.yaml'), 'utf8').replace('codeMaps: {}', 'codeMaps: { healthcareFacilityTypeCode: clinic-sectors }'));
      const missing = path.join(dir, 'missing.cda.xml');
      const bad = await run('document', 'cda', 'ppp', ppp, '-o', missing, '--config', config, '--now', NOW);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/code map "clinic-sectors" is not defined/);
      expect(existsSync(missing)).toBe(false);
    },
    CLI_TIMEOUT,
  );
});
