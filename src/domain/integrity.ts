// Cross-field checks shared by the PPP, CTM and BPM schemas: unique line ids and resolvable internal ids.
import type { z } from 'zod';

type Path = (string | number)[];

export function checkUniqueIds(ctx: z.RefinementCtx, items: readonly { id: string }[], path: Path): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: [...path, i, 'id'], message: `duplicate id "${item.id}"` });
    seen.add(item.id);
  });
}

export function checkRefs(ctx: z.RefinementCtx, known: ReadonlySet<string>, ref: string, path: Path, what: string): void {
  if (!known.has(ref)) ctx.addIssue({ code: 'custom', path, message: `unknown ${what} id "${ref}"` });
}
