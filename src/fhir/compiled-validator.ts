// Compiled profile validation. Each StructureDefinition snapshot (base R4 types and resources, our profiles,
// extra definitions such as FR Core) is compiled once, lazily, into a tree of element checkers; a resource is
// then validated by walking its JSON along that tree: only the properties present are visited, plus the
// minimum cardinalities of the absent ones. FHIRPath invariants are parsed once and evaluated per element
// occurrence, except ele-1, ext-1, txt-1 and txt-2 which are checked natively.
//
// Checked: unknown properties (incl. a wrong choice-type suffix), null values, array vs single value,
// cardinalities, `_primitive` extension siblings, primitive JSON types and formats, ele-1 (no empty object,
// array or string) and ext-1, complex data types recursively (contained resources and Bundle entries by their
// resourceType), fixed[x] / pattern[x], required bindings (expansions supplied by the caller), invariants of
// the element and of its type wherever the type occurs (warnings stay warnings), extension slices by url
// (their content checked against the slice or the extension definition we hold) and the counts of other
// slices (value / pattern / type discriminators, as @medplum/core counts them).
//
// Not checked: bindings other than required ones, the content of non-extension slices (counts only), closed
// or ordered slicing, maxLength / minValue / maxValue, reference target types, the invariants the FHIRPath
// engine cannot evaluate (STUB_FUNCTIONS), type profiles we do not hold (the base type is used instead).
import {
  AndAtom,
  AsAtom,
  DotAtom,
  EmptySetAtom,
  FunctionAtom,
  ImpliesAtom,
  IndexerAtom,
  IsAtom,
  LiteralAtom,
  OrAtom,
  SymbolAtom,
  deepEquals,
  deepIncludes,
  getElementDefinitionFromElements,
  getElementDefinitionTypeName,
  getTypedPropertyValueWithSchema,
  getTypedPropertyValueWithoutSchema,
  isEmpty,
  parseFhirPath,
  singleton,
  tryGetDataType,
  validationRegexes,
} from '@medplum/core';
import type { Atom, AtomContext, InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';
import type {
  Coding,
  ElementDefinition,
  ElementDefinitionConstraint,
  ElementDefinitionType,
  OperationOutcomeIssue,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { narrativeProblems } from './narrative.js';
import { issue, type IssueCode } from './outcome.js';

const HL7_SD = 'http://hl7.org/fhir/StructureDefinition/';
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

// ---- What the caller provides ----------------------------------------------------------------------------------

/** Codes of an expanded value set: bare codes (for `code` elements) and `system|code` (for Coding). */
export interface Expansion {
  readonly codes: ReadonlySet<string>;
  readonly systemCodes: ReadonlySet<string>;
}

export interface DefinitionSource {
  /** The StructureDefinition with this canonical url (no version), if known. */
  definition(url: string): StructureDefinition | undefined;
  /** The codes of a value set for a required binding; null when it cannot be expanded (the binding is not checked). */
  expansion(valueSet: string): Expansion | null;
}

// ---- Invariants: FHIRPath parsed once, evaluated per element occurrence ------------------------------------------

/**
 * Invariants checked natively, never with FHIRPath: ele-1 and ext-1 hold on every element; txt-1 and txt-2
 * (`htmlChecks()`, which @medplum/core only stubs) are checked on every xhtml value (narrative.ts).
 */
const NATIVE_CONSTRAINTS = new Set(['ele-1', 'ext-1', 'txt-1', 'txt-2']);

/**
 * FHIRPath functions that @medplum/core only stubs (they return `{}`): an invariant using one cannot be evaluated
 * and is skipped. In R4 and in our definitions this skips dom-3 (`descendants()`: every contained resource would
 * look unreferenced), csd-1, que-2 (`descendants()`) and sdf-9 (`children()`); `skippedConstraints` lists them.
 */
const STUB_FUNCTIONS = new Set(['children', 'descendants', 'repeat', 'encode', 'decode', 'escape', 'unescape', 'trim', 'split']);

/**
 * Invariants evaluated only when the element they test is present (it holds otherwise). ref-1
 * (`reference.startsWith('#').not() or ...`) would fail every Reference without `reference` (display or
 * identifier only, which FHIR allows): @medplum/core returns `{}` for `{}.startsWith()` where the HL7 validator
 * returns false.
 */
const PRESENCE_GATED: Readonly<Record<string, readonly string[]>> = { 'ref-1': ['reference'] };

/**
 * Best-practice invariants (extension `elementdefinition-bestpractice`) that we do not report: dom-6 ("a resource
 * should have narrative") would add one warning per resource to every Bundle we emit, and Passerelle does not
 * generate narrative (the PDF is the human-readable copy).
 */
const NOT_REPORTED = new Set(['dom-6']);

interface Invariant {
  readonly key: string;
  readonly severity: 'error' | 'warning';
  readonly human: string;
  readonly expression: string;
  readonly atom: Atom;
  /** Properties of the context the expression reads; null when it reads more (the context itself, variables). */
  readonly reads: readonly string[] | null;
}

/**
 * An invariant ready for values of one type. When none of `keys` is present in the value, the expression reads
 * nothing but empty collections and its result is `constant` (computed once): it is not evaluated.
 */
interface BoundInvariant {
  readonly invariant: Invariant;
  readonly keys: readonly string[] | null;
  readonly constant: boolean;
}

/**
 * Member access (`name`, `value` for value[x]) as @medplum/core's SymbolAtom does it, without re-resolving the
 * element definition on every call: the definition is memoised per type and property name.
 */
class MemberAtom extends SymbolAtom {
  private lastType = '';
  private lastAccess: MemberAccess | null | undefined;

  override eval(_context: AtomContext, input: TypedValue[]): TypedValue[] {
    const out: TypedValue[] = [];
    for (const tv of input) {
      const value: unknown = tv.value;
      if (!value || typeof value !== 'object') continue;
      if ((value as { resourceType?: unknown }).resourceType === this.name) {
        out.push(tv);
        continue;
      }
      if (tv.type !== this.lastType) {
        this.lastType = tv.type;
        this.lastAccess = memberAccessOf(tv.type, this.name);
      }
      const access = this.lastAccess;
      const result = access ? typedProperty(tv, value as Record<string, unknown>, access) : getTypedPropertyValueWithoutSchema(tv, this.name);
      if (Array.isArray(result)) {
        for (const r of result) if (r?.value !== undefined) out.push(r);
      } else if (result?.value !== undefined) {
        out.push(result);
      }
    }
    return out;
  }
}

interface MemberAccess {
  readonly element: InternalSchemaElement;
  readonly name: string;
  /** JSON keys to try, in the order of the element's types, their `_` siblings and the type of each. */
  readonly keys: readonly string[];
  readonly extKeys: readonly string[];
  readonly codes: readonly string[];
}

const memberAccess = new Map<string, Map<string, MemberAccess | null>>();

/** How @medplum/core reads property `name` of a value of type `type` (undefined: no schema; null: no such element). */
function memberAccessOf(type: string, name: string): MemberAccess | null | undefined {
  const schema: InternalTypeSchema | undefined = tryGetDataType(type);
  if (!schema) return undefined;
  let byName = memberAccess.get(type);
  if (!byName) {
    byName = new Map();
    memberAccess.set(type, byName);
  }
  let access = byName.get(name);
  if (access === undefined) {
    const element = getElementDefinitionFromElements(schema.elements, name);
    if (element) {
      const last = element.path.slice(element.path.lastIndexOf('.') + 1);
      const codes = element.type.map((t) => t.code);
      const keys = codes.map((code) => last.replace('[x]', capitalize(code)));
      access = { element, name, keys, extKeys: keys.map((k) => '_' + k), codes };
    } else {
      access = null;
    }
    byName.set(name, access);
  }
  return access;
}

/** Same result as @medplum/core getTypedPropertyValueWithSchema. */
function typedProperty(tv: TypedValue, value: Record<string, unknown>, access: MemberAccess): TypedValue | TypedValue[] | undefined {
  if (access.codes.length === 0) return undefined;
  let result: unknown;
  let type = 'undefined';
  for (let i = 0; i < access.keys.length; i++) {
    result = value[access.keys[i]];
    const ext = value[access.extKeys[i]];
    if (result !== undefined || ext !== undefined) {
      // A primitive with its `_` sibling: let @medplum/core merge them.
      if (ext) return getTypedPropertyValueWithSchema(tv, access.name, access.element);
      type = access.codes[i];
      break;
    }
  }
  if (isEmpty(result)) return undefined;
  if (type === 'Element' || type === 'BackboneElement') type = access.element.type[0].code;
  if (Array.isArray(result)) return result.map((v: unknown) => withType(v, type));
  return withType(result, type);
}

function withType(value: unknown, type: string): TypedValue {
  if (type === 'Resource' && value && typeof value === 'object' && 'resourceType' in value) {
    return { type: String((value as { resourceType: unknown }).resourceType), value };
  }
  return { type, value };
}

const TRUE = (): TypedValue[] => [{ type: 'boolean', value: true }];
const FALSE = (): TypedValue[] => [{ type: 'boolean', value: false }];

/**
 * `or`, `and`, `implies` with short-circuit evaluation (FHIRPath allows it; @medplum/core evaluates both sides):
 * the result is the same, the right operand is just not computed when the left one decides.
 */
class ShortOrAtom extends OrAtom {
  override eval(context: AtomContext, input: TypedValue[]): TypedValue[] {
    const left = singleton(this.left.eval(context, input), 'boolean');
    if (left?.value === true) return TRUE();
    const right = singleton(this.right.eval(context, input), 'boolean');
    if (left?.value === false && right?.value === false) return FALSE();
    return left?.value || right?.value ? TRUE() : [];
  }
}

class ShortAndAtom extends AndAtom {
  override eval(context: AtomContext, input: TypedValue[]): TypedValue[] {
    const left = singleton(this.left.eval(context, input), 'boolean');
    if (left?.value === false) return FALSE();
    const right = singleton(this.right.eval(context, input), 'boolean');
    if (left?.value === true && right?.value === true) return TRUE();
    return left?.value === false || right?.value === false ? FALSE() : [];
  }
}

class ShortImpliesAtom extends ImpliesAtom {
  override eval(context: AtomContext, input: TypedValue[]): TypedValue[] {
    const left = singleton(this.left.eval(context, input), 'boolean');
    if (left?.value === false) return TRUE();
    const right = singleton(this.right.eval(context, input), 'boolean');
    if (right?.value === true || left?.value === false) return TRUE();
    return !left || !right ? [] : FALSE();
  }
}

type AtomFields = { left?: Atom; right?: Atom; child?: Atom };

/** `not()`: a single boolean is negated here; anything else goes to @medplum/core. */
class NotAtom extends FunctionAtom {
  override eval(context: AtomContext, input: TypedValue[]): TypedValue[] {
    if (input.length === 1 && typeof input[0].value === 'boolean') return [{ type: 'boolean', value: !input[0].value }];
    return super.eval(context, input);
  }
}

/** `startsWith(prefix)`: one string and a string prefix are handled here; anything else goes to @medplum/core. */
class StartsWithAtom extends FunctionAtom {
  override eval(context: AtomContext, input: TypedValue[]): TypedValue[] {
    if (input.length === 1 && typeof input[0].value === 'string') {
      const prefix: unknown = this.args[0].eval(context, input)[0]?.value;
      if (typeof prefix === 'string') return [{ type: 'boolean', value: (input[0].value as string).startsWith(prefix) }];
    }
    return super.eval(context, input);
  }
}

/** A sub-expression made of literals only (`('a' | 'b' | 'c')`), evaluated once. */
class ConstantAtom implements Atom {
  constructor(
    private readonly values: TypedValue[],
    private readonly source: Atom,
  ) {}
  eval(): TypedValue[] {
    return this.values.slice();
  }
  toString(): string {
    return this.source.toString();
  }
}

const isConstant = (a: Atom): boolean => a instanceof LiteralAtom || a instanceof EmptySetAtom || a instanceof ConstantAtom;

/**
 * The parsed expression with member access replaced by MemberAtom, short-circuit boolean operators, a few
 * functions on their common case and literal sub-expressions folded; everything else keeps @medplum/core's
 * implementation.
 */
function accelerate(atom: Atom): Atom {
  if (atom instanceof SymbolAtom) return /^[A-Za-z_]/.test(atom.name) ? new MemberAtom(atom.name) : atom;
  if (atom instanceof FunctionAtom) {
    const args = atom.args.map(accelerate);
    if (atom.name === 'not' && args.length === 0) return new NotAtom(atom.name, args);
    if (atom.name === 'startsWith' && args.length === 1) return new StartsWithAtom(atom.name, args);
    return new FunctionAtom(atom.name, args);
  }
  if (atom instanceof IndexerAtom) return new IndexerAtom(accelerate(atom.left), accelerate(atom.expr));
  if (atom instanceof OrAtom) return new ShortOrAtom(accelerate(atom.left), accelerate(atom.right));
  if (atom instanceof AndAtom) return new ShortAndAtom(accelerate(atom.left), accelerate(atom.right));
  if (atom instanceof ImpliesAtom) return new ShortImpliesAtom(accelerate(atom.left), accelerate(atom.right));
  const node = atom as unknown as AtomFields;
  let out: Atom;
  if (node.left && node.right) out = cloneAtom(atom, { left: accelerate(node.left), right: accelerate(node.right) });
  else if (node.child) out = cloneAtom(atom, { child: accelerate(node.child) });
  else return atom;
  const parts = out as unknown as AtomFields;
  const foldable = !(out instanceof DotAtom || out instanceof IsAtom || out instanceof AsAtom);
  if (foldable && [parts.left, parts.right, parts.child].every((a) => !a || isConstant(a))) {
    try {
      return new ConstantAtom(out.eval({ variables: {} }, []), out);
    } catch {
      return out;
    }
  }
  return out;
}

function cloneAtom(atom: Atom, children: AtomFields): Atom {
  return Object.assign(Object.create(Object.getPrototypeOf(atom) as object) as Atom, atom, children);
}

function functionNames(atom: Atom, out: Set<string>): Set<string> {
  if (atom instanceof FunctionAtom) {
    out.add(atom.name);
    for (const a of atom.args) functionNames(a, out);
  } else if (atom instanceof IndexerAtom) {
    functionNames(atom.left, out);
    functionNames(atom.expr, out);
  } else {
    const node = atom as unknown as AtomFields;
    if (node.left) functionNames(node.left, out);
    if (node.right) functionNames(node.right, out);
    if (node.child) functionNames(node.child, out);
  }
  return out;
}

/** Functions whose argument is a type name, not an expression. */
const TYPE_ARGUMENT = new Set(['ofType', 'is', 'as']);

/** Functions that @medplum/core evaluates their argument on the root input (the invariant's context). */
const ROOT_ARGUMENT = new Set(['subsetOf', 'supersetOf', 'intersect', 'exclude', 'union', 'combine', 'join']);

/**
 * Properties of the context an expression reads, or null when it may read anything else of it: the context as a
 * whole (`$this` or a function applied to it), or a variable (%resource...). As @medplum/core evaluates them:
 * operands of an operator and arguments of `iif` see the same input as the operator, what follows a `.` and the
 * arguments of other functions see values derived from what precedes (or the invariant's context for
 * ROOT_ARGUMENT functions). When none of these properties is present, the expression only sees empty
 * collections: its result is a constant.
 */
function contextReads(atom: Atom, atContext: boolean, names: Set<string>): boolean {
  if (atom instanceof MemberAtom) {
    if (atContext) names.add(atom.name);
    return true;
  }
  if (atom instanceof SymbolAtom) return atom.name === '$this' && !atContext;
  if (atom instanceof FunctionAtom) {
    if (TYPE_ARGUMENT.has(atom.name)) return !atContext;
    const argsAtContext = atContext || ROOT_ARGUMENT.has(atom.name);
    if (atContext) {
      if (atom.name === 'extension') names.add('extension');
      else if (atom.name !== 'iif') return false;
    }
    return atom.args.every((a) => contextReads(a, argsAtContext, names));
  }
  if (atom instanceof DotAtom) return contextReads(atom.left, atContext, names) && contextReads(atom.right, false, names);
  if (atom instanceof IsAtom || atom instanceof AsAtom) return contextReads(atom.left, atContext, names);
  if (atom instanceof IndexerAtom) return contextReads(atom.left, atContext, names) && contextReads(atom.expr, atContext, names);
  const node = atom as unknown as AtomFields;
  return [node.left, node.right, node.child].every((a) => !a || contextReads(a, atContext, names));
}

const UCUM: TypedValue = { type: 'string', value: 'http://unitsofmeasure.org' };

function bindAll(invariants: readonly Invariant[], type: string): BoundInvariant[] {
  return invariants.map((i) => bindInvariant(i, type));
}

/** Invariants of an element plus those of its type, each key once. */
function mergeInvariants(own: readonly Invariant[], typed: readonly Invariant[]): readonly Invariant[] {
  if (!typed.length) return own;
  if (!own.length) return typed;
  return [...own, ...typed.filter((t) => !own.some((o) => o.key === t.key))];
}

/** Evaluates an invariant on a value; true when it holds (a single `true`, as @medplum/core requires). */
function holds(invariant: Invariant, tv: TypedValue, context: AtomContext): boolean {
  const result = invariant.atom.eval(context, [tv]);
  const value: unknown = result.length === 1 ? result[0].value : undefined;
  return (value instanceof Boolean ? value.valueOf() : value) === true;
}

/** Binds an invariant to the values of one (FHIRPath) type: the keys whose absence decides its result. */
function bindInvariant(invariant: Invariant, type: string): BoundInvariant {
  const gated = PRESENCE_GATED[invariant.key];
  const names = gated ?? invariant.reads;
  if (!names) return { invariant, keys: null, constant: false };
  const keys: string[] = [];
  for (const name of names) {
    const access = memberAccessOf(type, name);
    if (!access) return { invariant, keys: null, constant: false };
    keys.push(...access.keys, ...access.extKeys);
  }
  if (gated) return { invariant, keys, constant: true };
  try {
    const empty: TypedValue = { type, value: {} };
    return { invariant, keys, constant: holds(invariant, empty, { variables: { $this: empty, '%context': empty } }) };
  } catch {
    return { invariant, keys: null, constant: false };
  }
}

/**
 * Evaluates an invariant expression on a value exactly as the validator does (accelerated atoms, and the
 * constant result when none of the properties it reads is present); true when it holds. For tests and tools:
 * the expression is parsed on every call.
 */
export function evaluateInvariant(expression: string, value: TypedValue, variables: Record<string, TypedValue> = {}, key = ''): boolean {
  const atom = accelerate(parseFhirPath(expression).child);
  const names = new Set<string>();
  const invariant: Invariant = { key, severity: 'error', human: '', expression, atom, reads: contextReads(atom, true, names) ? [...names] : null };
  const bound = bindInvariant(invariant, value.type);
  const obj = value.value as Record<string, unknown> | null;
  if (bound.keys && obj && typeof obj === 'object' && bound.keys.every((k) => obj[k] === undefined)) return bound.constant;
  return holds(invariant, value, { parent: { variables }, variables: { $this: value, '%context': value } });
}

// ---- Primitive types -------------------------------------------------------------------------------------------------

interface PrimitiveType {
  readonly name: string;
  readonly json: 'string' | 'number' | 'boolean';
  /** The format (validationRegexes of @medplum/core)... */
  readonly regex: RegExp | undefined;
  /** ...or, equivalently and faster, what must not occur. */
  readonly forbidden: RegExp | undefined;
  readonly integer: boolean;
  /** Smallest allowed value (positiveInt 1, unsignedInt 0). */
  readonly minimum: number | undefined;
  /** Values already found valid (codes, uris, dates repeat a lot), for types whose values are not free text. */
  readonly known: Set<string> | undefined;
}

/** Bound of each PrimitiveType.known (cleared when full). */
const KNOWN_VALUES = 4096;

const PRIMITIVES = new Map<string, PrimitiveType>();
function primitive(name: string, json: PrimitiveType['json'], options: Partial<Pick<PrimitiveType, 'regex' | 'forbidden' | 'integer' | 'minimum'>> = {}, remember = false): void {
  PRIMITIVES.set(name, {
    name,
    json,
    regex: options.regex,
    forbidden: options.forbidden,
    integer: options.integer ?? false,
    minimum: options.minimum,
    known: remember ? new Set() : undefined,
  });
}
for (const name of ['base64Binary', 'code', 'date', 'dateTime', 'id', 'instant', 'integer64', 'oid', 'time', 'uuid']) {
  primitive(name, 'string', { regex: validationRegexes[name] }, name !== 'base64Binary');
}
// string, markdown: /^[\r\n\t\u0020-\uFFFF]+$/ on a non-empty string; uri, url, canonical: /^\S*$/; xhtml: anything.
for (const name of ['string', 'markdown']) primitive(name, 'string', { forbidden: /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/ });
for (const name of ['uri', 'url', 'canonical']) primitive(name, 'string', { forbidden: /\s/ }, true);
primitive('xhtml', 'string');
primitive('boolean', 'boolean');
primitive('decimal', 'number');
primitive('integer', 'number', { integer: true });
primitive('positiveInt', 'number', { integer: true, minimum: 1 });
primitive('unsignedInt', 'number', { integer: true, minimum: 0 });

const MAX_STRING = 1024 * 1024;

/** The FHIR type of a type reference: `http://hl7.org/fhirpath/System.String` carries it in an extension. */
function typeCode(t: ElementDefinitionType): string {
  const code = t.code ?? '';
  if (!code.startsWith('http://hl7.org/fhirpath/System.')) return code;
  const fhirType = t.extension?.find((e) => e.url === FHIR_TYPE_EXT)?.valueUrl;
  return fhirType ?? (code.endsWith('.Boolean') ? 'boolean' : code.endsWith('.Integer') ? 'integer' : code.endsWith('.Decimal') ? 'decimal' : 'string');
}

// ---- Compiled tree -----------------------------------------------------------------------------------------------------

type BoundKind = 'code' | 'Coding' | 'CodeableConcept';

interface BindingCheck {
  readonly kind: BoundKind;
  readonly valueSet: string;
  readonly elementPath: string;
  readonly expansion: Expansion;
}

interface SliceCount {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Extension slice: its url. */
  readonly url: string | undefined;
  /** Other slices: does the value belong to this slice (first matching slice wins). */
  readonly matches: ((value: unknown, code: string) => boolean) | undefined;
}

/** One ElementDefinition, shared by its JSON keys (one per type of a choice element). */
interface ElementCheck {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly isArray: boolean;
  readonly isChoice: boolean;
  /** JSON keys of the values, and of their `_` siblings. */
  readonly keys: readonly string[];
  readonly extKeys: readonly string[];
  readonly fixed: unknown;
  readonly pattern: unknown;
  readonly invariants: readonly Invariant[];
  readonly sliceCounts: readonly SliceCount[] | undefined;
  /** Extension slices by url: the node their content is checked against. */
  readonly extensionSlices: ReadonlyMap<string, () => Node | undefined> | undefined;
  /** Bit of a required element in its node's `requiredMask` (0: not required, or checked by lookup). */
  readonly bit: number;
}

/** What a property holds; `primitive-element` is `_name`: the id and extensions of a primitive value. */
type Kind = 'primitive' | 'primitive-element' | 'complex' | 'resource';

/** How to check the value(s) of one JSON property. */
interface Prop {
  readonly element: ElementCheck;
  readonly kind: Kind;
  /** FHIR type of the values (FHIRPath type name for backbone elements). */
  readonly type: string;
  readonly primitive: PrimitiveType | undefined;
  readonly node: (() => Node | undefined) | undefined;
  readonly binding: BindingCheck | undefined;
  /** `_name` for `name` and the other way round. */
  readonly partner: string;
  /** Invariants of the element plus those of the node last used for its values (resolved on first use). */
  lastNode: Node | undefined;
  lastBound: readonly BoundInvariant[] | undefined;
}

// Every object of the tree is built with all its fields, in one order: property reads stay monomorphic.
function makeProp(
  element: ElementCheck,
  kind: Kind,
  type: string,
  partner: string,
  parts: { primitive?: PrimitiveType; node?: () => Node | undefined; binding?: BindingCheck | undefined },
): Prop {
  return {
    element,
    kind,
    type,
    primitive: parts.primitive,
    node: parts.node,
    binding: parts.binding,
    partner,
    lastNode: undefined,
    lastBound: undefined,
  };
}

/** Checks for one kind of object: a resource, a data type, a backbone element, an extension. */
interface Node {
  readonly type: string;
  /** By JSON key; a prototype-less object (faster to look up than a Map). */
  readonly props: Record<string, Prop | undefined>;
  readonly required: ElementCheck[];
  /** Bits of the required elements (the first 31): set while walking an object's keys. */
  requiredMask: number;
  readonly sliced: ElementCheck[];
  /** Invariants of the type itself (root element of its definition). */
  readonly invariants: Invariant[];
  /** The same, bound to the node's type (resolved on first use). */
  bound: readonly BoundInvariant[] | undefined;
  readonly resourceType: string | undefined;
  readonly isExtension: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const capitalize = (s: string): string => (s ? s[0].toUpperCase() + s.slice(1) : s);
const cardinality = (max: string | undefined): number => (max === undefined || max === '*' ? Infinity : Number(max));
const stripVersion = (canonical: string): string => {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
};

function valueOfChoice(el: ElementDefinition, prefix: 'fixed' | 'pattern'): unknown {
  for (const k in el) {
    if (k.length > prefix.length && k.startsWith(prefix) && k[prefix.length] >= 'A' && k[prefix.length] <= 'Z') {
      return (el as unknown as Record<string, unknown>)[k];
    }
  }
  return undefined;
}

/** A compiled StructureDefinition: its root node, and the node of any element with children (backbone elements). */
interface CompiledDefinition {
  readonly root: Node;
  nodeFor(id: string): Node | undefined;
}

// ---- Walking a resource -------------------------------------------------------------------------------------------------

class Walk {
  readonly issues: OperationOutcomeIssue[] = [];
  /** Path of the current value: property names and array indexes. */
  readonly segs: (string | number)[];
  /** FHIRPath variables of the current resource (%resource, %rootResource, %ucum). */
  resource: AtomContext;
  readonly root: TypedValue;
  /** Evaluation context of an invariant, reused (an evaluation keeps no reference to it). */
  readonly evaluation: { parent: AtomContext; variables: Record<string, TypedValue> };

  constructor(
    rootName: string,
    readonly rootType: string,
    root: TypedValue,
  ) {
    this.segs = [rootName];
    this.root = root;
    this.resource = { variables: { '%resource': root, '%rootResource': root, '%ucum': UCUM } };
    this.evaluation = { parent: this.resource, variables: { $this: root, '%context': root } };
  }

  path(extra?: string): string {
    let p = String(this.segs[0]);
    for (let i = 1; i < this.segs.length; i++) {
      const s = this.segs[i];
      p += typeof s === 'number' ? `[${s}]` : `.${s}`;
    }
    return extra === undefined ? p : `${p}.${extra}`;
  }

  report(code: IssueCode, text: string, extra?: string, severity: OperationOutcomeIssue['severity'] = 'error'): void {
    this.issues.push(issue(code, text, this.path(extra), severity));
  }
}

const EMPTY = 'Constraint ele-1 not met: All FHIR elements must have a @value or children';

// ---- The validator --------------------------------------------------------------------------------------------------------

export class CompiledValidator {
  private readonly definitions = new Map<string, CompiledDefinition | null>();
  private readonly invariantCache = new Map<string, Invariant | null>();
  private readonly skipped = new Map<string, string>();

  /**
   * @param source - definitions and value set expansions.
   * @param options.invariantTargets - invariant key → expression an unmet invariant of the resource root is
   *   reported on (e.g. the element it is about), instead of the resource type.
   */
  constructor(
    private readonly source: DefinitionSource,
    private readonly options: { readonly invariantTargets?: ReadonlyMap<string, string> } = {},
  ) {}

  /** Invariants that cannot be evaluated (key → why), found so far in the definitions compiled. */
  get skippedConstraints(): ReadonlyMap<string, string> {
    return this.skipped;
  }

  /** Compiles the definition (if not yet done); false when it is unknown or has no snapshot. */
  compile(url: string): boolean {
    return !!this.definition(stripVersion(url));
  }

  /**
   * Validates a resource against the StructureDefinition `url` (a resource profile or base resource).
   * Expressions start with `root`, by default the resource type (`CarePlan.activity[0].detail.status`).
   */
  validate(resource: object, url: string, root?: string): OperationOutcomeIssue[] {
    const def = this.definition(stripVersion(url));
    if (!def) throw new Error(`Unknown StructureDefinition ${url}`);
    const node = def.root;
    const type = node.resourceType ?? node.type;
    const tv: TypedValue = { type, value: resource };
    const w = new Walk(root ?? type, type, tv);
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      w.report('structure', 'A resource must be a JSON object');
      return w.issues;
    }
    if (!this.walkObject(resource as Record<string, unknown>, node, w)) return w.issues;
    this.checkInvariants((node.bound ??= bindAll(node.invariants, node.type)), resource as Record<string, unknown>, tv, w);
    return w.issues;
  }

  // ---- Compiling ------------------------------------------------------------------------------------------------------

  private definition(url: string): CompiledDefinition | undefined {
    const known = this.definitions.get(url);
    if (known !== undefined) return known ?? undefined;
    const sd = this.source.definition(url);
    if (!sd?.snapshot?.element?.length) {
      this.definitions.set(url, null);
      return undefined;
    }
    return this.compileDefinition(sd, url);
  }

  private nodeOfUrl(url: string): Node | undefined {
    return this.definition(stripVersion(url))?.root;
  }

  private invariant(c: ElementDefinitionConstraint): Invariant | undefined {
    const key = c.key ?? '';
    if (NATIVE_CONSTRAINTS.has(key) || !c.expression) return undefined;
    const cacheKey = `${key}\u0000${c.severity}\u0000${c.expression}`;
    const cached = this.invariantCache.get(cacheKey);
    if (cached !== undefined) return cached ?? undefined;
    let compiled: Invariant | null = null;
    try {
      const parsed = parseFhirPath(c.expression).child;
      const stubs = [...functionNames(parsed, new Set())].filter((f) => STUB_FUNCTIONS.has(f));
      if (stubs.length) {
        this.skipped.set(key, `${stubs.map((f) => `${f}()`).join(', ')} only stubbed by the FHIRPath engine (@medplum/core)`);
      } else {
        const atom = accelerate(parsed);
        const names = new Set<string>();
        compiled = {
          key,
          severity: c.severity === 'warning' ? 'warning' : 'error',
          human: c.human ?? '',
          expression: c.expression,
          atom,
          reads: contextReads(atom, true, names) ? [...names] : null,
        };
      }
    } catch (err) {
      this.skipped.set(key, `cannot be parsed: ${(err as Error).message}`);
    }
    this.invariantCache.set(cacheKey, compiled);
    return compiled ?? undefined;
  }

  private invariants(el: ElementDefinition): Invariant[] {
    const out: Invariant[] = [];
    for (const c of el.constraint ?? []) {
      if (NOT_REPORTED.has(c.key)) continue;
      const inv = this.invariant(c);
      if (inv && !out.some((o) => o.key === inv.key)) out.push(inv);
    }
    return out;
  }

  private bindingOf(el: ElementDefinition, kind: BoundKind): BindingCheck | undefined {
    if (el.binding?.strength !== 'required' || !el.binding.valueSet) return undefined;
    const valueSet = stripVersion(el.binding.valueSet);
    const expansion = this.source.expansion(valueSet);
    return expansion ? { kind, valueSet, elementPath: el.path, expansion } : undefined;
  }

  private compileDefinition(sd: StructureDefinition, url: string): CompiledDefinition {
    const elements = sd.snapshot?.element ?? [];
    const rootEl = elements[0];
    const rootId = rootEl.id ?? rootEl.path;

    const kids = new Map<string, ElementDefinition[]>();
    const slicesOf = new Map<string, ElementDefinition[]>();
    const byId = new Map<string, ElementDefinition>();
    for (const el of elements.slice(1)) {
      const id = el.id ?? el.path;
      byId.set(id, el);
      const dot = id.lastIndexOf('.');
      const colon = id.lastIndexOf(':');
      const [map, parent] = colon > dot ? [slicesOf, id.slice(0, colon)] : [kids, id.slice(0, dot)];
      const list = map.get(parent);
      if (list) list.push(el);
      else map.set(parent, [el]);
    }

    const inline = new Map<string, Node>();
    const newNode = (type: string, extra?: { resourceType?: string; isExtension?: boolean; invariants?: Invariant[] }): Node => ({
      type,
      props: Object.create(null) as Record<string, Prop | undefined>,
      required: [],
      requiredMask: 0,
      sliced: [],
      invariants: extra?.invariants ?? [],
      bound: undefined,
      resourceType: extra?.resourceType,
      isExtension: extra?.isExtension ?? false,
    });

    /** Node of an element whose children the snapshot lists (backbone element, constrained data type, slice). */
    const nodeFor = (id: string, type: string, typeInvariants: () => Invariant[]): Node => {
      let node = inline.get(id);
      if (node) return node;
      node = newNode(type, { isExtension: type === 'Extension' });
      inline.set(id, node);
      node.invariants.push(...typeInvariants());
      fill(node, id);
      return node;
    };

    /** Invariants of a data type's own definition (profile if we hold it, else base). */
    const typeInvariants = (code: string, profile: string | undefined) => (): Invariant[] =>
      (profile ? this.nodeOfUrl(profile) : undefined)?.invariants ?? this.nodeOfUrl(HL7_SD + code)?.invariants ?? [];

    const lazy = <T>(make: () => T): (() => T) => {
      let done = false;
      let value: T;
      return () => {
        if (!done) {
          value = make();
          done = true;
        }
        return value;
      };
    };

    const hasKids = (id: string): boolean => kids.has(id);

    /** Node for values of `el` typed `code` (keyed by the JSON key for choice type slices). */
    const complexNode = (el: ElementDefinition, id: string, code: string, profile: string | undefined, single: boolean): (() => Node | undefined) => {
      if (code === 'BackboneElement' || code === 'Element') {
        if (hasKids(id)) return lazy(() => nodeFor(id, getElementDefinitionTypeName(el), () => []));
        return lazy(() => this.nodeOfUrl(HL7_SD + code));
      }
      if (single && hasKids(id)) return lazy(() => nodeFor(id, code, typeInvariants(code, profile)));
      return lazy(() => (profile ? this.nodeOfUrl(profile) : undefined) ?? this.nodeOfUrl(HL7_SD + code));
    };

    const extensionSlices = (id: string): { byUrl: Map<string, () => Node | undefined>; counts: SliceCount[] } | undefined => {
      const slices = slicesOf.get(id);
      if (!slices?.length) return undefined;
      const byUrl = new Map<string, () => Node | undefined>();
      const counts: SliceCount[] = [];
      for (const s of slices) {
        const sid = s.id as string;
        const profile = s.type?.[0]?.profile?.[0];
        const fixedUrl = byId.get(`${sid}.url`)?.fixedUri;
        const sliceUrl = fixedUrl ?? (profile ? stripVersion(profile) : undefined);
        if (!sliceUrl) continue;
        // What the snapshot inlines when it constrains the extension further (sub-slices, required bindings);
        // else the extension's own definition when we hold it; else the inlined copy or the base type.
        const rich = elements.some((e) => e.id?.startsWith(sid + '.') && (e.sliceName || e.binding?.strength === 'required'));
        byUrl.set(
          sliceUrl,
          lazy(
            () =>
              (rich ? nodeFor(sid, 'Extension', () => this.nodeOfUrl(HL7_SD + 'Extension')?.invariants ?? []) : undefined) ??
              (profile ? this.nodeOfUrl(profile) : undefined) ??
              (hasKids(sid) ? nodeFor(sid, 'Extension', () => this.nodeOfUrl(HL7_SD + 'Extension')?.invariants ?? []) : this.nodeOfUrl(HL7_SD + 'Extension')),
          ),
        );
        const min = s.min ?? 0;
        const max = cardinality(s.max);
        if (min > 0 || max !== Infinity) counts.push({ name: s.sliceName ?? sid, min, max, url: sliceUrl, matches: undefined });
      }
      return { byUrl, counts };
    };

    /** Slices of a non-extension element, counted the way @medplum/core counts them. */
    const sliceCounts = (el: ElementDefinition, id: string): SliceCount[] | undefined => {
      const slices = slicesOf.get(id);
      const discriminators = el.slicing?.discriminator ?? [];
      if (!slices?.length || !discriminators.length) return undefined;
      const out: SliceCount[] = [];
      for (const s of slices) {
        const sid = s.id as string;
        const tests = discriminators.map((d) => discriminatorTest(d.type ?? '', d.path ?? '', s, d.path === '$this' ? s : byId.get(`${sid}.${d.path}`)));
        out.push({
          name: s.sliceName ?? sid,
          min: s.min ?? 0,
          max: cardinality(s.max),
          url: undefined,
          matches: (value, code) => tests.every((t) => t(value, code)),
        });
      }
      return out.some((s) => s.min > 0 || s.max !== Infinity) ? out : undefined;
    };

    const fill = (node: Node, parentId: string): void => {
      for (const el of kids.get(parentId) ?? []) {
        const id = el.id ?? el.path;
        const name = id.slice(parentId.length + 1);
        const isChoice = name.endsWith('[x]');
        const stem = isChoice ? name.slice(0, -3) : name;
        const baseMax = el.base?.max ?? el.max;
        let source = el;
        let sourceId = id;
        let foreign: string | undefined;
        if (el.contentReference) {
          const target = el.contentReference.slice(el.contentReference.indexOf('#') + 1);
          const ref = byId.get(target) ?? (target === rootId ? rootEl : undefined);
          if (ref) {
            source = ref;
            sourceId = target;
          } else {
            foreign = target; // an element this snapshot does not list: take it from the base definition
          }
        }
        const types = source.type ?? [];
        const keys = isChoice ? types.map((t) => stem + capitalize(typeCode(t))) : [name];
        const element: Mutable<ElementCheck> = {
          name,
          min: el.min ?? 0,
          max: cardinality(el.max),
          isArray: baseMax !== '0' && baseMax !== '1',
          isChoice,
          keys,
          extKeys: keys.map((k) => '_' + k),
          fixed: valueOfChoice(el, 'fixed'),
          pattern: valueOfChoice(el, 'pattern'),
          invariants: this.invariants(el),
          sliceCounts: undefined,
          extensionSlices: undefined,
          bit: 0,
        };

        const extension = types.length === 1 && typeCode(types[0]) === 'Extension' ? extensionSlices(id) : undefined;
        if (extension) {
          element.extensionSlices = extension.byUrl;
          if (extension.counts.length) element.sliceCounts = extension.counts;
        } else if (el.slicing) {
          const counts = sliceCounts(el, id);
          if (counts) element.sliceCounts = counts;
        }
        // Slices of a choice element by type (`value[x]:valueCoding`): their constraints apply to that key.
        const typeSlices = new Map<string, ElementDefinition>();
        if (isChoice) {
          for (const s of slicesOf.get(id) ?? []) {
            if (s.type?.length === 1) typeSlices.set(stem + capitalize(typeCode(s.type[0])), s);
          }
        }

        types.forEach((t, i) => {
          const code = typeCode(t);
          const key = keys[i];
          const typeSlice = typeSlices.get(key);
          const def = typeSlice ?? source;
          const defId = typeSlice ? (typeSlice.id as string) : sourceId;
          const profile = t.profile?.[0];
          const boundKind: BoundKind | undefined = code === 'code' || code === 'Coding' || code === 'CodeableConcept' ? code : undefined;
          const binding = boundKind ? (this.bindingOf(typeSlice ?? el, boundKind) ?? (typeSlice ? this.bindingOf(el, boundKind) : undefined)) : undefined;
          const primitive = PRIMITIVES.get(code);
          let prop: Prop;
          if (primitive) {
            prop = makeProp(element, 'primitive', code, '_' + key, { primitive, binding });
            node.props['_' + key] = makeProp(element, 'primitive-element', 'Element', key, { node: lazy(() => this.nodeOfUrl(HL7_SD + 'Element')) });
          } else if (code === 'Resource') {
            prop = makeProp(element, 'resource', code, '', {});
          } else {
            const single = types.length === 1 || !!typeSlice;
            const typeName = code === 'BackboneElement' || code === 'Element' ? getElementDefinitionTypeName(def) : code;
            prop = makeProp(element, 'complex', typeName, '', { node: complexNode(def, defId, code, profile, single), binding });
          }
          node.props[key] = prop;
        });
        if (foreign !== undefined) {
          const target = foreign;
          const typeName = target.split('.').map(capitalize).join('');
          node.props[name] = makeProp(element, 'complex', typeName, '', { node: lazy(() => this.definition(HL7_SD + sd.type)?.nodeFor(target)) });
        }
        if (element.min > 0) {
          element.bit = node.required.length < 31 ? 1 << node.required.length : 0;
          node.requiredMask |= element.bit;
          node.required.push(element);
        }
        if (element.sliceCounts) node.sliced.push(element);
      }
    };

    const isResource = sd.kind === 'resource';
    const root = newNode(sd.type ?? rootEl.path, {
      ...(isResource && sd.type ? { resourceType: sd.type } : {}),
      isExtension: sd.type === 'Extension',
      invariants: this.invariants(rootEl),
    });
    const compiled: CompiledDefinition = {
      root,
      nodeFor: (id) => {
        const el = byId.get(id);
        return inline.get(id) ?? (el && hasKids(id) ? nodeFor(id, getElementDefinitionTypeName(el), () => []) : undefined);
      },
    };
    inline.set(rootId, root);
    this.definitions.set(url, compiled);
    fill(root, rootId);
    return compiled;
  }

  // ---- Walking ----------------------------------------------------------------------------------------------------------

  /** Checks an object against a node; false (reported) when it is empty. */
  private walkObject(obj: Record<string, unknown>, node: Node, w: Walk): boolean {
    let choices: ElementCheck[] | undefined;
    let size = 0;
    let seen = 0;
    for (const key in obj) {
      size++;
      const v = obj[key];
      if (key === 'resourceType' && node.resourceType !== undefined) {
        if (v !== node.resourceType) w.report('structure', `Expected resourceType "${node.resourceType}"`, key);
        continue;
      }
      const prop = node.props[key];
      if (prop === undefined) {
        w.report('structure', `Invalid additional property "${key}"`, key);
        continue;
      }
      seen |= prop.element.bit;
      if (prop.element.isChoice && prop.kind !== 'primitive-element') {
        if (choices?.includes(prop.element)) {
          w.report('structure', `Conflicting choice of type properties for "${prop.element.name}"`, key, 'warning');
        }
        (choices ??= []).push(prop.element);
      }
      w.segs.push(key);
      this.visitProperty(obj, v, prop, w);
      w.segs.pop();
    }
    if (size === 0) {
      w.report('invariant', `${EMPTY} (empty object)`);
      return false;
    }
    if ((seen & node.requiredMask) !== node.requiredMask || node.required.length > 31) {
      this.reportMissing(obj, node, seen, w);
    }
    for (const el of node.sliced) this.checkSlices(obj, el, w);
    return true;
  }

  private reportMissing(obj: Record<string, unknown>, node: Node, seen: number, w: Walk): void {
    for (const el of node.required) {
      let present = (seen & el.bit) !== 0;
      for (let i = 0; el.bit === 0 && i < el.keys.length && !present; i++) present = obj[el.keys[i]] !== undefined || obj[el.extKeys[i]] !== undefined;
      if (!present) {
        w.report('required', `Missing required property (${el.name} ${el.min}..${el.max === Infinity ? '*' : el.max})`, el.name);
      }
    }
  }

  private visitProperty(obj: Record<string, unknown>, v: unknown, prop: Prop, w: Walk): void {
    if (v === null) {
      w.report('structure', 'Invalid null value');
      return;
    }
    const el = prop.element;
    const counted = prop.kind !== 'primitive-element';
    if (Array.isArray(v)) {
      if (!el.isArray) {
        w.report('structure', 'Expected single value for property');
        return;
      }
      if (v.length === 0) {
        w.report('invariant', `${EMPTY} (empty array)`);
        return;
      }
      if (counted && (v.length < el.min || v.length > el.max)) {
        w.report('structure', `Invalid number of values: expected ${el.min}..${el.max === Infinity ? '*' : el.max}, but found ${v.length}`);
      }
      const partner = prop.partner ? obj[prop.partner] : undefined;
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        w.segs.push(i);
        if (item === null || item === undefined) {
          const other = Array.isArray(partner) ? (partner[i] as unknown) : undefined;
          if (other === null || other === undefined) w.report('structure', 'Invalid null value');
        } else {
          this.visitValue(item, prop, w);
        }
        w.segs.pop();
      }
    } else {
      if (el.isArray) {
        w.report('structure', 'Expected array of values for property');
        return;
      }
      if (counted && el.max < 1) w.report('structure', `Invalid number of values: expected ${el.min}..${el.max}, but found 1`);
      this.visitValue(v, prop, w);
    }
  }

  private visitValue(v: unknown, prop: Prop, w: Walk): void {
    const el = prop.element;
    if (prop.kind === 'primitive') {
      if (!this.checkPrimitive(v, prop.primitive as PrimitiveType, w)) return;
    } else {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        w.report('structure', `Invalid JSON type: expected object, but got ${Array.isArray(v) ? 'array' : typeof v}`);
        return;
      }
      const obj = v as Record<string, unknown>;
      if (prop.kind === 'resource') {
        this.visitResource(obj, w);
        return;
      }
      let node: Node | undefined;
      const url = obj.url;
      if (el.extensionSlices && typeof url === 'string') node = el.extensionSlices.get(url)?.();
      if (!node && typeof url === 'string' && prop.type === 'Extension') node = this.knownExtension(url);
      node ??= prop.node?.();
      if (node) {
        if (!this.walkObject(obj, node, w)) return;
        if (node.isExtension) checkExt1(obj, w);
      } else if (Object.keys(obj).length === 0) {
        w.report('invariant', `${EMPTY} (empty object)`);
        return;
      }
      if (prop.kind === 'primitive-element') return;
      if (prop.binding) checkBinding(obj, prop.binding, w);
      if (el.fixed !== undefined && !deepEquals(v, el.fixed)) w.report('value', 'Value does not match the fixed value of the profile');
      if (el.pattern !== undefined && !deepIncludes(v, el.pattern)) w.report('value', 'Value does not match the pattern of the profile');
      let bound = prop.lastBound;
      if (bound === undefined || prop.lastNode !== node) {
        bound = bindAll(mergeInvariants(el.invariants, node?.invariants ?? []), node?.type ?? prop.type);
        prop.lastBound = bound;
        prop.lastNode = node;
      }
      if (bound.length) this.checkInvariants(bound, obj, { type: node?.type ?? prop.type, value: v }, w);
      return;
    }
    // Primitive value.
    if (prop.type === 'xhtml') checkNarrative(v as string, w);
    if (prop.binding) checkBinding(v, prop.binding, w);
    if (el.fixed !== undefined && v !== el.fixed) w.report('value', `Value "${String(v)}" does not match the fixed value "${String(el.fixed)}"`);
    if (el.pattern !== undefined && v !== el.pattern) w.report('value', `Value "${String(v)}" does not match the pattern "${String(el.pattern)}"`);
    if (el.invariants.length) {
      prop.lastBound ??= bindAll(el.invariants, prop.type);
      this.checkInvariants(prop.lastBound, undefined, { type: prop.type, value: v }, w);
    }
  }

  private knownExtension(url: string): Node | undefined {
    const sd = this.source.definition(url);
    return sd?.type === 'Extension' && sd.derivation === 'constraint' ? this.nodeOfUrl(url) : undefined;
  }

  private visitResource(obj: Record<string, unknown>, w: Walk): void {
    const type = obj.resourceType;
    if (Object.keys(obj).length === 0) {
      w.report('invariant', `${EMPTY} (empty object)`);
      return;
    }
    if (typeof type !== 'string') {
      w.report('structure', 'Missing resourceType', 'resourceType');
      return;
    }
    const node = this.nodeOfUrl(HL7_SD + type);
    if (!node?.resourceType) {
      w.report('structure', `Unknown resource type "${type}"`, 'resourceType');
      return;
    }
    const outer = w.resource;
    const tv: TypedValue = { type, value: obj };
    w.resource = { variables: { '%resource': tv, '%rootResource': w.root, '%ucum': UCUM } };
    this.walkObject(obj, node, w);
    this.checkInvariants((node.bound ??= bindAll(node.invariants, node.type)), obj, tv, w);
    w.resource = outer;
  }

  private checkPrimitive(v: unknown, t: PrimitiveType, w: Walk): boolean {
    if (typeof v !== t.json) {
      w.report('structure', `Invalid JSON type: expected ${t.json}, but got ${Array.isArray(v) ? 'array' : typeof v}`);
      return false;
    }
    if (t.json === 'string') {
      const s = v as string;
      if (s === '') {
        w.report('invariant', `${EMPTY} (empty string)`);
        return false;
      }
      if (t.known?.has(s)) return true;
      if (!s.trim()) {
        w.report('value', 'String must contain non-whitespace content');
        return false;
      }
      if (s.length > MAX_STRING) {
        w.report('value', 'String cannot be larger than 1 MB');
        return false;
      }
      if (t.regex ? !t.regex.test(s) : t.forbidden?.test(s)) {
        w.report('value', `Invalid ${t.name} format`);
        return false;
      }
      if (t.known) {
        if (t.known.size >= KNOWN_VALUES) t.known.clear();
        t.known.add(s);
      }
    } else if (t.json === 'number') {
      const n = v as number;
      if (!Number.isFinite(n)) {
        w.report('value', 'Invalid numeric value');
        return false;
      }
      if (t.integer && !Number.isInteger(n)) {
        w.report('value', 'Expected number to be an integer');
        return false;
      }
      if (t.minimum !== undefined && n < t.minimum) {
        w.report('value', t.minimum > 0 ? 'Expected number to be positive' : 'Expected number to be non-negative');
        return false;
      }
    }
    return true;
  }

  private checkSlices(obj: Record<string, unknown>, el: ElementCheck, w: Walk): void {
    const counts = el.sliceCounts ?? [];
    const key = el.keys[0];
    const raw = obj[key];
    const values: unknown[] = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
    const n = new Array<number>(counts.length).fill(0);
    for (const v of values) {
      const url = el.extensionSlices ? (v as { url?: unknown } | null)?.url : undefined;
      for (let i = 0; i < counts.length; i++) {
        const s = counts[i];
        if (s.url !== undefined ? s.url === url : s.matches?.(v, key)) {
          n[i]++;
          if (s.url === undefined) break; // first matching slice wins
        }
      }
    }
    for (let i = 0; i < counts.length; i++) {
      const s = counts[i];
      if (n[i] < s.min || n[i] > s.max) {
        w.report(
          'structure',
          `Incorrect number of values for slice '${s.name}'${s.url ? ` (${s.url})` : ''}: expected ${s.min}..${s.max === Infinity ? '*' : s.max}, but found ${n[i]}`,
          el.name,
        );
      }
    }
  }

  /** Reports the invariants that do not hold on a value (`obj`: the value when it is an object). */
  private checkInvariants(bound: readonly BoundInvariant[], obj: Record<string, unknown> | undefined, tv: TypedValue, w: Walk): void {
    for (const b of bound) {
      let ok: boolean | undefined;
      if (b.keys && obj) {
        ok = b.constant;
        for (const k of b.keys) {
          if (obj[k] !== undefined) {
            ok = undefined;
            break;
          }
        }
      }
      if (ok === undefined) {
        const context = w.evaluation;
        context.parent = w.resource;
        context.variables.$this = tv;
        context.variables['%context'] = tv;
        try {
          ok = holds(b.invariant, tv, context);
        } catch (err) {
          w.report('invariant', `Constraint ${b.invariant.key} could not be evaluated: ${(err as Error).message}`);
          continue;
        }
      }
      if (ok) continue;
      const text = `Constraint ${b.invariant.key} not met: ${b.invariant.human}`;
      const target = w.segs.length === 1 ? this.options.invariantTargets?.get(b.invariant.key) : undefined;
      if (target?.startsWith(w.rootType)) w.issues.push(issue('invariant', text, w.segs[0] + target.slice(w.rootType.length), b.invariant.severity));
      else w.report('invariant', text, undefined, b.invariant.severity);
    }
  }
}

