// The schema of `mappings/formats/<name>/mapping.yaml` (issue 19, docs/mappings.md § Reference). Strict: an unknown
// key is an error naming the file and the field path.
import { z } from 'zod';
import { INPUT_FORMATS } from './model.js';

export const DEFAULT_LIMITS = { timeoutMs: 2000, maxOutputBytes: 5 * 1024 * 1024, maxInputBytes: 20 * 1024 * 1024 } as const;

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

export const MappingFile = z
  .object({
    name: z.string().regex(NAME, 'lowercase letters, digits, dot, dash, underscore (≤ 64)'),
    kind: z.enum(['ppp', 'ctm', 'bpm']),
    input: z.enum(INPUT_FORMATS),
    description: z.string().max(2000).optional(),
    select: z
      .object({
        mediaTypes: z.array(z.string().toLowerCase().regex(MEDIA_TYPE, 'a media type like application/vnd.vendor.bpm+xml')).default([]),
        fileNames: z.array(z.string().min(1).max(200)).default([]),
      })
      .strict()
      .default({ mediaTypes: [], fileNames: [] }),
    codeMaps: z.array(z.string().regex(NAME)).default([]),
    limits: z
      .object({
        timeoutMs: z.number().int().min(1).max(30000).default(DEFAULT_LIMITS.timeoutMs),
        maxOutputBytes: z.number().int().min(1).max(100 * 1024 * 1024).default(DEFAULT_LIMITS.maxOutputBytes),
        maxInputBytes: z.number().int().min(1).max(200 * 1024 * 1024).default(DEFAULT_LIMITS.maxInputBytes),
      })
      .strict()
      .default({ ...DEFAULT_LIMITS }),
    xml: z.object({ arrays: z.array(z.string().min(1).max(500)).default([]) }).strict().default({ arrays: [] }),
    csv: z.object({ delimiter: z.string().min(1).max(4).default(';') }).strict().default({ delimiter: ';' }),
    transform: z.string().regex(/^[A-Za-z0-9._-]+\.jsonata$/, 'a file name in the format folder ending in .jsonata').default('transform.jsonata'),
  })
  .strict();
export type MappingFile = z.output<typeof MappingFile>;

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

/** Check the parsed YAML of `file`; the errors name the file and each field path. `folder` is the format's folder name. */
export function parseMappingFile(file: string, folder: string, raw: unknown): { ok: true; value: MappingFile } | { ok: false; errors: string[] } {
  const r = MappingFile.safeParse(raw);
  if (!r.success) {
    const errors = r.error.issues.map((i) => {
      const keys = i.code === 'unrecognized_keys' ? ` (${(i as { keys: string[] }).keys.join(', ')})` : '';
      return `${file}: ${fieldPath(i.path)}: ${i.message}${keys}`;
    });
    return { ok: false, errors };
  }
  if (r.data.name !== folder) return { ok: false, errors: [`${file}: name: "${r.data.name}" must be the folder name "${folder}"`] };
  return { ok: true, value: r.data };
}
