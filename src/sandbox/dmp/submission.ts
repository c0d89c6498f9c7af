// Reading an ITI-41 body the way a registry does: the ebRIM objects of lcm:SubmitObjectsRequest (RegistryPackages,
// ExtrinsicObjects, Associations, with their Slots, Classifications and ExternalIdentifiers wherever they are written)
// and the xdsb:Document contents, inline base64 or MTOM attachments resolved through xop:Include.
import { xopBytes } from '../../connectors/dmp/mtom.js';
import { child, children, descendants, textOf } from '../../connectors/dmp/xml-dom.js';
import { NS, SUBMISSION_SET_NODE } from '../../connectors/dmp/xds-constants.js';

export interface RimClassification {
  id: string;
  classifiedObject: string;
  scheme?: string;
  node?: string;
  nodeRepresentation?: string;
  slots: Map<string, string[]>;
  name?: string;
}

export interface RimExternalIdentifier {
  registryObject: string;
  scheme: string;
  value: string;
}

export interface RimObject {
  id: string;
  element: Element;
  slots: Map<string, string[]>;
  classifications: RimClassification[];
  identifiers: RimExternalIdentifier[];
  name?: string;
}

export interface RimExtrinsicObject extends RimObject {
  mimeType?: string;
  objectType?: string;
}

export interface RimAssociation {
  id: string;
  type: string;
  source: string;
  target: string;
  slots: Map<string, string[]>;
}

export interface ProvideAndRegisterRequest {
  submitObjects: Element;
  /** RegistryPackages classified as SubmissionSet. */
  submissionSets: RimObject[];
  /** Other RegistryPackages (folders): the sandbox does not register them and refuses the submission. */
  otherPackages: RimObject[];
  entries: RimExtrinsicObject[];
  associations: RimAssociation[];
  /** xdsb:Document contents by Document@id. */
  documents: Map<string, Buffer>;
  /** xdsb:Document elements whose content could not be read, with the reason. */
  unreadableDocuments: Map<string, string>;
}

/** A request that is not an ITI-41 at all (wrong element, no SubmitObjectsRequest). */
export class MalformedSubmission extends Error {}

function slotsOf(el: Element): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of children(el, NS.rim, 'Slot')) {
    const list = child(s, NS.rim, 'ValueList');
    const values = list ? children(list, NS.rim, 'Value').map((v) => textOf(v)) : [];
    out.set(s.getAttribute('name') ?? '', [...(out.get(s.getAttribute('name') ?? '') ?? []), ...values]);
  }
  return out;
}

function nameOf(el: Element): string | undefined {
  const name = child(el, NS.rim, 'Name');
  const ls = name && child(name, NS.rim, 'LocalizedString');
  return ls?.getAttribute('value') ?? undefined;
}

function attr(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? (el.getAttribute(name) ?? undefined) : undefined;
}

/** `parts`: MTOM parts by Content-ID (without angle brackets); empty for an inline request. */
export function readProvideAndRegister(payload: Element, parts: ReadonlyMap<string, { body: Buffer }>): ProvideAndRegisterRequest {
  if (payload.namespaceURI !== NS.xdsb || payload.localName !== 'ProvideAndRegisterDocumentSetRequest') {
    throw new MalformedSubmission(`body: expected xdsb:ProvideAndRegisterDocumentSetRequest, got {${payload.namespaceURI ?? ''}}${payload.localName}`);
  }
  const submitObjects = child(payload, NS.lcm, 'SubmitObjectsRequest');
  if (!submitObjects) throw new MalformedSubmission('body: no lcm:SubmitObjectsRequest');
  const list = child(submitObjects, NS.rim, 'RegistryObjectList');
  if (!list) throw new MalformedSubmission('SubmitObjectsRequest: no rim:RegistryObjectList');

  // Classifications and ExternalIdentifiers may be nested in their object or stand alone in the list: collect all
  // and attach them by the object they name.
  const classifications = descendants(list, NS.rim, 'Classification').map(
    (c): RimClassification => ({
      id: attr(c, 'id') ?? '',
      classifiedObject: attr(c, 'classifiedObject') ?? attr(c.parentNode as Element, 'id') ?? '',
      scheme: attr(c, 'classificationScheme'),
      node: attr(c, 'classificationNode'),
      nodeRepresentation: attr(c, 'nodeRepresentation'),
      slots: slotsOf(c),
      name: nameOf(c),
    }),
  );
  const identifiers = descendants(list, NS.rim, 'ExternalIdentifier').map(
    (e): RimExternalIdentifier => ({
      registryObject: attr(e, 'registryObject') ?? attr(e.parentNode as Element, 'id') ?? '',
      scheme: attr(e, 'identificationScheme') ?? '',
      value: attr(e, 'value') ?? '',
    }),
  );
  const objectOf = (el: Element): RimObject => {
    const id = attr(el, 'id') ?? '';
    return {
      id,
      element: el,
      slots: slotsOf(el),
      classifications: classifications.filter((c) => c.classifiedObject === id),
      identifiers: identifiers.filter((e) => e.registryObject === id),
      name: nameOf(el),
    };
  };

  const packages = children(list, NS.rim, 'RegistryPackage').map(objectOf);
  const isSubmissionSet = (p: RimObject): boolean => p.classifications.some((c) => c.node === SUBMISSION_SET_NODE);
  const entries = children(list, NS.rim, 'ExtrinsicObject').map(
    (el): RimExtrinsicObject => ({ ...objectOf(el), mimeType: attr(el, 'mimeType'), objectType: attr(el, 'objectType') }),
  );
  const associations = children(list, NS.rim, 'Association').map(
    (a): RimAssociation => ({
      id: attr(a, 'id') ?? '',
      type: attr(a, 'associationType') ?? '',
      source: attr(a, 'sourceObject') ?? '',
      target: attr(a, 'targetObject') ?? '',
      slots: slotsOf(a),
    }),
  );

  const documents = new Map<string, Buffer>();
  const unreadableDocuments = new Map<string, string>();
  for (const d of children(payload, NS.xdsb, 'Document')) {
    const id = attr(d, 'id') ?? '';
    const include = child(d, NS.xop, 'Include');
    if (include) {
      const href = attr(include, 'href') ?? '';
      try {
        documents.set(id, xopBytes(href, parts));
      } catch {
        unreadableDocuments.set(id, `xop:Include href="${href}" names no MIME part of the request`);
      }
      continue;
    }
    const text = textOf(d).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      unreadableDocuments.set(id, 'content is neither base64 nor an xop:Include');
      continue;
    }
    documents.set(id, Buffer.from(text, 'base64'));
  }

  return {
    submitObjects,
    submissionSets: packages.filter(isSubmissionSet),
    otherPackages: packages.filter((p) => !isSubmissionSet(p)),
    entries,
    associations,
    documents,
    unreadableDocuments,
  };
}

/** The single value of a slot, or undefined when absent. */
export function slotValue(o: { slots: Map<string, string[]> }, name: string): string | undefined {
  return o.slots.get(name)?.[0];
}

export function identifierValue(o: RimObject, scheme: string): string | undefined {
  return o.identifiers.find((e) => e.scheme === scheme)?.value;
}

export function classificationsOf(o: RimObject, scheme: string): RimClassification[] {
  return o.classifications.filter((c) => c.scheme === scheme);
}
