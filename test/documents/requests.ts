// Document requests built from the canonical fixtures of test/fixtures, as the pipeline would receive them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import type { DocumentIds, DocumentRequest, SourceDocument } from '../../src/documents/model.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export const IDS: DocumentIds = { id: '1.2.250.1.999.1.1.1', setId: '1.2.250.1.999.1.1.2', version: 1 };

/** The canonical document of `test/fixtures/<kind>/<name>.json`, parsed. */
export function fixtureSource(kind: DocumentKind, name: string): SourceDocument {
  const input: unknown = JSON.parse(readFileSync(`${FIXTURES}${kind}/${name}.json`, 'utf8'));
  switch (kind) {
    case 'ppp':
      return { kind, document: parseDocument('ppp', input) };
    case 'ctm':
      return { kind, document: parseDocument('ctm', input) };
    case 'bpm':
      return { kind, document: parseDocument('bpm', input) };
  }
}

/** When the document was last written: the moment a version of it would be issued. */
function issuedAt(source: SourceDocument): string {
  switch (source.kind) {
    case 'ppp':
      return source.document.sentAt ?? source.document.created;
    case 'ctm':
      return source.document.fct?.date ?? source.document.bmo.validation?.date ?? source.document.bmo.date;
    case 'bpm':
      return source.document.conclusions?.date ?? source.document.adhesionDate;
  }
}

/** A request for version 1 of the fixture's document; `overrides` replace any field. */
export function fixtureRequest(kind: DocumentKind, name: string, overrides: Partial<DocumentRequest> = {}): DocumentRequest {
  const source = fixtureSource(kind, name);
  return { source, patient: source.document.patient, ids: IDS, effectiveTime: issuedAt(source), ...overrides };
}

/** Every canonical fixture (the `*.expected.json` golden outputs and the invalid inputs excluded). */
export const ALL_FIXTURES: readonly (readonly [DocumentKind, string])[] = [
  ['ppp', 'hospital-sync-rcp'],
  ['ppp', 'consultation-born-abroad'],
  ['ppp', 'hdj-partial-birthdate'],
  ['ppp', 'town-async-rcp'],
  ['ppp', 'ppp-12-medicines'],
  ['ppp', 'map-draft-minimal'],
  ['ctm', 'admission-divergences'],
  ['ctm', 'admission-unvalidated-bmo'],
  ['ctm', 'transfer-proactive'],
  ['ctm', 'map-fct-all-stopped'],
  ['bpm', 'self-medication-remote'],
  ['bpm', 'year-only-birthdate'],
];
