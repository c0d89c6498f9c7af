// The matcher's in-memory blocking index: blocking key → active federated identities, with each identity's
// normalised reference traits and flags, so a query reads tens of candidates from memory instead of the database.
// The database stays the truth: the registry service loads the index from it, applies what its own transactions
// commit (their `IndexOverlay`) and catches up on what other processes committed through the change sequence.
// Pure data structure: no I/O.
//
// Layout (a million identities must fit in a few hundred MiB and cost the garbage collector little):
// - each identity lives in a slot (a small integer, reused after a removal) of parallel arrays: its id, its match
//   traits packed into ONE string (`packTraits`), its flags (a packed string, `undefined` for none), its change
//   sequence number (Float64Array) and the 32-bit hashes of its blocking keys (one shared Int32Array pool, a
//   region per slot: what un-files it when its keys change or it is removed);
// - the blocks are an open-addressing hash table in one Int32Array, keyed by the 32-bit hash of the blocking key
//   (FNV-1a over the UTF-16 code units): the block of a key is one slot number (the common case: most keys are
//   held by one identity) or a list of slots (a JS array, only for shared keys);
// - the key strings themselves are not kept when they are what `blockingKeys` gives for the traits (the usual
//   case: only the keys other source copies added are kept), and are recomputed when an entry's `keys` is read.
// What a lookup or `get` returns is built on demand: `get` unpacks the traits of the candidates actually compared.
//
// Hash collisions: two different keys with the same 32-bit hash share a block. A lookup then also returns the
// identities filed under the other key — extra candidates, which the comparison scores and rejects like any
// other non-match; it never loses a candidate (a block holds every identity filed under any key of that hash).
// The only visible effect is on the per-key cap, which counts the whole shared block (a key may then be reported
// truncated a little early). With ~4.4 million distinct keys at a million identities, about one query key in 1,000
// meets a foreign key this way (and about 2,000 of the keys share their hash with another).
import { blockingKeys } from './blocking.js';
import type { IdentityFlag, IdentityStatus, MatchTraits, NormalisedIdentity, PartialBirthDate } from './types.js';

export interface IndexEntry {
  id: string;
  identity: MatchTraits;
  flags: readonly IdentityFlag[];
  /** Blocking keys it is filed under (duplicate-free). */
  keys: readonly string[];
  /** Change sequence number of the state (a later state always wins, whatever the order it arrives in). */
  seq: number;
  /**
   * The keys the index's `deriveKeys` gives for `identity`, when the writer already has them (the registry computed
   * them to match the identity): saves deriving them again. Must be exactly those.
   */
  derivedKeys?: readonly string[];
}

export interface Lookup {
  /** Distinct federated ids filed under the keys, in key order. */
  ids: string[];
  /**
   * For each id, its packed traits (see `packTraits`, read them with a `PackedTraitsView`); undefined for an identity
   * the overlay's transaction rewrote or whose traits could not be packed (read those with `get`).
   */
  packed: (string | undefined)[];
  /** Keys whose block held more than the cap (only the first `cap` ids of each were taken). */
  truncatedKeys: string[];
}

export interface CandidateIndexOptions {
  /** 32-bit hash of a blocking key (default `fnv1a32`); injectable so that tests can force collisions. */
  hash?: (key: string) => number;
  /**
   * The keys an identity is filed under by default (default `blockingKeys`): an entry whose keys are exactly these
   * (or start with them) keeps only the rest as strings. Must be deterministic.
   */
  deriveKeys?: (identity: MatchTraits) => readonly string[];
}

/** 32-bit FNV-1a over the UTF-16 code units of `s` (signed: it stays a small integer for V8). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

// ---- packed traits -------------------------------------------------------------------------------------------------

/** Separates the fields of packed traits: a control character, which normalised traits never hold. */
const FIELD = '\u0001';
/** Separates the items of a list inside a field (given-name keys, flags, kept key strings). */
const ITEM = '\u0002';
/** A field equal to the field before it (the collapsed key of a one-word name is its form, and so on). */
const SAME = '\u0003';
const FIELD_CODE = 1;
const ITEM_CODE = 2;
const SAME_CODE = 3;
/** Fixed-width head: status, sex, year (4 digits), month and day (2 digits, 00: none), the presence bits. */
const HEAD = 11;
const STATUSES: readonly IdentityStatus[] = ['PROV', 'RECUP', 'VALI', 'QUAL'];
const DEFAULT_DATE = 1;
const BIRTHPLACE = 2;
const ABROAD = 4;
const INS = 8;
const NIA = 16;
const USED_NAME = 32;

