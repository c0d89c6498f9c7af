// The IHE XDM package (IHE_XDM.ZIP) of MSSanté: the layout, METADATA.XML against the ebRS schemas of ../shared, the
// CDA exactly as the DMP route sends it, and the reader against hostile zips. Hostile zips are written by yazl; what
// yazl refuses to write (`..`, absolute names, backslashes, the encryption flag) is then patched into the headers.
import { buffer } from 'node:stream/consumers';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCdaN1 } from '../../src/documents/cda-n1.js';
import { buildDocument, type BuiltDocument } from '../../src/documents/pipeline.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { NS, SLOT } from '../../src/documents/xds-constants.js';
import { buildXdmPackage, readXdmPackage, unsafeEntryName, XdmRefused, type XdmPackageInput, type XdmRefusalReason } from '../../src/documents/xdm.js';
import { haveShared, validateXds } from '../connectors/dmp/xds-schemas.js';
import { fixtureRequest } from './requests.js';

const SOURCE_ID = '1.2.250.1.999.42.0';
const DATE = new Date('2025-03-01T10:45:12Z');
const SENDER = { name: 'BAL applicative Passerelle', organization: 'CH de Test', address: 'passerelle@ch-test.mssante.fr' };
const SOFTWARE = { name: 'Passerelle', version: '0.1.0', vendor: 'Passerelle' };
/** Fixtures whose patient has an INS (the DMP route's precondition), one per kind at least. */
const FIXTURES = [
  ['ppp', 'hospital-sync-rcp'],
  ['ppp', 'consultation-born-abroad'],
  ['ctm', 'transfer-proactive'],
  ['bpm', 'self-medication-remote'],
] as const;

const settings = loadDocumentSettings();

function inputOf(built: BuiltDocument): XdmPackageInput {
  return { built, sender: SENDER, software: SOFTWARE, date: DATE };
}

/** Every entry of a zip, as yauzl reads it (no check of ours). */
async function unzip(zip: Buffer): Promise<{ name: string; bytes: Buffer; mtime: Date }[]> {
  const zf = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  const out: { name: string; bytes: Buffer; mtime: Date }[] = [];
  await new Promise<void>((resolve, reject) => {
    zf.on('error', reject);
    zf.on('end', resolve);
    zf.on('entry', (entry: yauzl.Entry) => {
      zf.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', reject);
        stream.on('end', () => {
          out.push({ name: entry.fileName, bytes: Buffer.concat(chunks), mtime: entry.getLastModDate({ timezone: 'UTC' }) });
          zf.readEntry();
        });
      });
    });
    zf.readEntry();
  });
  return out;
}

interface RawEntry {
  name: string;
  data: Buffer | string;
  compress?: boolean;
}

/** A zip written by yazl. */
function zipOf(entries: readonly RawEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(Buffer.from(e.data), e.name, { compress: e.compress ?? true, mtime: DATE, forceDosTimestamp: true });
  zip.end();
  return buffer(zip.outputStream);
}

/** The central directory records of a yazl zip (no comment, no zip64): offset of each and of its local header. */
function records(zip: Buffer): { central: number; local: number; nameLength: number }[] {
  const eocd = zip.length - 22;
  expect(zip.readUInt32LE(eocd)).toBe(0x06054b50);
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = zip.readUInt16LE(at + 28);
    out.push({ central: at, local: zip.readUInt32LE(at + 42), nameLength });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return out;
}

/** Renames entry `index` in both its headers (same byte length): names yazl would not write. */
function renamed(zip: Buffer, index: number, name: string): Buffer {
  const out = Buffer.from(zip);
  const r = records(out)[index];
  const bytes = Buffer.from(name, 'utf8');
  expect(bytes.length).toBe(r.nameLength);
  bytes.copy(out, r.central + 46);
  bytes.copy(out, r.local + 30);
  return out;
}

/** Sets the "encrypted" flag (general purpose bit 0) of entry `index`. */
function flaggedEncrypted(zip: Buffer, index: number): Buffer {
  const out = Buffer.from(zip);
  const r = records(out)[index];
  out.writeUInt16LE(out.readUInt16LE(r.central + 8) | 1, r.central + 8);
  out.writeUInt16LE(out.readUInt16LE(r.local + 6) | 1, r.local + 6);
  return out;
}

/** Rewrites the declared uncompressed size (and CRC-32 when given) of entry `index` in both its headers. */
function declared(zip: Buffer, index: number, uncompressedSize: number, crc?: number): Buffer {
  const out = Buffer.from(zip);
  const r = records(out)[index];
  out.writeUInt32LE(uncompressedSize, r.central + 24);
  out.writeUInt32LE(uncompressedSize, r.local + 22);
  if (crc !== undefined) {
    out.writeUInt32LE(crc, r.central + 16);
    out.writeUInt32LE(crc, r.local + 14);
  }
  return out;
}

