// MSSanté attachments in a vendor format (issue 19): an attachment whose file name matches a BPM format's `fileNames`
// (globs, case-insensitive) or whose media type is one of its `mediaTypes` is mapped with the format in service; the
// intake then checks and stores the canonical BPM as it does a JSON one. A failing run refuses the mail with a message
// naming the mapping, the rule and the input path.
import type { AttachmentMapper } from '../services/mssante-intake.js';
import { MappingFailure, type CompiledMapping, type MappingSource } from './model.js';

/** `*.pgx.xml` → a case-insensitive RegExp of the whole name (`*` any characters but `/`, `?` one). */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`, 'i');
}

/** The BPM format an attachment selects: by file name first, then by media type. */
export function formatOfAttachment(mappings: Iterable<CompiledMapping>, fileName: string | undefined, contentType: string | undefined): CompiledMapping | undefined {
  const bpm = [...mappings].filter((m) => m.kind === 'bpm');
  const base = fileName?.split(/[\\/]/).pop();
  if (base) {
    const byName = bpm.find((m) => m.fileNames.some((g) => globToRegExp(g).test(base)));
    if (byName) return byName;
  }
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type ? bpm.find((m) => m.mediaTypes.some((t) => t.toLowerCase() === type)) : undefined;
}

export function attachmentMapper(source: MappingSource): AttachmentMapper {
  return async ({ fileName, contentType, content }) => {
    const m = formatOfAttachment(source.current().mappings.values(), fileName, contentType);
    if (!m) return undefined;
    if (content.length > m.limits.maxInputBytes) throw new Error(`mapping ${m.name}: the attachment is larger than ${m.limits.maxInputBytes} bytes (limits.maxInputBytes)`);
    try {
      const r = await m.run(content);
      return { document: r.document, format: m.name };
    } catch (err) {
      if (err instanceof MappingFailure) {
        const d = err.diagnostics.find((x) => x.severity === 'error') ?? err.diagnostics[0];
        const where = [d?.rule ? `rule ${d.rule}` : undefined, d?.inputPath ? `input ${d.inputPath}` : undefined, d?.outputPath ? `output ${d.outputPath}` : undefined].filter(Boolean).join(', ');
        throw new Error(`mapping ${m.name}: ${d?.message ?? err.message}${where ? ` (${where})` : ''}`);
      }
      throw new Error(`mapping ${m.name}: ${(err as Error)?.message ?? String(err)}`);
    }
  };
}