const digits = (n: number, width: number): string => String(n).padStart(width, '0');
const isInt = (n: unknown, min: number, max: number): n is number => Number.isInteger(n) && (n as number) >= min && (n as number) <= max && !Object.is(n, -0);
const packList = (xs: readonly string[]): string => xs.join(ITEM);
/** A given-name list, its first item as `SAME` when it is the first given name's key (the usual case). */
const packGivenList = (xs: readonly string[], first: string): string => (xs.length > 0 && xs[0] === first ? SAME + xs.join(ITEM).slice(xs[0].length) : xs.join(ITEM));
/** A list packs unless it is one empty string (which reads back as the empty list). */
const packableList = (xs: readonly string[]): boolean => Array.isArray(xs) && !(xs.length === 1 && xs[0] === '');

/**
 * MatchTraits as one string (one-byte when the traits are, as normalised traits are: A–Z, digits, separators):
 * a fixed-width head (status, sex, birth date, presence bits), then the string fields joined by U+0001, lists joined
 * by U+0002, U+0003 for a field equal to the one before it (or a given-name list's first item equal to the first
 * given name's key); an absent optional field is an empty field.
 * `undefined` for traits that cannot be packed exactly (a control separator in a value, a list holding one empty
 * string, a value out of its type, an unexpected field): the index then keeps the object as it is.
 */
export function packTraits(t: MatchTraits): string | undefined {
  const {
    status,
    sex,
    birthNameForm,
    birthNameKey,
    birthNameNoParticles,
    birthNamePhonetic,
    usedNameKey,
    firstGivenForm,
    firstGivenKey,
    givenKeys,
    birthGivenKeys,
    birthDate,
    birthPlace,
    ins,
    ...rest
  } = t;
  // A field added to MatchTraits fails to compile here until it is packed.
  rest satisfies Record<string, never>;
  if (Object.keys(rest).length > 0) return undefined;
  const statusCode = STATUSES.indexOf(status);
  if (statusCode === -1 || (sex !== 'F' && sex !== 'M' && sex !== 'I')) return undefined;
  const { year, month, day, defaultDate } = birthDate;
  if (!isInt(year, 0, 9999) || typeof defaultDate !== 'boolean') return undefined;
  if ((month !== undefined && !isInt(month, 1, 99)) || (day !== undefined && !isInt(day, 1, 99))) return undefined;
  if (!packableList(givenKeys) || !packableList(birthGivenKeys)) return undefined;
  if (birthPlace && (typeof birthPlace.code !== 'string' || typeof birthPlace.abroad !== 'boolean')) return undefined;
  if (ins && ((ins.kind !== 'NIR' && ins.kind !== 'NIA') || typeof ins.matricule !== 'string' || typeof ins.oid !== 'string')) return undefined;
  const strings = [birthNameForm, birthNameKey, birthNameNoParticles, birthNamePhonetic, firstGivenForm, firstGivenKey, usedNameKey ?? ''];
  if (!strings.every((s) => typeof s === 'string')) return undefined;
  let bits = defaultDate ? DEFAULT_DATE : 0;
  if (birthPlace) bits |= BIRTHPLACE | (birthPlace.abroad ? ABROAD : 0);
  if (ins) bits |= INS | (ins.kind === 'NIA' ? NIA : 0);
  if (usedNameKey !== undefined) bits |= USED_NAME;
  const sameKey = birthNameKey === birthNameForm;
  const sameNoParticles = birthNameNoParticles === birthNameKey;
  const sameGivenKey = firstGivenKey === firstGivenForm;
  const packed =
    String(statusCode) +
    sex +
    digits(year, 4) +
    digits(month ?? 0, 2) +
    digits(day ?? 0, 2) +
    String.fromCharCode(48 + bits) +
    [
      birthNameForm,
      sameKey ? SAME : birthNameKey,
      sameNoParticles ? SAME : birthNameNoParticles,
      birthNamePhonetic,
      firstGivenForm,
      sameGivenKey ? SAME : firstGivenKey,
      usedNameKey ?? '',
      packGivenList(givenKeys, firstGivenKey),
      packGivenList(birthGivenKeys, firstGivenKey),
      birthPlace?.code ?? '',
      ins?.matricule ?? '',
      ins?.oid ?? '',
    ].join(FIELD);
  // Exactly the separators put in: none came with a value.
  let fields = 0;
  let items = 0;
  let sames = 0;
  for (let i = HEAD; i < packed.length; i++) {
    const c = packed.charCodeAt(i);
    if (c === FIELD_CODE) fields++;
    else if (c === ITEM_CODE) items++;
    else if (c === SAME_CODE) sames++;
  }
  const expectedItems = Math.max(0, givenKeys.length - 1) + Math.max(0, birthGivenKeys.length - 1);
  const expectedSames =
    Number(sameKey) +
    Number(sameNoParticles) +
    Number(sameGivenKey) +
    Number(givenKeys.length > 0 && givenKeys[0] === firstGivenKey) +
    Number(birthGivenKeys.length > 0 && birthGivenKeys[0] === firstGivenKey);
  return fields === 11 && items === expectedItems && sames === expectedSames ? packed : undefined;
}

