// The hash index of a large ordered map (see ordered-map.ts): a mutable, insertion-ordered hash
// map from string keys, looked up by a range of a path without making the substring.
//
// A compact dict (as CPython's dict and V8's own OrderedHashMap): the entries are appended in
// insertion order to paged arrays of keys and values, and the open-addressing table (linear
// probing) is an Int32Array of (hash, entry number + 1) pairs. So
// * a probe reads one cache line of plain integers and compares a key only on a full hash match;
// * the insertion order is the entry order (no separate sequence), removed entries are holes;
// * a rehash moves integers only (the hashes are kept): no key is hashed again, no string read;
// * the collector sees two pointers per key in dense arrays instead of a sparse pointer table
//   (at 100,000 keys: 16 bytes a key for the entries + 8–16 for the table, against 71 bytes for
//   (key, value, position) triples at 1/3–2/3 load).
// The hash is FNV-1a computed here (a JS Map hashes a fresh substring in V8's runtime, which
// costs more than the whole probe, and first needs the substring).
//
// Entries live in pages of at most 8192: a JS array of more than ~16k pointers is a V8 large
// object, and making one costs about 25 ns per element on Node 20 (`new Array(786432)` 17 ms;
// the same elements in 64 pages 0.4 ms) — at 100,000 keys a single table of triples spent
// 13–17% of a W1 write in its rehashes.
import { hashRange } from "./hamt.ts";

/** log2 of the entries per page (8192 pointers: 64 KiB, well below the large-object size). */
const PAGE_BITS = 13;
const IN_PAGE = (1 << PAGE_BITS) - 1;

/** Most slots in use (live keys and removed ones) per slot: 2/3 (linear probing stays short). */
function tooFull(used: number, cap: number): boolean {
  return 3 * used > 2 * cap;
}

/** Slots for `expected` keys: a power of two, at most 2/3 full. */
function capacityFor(expected: number): number {
  let cap = 8;
  while (tooFull(expected + 1, cap)) cap *= 2;
  return cap;
}

/** Table value of a removed entry's slot (0 = never used, n > 0 = entry n - 1). */
const REMOVED = -1;

export class HashIndex<V> {
  /** per slot: the key's hash (as int32), then its entry number + 1 (0 = never used, REMOVED) */
  private table: Int32Array;
  /** slots - 1 (slots: a power of two) */
  private mask: number;
  /** slots not 0 */
  private used = 0;
  /** entries (keys in insertion order, null once removed) and their values, paged */
  private keys: (string | null)[][] = [];
  private vals: (V | undefined)[][] = [];
  /** entries appended (live and removed) */
  private count = 0;
  size = 0;

  constructor(expected: number) {
    const cap = capacityFor(expected);
    this.mask = cap - 1;
    this.table = new Int32Array(2 * cap);
  }

  /** Entry number of `s.slice(start, end)`, or -1. */
  private findRange(s: string, start: number, end: number): number {
    const table = this.table;
    const mask = this.mask;
    const len = end - start;
    const h = hashRange(s, start, end) | 0;
    for (let j = h & mask; ; j = (j + 1) & mask) {
      const e = table[2 * j + 1]!;
      if (e === 0) return -1;
      if (e > 0 && table[2 * j] === h) {
        const k = this.keys[(e - 1) >>> PAGE_BITS]![(e - 1) & IN_PAGE]!;
        if (k.length === len && s.startsWith(k, start)) return e - 1;
      }
    }
  }

  private valueOf(id: number): V | undefined {
    return id < 0 ? undefined : this.vals[id >>> PAGE_BITS]![id & IN_PAGE];
  }

  get(key: string): V | undefined {
    return this.valueOf(this.findRange(key, 0, key.length));
  }

  /** `get(s.slice(start, end))` without making the substring. */
  getRange(s: string, start: number, end: number): V | undefined {
    return this.valueOf(this.findRange(s, start, end));
  }

