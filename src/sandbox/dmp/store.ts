// What the local DMP peer has registered: one row per DocumentEntry (its ebRIM metadata as received, its bytes, its
// availability status) and one per SubmissionSet. SQLite through better-sqlite3, in memory unless a file is given.
import Database from 'better-sqlite3';

export type EntryStatus = 'Approved' | 'Deprecated';

/** A registered DocumentEntry with its document. */
export interface StoredDocument {
  /** `urn:uuid:…`, as submitted or assigned by the registry when the submission used a symbolic id. */
  entryUuid: string;
  uniqueId: string;
  /** The DocumentEntry patientId (INS as CX). */
  patientId: string;
  status: EntryStatus;
  /** SHA-1 of the bytes, lower-case hex. */
  hash: string;
  size: number;
  mimeType: string;
  submissionSetUniqueId: string;
  /** The ExtrinsicObject (namespaces declared on it), without its `status` attribute: the registry sets it when read. */
  metadataXml: string;
  content: Buffer;
  /** entryUuid of the entry this one replaced (RPLC). */
  replaces?: string;
  /** ISO 8601, when the registry accepted it. */
  registeredAt: string;
}

export interface StoredSubmissionSet {
  uniqueId: string;
  entryUuid: string;
  patientId: string;
  sourceId: string;
  submissionTime: string;
  metadataXml: string;
  registeredAt: string;
}

interface DocumentRow {
  entry_uuid: string;
  unique_id: string;
  patient_id: string;
  status: EntryStatus;
  hash: string;
  size: number;
  mime_type: string;
  submission_set_unique_id: string;
  metadata_xml: string;
  content: Buffer;
  replaces: string | null;
  registered_at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS document_entry (
  entry_uuid TEXT PRIMARY KEY,
  unique_id TEXT NOT NULL UNIQUE,
  patient_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('Approved', 'Deprecated')),
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  mime_type TEXT NOT NULL,
  submission_set_unique_id TEXT NOT NULL,
  metadata_xml TEXT NOT NULL,
  content BLOB NOT NULL,
  replaces TEXT,
  registered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS document_entry_patient ON document_entry (patient_id, status);
CREATE TABLE IF NOT EXISTS submission_set (
  unique_id TEXT PRIMARY KEY,
  entry_uuid TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  submission_time TEXT NOT NULL,
  metadata_xml TEXT NOT NULL,
  registered_at TEXT NOT NULL
);
`;

function documentOf(row: DocumentRow): StoredDocument {
  return {
    entryUuid: row.entry_uuid,
    uniqueId: row.unique_id,
    patientId: row.patient_id,
    status: row.status,
    hash: row.hash,
    size: row.size,
    mimeType: row.mime_type,
    submissionSetUniqueId: row.submission_set_unique_id,
    metadataXml: row.metadata_xml,
    content: row.content,
    ...(row.replaces ? { replaces: row.replaces } : {}),
    registeredAt: row.registered_at,
  };
}

export class DmpPeerStore {
  private readonly db: Database.Database;

  constructor(file = ':memory:') {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(SCHEMA);
  }

  byUniqueId(uniqueId: string): StoredDocument | undefined {
    const row = this.db.prepare('SELECT * FROM document_entry WHERE unique_id = ?').get(uniqueId) as DocumentRow | undefined;
    return row && documentOf(row);
  }

  byEntryUuid(entryUuid: string): StoredDocument | undefined {
    const row = this.db.prepare('SELECT * FROM document_entry WHERE entry_uuid = ?').get(entryUuid) as DocumentRow | undefined;
    return row && documentOf(row);
  }

  /** Entries of a patient whose status is one of `statuses`, oldest first. */
  findByPatient(patientId: string, statuses: readonly EntryStatus[]): StoredDocument[] {
    if (statuses.length === 0) return [];
    const rows = this.db
      .prepare(`SELECT * FROM document_entry WHERE patient_id = ? AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY registered_at, rowid`)
      .all(patientId, ...statuses) as DocumentRow[];
    return rows.map(documentOf);
  }

  all(): StoredDocument[] {
    return (this.db.prepare('SELECT * FROM document_entry ORDER BY registered_at, rowid').all() as DocumentRow[]).map(documentOf);
  }

  /**
   * Registers a submission atomically: the SubmissionSet, its new entries, and the Deprecated status of the entries
   * they replace. Entries already registered with the same uniqueId (an identical re-send) are skipped.
   */
  register(submissionSet: StoredSubmissionSet | undefined, documents: readonly StoredDocument[]): void {
    const insertSet = this.db.prepare(
      `INSERT OR IGNORE INTO submission_set (unique_id, entry_uuid, patient_id, source_id, submission_time, metadata_xml, registered_at)
       VALUES (@uniqueId, @entryUuid, @patientId, @sourceId, @submissionTime, @metadataXml, @registeredAt)`,
    );
    const insertDoc = this.db.prepare(
      `INSERT OR IGNORE INTO document_entry (entry_uuid, unique_id, patient_id, status, hash, size, mime_type, submission_set_unique_id, metadata_xml, content, replaces, registered_at)
       VALUES (@entryUuid, @uniqueId, @patientId, @status, @hash, @size, @mimeType, @submissionSetUniqueId, @metadataXml, @content, @replaces, @registeredAt)`,
    );
    const deprecate = this.db.prepare(`UPDATE document_entry SET status = 'Deprecated' WHERE entry_uuid = ?`);
    this.db.transaction(() => {
      if (submissionSet) insertSet.run(submissionSet);
      for (const d of documents) {
        const inserted = insertDoc.run({ ...d, replaces: d.replaces ?? null }).changes > 0;
        if (inserted && d.replaces) deprecate.run(d.replaces);
      }
    })();
  }

  close(): void {
    this.db.close();
  }
}
