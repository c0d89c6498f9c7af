// Vendor formats on the upload endpoints (issue 19, docs/mappings.md "Deploying and reloading"): `POST /ppp`, `/ctm`,
// `/bpm` with a `Content-Type` one of a format's `mediaTypes`, or naming a format with `X-Passerelle-Format`, are read
// raw (at most the format's `limits.maxInputBytes`, else 413), mapped with the format in service, and the canonical
// document it produces is submitted as a canonical JSON upload would be. Any other request goes on to the canonical
// JSON path unchanged.
//
// Answers:
// - a success: the submission's `transaction-response` Bundle, plus, when the run has warnings or errors (an unmapped
//   code of a `warning` code map) or with `?verbose=true`, a last entry `fullUrl: urn:passerelle:mapping-run` holding an
//   OperationOutcome: an information issue naming the mapping, its version and timings, one issue per diagnostic, and
//   (verbose) one information issue per input field no rule used (`expression` = the field's path);
// - a MappingFailure: its status (400, 413, 422) with an OperationOutcome, one issue per diagnostic: the text names
//   the mapping, `diagnostics` the rule (`rule: …`), `expression` the input path and the output path;
// - a canonical document the submission refuses: the submission's OperationOutcome, plus an issue naming the mapping.
// Nothing is stored on any refusal.
import type { Request, RequestHandler } from 'express';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { DocumentKind } from '../domain/parse.js';
import { OperationOutcomeError, invalid, issue, outcome, tooLarge } from '../fhir/outcome.js';
import { MappingFailure, type CompiledMapping, type MappingDiagnostic, type MappingRunResult, type MappingSource } from '../mappings/model.js';
import { FHIR_BODY_TYPES, sendFhir, unsupportedMediaType } from './fhir-response.js';

export const FORMAT_HEADER = 'x-passerelle-format';
export const MAPPING_RUN_ENTRY = 'urn:passerelle:mapping-run';

/** `application/vnd.x.bpm+xml; charset=utf-8` → `application/vnd.x.bpm+xml`. */
const essence = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

/**
 * The format a request selects, or undefined for the canonical JSON path. Throws 400 for an unknown
 * `X-Passerelle-Format` (listing the known ones) or a format of another kind, 415 for an unknown vendor media type
 * (`application/vnd.…`) or a media type of a format of another kind.
 */
export function selectFormat(req: Request, kind: DocumentKind, source: MappingSource | undefined): CompiledMapping | undefined {
  const header = req.headers[FORMAT_HEADER];
  const named = Array.isArray(header) ? header[0] : header;
  const type = essence(req.headers['content-type']);
  const mappings = source?.current().mappings ?? new Map<string, CompiledMapping>();
  const all = [...mappings.values()];
  const ofKind = all.filter((m) => m.kind === kind);
  if (named !== undefined && named.trim() !== '') {
    const m = mappings.get(named.trim());
    if (!m) {
      const known = ofKind.map((x) => x.name).sort();
      throw invalid(
        `Unknown format "${printable(named.trim())}" in X-Passerelle-Format; formats for POST /${kind}: ${known.length ? known.join(', ') : 'none'}`,
        'X-Passerelle-Format',
      );
    }
    if (m.kind !== kind) throw invalid(`Format "${m.name}" maps a ${m.kind.toUpperCase()}, not a ${kind.toUpperCase()}: POST it to /${m.kind}`, 'X-Passerelle-Format');
    return m;
  }
  if (type === '' || FHIR_BODY_TYPES.includes(type)) return undefined;
  const byType = all.filter((m) => m.mediaTypes.some((t) => t.toLowerCase() === type));
  const match = byType.find((m) => m.kind === kind);
  if (match) return match;
  if (byType.length > 0) {
    const m = byType[0]!;
    throw unsupportedMediaType(`Content-Type ${type} is the format "${m.name}", which maps a ${m.kind.toUpperCase()}, not a ${kind.toUpperCase()}: POST it to /${m.kind}`);
  }
  if (type.startsWith('application/vnd.')) {
    const known = ofKind.flatMap((m) => m.mediaTypes).sort();
    throw unsupportedMediaType(
      `Unknown vendor media type ${printable(type)} for POST /${kind}; known: ${known.length ? known.join(', ') : 'none'} (or application/json for the canonical document, or name a format with X-Passerelle-Format)`,
    );
  }
  return undefined;
}

/** The raw body, at most `max` bytes (413 beyond, the rest discarded). */
export function readRaw(req: Request, max: number, mapping: string): Promise<Buffer> {
  const over = (): OperationOutcomeError => tooLarge(`The body is larger than the ${max} bytes format "${mapping}" accepts (limits.maxInputBytes)`);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return Promise.reject(unsupportedMediaType(`Content-Encoding ${printable(encoding)} is not accepted for a vendor format; send the body uncompressed`));
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.reject(over());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        chunks.length = 0;
        reject(over());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!refused) reject(err);
    });
  });
}

