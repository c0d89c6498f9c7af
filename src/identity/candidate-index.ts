// The matcher's in-memory blocking index: blocking key → active federated identities, with each identity's
// normalised reference traits and flags, so a query reads tens of candidates from memory instead of the database.
// The database stays the truth: the registry service loads the index from it, applies what its own transactions
// commit (their `IndexOverlay`) and catches up on what other processes committed through the change sequence.
// Pure data structure: no I/O.
import type { IdentityFlag, MatchTraits } from './types.js';

export interface IndexEntry {
  id: string;
  identity: MatchTraits;
  flags: readonly IdentityFlag[];
  /** Blocking keys it is filed under (duplicate-free). */
  keys: readonly string[];
  /** Change sequence number of the state (a later state always wins, whatever the order it arrives in). */
  seq: number;
}

export interface Lookup {
  /** Distinct federated ids filed under the keys, in key order. */
  ids: string[];
  /** Keys whose block held more than the cap (only the first `cap` ids of each were taken). */
  truncatedKeys: string[];
}

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

export class CandidateIndex {
  private readonly entries = new Map<string, IndexEntry>();
  /** Ids in filing order; a block only holds ids whose entry lists the key. */
  private readonly blocks = new Map<string, string[]>();
  /** Sequence number of identities removed (merged, deactivated), so a stale state read late is not re-added. */
  private readonly removedAt = new Map<string, number>();

  /** Active identities indexed. */
  get size(): number {
    return this.entries.size;
  }

  /** Distinct keys. */
  get keyCount(): number {
    return this.blocks.size;
  }

  get(id: string, overlay?: IndexOverlay): IndexEntry | undefined {
    if (overlay?.entries.has(id)) return overlay.entries.get(id) ?? undefined;
    return this.entries.get(id);
  }

  /** Adds or replaces an identity (its `keys` must be duplicate-free); ignored when the index holds a later state. */
  set(entry: IndexEntry): void {
    const old = this.entries.get(entry.id);
    if (old && old.seq > entry.seq) return;
    if (this.removedAt.size > 0 && (this.removedAt.get(entry.id) ?? -1) > entry.seq) return;
    this.removedAt.delete(entry.id);
    if (old) {
      for (const key of old.keys) if (!entry.keys.includes(key)) this.unfile(key, entry.id);
      for (const key of entry.keys) if (!old.keys.includes(key)) this.file(key, entry.id);
    } else {
      for (const key of entry.keys) this.file(key, entry.id);
    }
    this.entries.set(entry.id, entry);
  }

  /** No longer a candidate as of change `seq` (ignored when the index holds a later state). */
  remove(id: string, seq: number): void {
    const old = this.entries.get(id);
    if (old && old.seq > seq) return;
    this.removedAt.set(id, Math.max(seq, this.removedAt.get(id) ?? -1));
    if (!old) return;
    for (const key of old.keys) this.unfile(key, id);
    this.entries.delete(id);
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
   * by the transaction that owns `overlay` (its own writes included).
   */
  lookup(keys: readonly string[], cap: number, overlay?: IndexOverlay): Lookup {
    const limit = Math.max(1, Math.trunc(cap));
    const seen = new Set<string>();
    const truncatedKeys: string[] = [];
    const staged = overlay !== undefined && overlay.entries.size > 0 ? overlay : undefined;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (keys.indexOf(key) !== k) continue;
      let taken = 0;
      const committed = this.blocks.get(key);
      if (committed) {
        for (let i = 0; i < committed.length && taken <= limit; i++) {
          const id = committed[i];
          // An identity the transaction rewrote is taken from the overlay's blocks instead.
          if (staged?.entries.has(id)) continue;
          if (++taken <= limit) seen.add(id);
        }
      }
      const mine = staged?.blocks.get(key);
      if (mine) {
        for (let i = 0; i < mine.length && taken <= limit; i++) {
          const id = mine[i];
          if (!staged?.entries.get(id)?.keys.includes(key)) continue;
          if (++taken <= limit) seen.add(id);
        }
      }
      if (taken > limit) truncatedKeys.push(key);
    }
    return { ids: [...seen], truncatedKeys };
  }

  private file(key: string, id: string): void {
    const block = this.blocks.get(key);
    if (block) block.push(id);
    else this.blocks.set(key, [id]);
  }

  private unfile(key: string, id: string): void {
    const block = this.blocks.get(key);
    if (!block) return;
    const i = block.indexOf(id);
    if (i !== -1) block.splice(i, 1);
    if (block.length === 0) this.blocks.delete(key);
  }
}