/** End of the field starting at `from`. */
function fieldEnd(s: string, from: number): number {
  const end = s.indexOf(FIELD, from);
  return end === -1 ? s.length : end;
}

/** The items of the list field in `s[from, to)`; a first item `SAME` is `first`. */
function readList(s: string, from: number, to: number, first: string): string[] {
  const out: string[] = [];
  if (from === to) return out;
  for (let p = from; ; ) {
    let end = s.indexOf(ITEM, p);
    if (end === -1 || end > to) end = to;
    out.push(p === from && end === p + 1 && s.charCodeAt(p) === SAME_CODE ? first : s.slice(p, end));
    if (end === to) return out;
    p = end + 1;
  }
}

/** The traits `packTraits` packed (absent optional fields are left out, as `normaliseIdentity` does). */
export function unpackTraits(s: string): MatchTraits {
  const d = (i: number): number => s.charCodeAt(i) - 48;
  const bits = d(10);
  const birthDate: PartialBirthDate = { year: d(2) * 1000 + d(3) * 100 + d(4) * 10 + d(5), defaultDate: (bits & DEFAULT_DATE) !== 0 };
  const month = d(6) * 10 + d(7);
  const day = d(8) * 10 + d(9);
  if (month !== 0) birthDate.month = month;
  if (day !== 0) birthDate.day = day;
  let p = HEAD;
  let e = fieldEnd(s, p);
  const birthNameForm = s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const birthNameKey = s.charCodeAt(p) === SAME_CODE && e === p + 1 ? birthNameForm : s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const birthNameNoParticles = s.charCodeAt(p) === SAME_CODE && e === p + 1 ? birthNameKey : s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const birthNamePhonetic = s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const firstGivenForm = s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const firstGivenKey = s.charCodeAt(p) === SAME_CODE && e === p + 1 ? firstGivenForm : s.slice(p, e);
  p = e + 1;
  e = fieldEnd(s, p);
  const usedNameKey = (bits & USED_NAME) !== 0 ? s.slice(p, e) : undefined;
  p = e + 1;
  e = fieldEnd(s, p);
  const givenKeys = readList(s, p, e, firstGivenKey);
  p = e + 1;
  e = fieldEnd(s, p);
  const birthGivenKeys = readList(s, p, e, firstGivenKey);
  const t: MatchTraits = {
    birthNameForm,
    birthNameKey,
    birthNameNoParticles,
    birthNamePhonetic,
    firstGivenForm,
    firstGivenKey,
    givenKeys,
    birthGivenKeys,
    birthDate,
    sex: s.charAt(1) as MatchTraits['sex'],
    status: STATUSES[d(0)],
  };
  if (usedNameKey !== undefined) t.usedNameKey = usedNameKey;
  p = e + 1;
  e = fieldEnd(s, p);
  if ((bits & BIRTHPLACE) !== 0) t.birthPlace = { code: s.slice(p, e), abroad: (bits & ABROAD) !== 0 };
  p = e + 1;
  e = fieldEnd(s, p);
  if ((bits & INS) !== 0) t.ins = { matricule: s.slice(p, e), oid: s.slice(e + 1), kind: (bits & NIA) !== 0 ? 'NIA' : 'NIR' };
  return t;
}

/** Field numbers of packed traits, after the head (see `packTraits`). */
export const PACKED_FIELD = {
  birthNameForm: 0,
  birthNameKey: 1,
  birthNameNoParticles: 2,
  birthNamePhonetic: 3,
  firstGivenForm: 4,
  firstGivenKey: 5,
  usedNameKey: 6,
  givenKeys: 7,
  birthGivenKeys: 8,
  birthPlace: 9,
  insMatricule: 10,
  insOid: 11,
} as const;
const PACKED_FIELDS = 12;

/**
 * A reusable cursor over packed traits: reads the head and compares fields in place, without unpacking (no string or
 * object is made). The matcher uses it to drop, cheaply, the many candidates that cannot reach review. `read` sets
 * the string; the view is valid until the next `read`.
 */
export class PackedTraitsView {
  private s = '';
  private readonly from = new Int32Array(PACKED_FIELDS);
  private readonly to = new Int32Array(PACKED_FIELDS);
  private bits = 0;

