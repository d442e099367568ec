// The hash index of a large ordered map (see ordered-map.ts): a mutable, insertion-ordered hash
// map from string keys, looked up by a range of a path without making the substring. Open
// addressing with linear probing over (key, value, position) triples, so a probe reads one cache
// line; the hash is FNV-1a computed here (a JS Map hashes a fresh substring in V8's runtime,
// which costs more than the whole probe, and first needs the substring). `seq` holds the keys in
// insertion order (null = removed), what the map's order is read from while its trie lags behind.
//
// Both the slots and the sequence are paged: arrays of at most PAGE_SLOTS triples (SEQ_PAGE
// keys). A JS array of more than ~32k elements is a V8 large object, and making one costs about
// 25 ns per element (measured on Node 20: `new Array(786432)` 17 ms, the same elements in 64
// pages of 12,288 0.4 ms) — at 100,000 keys the rehashes alone were an eighth of a W1 write.
import { hashRange } from "./hamt.ts";

/** log2 of the slots per page: 4096 triples = 12,288 elements, well below the large-object size. */
const PAGE_BITS = 12;
const PAGE_SLOTS = 1 << PAGE_BITS;
const IN_PAGE = PAGE_SLOTS - 1;
/** Keys per page of the insertion sequence. */
const SEQ_BITS = 13;
const SEQ_PAGE = 1 << SEQ_BITS;

/** Most slots in use (live keys and removed ones) per slot: 2/3 (linear probing stays short). */
function tooFull(used: number, cap: number): boolean {
  return 3 * used > 2 * cap;
}

/** Slot pages for `cap` slots (a power of two), every slot never used. */
function newPages(cap: number): unknown[][] {
  const pages: unknown[][] = [];
  const perPage = Math.min(cap, PAGE_SLOTS);
  // (holes read as undefined: never used)
  for (let s = 0; s < cap; s += perPage) pages.push(new Array(3 * perPage));
  return pages;
}

/** An append-only sequence of keys in pages; an entry may be cleared to null. */
class KeySeq {
  private pages: (string | null)[][] = [];
  length = 0;

  push(key: string): number {
    const p = this.length >>> SEQ_BITS;
    if (p === this.pages.length) this.pages.push([]);
    this.pages[p]!.push(key);
    return this.length++;
  }

  clear(pos: number): void {
    this.pages[pos >>> SEQ_BITS]![pos & (SEQ_PAGE - 1)] = null;
  }

  /** Visits the keys not cleared, in order, with their positions. */
  forEach(f: (key: string, pos: number) => void): void {
    const pages = this.pages;
    for (let p = 0; p < pages.length; p++) {
      const page = pages[p]!;
      for (let i = 0; i < page.length; i++) {
        const k = page[i];
        if (k !== null && k !== undefined) f(k, (p << SEQ_BITS) | i);
      }
    }
  }
}

export class HashIndex<V> {
  /** per slot: key (undefined = never used, null = removed), value, position in `seq` */
  private pages: unknown[][];
  /** slots - 1 (slots: a power of two) */
  private mask: number;
  /** slots not undefined */
  private used = 0;
  size = 0;
  /** keys in insertion order, null where removed */
  private seq = new KeySeq();

  constructor(expected: number) {
    let cap = 8;
    while (tooFull(expected + 1, cap)) cap *= 2;
    this.mask = cap - 1;
    this.pages = newPages(cap);
  }

  /** Slot number of `s.slice(start, end)`, or -1. */
  private findRange(s: string, start: number, end: number): number {
    const pages = this.pages;
    const mask = this.mask;
    const len = end - start;
    let j = hashRange(s, start, end) & mask;
    for (;;) {
      const k = pages[j >>> PAGE_BITS]![3 * (j & IN_PAGE)];
      if (k === undefined) return -1;
      if (k !== null && (k as string).length === len && s.startsWith(k as string, start)) return j;
      j = (j + 1) & mask;
    }
  }