/** The reason `readXdmPackage` gives, failing the test on success or on any other error. */
async function refusal(zip: Buffer, limits = {}): Promise<{ reason: XdmRefusalReason; entry?: string }> {
  try {
    await readXdmPackage(zip, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(XdmRefused);
    const r = err as XdmRefused;
    return { reason: r.reason, entry: r.entry };
  }
  throw new Error('the zip was accepted');
}

let built: BuiltDocument;
let good: Buffer;
let goodEntries: { name: string; bytes: Buffer; mtime: Date }[];
const byName = (name: string): Buffer => (goodEntries.find((e) => e.name === name) as { bytes: Buffer }).bytes;

beforeAll(async () => {
  built = await buildDocument(fixtureRequest('ppp', 'hospital-sync-rcp'), settings, { sourceId: SOURCE_ID });
  good = await buildXdmPackage(inputOf(built));
  goodEntries = await unzip(good);
});

describe('buildXdmPackage', () => {
  it('lays the package out as IHE XDM media, with the entries dated as given', () => {
    expect(goodEntries.map((e) => e.name)).toEqual(['README.TXT', 'INDEX.HTM', 'IHE_XDM/SUBSET01/METADATA.XML', 'IHE_XDM/SUBSET01/DOC0001.XML']);
    for (const e of goodEntries) expect(e.mtime.toISOString()).toBe('2025-03-01T10:45:12.000Z');
    const readme = byName('README.TXT').toString('utf8');
    expect(readme).toContain(SENDER.name);
    expect(readme).toContain('Passerelle 0.1.0');
    expect(readme).toContain('2025-03-01T10:45:12.000Z');
    expect(readme).toMatch(/Ce support contient/);
    expect(readme).toMatch(/This media holds/);
    expect(byName('INDEX.HTM').toString('utf8')).toContain('href="IHE_XDM/SUBSET01/DOC0001.XML"');
  });

  it.each(FIXTURES)('%s %s: DOC0001.XML is the CDA the DMP route sends, and the metadata has its URI, size and SHA-1', async (kind, name) => {
    const doc = await buildDocument(fixtureRequest(kind, name), settings, { sourceId: SOURCE_ID });
    const entries = await unzip(await buildXdmPackage(inputOf(doc)));
    const cda = (entries.find((e) => e.name === 'IHE_XDM/SUBSET01/DOC0001.XML') as { bytes: Buffer }).bytes;
    expect(cda.equals(doc.cda)).toBe(true);
    expect(cda.equals(doc.submission.documents[0].content)).toBe(true);
    expect(cda.equals(Buffer.from(buildCdaN1(doc.header, doc.pdf), 'utf8'))).toBe(true);
    const metadata = (entries.find((e) => e.name === 'IHE_XDM/SUBSET01/METADATA.XML') as { bytes: Buffer }).bytes.toString('utf8');
    const slot = (n: string) => new RegExp(`<rim:Slot name="${n}"><rim:ValueList><rim:Value>([^<]*)</rim:Value>`).exec(metadata)?.[1];
    expect(slot(SLOT.uri)).toBe('DOC0001.XML');
    expect(slot(SLOT.size)).toBe(String(cda.length));
    expect(slot(SLOT.hash)).toBe(createHash('sha1').update(cda).digest('hex'));
    // The same metadata as the ITI-41 otherwise: the DocumentEntry's hash and size were already those of these bytes.
    expect(slot(SLOT.hash)).toBe(doc.submission.documents[0].entry.hash);
    expect(metadata).toContain(`xmlns:lcm="${NS.lcm}"`);
  });

  it('is deterministic for a given document and date', async () => {
    expect((await buildXdmPackage(inputOf(built))).equals(good)).toBe(true);
    expect((await buildXdmPackage({ ...inputOf(built), date: new Date('2025-03-02T00:00:00Z') })).equals(good)).toBe(false);
  });

  it.skipIf(!haveShared)('writes a METADATA.XML valid against the ebRS 3.0 schemas (lcm.xsd, rim.xsd)', async () => {
    for (const [kind, name] of FIXTURES) {
      const doc = await buildDocument(fixtureRequest(kind, name), settings, { sourceId: SOURCE_ID });
      const entries = await unzip(await buildXdmPackage(inputOf(doc)));
      const metadata = (entries.find((e) => e.name === 'IHE_XDM/SUBSET01/METADATA.XML') as { bytes: Buffer }).bytes.toString('utf8');
      const result = await validateXds(metadata);
      expect(result.errors, `${kind}/${name}`).toEqual([]);
      expect(result.valid).toBe(true);
    }
  });
});

describe('readXdmPackage', () => {
  it('reads back the metadata and the document of a package it wrote', async () => {
    const read = await readXdmPackage(good);
    expect(read.metadata).toBe(byName('IHE_XDM/SUBSET01/METADATA.XML').toString('utf8'));
    expect(read.documents).toHaveLength(1);
    expect(read.documents[0].path).toBe('IHE_XDM/SUBSET01/DOC0001.XML');
    expect(read.documents[0].bytes.equals(built.cda)).toBe(true);
  });

  /** The good package's entries, with `extra` added, rewritten by yazl. */
  const withEntries = (extra: readonly RawEntry[], drop: readonly string[] = []) =>
    zipOf([...goodEntries.filter((e) => !drop.includes(e.name)).map((e) => ({ name: e.name, data: e.bytes })), ...extra]);

  it('refuses a ".." entry name', async () => {
    const zip = renamed(await withEntries([{ name: 'ZQ/x', data: 'x' }]), 4, '../x');
    expect(await refusal(zip)).toEqual({ reason: 'unsafe-path', entry: '../x' });
  });

  it('refuses an absolute entry name, a drive letter and a backslash', async () => {
    expect(await refusal(renamed(await withEntries([{ name: 'Zabs', data: 'x' }]), 4, '/abs'))).toEqual({ reason: 'unsafe-path', entry: '/abs' });
    expect(await refusal(renamed(await withEntries([{ name: 'ZZabs', data: 'x' }]), 4, 'C:abs'))).toEqual({ reason: 'unsafe-path', entry: 'C:abs' });
    expect(await refusal(renamed(await withEntries([{ name: 'aZb', data: 'x' }]), 4, 'a\\b'))).toEqual({ reason: 'unsafe-path', entry: 'a\\b' });
    expect(await refusal(renamed(await withEntries([{ name: 'ZZZZ', data: 'x' }]), 4, '..\\x'))).toEqual({ reason: 'unsafe-path', entry: '..\\x' });
  });

  it('refuses more than 100 entries', async () => {
    const extra = Array.from({ length: 97 }, (_, i) => ({ name: `EXTRA${i}.TXT`, data: 'x' }));
    expect((await readXdmPackage(await withEntries(extra.slice(0, 96)))).documents).toHaveLength(1); // 100 entries: read
    expect(await refusal(await withEntries(extra))).toEqual({ reason: 'too-many-entries', entry: undefined });
  });

  it('refuses a zip bomb (compression ratio over 100)', async () => {
    const bomb = await withEntries([{ name: 'BOMB.BIN', data: Buffer.alloc(10 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(100_000);
    expect(await refusal(bomb)).toEqual({ reason: 'compression-ratio', entry: 'BOMB.BIN' });
  });

  it('refuses a zip bomb whose headers lie, counting while inflating', async () => {
    const bomb = await withEntries([{ name: 'BOMB.BIN', data: Buffer.alloc(10 * 1024 * 1024) }]);
    const compressed = bomb.readUInt32LE(records(bomb)[4].central + 20);
    // Declared: 50 times the compressed size, under the ratio; inflated: 10 MiB.
    expect(await refusal(declared(bomb, 4, compressed * 50))).toEqual({ reason: 'compression-ratio', entry: 'BOMB.BIN' });
    // Declared ratio and actual ratio both fine, but the total is over the limit: refused as the bytes come.
    expect(await refusal(declared(bomb, 4, 10), { maxCompressionRatio: 100_000, maxUncompressedBytes: 1024 * 1024 })).toEqual({ reason: 'too-large', entry: 'BOMB.BIN' });
  });

  it('refuses an entry whose size or CRC-32 differs from its header', async () => {
    const zip = await withEntries([{ name: 'NOTE.TXT', data: 'hello', compress: false }]);
    expect(await refusal(declared(zip, 4, 4))).toMatchObject({ reason: 'corrupt-entry', entry: 'NOTE.TXT' });
    expect(await refusal(declared(zip, 4, 5, 12345))).toMatchObject({ reason: 'corrupt-entry', entry: 'NOTE.TXT' });
  });

  it('refuses more bytes than the limit, counted while inflating', async () => {
    const big = await withEntries([{ name: 'BIG.BIN', data: randomBytes(64 * 1024) }]);
    expect(await refusal(big, { maxUncompressedBytes: good.length + 32 * 1024 })).toMatchObject({ reason: 'too-large' });
    expect(await refusal(good, { maxUncompressedBytes: 1000 })).toMatchObject({ reason: 'too-large' });
  });

  it('refuses an encrypted entry', async () => {
    expect(await refusal(flaggedEncrypted(good, 0))).toEqual({ reason: 'encrypted', entry: 'README.TXT' });
  });

  it('refuses a zip without METADATA.XML, and what is not a zip', async () => {
    expect(await refusal(await withEntries([], ['IHE_XDM/SUBSET01/METADATA.XML']))).toMatchObject({ reason: 'missing-metadata' });
    expect(await refusal(Buffer.from('not a zip at all'))).toMatchObject({ reason: 'not-a-zip' });
    expect(await refusal(good.subarray(0, good.length - 30))).toMatchObject({ reason: 'not-a-zip' });
  });

  it('refuses a METADATA.XML with a DTD or an external entity', async () => {
    const metadata = byName('IHE_XDM/SUBSET01/METADATA.XML').toString('utf8');
    const xxe = metadata.replace('<?xml version="1.0" encoding="UTF-8"?>\n', '<?xml version="1.0"?>\n<!DOCTYPE lcm:SubmitObjectsRequest [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n');
    expect(xxe).not.toBe(metadata);
    const zip = await withEntries([{ name: 'IHE_XDM/SUBSET01/METADATA.XML', data: xxe }], ['IHE_XDM/SUBSET01/METADATA.XML']);
    expect(await refusal(zip)).toEqual({ reason: 'metadata-dtd', entry: 'IHE_XDM/SUBSET01/METADATA.XML' });
    const malformed = await withEntries([{ name: 'IHE_XDM/SUBSET01/METADATA.XML', data: '<a><b></a>' }], ['IHE_XDM/SUBSET01/METADATA.XML']);
    expect(await refusal(malformed)).toMatchObject({ reason: 'metadata-malformed' });
  });

  it('refuses a document whose bytes differ from its DocumentEntry, naming it', async () => {
    const doc = Buffer.from(byName('IHE_XDM/SUBSET01/DOC0001.XML'));
    doc[doc.length - 3] ^= 1;
    const tampered = await withEntries([{ name: 'IHE_XDM/SUBSET01/DOC0001.XML', data: doc }], ['IHE_XDM/SUBSET01/DOC0001.XML']);
    expect(await refusal(tampered)).toEqual({ reason: 'hash-mismatch', entry: 'IHE_XDM/SUBSET01/DOC0001.XML' });
    const longer = await withEntries([{ name: 'IHE_XDM/SUBSET01/DOC0001.XML', data: Buffer.concat([doc, Buffer.from(' ')]) }], ['IHE_XDM/SUBSET01/DOC0001.XML']);
    expect(await refusal(longer)).toEqual({ reason: 'size-mismatch', entry: 'IHE_XDM/SUBSET01/DOC0001.XML' });
    const missing = await withEntries([], ['IHE_XDM/SUBSET01/DOC0001.XML']);
    expect(await refusal(missing)).toEqual({ reason: 'document-missing', entry: 'IHE_XDM/SUBSET01/DOC0001.XML' });
  });

  it('property: an accepted entry name never escapes the folder it is extracted to', () => {
    const char = fc.constantFrom('a', 'B', '.', '/', '\\', ':', 'C', ' ', '\u0000', 'é', '~');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 16 }).map((cs) => cs.join('')), (name) => {
        if (unsafeEntryName(name) !== undefined) return;
        for (const p of [path.posix, path.win32]) {
          const root = p.resolve(p === path.win32 ? 'C:\\root' : '/root');
          const target = p.resolve(root, name);
          expect(target === root || target.startsWith(root + p.sep), `${JSON.stringify(name)} → ${target}`).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any name in a zip is read or refused with XdmRefused, nothing else', async () => {
    const char = fc.constantFrom('a', '.', '/', '\\', ':', 'C');
    await fc.assert(
      fc.asyncProperty(fc.array(char, { minLength: 1, maxLength: 10 }).map((cs) => cs.join('')), async (name) => {
        const zip = renamed(await withEntries([{ name: 'Q'.repeat(name.length), data: 'x' }]), 4, name);
        try {
          const read = await readXdmPackage(zip);
          expect(unsafeEntryName(name)).toBeUndefined();
          expect(read.documents.map((d) => d.path)).toEqual(['IHE_XDM/SUBSET01/DOC0001.XML']);
        } catch (err) {
          expect(err).toBeInstanceOf(XdmRefused);
          expect(['unsafe-path', 'duplicate-entry']).toContain((err as XdmRefused).reason);
        }
      }),
      { numRuns: 60 },
    );
  });
});