  read(s: string): this {
    this.s = s;
    this.bits = s.charCodeAt(10) - 48;
    let p = HEAD;
    for (let f = 0; f < PACKED_FIELDS; f++) {
      const e = f === PACKED_FIELDS - 1 ? s.length : fieldEnd(s, p);
      this.from[f] = p;
      this.to[f] = e;
      p = e + 1;
    }
    // A field written as SAME is the field before it (resolved in order: the no-particle key may be the key, itself the form).
    this.resolveSame(PACKED_FIELD.birthNameKey, PACKED_FIELD.birthNameForm);
    this.resolveSame(PACKED_FIELD.birthNameNoParticles, PACKED_FIELD.birthNameKey);
    this.resolveSame(PACKED_FIELD.firstGivenKey, PACKED_FIELD.firstGivenForm);
    return this;
  }

  private resolveSame(f: number, previous: number): void {
    if (this.to[f] === this.from[f] + 1 && this.s.charCodeAt(this.from[f]) === SAME_CODE) {
      this.from[f] = this.from[previous];
      this.to[f] = this.to[previous];
    }
  }

  private digit(i: number): number {
    return this.s.charCodeAt(i) - 48;
  }

  get sex(): MatchTraits['sex'] {
    return this.s.charAt(1) as MatchTraits['sex'];
  }
  get year(): number {
    return this.digit(2) * 1000 + this.digit(3) * 100 + this.digit(4) * 10 + this.digit(5);
  }
  /** 0: none. */
  get month(): number {
    return this.digit(6) * 10 + this.digit(7);
  }
  /** 0: none. */
  get day(): number {
    return this.digit(8) * 10 + this.digit(9);
  }
  get defaultDate(): boolean {
    return (this.bits & DEFAULT_DATE) !== 0;
  }
  get hasBirthPlace(): boolean {
    return (this.bits & BIRTHPLACE) !== 0;
  }
  get abroad(): boolean {
    return (this.bits & ABROAD) !== 0;
  }
  get hasIns(): boolean {
    return (this.bits & INS) !== 0;
  }
  get hasUsedName(): boolean {
    return (this.bits & USED_NAME) !== 0;
  }

  /** Length of field `f`. */
  length(f: number): number {
    return this.to[f] - this.from[f];
  }

  /** Field `f` equals `v`. */
  equals(f: number, v: string): boolean {
    return this.to[f] - this.from[f] === v.length && this.s.startsWith(v, this.from[f]);
  }

  /** Character `i` of field `f` (NaN past its end). */
  charCodeAt(f: number, i: number): number {
    return this.from[f] + i < this.to[f] ? this.s.charCodeAt(this.from[f] + i) : NaN;
  }

  /** Field `f` as a string (allocates: for the few candidates that need a similarity measure). */
  text(f: number): string {
    return this.s.slice(this.from[f], this.to[f]);
  }

  /** The list field `f` (given-name keys) holds `v`. */
  listIncludes(f: number, v: string): boolean {
    const s = this.s;
    const to = this.to[f];
    for (let p = this.from[f]; p < to; ) {
      let end = s.indexOf(ITEM, p);
      if (end === -1 || end > to) end = to;
      const same = p === this.from[f] && end === p + 1 && s.charCodeAt(p) === SAME_CODE;
      if (same ? this.equals(PACKED_FIELD.firstGivenKey, v) : end - p === v.length && s.startsWith(v, p)) return true;
      p = end + 1;
    }
    return false;
  }
}

const hasSeparator = (s: string): boolean => s.includes(FIELD) || s.includes(ITEM) || s.includes(SAME);
/** A list of strings that `packList` joins and `unpackList` splits back exactly. */
const cleanList = (xs: readonly string[]): boolean => packableList(xs) && xs.every((x) => typeof x === 'string' && !hasSeparator(x));
const unpackList = (s: string): string[] => (s === '' ? [] : s.split(ITEM));

const NO_FLAGS: readonly IdentityFlag[] = Object.freeze([]);

/** Stored traits: the packed string, or the object itself when it cannot be packed exactly. */
type StoredTraits = string | MatchTraits;
/** Stored flags: none, packed, or the array itself when it cannot be packed exactly. */
type StoredFlags = undefined | string | readonly IdentityFlag[];
/**
 * Stored key strings: `undefined` — exactly the derived keys; a string starting with `EXTRA` — the derived keys
 * followed by these; a string starting with `LIST` — these; an array — these (keys that cannot be packed).
 */
type StoredKeys = undefined | string | readonly string[];
const EXTRA = '+';
const LIST = '=';

