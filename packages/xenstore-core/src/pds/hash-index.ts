// The hash index of a large ordered map (see ordered-map.ts): a mutable, insertion-ordered hash
// map from string keys, looked up by a range of a path without making the substring. Open
// addressing with linear probing over one array of (key, value, position) triples, so a probe
// reads one cache line; the hash is FNV-1a computed here (a JS Map hashes a fresh substring in
// V8's runtime, which costs more than the whole probe, and first needs the substring). `seq`
// holds the keys in insertion order (null = removed), what the map's order is read from while
// its trie lags behind.
import { hashRange } from "./hamt.ts";

/** Most slots in use (live keys and removed ones) per slot: 2/3 (linear probing stays short). */
function tooFull(used: number, cap: number): boolean {
  return 3 * used > 2 * cap;
}

export class HashIndex<V> {
  /** key (undefined = never used, null = removed), value, position in `seq`; per slot */
  private slots: unknown[];
  private mask: number;
  /** slots not undefined */
  private used = 0;
  size = 0;
  /** keys in insertion order, null where removed */
  seq: (string | null)[] = [];

  constructor(expected: number) {
    let cap = 8;
    while (tooFull(expected + 1, cap)) cap *= 2;
    this.mask = cap - 1;
    // (holes read as undefined: never used)
    this.slots = new Array(3 * cap);
  }

  /** Slot index (a multiple of 3) of `s.slice(start, end)`, or -1. */
  private findRange(s: string, start: number, end: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const len = end - start;
    let j = hashRange(s, start, end) & mask;
    for (;;) {
      const i = 3 * j;
      const k = slots[i];
      if (k === undefined) return -1;
      if (k !== null && (k as string).length === len && s.startsWith(k as string, start)) return i;
      j = (j + 1) & mask;
    }
  }

  get(key: string): V | undefined {
    const i = this.findRange(key, 0, key.length);
    return i < 0 ? undefined : (this.slots[i + 1] as V);
  }

  /** `get(s.slice(start, end))` without making the substring. */
  getRange(s: string, start: number, end: number): V | undefined {
    const i = this.findRange(s, start, end);
    return i < 0 ? undefined : (this.slots[i + 1] as V);
  }

  /** Sets `key` → `value` (a new key goes last); 0 = unchanged, 1 = value replaced, 2 = added. */
  set(key: string, value: V): 0 | 1 | 2 {
    if (tooFull(this.used + 1, this.mask + 1)) this.rehash(this.size + 1);
    const slots = this.slots;
    const mask = this.mask;
    const len = key.length;
    // one probe: the key's slot, or the first free one (removed, else never used) on its chain
    let free = -1;
    let i: number;
    for (let j = hashRange(key, 0, len) & mask; ; j = (j + 1) & mask) {
      i = 3 * j;
      const k = slots[i];
      if (k === undefined) break;
      if (k === null) {
        if (free < 0) free = i;
      } else if (k === key) {
        if (slots[i + 1] === value) return 0;
        slots[i + 1] = value;
        return 1;
      }
    }
    if (free >= 0) i = free;
    else this.used++;
    slots[i] = key;
    slots[i + 1] = value;
    slots[i + 2] = this.seq.length;
    this.seq.push(key);
    this.size++;
    return 2;
  }

  /** Removes `key`; false when absent. */
  delete(key: string): boolean {
    const i = this.findRange(key, 0, key.length);
    if (i < 0) return false;
    const slots = this.slots;
    this.seq[slots[i + 2] as number] = null;
    slots[i] = null;
    slots[i + 1] = undefined;
    this.size--;
    // removed keys leave holes in `seq` and in the probe chains: rebuild when they dominate
    if (this.seq.length - this.size > this.size + 32) this.rehash(this.size);
    return true;
  }

  /** Visits the keys in insertion order. */
  forEachKey(f: (key: string) => void): void {
    const seq = this.seq;
    for (let i = 0; i < seq.length; i++) {
      const k = seq[i];
      if (k !== null && k !== undefined) f(k);
    }
  }

  /** Rebuilds the slots for `expected` keys, dropping removed keys from slots and `seq`. */
  private rehash(expected: number): void {
    const old = this.slots;
    const oldSeq = this.seq;
    let cap = 8;
    while (tooFull(expected + 1, cap)) cap *= 2;
    const mask = cap - 1;
    const slots: unknown[] = new Array(3 * cap);
    // new positions when removed keys left holes in `seq`
    let seq = oldSeq;
    let remap: Int32Array | null = null;
    if (this.size !== oldSeq.length) {
      seq = [];
      remap = new Int32Array(oldSeq.length);
      for (let p = 0; p < oldSeq.length; p++) {
        const key = oldSeq[p];
        if (key === null || key === undefined) continue;
        remap[p] = seq.length;
        seq.push(key);
      }
    }
    // the live slots, in slot order (one pass over the old array)
    for (let i = 0; i < old.length; i += 3) {
      const key = old[i];
      if (key === undefined || key === null) continue;
      const k = key as string;
      let j = hashRange(k, 0, k.length) & mask;
      while (slots[3 * j] !== undefined) j = (j + 1) & mask;
      const pos = old[i + 2] as number;
      slots[3 * j] = k;
      slots[3 * j + 1] = old[i + 1];
      slots[3 * j + 2] = remap === null ? pos : remap[pos];
    }
    this.slots = slots;
    this.mask = mask;
    this.seq = seq;
    this.used = seq.length;
  }
}