  private valueAt(j: number): V | undefined {
    return j < 0 ? undefined : (this.pages[j >>> PAGE_BITS]![3 * (j & IN_PAGE) + 1] as V);
  }

  get(key: string): V | undefined {
    return this.valueAt(this.findRange(key, 0, key.length));
  }

  /** `get(s.slice(start, end))` without making the substring. */
  getRange(s: string, start: number, end: number): V | undefined {
    return this.valueAt(this.findRange(s, start, end));
  }

  /** Sets `key` → `value` (a new key goes last); 0 = unchanged, 1 = value replaced, 2 = added. */
  set(key: string, value: V): 0 | 1 | 2 {
    if (tooFull(this.used + 1, this.mask + 1)) this.rehash(this.size + 1);
    const pages = this.pages;
    const mask = this.mask;
    // one probe: the key's slot, or the first free one (removed, else never used) on its chain
    let free: unknown[] | null = null;
    let freeAt = 0;
    let page: unknown[];
    let i: number;
    for (let j = hashRange(key, 0, key.length) & mask; ; j = (j + 1) & mask) {
      page = pages[j >>> PAGE_BITS]!;
      i = 3 * (j & IN_PAGE);
      const k = page[i];
      if (k === undefined) break;
      if (k === null) {
        if (free === null) {
          free = page;
          freeAt = i;
        }
      } else if (k === key) {
        if (page[i + 1] === value) return 0;
        page[i + 1] = value;
        return 1;
      }
    }
    if (free !== null) {
      page = free;
      i = freeAt;
    } else this.used++;
    page[i] = key;
    page[i + 1] = value;
    page[i + 2] = this.seq.push(key);
    this.size++;
    return 2;
  }

  /** Removes `key`; false when absent. */
  delete(key: string): boolean {
    const j = this.findRange(key, 0, key.length);
    if (j < 0) return false;
    const page = this.pages[j >>> PAGE_BITS]!;
    const i = 3 * (j & IN_PAGE);
    this.seq.clear(page[i + 2] as number);
    page[i] = null;
    page[i + 1] = undefined;
    this.size--;
    // removed keys leave holes in `seq` and in the probe chains: rebuild when they dominate
    if (this.seq.length - this.size > this.size + 32) this.rehash(this.size);
    return true;
  }

  /** Visits the keys in insertion order. */
  forEachKey(f: (key: string) => void): void {
    this.seq.forEach(f);
  }

  /** Rebuilds the slots for `expected` keys, dropping removed keys from slots and `seq`. */
  private rehash(expected: number): void {
    const old = this.pages;
    let cap = 8;
    while (tooFull(expected + 1, cap)) cap *= 2;
    const mask = cap - 1;
    const pages = newPages(cap);
    // new positions when removed keys left holes in `seq`
    let remap: Int32Array | null = null;
    if (this.size !== this.seq.length) {
      const seq = new KeySeq();
      const r = new Int32Array(this.seq.length);
      this.seq.forEach((key, pos) => {
        r[pos] = seq.push(key);
      });
      this.seq = seq;
      remap = r;
    }
    // the live slots, in slot order (one pass over the old pages)
    for (let p = 0; p < old.length; p++) {
      const from = old[p]!;
      for (let i = 0; i < from.length; i += 3) {
        const key = from[i];
        if (key === undefined || key === null) continue;
        const k = key as string;
        let j = hashRange(k, 0, k.length) & mask;
        let to = pages[j >>> PAGE_BITS]!;
        while (to[3 * (j & IN_PAGE)] !== undefined) {
          j = (j + 1) & mask;
          to = pages[j >>> PAGE_BITS]!;
        }
        const t = 3 * (j & IN_PAGE);
        const pos = from[i + 2] as number;
        to[t] = k;
        to[t + 1] = from[i + 1];
        to[t + 2] = remap === null ? pos : remap[pos];
      }
    }
    this.pages = pages;
    this.mask = mask;
    this.used = this.size;
  }
}