function packFlags(flags: readonly IdentityFlag[]): StoredFlags {
  if (flags.length === 0) return undefined;
  return cleanList(flags) ? packList(flags) : [...flags];
}

const unpackFlags = (s: StoredFlags): readonly IdentityFlag[] => (s === undefined ? NO_FLAGS : typeof s === 'string' ? (unpackList(s) as IdentityFlag[]) : s);

function startsWith(keys: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > keys.length) return false;
  for (let i = 0; i < prefix.length; i++) if (keys[i] !== prefix[i]) return false;
  return true;
}

/** Default `deriveKeys`: `blockingKeys` reads only the normalised keys, which MatchTraits holds (not `source`). */
const defaultDeriveKeys = (t: MatchTraits): readonly string[] => blockingKeys(t as NormalisedIdentity);

// ---- blocks --------------------------------------------------------------------------------------------------------

/** Spreads a key hash over the table (FNV-1a's low bits alone cluster for keys that differ at the end). */
function spread(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Key hash → block, open addressing with linear probing in one Int32Array of (hash, value) cells, deleted by
 * backward shift (no tombstones). A value `v > 0` is the single slot `v - 1`; `v < 0` is the slot list
 * `lists[-v - 1]` (two slots or more, in filing order); `0` is an empty cell.
 */
class BlockTable {
  private cells = new Int32Array(2 * 1024);
  private mask = 1023;
  private readonly lists: (number[] | undefined)[] = [];
  private readonly freeLists: number[] = [];
  /** Distinct hashes held. */
  size = 0;

  /** The block of hash `h`: 0 (none), a single slot + 1, or minus (list index + 1) — see `list`. */
  get(h: number): number {
    const cells = this.cells;
    for (let i = spread(h) & this.mask; ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1];
      if (v === 0) return 0;
      if (cells[2 * i] === h) return v;
    }
  }

  /** The slot list a negative block value names. */
  list(v: number): readonly number[] {
    return this.lists[-v - 1] as number[];
  }

  add(h: number, slot: number): void {
    if (4 * (this.size + 1) > 3 * (this.mask + 1)) this.grow();
    const cells = this.cells;
    let i = spread(h) & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1];
      if (v === 0) break;
      if (cells[2 * i] !== h) continue;
      if (v > 0) {
        const list = [v - 1, slot];
        const n = this.freeLists.pop();
        if (n === undefined) cells[2 * i + 1] = -this.lists.push(list);
        else {
          this.lists[n] = list;
          cells[2 * i + 1] = -(n + 1);
        }
      } else {
        (this.lists[-v - 1] as number[]).push(slot);
      }
      return;
    }
    cells[2 * i] = h;
    cells[2 * i + 1] = slot + 1;
    this.size++;
  }

  delete(h: number, slot: number): void {
    const cells = this.cells;
    let i = spread(h) & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const v = cells[2 * i + 1];
      if (v === 0) return;
      if (cells[2 * i] !== h) continue;
      if (v > 0) {
        if (v - 1 === slot) this.clear(i);
        return;
      }
      const n = -v - 1;
      const list = this.lists[n] as number[];
      const at = list.indexOf(slot);
      if (at === -1) return;
      list.splice(at, 1);
      if (list.length === 1) {
        cells[2 * i + 1] = list[0] + 1;
        this.lists[n] = undefined;
        this.freeLists.push(n);
      }
      return;
    }
  }

  /** Empties cell `i`, moving back the cells of its probe run that may no longer be reached past the hole. */
  private clear(i: number): void {
    const cells = this.cells;
    const mask = this.mask;
    let hole = i;
    for (let j = (i + 1) & mask; cells[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = spread(cells[2 * j]) & mask;
      // The cell at j stays if its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      cells[2 * hole] = cells[2 * j];
      cells[2 * hole + 1] = cells[2 * j + 1];
      hole = j;
    }
    cells[2 * hole] = 0;
    cells[2 * hole + 1] = 0;
    this.size--;
  }

  private grow(): void {
    const old = this.cells;
    const capacity = 2 * (this.mask + 1);
    const cells = new Int32Array(2 * capacity);
    const mask = capacity - 1;
    for (let c = 0; c < old.length; c += 2) {
      const v = old[c + 1];
      if (v === 0) continue;
      let i = spread(old[c]) & mask;
      while (cells[2 * i + 1] !== 0) i = (i + 1) & mask;
      cells[2 * i] = old[c];
      cells[2 * i + 1] = v;
    }
    this.cells = cells;
    this.mask = mask;
  }
}

// ---- overlay -------------------------------------------------------------------------------------------------------

