// From a document request to what is sent: header facts → PDF → CDA R2 N1 → XDS metadata. Each step is timed, since
// integrators ask where the time goes (bench/dmp.bench.ts prints the split).
import { performance } from 'node:perf_hooks';
import { buildCdaN1 } from './cda-n1.js';
import { documentHeader } from './header.js';
import { submissionSetUniqueId } from './ids.js';
import type { DocumentHeader, DocumentRequest, XdsSubmission } from './model.js';
import { renderPdf } from './pdf.js';
import type { DocumentSettings } from './settings.js';
import { xdsSubmissionOf } from './xds-metadata.js';

export interface BuiltDocument {
  header: DocumentHeader;
  pdf: Buffer;
  /** The CDA R2 N1 bytes (UTF-8 XML) wrapping the PDF: what the registry hashes. */
  cda: Buffer;
  submission: XdsSubmission;
  /** Milliseconds: PDF rendering, CDA wrapping (with the metadata). */
  timings: { renderMs: number; wrapMs: number };
}

export interface BuildOptions {
  /** XDS SubmissionSet sourceId: OID of this sending system. */
  sourceId: string;
  /** Default: the document's effective time (so a retry builds the very same submission). */
  submissionTime?: Date | string;
}

export async function buildDocument(req: DocumentRequest, settings: DocumentSettings, options: BuildOptions): Promise<BuiltDocument> {
  const t0 = performance.now();
  const header = documentHeader(req, settings);
  const pdf = await renderPdf(req, header);
  const t1 = performance.now();
  const cda = Buffer.from(buildCdaN1(header, pdf), 'utf8');
  const submission = xdsSubmissionOf(header, cda, {
    sourceId: options.sourceId,
    submissionSetUniqueId: submissionSetUniqueId(req.ids),
    submissionTime: options.submissionTime ?? req.effectiveTime,
  });
  const t2 = performance.now();
  return { header, pdf, cda, submission, timings: { renderMs: t1 - t0, wrapMs: t2 - t1 } };
}