const SEVERITY: Record<MappingDiagnostic['severity'], OperationOutcomeIssue['severity']> = { error: 'error', warning: 'warning', information: 'information' };

function codeOf(d: MappingDiagnostic): OperationOutcomeIssue['code'] {
  switch (d.code) {
    case 'unmapped-code':
      return 'code-invalid';
    case 'timeout':
      return 'timeout';
    case 'output-too-large':
    case 'input-too-large':
      return 'too-costly';
    case 'parse-error':
    case 'doctype-refused':
      return 'structure';
    case 'invalid-output':
      return 'invalid';
    case 'expression-error':
      return 'processing';
    default:
      return d.severity === 'error' ? 'processing' : 'informational';
  }
}

/** One issue of a diagnostic: text `mapping <name>: <message>`, diagnostics `rule: <rule>; code: <code>`, expression [input path, output path]. */
export function diagnosticIssue(d: MappingDiagnostic): OperationOutcomeIssue {
  const expression = [d.inputPath, d.outputPath].filter((x): x is string => typeof x === 'string' && x !== '');
  return {
    severity: SEVERITY[d.severity],
    code: codeOf(d),
    details: { text: `mapping ${d.mapping}: ${d.message}` },
    diagnostics: [d.rule ? `rule: ${d.rule}` : undefined, `code: ${d.code}`].filter(Boolean).join('; '),
    ...(expression.length ? { expression } : {}),
  };
}

export function failureOutcome(f: MappingFailure): OperationOutcome {
  const issues = f.diagnostics.map(diagnosticIssue);
  if (!issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) issues.unshift(issue('processing', `mapping ${f.mapping}: ${f.message}`));
  return outcome(issues);
}

/** The OperationOutcome of a successful run (undefined when there is nothing to say and not verbose). */
export function runOutcome(r: MappingRunResult, verbose: boolean): OperationOutcome | undefined {
  const notable = r.diagnostics.filter((d) => d.severity !== 'information' || verbose);
  if (!verbose && notable.length === 0) return undefined;
  const issues: OperationOutcomeIssue[] = [
    issue('informational', `mapping ${r.mapping} (version ${r.version}) produced the ${r.kind.toUpperCase()}: parse ${r.timings.parseMs} ms, transform ${r.timings.transformMs} ms`, undefined, 'information'),
    ...notable.map(diagnosticIssue),
    ...(verbose ? r.unusedFields.map((f) => ({ ...issue('informational', `mapping ${r.mapping}: input field no rule used`, f, 'information'), diagnostics: 'code: unused-field' })) : []),
  ];
  return outcome(issues, 'mapping-run');
}

export type Submit = (req: Request, document: unknown) => Promise<{ resourceType: 'Bundle'; entry?: unknown[] }>;

/**
 * The middleware before the JSON body parser of `POST /<kind>`: a request that selects a format is answered here;
 * any other goes on (`next()`) to the canonical JSON path.
 */
export function vendorUpload(kind: DocumentKind, source: () => MappingSource | undefined, submit: Submit): RequestHandler {
  return (req, res, next) => {
    let mapping: CompiledMapping | undefined;
    try {
      mapping = selectFormat(req, kind, source());
    } catch (err) {
      req.resume();
      return next(err);
    }
    if (!mapping) return next();
    const m = mapping;
    const verbose = String(req.query.verbose ?? '') === 'true';
    (async () => {
      const raw = await readRaw(req, m.limits.maxInputBytes, m.name);
      let result: MappingRunResult;
      try {
        result = await m.run(raw);
      } catch (err) {
        if (err instanceof MappingFailure) return sendFhir(res, err.status, failureOutcome(err));
        // Anything else a run throws is still the mapping's failure, never a 5xx.
        const failure = new MappingFailure(m.name, [{ severity: 'error', code: 'expression-error', message: (err as Error)?.message ?? String(err), mapping: m.name }]);
        return sendFhir(res, 400, failureOutcome(failure));
      }
      let bundle: Awaited<ReturnType<Submit>>;
      try {
        bundle = await submit(req, result.document);
      } catch (err) {
        if (err instanceof OperationOutcomeError) {
          const o = err.outcome;
          throw new OperationOutcomeError({
            ...o,
            issue: [...(o.issue ?? []), issue('informational', `the ${kind.toUpperCase()} was produced by mapping ${m.name} (version ${m.version}); fix the mapping or the input`, undefined, 'information')],
          });
        }
        throw err;
      }
      const report = runOutcome(result, verbose);
      const body = report ? { ...bundle, entry: [...(bundle.entry ?? []), { fullUrl: MAPPING_RUN_ENTRY, resource: report, response: { status: '200 OK' } }] } : bundle;
      sendFhir(res, 200, body as never);
    })().catch(next);
  };
}
