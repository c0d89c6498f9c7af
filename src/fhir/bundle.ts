// Canonical document (PPP, CTM, BPM) → FHIR R4 transaction Bundle: the entry point of the mapping layer.
// Each mapping is pure: the document and a MapContext (`now`, optional base URL) in, a Bundle out.
import type { Bundle } from '@medplum/fhirtypes';
import type { DocumentKind, DocumentOf } from '../domain/parse.js';
import type { MapContext } from './bundle-builder.js';
import { mapBpm } from './map-bpm.js';
import { mapCtm } from './map-ctm.js';
import { mapPpp } from './map-ppp.js';

export type { MapContext } from './bundle-builder.js';
export { mapPpp, mapCtm, mapBpm };

export function mapDocument<K extends DocumentKind>(kind: K, doc: DocumentOf<K>, ctx: MapContext): Bundle {
  switch (kind) {
    case 'ppp':
      return mapPpp(doc as DocumentOf<'ppp'>, ctx);
    case 'ctm':
      return mapCtm(doc as DocumentOf<'ctm'>, ctx);
    case 'bpm':
      return mapBpm(doc as DocumentOf<'bpm'>, ctx);
    default:
      throw new Error(`unknown document kind "${String(kind)}"`);
  }
}