  /** Sets `key` → `value` (a new key goes last); 0 = unchanged, 1 = value replaced, 2 = added. */
  set(key: string, value: V): 0 | 1 | 2 {
    if (tooFull(this.used + 1, this.mask + 1)) this.rehash(this.size + 1);
    const table = this.table;
    const mask = this.mask;
    const h = hashRange(key, 0, key.length) | 0;
    // one probe: the key's entry, or the first free slot (removed, else never used) on its chain
    let free = -1;
    let j = h & mask;
    for (; ; j = (j + 1) & mask) {
      const e = table[2 * j + 1]!;
      if (e === 0) break;
      if (e === REMOVED) {
        if (free < 0) free = j;
      } else if (table[2 * j] === h && this.keys[(e - 1) >>> PAGE_BITS]![(e - 1) & IN_PAGE] === key) {
        const page = this.vals[(e - 1) >>> PAGE_BITS]!;
        if (page[(e - 1) & IN_PAGE] === value) return 0;
        page[(e - 1) & IN_PAGE] = value;
        return 1;
      }
    }
    if (free >= 0) j = free;
    else this.used++;
    table[2 * j] = h;
    table[2 * j + 1] = this.append(key, value) + 1;
    this.size++;
    return 2;
  }

  /** Appends an entry; returns its number. */
  private append(key: string, value: V): number {
    const id = this.count++;
    if ((id & IN_PAGE) === 0) {
      this.keys.push([]);
      this.vals.push([]);
    }
    this.keys[id >>> PAGE_BITS]!.push(key);
    this.vals[id >>> PAGE_BITS]!.push(value);
    return id;
  }

  /** Removes `key`; false when absent. */
  delete(key: string): boolean {
    const table = this.table;
    const mask = this.mask;
    const h = hashRange(key, 0, key.length) | 0;
    for (let j = h & mask; ; j = (j + 1) & mask) {
      const e = table[2 * j + 1]!;
      if (e === 0) return false;
      if (e <= 0 || table[2 * j] !== h) continue;
      const id = e - 1;
      const keys = this.keys[id >>> PAGE_BITS]!;
      if (keys[id & IN_PAGE] !== key) continue;
      keys[id & IN_PAGE] = null;
      this.vals[id >>> PAGE_BITS]![id & IN_PAGE] = undefined;
      table[2 * j + 1] = REMOVED;
      this.size--;
      // removed entries are holes in the order and in the probe chains: rebuild when they dominate
      if (this.count - this.size > this.size + 32) this.rehash(this.size);
      return true;
    }
  }

  /** Visits the keys in insertion order. */
  forEachKey(f: (key: string) => void): void {
    const pages = this.keys;
    for (let p = 0; p < pages.length; p++) {
      const page = pages[p]!;
      for (let i = 0; i < page.length; i++) {
        const k = page[i];
        if (k !== null && k !== undefined) f(k);
      }
    }
  }

  /** Rebuilds the table for `expected` keys; removed entries are dropped from the order. */
  private rehash(expected: number): void {
    const old = this.table;
    const cap = capacityFor(expected);
    const mask = cap - 1;
    const table = new Int32Array(2 * cap);
    // entry numbers after dropping removed entries (null: none removed)
    let renumber: Int32Array | null = null;
    if (this.count !== this.size) {
      renumber = new Int32Array(this.count);
      const keys = this.keys;
      const vals = this.vals;
      this.keys = [];
      this.vals = [];
      this.count = 0;
      for (let id = 0; id < renumber.length; id++) {
        const k = keys[id >>> PAGE_BITS]![id & IN_PAGE];
        if (k !== null && k !== undefined)
          renumber[id] = this.append(k, vals[id >>> PAGE_BITS]![id & IN_PAGE]!);
      }
    }
    // the live slots, hashes kept: no key is read
    for (let i = 0; i < old.length; i += 2) {
      const e = old[i + 1]!;
      if (e <= 0) continue;
      const h = old[i]!;
      let j = h & mask;
      while (table[2 * j + 1] !== 0) j = (j + 1) & mask;
      table[2 * j] = h;
      table[2 * j + 1] = renumber === null ? e : renumber[e - 1]! + 1;
    }
    this.table = table;
    this.mask = mask;
    this.used = this.size;
  }
}
