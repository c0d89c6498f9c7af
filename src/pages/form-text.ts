// Free text typed in a form (a reason, a comment): one string, bounded, without control or bidirectional-override
// characters (which could disguise what is shown to the next reader); line breaks and tabs are allowed.

// C0 controls except tab/LF/CR, DEL and C1, and the bidi embedding/override/isolate marks.
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

export type FormText = { ok: true; value: string } | { ok: false; error: string };

export function formText(raw: unknown, options: { label: string; max: number; required?: boolean }): FormText {
  if (raw !== undefined && typeof raw !== 'string') return { ok: false, error: `${options.label} : une seule valeur attendue.` };
  const value = (raw ?? '').normalize('NFC').replace(/\r\n/g, '\n').trim();
  if (options.required && value === '') return { ok: false, error: `${options.label} : à renseigner.` };
  if (value.length > options.max) return { ok: false, error: `${options.label} : ${options.max} caractères au plus.` };
  if (FORBIDDEN.test(value)) return { ok: false, error: `${options.label} : contient des caractères de contrôle non permis.` };
  return { ok: true, value };
}
