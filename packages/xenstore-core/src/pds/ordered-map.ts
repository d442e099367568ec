// A persistent, insertion-ordered map from string to V with transient (edit-token) updates.
// Two representations:
// * small (≤ SMALL_MAX keys, the common XenStore node): two arrays, keys and values, in
//   insertion order; lookups compare strings (no hashing), a copy is two short slices;
// * large: a HAMT for lookup (key → {position, value}) and a persistent vector of keys in
//   insertion order (removed keys leave holes, compacted when they outnumber the live keys).
// A map owned by the caller's edit token is updated in place (no new map object, no copies), so
// the live store's writes outside transactions allocate nothing but what they add; a map owned
// by another token (shared with a transaction or snapshot) is copied first. All updates are
// O(log32 n) (amortised for compaction).
import type { Edit } from "./edit.ts";
import {
  type Changed,
  type HNode,
  hamtGetH,
  hamtGetRange,
  hamtRemove,
  hamtSetH,
  hashRange,
  hashString,
} from "./hamt.ts";
import { emptyVec, type PVec, vecForEach, vecPush, vecSet } from "./pvec.ts";

interface Entry<V> {
  readonly i: number;
  readonly v: V;
}

/** Largest map kept as plain arrays. */
const SMALL_MAX = 8;

export interface OrderedMap<V> {
  /** owner token for in-place updates (null = frozen) */
  edit: Edit | null;
  size: number;
  /** small mode (hamt === null): keys and values in insertion order; unused (empty) when large */
  keys: string[];
  vals: V[];
  /** large mode: lookup trie and insertion order */
  hamt: HNode<Entry<V>> | null;
  order: PVec<string | null>;
}

const NO_KEYS: string[] = [];
const EMPTY: OrderedMap<never> = {
  edit: null,
  size: 0,
  keys: NO_KEYS,
  vals: [],
  hamt: null,
  order: emptyVec(),
};

export function omEmpty<V>(): OrderedMap<V> {
  return EMPTY;
}

export function omSize<V>(m: OrderedMap<V>): number {
  return m.size;
}

export function omGet<V>(m: OrderedMap<V>, key: string): V | undefined {
  if (m.hamt === null) {
    const keys = m.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return m.vals[i];
    return undefined;
  }
  return hamtGetH(m.hamt, hashString(key), key)?.v;
}

/** `omGet(m, s.slice(start, end))` without making the substring. */
export function omGetRange<V>(m: OrderedMap<V>, s: string, start: number, end: number): V | undefined {
  if (m.hamt === null) {
    const keys = m.keys;
    const len = end - start;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k.length === len && s.startsWith(k, start)) return m.vals[i];
    }
    return undefined;
  }
  return hamtGetRange(m.hamt, hashRange(s, start, end), s, start, end)?.v;
}

export function omHas<V>(m: OrderedMap<V>, key: string): boolean {
  return omGet(m, key) !== undefined;
}

/** `m` itself when owned by `edit`, else a shallow copy owned by `edit`. */
function writable<V>(m: OrderedMap<V>, edit: Edit): OrderedMap<V> {
  if (m.edit === edit) return m;
  const small = m.hamt === null;
  return {
    edit,
    size: m.size,
    keys: small ? m.keys.slice() : NO_KEYS,
    vals: small ? m.vals.slice() : [],
    hamt: m.hamt,
    order: m.order,
  };
}

/** `m` with key → value; a new key goes last, an existing key keeps its position. */
export function omSet<V>(m: OrderedMap<V>, edit: Edit, key: string, value: V): OrderedMap<V> {
  if (m.hamt === null) {
    const keys = m.keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) {
        if (m.vals[i] === value) return m;
        const w = writable(m, edit);
        w.vals[i] = value;
        return w;
      }
    }
    if (keys.length < SMALL_MAX) {
      const w = writable(m, edit);
      w.keys.push(key);
      w.vals.push(value);
      w.size++;
      return w;
    }
    return largeSet(toLarge(m, edit), edit, key, value);
  }
  return largeSet(m, edit, key, value);
}

function toLarge<V>(m: OrderedMap<V>, edit: Edit): OrderedMap<V> {
  const out: OrderedMap<V> = { edit, size: 0, keys: NO_KEYS, vals: [], hamt: null, order: emptyVec() };
  for (let i = 0; i < m.keys.length; i++) largeSet(out, edit, m.keys[i]!, m.vals[i]!);
  return out;
}

const SCRATCH: Changed = { v: false };

function largeSet<V>(m: OrderedMap<V>, edit: Edit, key: string, value: V): OrderedMap<V> {
  const hash = hashString(key);
  const old = m.hamt === null ? undefined : hamtGetH(m.hamt, hash, key);
  if (old !== undefined) {
    if (old.v === value) return m;
    const w = writable(m, edit);
    w.hamt = hamtSetH(m.hamt, edit, hash, key, { i: old.i, v: value }, SCRATCH);
    return w;
  }
  const w = writable(m, edit);
  w.hamt = hamtSetH(m.hamt, edit, hash, key, { i: m.order.count, v: value }, SCRATCH);
  w.order = vecPush(m.order, edit, key);
  w.size++;
  return w;
}

/** `m` without key (unchanged when absent). */
export function omDelete<V>(m: OrderedMap<V>, edit: Edit, key: string): OrderedMap<V> {
  if (m.size === 1 && omGet(m, key) !== undefined) return EMPTY;
  if (m.hamt === null) {
    const i = m.keys.indexOf(key);
    if (i < 0) return m;
    const w = writable(m, edit);
    w.keys.splice(i, 1);
    w.vals.splice(i, 1);
    w.size--;
    return w;
  }
  const old = hamtGetH(m.hamt, hashString(key), key);
  if (old === undefined) return m;
  const w = writable(m, edit);
  w.hamt = hamtRemove(m.hamt, edit, key, SCRATCH);
  w.order = vecSet(m.order, edit, old.i, null);
  w.size--;
  const holes = w.order.count - w.size;
  return holes > 32 && holes > w.size ? compact(w, edit) : w;
}

function compact<V>(m: OrderedMap<V>, edit: Edit): OrderedMap<V> {
  let out: OrderedMap<V> = EMPTY;
  omForEach(m, (k, v) => {
    out = omSet(out, edit, k, v);
  });
  return out;
}

/** Visits entries in insertion order. */
export function omForEach<V>(m: OrderedMap<V>, f: (key: string, value: V) => void): void {
  if (m.size === 0) return;
  if (m.hamt === null) {
    const keys = m.keys.slice();
    const vals = m.vals.slice();
    for (let i = 0; i < keys.length; i++) f(keys[i]!, vals[i]!);
    return;
  }
  const hamt = m.hamt;
  vecForEach(m.order, (k) => {
    if (k !== null) f(k, hamtGetH(hamt, hashString(k), k)!.v);
  });
}

/** Keys in insertion order. */
export function omKeys<V>(m: OrderedMap<V>): string[] {
  if (m.hamt === null) return m.keys.slice();
  const out: string[] = new Array(m.size);
  let n = 0;
  vecForEach(m.order, (k) => {
    if (k !== null) out[n++] = k;
  });
  return out;
}