/** What one transaction changed: visible to its own lookups, applied to the index once it commits. */
export class IndexOverlay {
  /** Latest state of each identity written by the transaction; `null`: no longer a candidate. */
  readonly entries = new Map<string, IndexEntry | null>();
  /** Change sequence number of each removal. */
  readonly removedAt = new Map<string, number>();
  /** Ids filed under each key by the transaction (may hold ids whose latest state dropped the key). */
  readonly blocks = new Map<string, string[]>();

  set(entry: IndexEntry): void {
    this.entries.set(entry.id, entry);
    for (const key of entry.keys) {
      const block = this.blocks.get(key);
      if (!block) this.blocks.set(key, [entry.id]);
      else if (!block.includes(entry.id)) block.push(entry.id);
    }
  }

  remove(id: string, seq: number): void {
    this.entries.set(id, null);
    this.removedAt.set(id, seq);
  }

  get size(): number {
    return this.entries.size;
  }
}

// ---- index ---------------------------------------------------------------------------------------------------------

export class CandidateIndex {
  private readonly hash: (key: string) => number;
  private readonly deriveKeys: (identity: MatchTraits) => readonly string[];
  private readonly idToSlot = new Map<string, number>();
  /** Per slot (`undefined` in a free slot): the id, the traits, the flags, the key strings kept. */
  private readonly ids: (string | undefined)[] = [];
  private readonly traits: (StoredTraits | undefined)[] = [];
  private readonly flags: StoredFlags[] = [];
  private readonly keyText: StoredKeys[] = [];
  /** Per slot: change sequence number; where its key hashes start in `keyPool`, how many, how many fit there. */
  private seqs = new Float64Array(1024);
  private keyAt = new Int32Array(1024);
  private keyLen = new Int32Array(1024);
  private keyCap = new Int32Array(1024);
  /** Per slot: the stamp of the last lookup that took it (dedup across keys without a Set). */
  private marks = new Int32Array(1024);
  private stamp = 0;
  private readonly freeSlots: number[] = [];
  /** Key hashes of every slot, a region per slot (duplicate-free within it); `poolWaste`: cells no slot uses. */
  private keyPool = new Int32Array(4096);
  private poolEnd = 0;
  private poolWaste = 0;
  private readonly blocks = new BlockTable();
  /** Sequence number of identities removed (merged, deactivated), so a stale state read late is not re-added. */
  private readonly removedAt = new Map<string, number>();
  /** Scratch: the distinct key hashes of the entry being filed. */
  private scratch: number[] = [];

  constructor(options: CandidateIndexOptions = {}) {
    this.hash = options.hash ?? fnv1a32;
    this.deriveKeys = options.deriveKeys ?? defaultDeriveKeys;
  }

  /** Active identities indexed. */
  get size(): number {
    return this.idToSlot.size;
  }

  /** Distinct keys (key hashes: keys sharing a hash count once). */
  get keyCount(): number {
    return this.blocks.size;
  }

  get(id: string, overlay?: IndexOverlay): IndexEntry | undefined {
    if (overlay?.entries.has(id)) return overlay.entries.get(id) ?? undefined;
    const slot = this.idToSlot.get(id);
    if (slot === undefined) return undefined;
    const stored = this.traits[slot] as StoredTraits;
    const identity = typeof stored === 'string' ? unpackTraits(stored) : stored;
    return new StoredEntry(id, identity, unpackFlags(this.flags[slot]), this.seqs[slot], this.keyText[slot], this.deriveKeys);
  }

  /** The flags of an indexed identity (without unpacking its traits); undefined when it is not indexed. */
  flagsOf(id: string): readonly IdentityFlag[] | undefined {
    const slot = this.idToSlot.get(id);
    return slot === undefined ? undefined : unpackFlags(this.flags[slot]);
  }

  /** Adds or replaces an identity (its `keys` must be duplicate-free); ignored when the index holds a later state. */
  set(entry: IndexEntry): void {
    let slot = this.idToSlot.get(entry.id);
    if (slot !== undefined && this.seqs[slot] > entry.seq) return;
    if (this.removedAt.size > 0 && (this.removedAt.get(entry.id) ?? -1) > entry.seq) return;
    // Everything that reads the entry first: the index changes only once all of it is known.
    const hashes = this.hashesOf(entry.keys);
    const traits = packTraits(entry.identity) ?? entry.identity;
    const flags = packFlags(entry.flags);
    const keyText = this.packKeys(entry.keys, entry.identity, entry.derivedKeys);
    this.removedAt.delete(entry.id);
    if (slot !== undefined) {
      const pool = this.keyPool;
      const at = this.keyAt[slot];
      const end = at + this.keyLen[slot];
      for (let p = at; p < end; p++) if (!hashes.includes(pool[p])) this.blocks.delete(pool[p], slot);
      for (const h of hashes) if (!this.holds(slot, h)) this.blocks.add(h, slot);
    } else {
      slot = this.allocate(entry.id);
      for (const h of hashes) this.blocks.add(h, slot);
    }
    this.storeHashes(slot, hashes);
    this.traits[slot] = traits;
    this.flags[slot] = flags;
    this.keyText[slot] = keyText;
    this.seqs[slot] = entry.seq;
  }