/** ext-1: an extension has either a value[x] or nested extensions, not both. */
function checkExt1(ext: Record<string, unknown>, w: Walk): void {
  const nested = Array.isArray(ext.extension) && ext.extension.length > 0;
  let value = false;
  for (const k in ext) {
    if (k.length > 5 && k.startsWith('value') && k[5] >= 'A' && k[5] <= 'Z') {
      value = true;
      break;
    }
  }
  if (nested === value) w.report('invariant', 'Constraint ext-1 not met: Must have either extensions or value[x], not both');
}

/** txt-1 and txt-2 on a narrative div (the only xhtml element of R4). */
function checkNarrative(div: string, w: Walk): void {
  for (const p of narrativeProblems(div)) w.report('invariant', `Constraint ${p.key} not met: ${p.text}`);
}

// ---- Required bindings ------------------------------------------------------------------------------------------------------

function codingLabel(c: Coding): string {
  return c.system ? `${c.system}|${c.code}` : `${c.code} (no system)`;
}

function checkBinding(value: unknown, b: BindingCheck, w: Walk): void {
  if (b.kind === 'code') {
    if (typeof value === 'string' && !b.expansion.codes.has(value)) w.report('code-invalid', `Code "${value}" is not in ${bindingText(b)}`);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (b.kind === 'Coding') {
    const c = value as Coding;
    if (!inExpansion(c, b.expansion)) w.report('code-invalid', `Code ${codingLabel(c)} is not in ${bindingText(b)}`);
    return;
  }
  const codings = (value as { coding?: Coding[] }).coding;
  if (!Array.isArray(codings) || codings.length === 0) {
    w.report('code-invalid', `No coding given; a code from ${bindingText(b)} is needed`);
    return;
  }
  for (const c of codings) if (inExpansion(c, b.expansion)) return;
  w.report('code-invalid', `None of the codes ${codings.map(codingLabel).join(', ')} is in ${bindingText(b)}`);
}

function bindingText(b: BindingCheck): string {
  return `value set ${b.valueSet} (required binding of ${b.elementPath})`;
}

/** Expansion.systemCodes (`system|code`) as codes by system, to look codings up without building strings. */
const codesBySystem = new WeakMap<Expansion, Map<string, Set<string>>>();

function inExpansion(c: Coding | null | undefined, expansion: Expansion): boolean {
  if (!c) return false;
  const system = String(c.system);
  if (system.includes('|')) return expansion.systemCodes.has(`${system}|${c.code}`);
  let bySystem = codesBySystem.get(expansion);
  if (!bySystem) {
    bySystem = new Map();
    for (const sc of expansion.systemCodes) {
      const bar = sc.indexOf('|');
      const codes = bySystem.get(sc.slice(0, bar)) ?? new Set<string>();
      codes.add(sc.slice(bar + 1));
      bySystem.set(sc.slice(0, bar), codes);
    }
    codesBySystem.set(expansion, bySystem);
  }
  return bySystem.get(system)?.has(String(c.code)) ?? false;
}

// ---- Slice discriminators (non-extension slicing) -----------------------------------------------------------------------------

/** Values at a discriminator path, as @medplum/core reads them: arrays are flattened, except the last step. */
function valuesAt(value: unknown, path: string): unknown[] {
  if (path === '$this') return [value];
  let current: unknown[] = [value];
  for (const step of path.split('.')) {
    const next: unknown[] = [];
    for (const c of current) {
      const items = Array.isArray(c) ? c : [c];
      for (const item of items) {
        if (item && typeof item === 'object') {
          const v = (item as Record<string, unknown>)[step];
          if (v !== undefined && v !== null) next.push(v);
        }
      }
    }
    current = next;
  }
  return current;
}

function discriminatorTest(
  type: string,
  path: string,
  slice: ElementDefinition,
  target: ElementDefinition | undefined,
): (value: unknown, code: string) => boolean {
  if (type === 'type') {
    const codes = new Set((slice.type ?? []).map(typeCode));
    return (_value, code) => codes.has(code);
  }
  if ((type !== 'value' && type !== 'pattern') || !target) return () => false;
  const pattern = valueOfChoice(target, 'pattern');
  const fixed = valueOfChoice(target, 'fixed');
  const permissive = target.binding?.strength === 'required' && !!target.binding.valueSet;
  return (value) =>
    valuesAt(value, path).some((v) => {
      if (Array.isArray(v)) return false; // only single values match (as @medplum/core)
      if (pattern !== undefined) return deepIncludes(v, pattern);
      if (fixed !== undefined) return deepEquals(v, fixed);
      return permissive;
    });
}