  /** No longer a candidate as of change `seq` (ignored when the index holds a later state). */
  remove(id: string, seq: number): void {
    const slot = this.idToSlot.get(id);
    if (slot !== undefined && this.seqs[slot] > seq) return;
    this.removedAt.set(id, Math.max(seq, this.removedAt.get(id) ?? -1));
    if (slot === undefined) return;
    const pool = this.keyPool;
    const at = this.keyAt[slot];
    const end = at + this.keyLen[slot];
    for (let p = at; p < end; p++) this.blocks.delete(pool[p], slot);
    this.poolWaste += this.keyCap[slot];
    this.keyLen[slot] = 0;
    this.keyCap[slot] = 0;
    this.ids[slot] = undefined;
    this.traits[slot] = undefined;
    this.flags[slot] = undefined;
    this.keyText[slot] = undefined;
    this.idToSlot.delete(id);
    this.freeSlots.push(slot);
  }

  /** Applies a committed transaction's changes. */
  apply(overlay: IndexOverlay): void {
    for (const [id, entry] of overlay.entries) {
      if (entry) this.set(entry);
      else this.remove(id, overlay.removedAt.get(id) ?? 0);
    }
  }

  /**
   * Identities filed under any of `keys`, at most `cap` per key (a hot block cannot flood the comparison), as seen
   * by the transaction that owns `overlay` (its own writes included). A key's block may also hold identities filed
   * under another key of the same hash (see the top of the file): extra candidates, never missing ones.
   */
  lookup(keys: readonly string[], cap: number, overlay?: IndexOverlay): Lookup {
    const limit = Math.max(1, Math.trunc(cap));
    const ids: string[] = [];
    const packed: (string | undefined)[] = [];
    const truncatedKeys: string[] = [];
    const staged = overlay !== undefined && overlay.entries.size > 0 ? overlay : undefined;
    // Committed identities are told apart by slot (a stamp per lookup), the transaction's own by id.
    if (++this.stamp === 0x7fffffff) {
      this.marks.fill(0);
      this.stamp = 1;
    }
    const stamp = this.stamp;
    const marks = this.marks;
    let stagedSeen: Set<string> | undefined;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (keys.indexOf(key) !== k) continue;
      let taken = 0;
      const block = this.blocks.get(this.hash(key) | 0);
      if (block > 0) {
        const slot = block - 1;
        // An identity the transaction rewrote is taken from the overlay's blocks instead.
        if (!staged?.entries.has(this.ids[slot] as string)) {
          taken++;
          if (marks[slot] !== stamp) {
            marks[slot] = stamp;
            this.take(slot, ids, packed);
          }
        }
      } else if (block < 0) {
        const committed = this.blocks.list(block);
        for (let i = 0; i < committed.length && taken <= limit; i++) {
          const slot = committed[i];
          if (staged?.entries.has(this.ids[slot] as string)) continue;
          if (++taken <= limit && marks[slot] !== stamp) {
            marks[slot] = stamp;
            this.take(slot, ids, packed);
          }
        }
      }
      const mine = staged?.blocks.get(key);
      if (mine) {
        for (let i = 0; i < mine.length && taken <= limit; i++) {
          const id = mine[i];
          if (!staged?.entries.get(id)?.keys.includes(key)) continue;
          if (++taken <= limit && !(stagedSeen ??= new Set()).has(id)) {
            stagedSeen.add(id);
            ids.push(id);
            packed.push(undefined);
          }
        }
      }
      if (taken > limit) truncatedKeys.push(key);
    }
    return { ids, packed, truncatedKeys };
  }

  private take(slot: number, ids: string[], packed: (string | undefined)[]): void {
    ids.push(this.ids[slot] as string);
    const t = this.traits[slot];
    packed.push(typeof t === 'string' ? t : undefined);
  }

  /** The distinct hashes of `keys`, in key order (in a scratch array, valid until the next call). */
  private hashesOf(keys: readonly string[]): readonly number[] {
    const out = this.scratch;
    out.length = 0;
    for (const key of keys) {
      const h = this.hash(key) | 0;
      if (!out.includes(h)) out.push(h);
    }
    return out;
  }

  private holds(slot: number, h: number): boolean {
    const pool = this.keyPool;
    const end = this.keyAt[slot] + this.keyLen[slot];
    for (let p = this.keyAt[slot]; p < end; p++) if (pool[p] === h) return true;
    return false;
  }

  private allocate(id: string): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.ids.length;
      this.ids.push(id);
      this.traits.push(undefined);
      this.flags.push(undefined);
      this.keyText.push(undefined);
      if (slot === this.seqs.length) this.growSlots();
    } else {
      this.ids[slot] = id;
    }
    this.idToSlot.set(id, slot);
    return slot;
  }

  private growSlots(): void {
    const n = 2 * this.seqs.length;
    const grown = <T extends Float64Array | Int32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.seqs = grown(this.seqs, new Float64Array(n));
    this.keyAt = grown(this.keyAt, new Int32Array(n));
    this.keyLen = grown(this.keyLen, new Int32Array(n));
    this.keyCap = grown(this.keyCap, new Int32Array(n));
    this.marks = grown(this.marks, new Int32Array(n));
  }

  /** Records the slot's key hashes: in place when they fit its region, else in a new region at the pool's end. */
  private storeHashes(slot: number, hashes: readonly number[]): void {
    const n = hashes.length;
    if (n > this.keyCap[slot]) {
      this.poolWaste += this.keyCap[slot];
      this.keyCap[slot] = 0;
      this.keyLen[slot] = 0;
      if (this.poolEnd + n > this.keyPool.length) this.makeRoom(n);
      this.keyAt[slot] = this.poolEnd;
      this.keyCap[slot] = n;
      this.poolEnd += n;
    }
    const at = this.keyAt[slot];
    for (let i = 0; i < n; i++) this.keyPool[at + i] = hashes[i];
    this.keyLen[slot] = n;
  }

  /** Room for `n` more cells at the pool's end: compacts when half the pool is waste, grows otherwise. */
  private makeRoom(n: number): void {
    const live = this.poolEnd - this.poolWaste;
    const length = this.poolWaste * 2 > this.keyPool.length ? this.keyPool.length : 2 * this.keyPool.length;
    const pool = new Int32Array(Math.max(length, 2 * (live + n)));
    if (this.poolWaste === 0) {
      pool.set(this.keyPool.subarray(0, this.poolEnd));
    } else {
      let end = 0;
      for (let slot = 0; slot < this.ids.length; slot++) {
        if (this.keyCap[slot] === 0) continue;
        const at = this.keyAt[slot];
        const len = this.keyLen[slot];
        pool.set(this.keyPool.subarray(at, at + len), end);
        this.keyAt[slot] = end;
        this.keyCap[slot] = len;
        end += len;
      }
      this.poolEnd = end;
      this.poolWaste = 0;
    }
    this.keyPool = pool;
  }

  /** What is kept of the key strings (see `StoredKeys`): nothing when they are the derived keys. */
  private packKeys(keys: readonly string[], identity: MatchTraits, known?: readonly string[]): StoredKeys {
    let derived: readonly string[] | undefined = known;
    try {
      derived ??= this.deriveKeys(identity);
    } catch {
      derived = undefined;
    }
    if (derived && startsWith(keys, derived)) {
      if (keys.length === derived.length) return undefined;
      const extra = keys.slice(derived.length);
      return cleanList(extra) ? EXTRA + packList(extra) : [...keys];
    }
    return cleanList(keys) ? LIST + packList(keys) : [...keys];
  }
}

/** An entry as `get` gives it: its key strings are built when read (the matcher reads only the traits and flags). */
class StoredEntry implements IndexEntry {
  #keys: readonly string[] | undefined;
  readonly #text: StoredKeys;
  readonly #derive: (identity: MatchTraits) => readonly string[];

  constructor(
    readonly id: string,
    readonly identity: MatchTraits,
    readonly flags: readonly IdentityFlag[],
    readonly seq: number,
    text: StoredKeys,
    derive: (identity: MatchTraits) => readonly string[],
  ) {
    this.#text = text;
    this.#derive = derive;
  }

  get keys(): readonly string[] {
    if (this.#keys) return this.#keys;
    const text = this.#text;
    if (text === undefined) this.#keys = [...this.#derive(this.identity)];
    else if (typeof text !== 'string') this.#keys = text;
    else {
      const listed = unpackList(text.slice(1));
      this.#keys = text.charAt(0) === EXTRA ? [...this.#derive(this.identity), ...listed] : listed;
    }
    return this.#keys;
  }
}
