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
//
// Deferred trie updates: once a large map has its hash index (see `index`), in-place updates of
// that map object (its own edit token: nobody else can see it) go to the index and to a log of
// (key, value | removed) pairs only; the trie and order vector catch up by replaying the log
// (`flush`) before they are read: before the map is copied for another edit token (a
// transaction or a later version of the live store) or iterated with its values. The log holds
// the same updates the trie would have taken one by one, in the same order, so the result is
// the same trie; once there are more deferred updates than half the keys, the log and trie are
// dropped and rebuilt from the index instead (O(size), paid for by those updates). The live
// store's writes to a big directory outside transactions then cost a hash-map update (as a C
// store's in-place hash table) instead of a trie path, amortised.
// Safe because trie nodes owned by the map's token are reachable from this map object only
// (copies are made after a flush and own nothing of it), and the index is complete and ordered.
import type { Edit } from "./edit.ts";
import {
  foundPosition,
  type HNode,
  hamtFind,
  hamtFindRange,
  hamtRemove,
  hamtSet,
  hashRange,
  hashString,
  setAdded,
} from "./hamt.ts";
import { HashIndex } from "./hash-index.ts";
import { emptyVec, type PVec, vecForEach, vecPush, vecSet } from "./pvec.ts";

/** Largest map kept as plain arrays. */
const SMALL_MAX = 8;

export interface OrderedMap<V> {
  /** owner token for in-place updates (null = frozen) */
  edit: Edit | null;
  size: number;
  /** small mode (hamt === null): keys and values in insertion order; unused (empty) when large */
  keys: string[];
  vals: V[];
  /** large mode: lookup trie (key → position in `order`, value) and insertion order */
  hamt: HNode | null;
  order: PVec<string | null>;
  /** the keys as latin1 bytes, each NUL-terminated, in order (built on demand, see omNames) */
  names: Uint8Array | null;
  /**
   * large mode: a hash index of this map object (key → value) for lookups, built once the map
   * has been looked up often enough to pay for it (a HAMT lookup in a big map costs a cache
   * miss per level); kept in step by in-place updates, not carried over to copies
   */
  index: HashIndex<V> | null;
  /** lookups without an index since this map object was made */
  hits: number;
  /**
   * large mode with an index: in-place updates not yet applied to `hamt`/`order`, as pairs
   * key, value (REMOVED for a deletion), oldest first; null when none (see `flush`)
   */
  log: unknown[] | null;
}

/** Log value of a deletion. */
const REMOVED: unique symbol = Symbol("removed");

const NO_KEYS: string[] = [];
const EMPTY: OrderedMap<never> = {
  edit: null,
  size: 0,
  keys: NO_KEYS,
  vals: [],
  hamt: null,
  order: emptyVec(),
  names: null,
  index: null,
  hits: 0,
  log: null,
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
  if (m.index !== null) return m.index.get(key);
  if (++m.hits > (m.size >> 2) + 64) return buildIndex(m).get(key);
  return hamtFind(m.hamt, hashString(key), key) as V | undefined;
}

/** Builds the hash index of a large map (O(size), paid for by the lookups that asked for it). */
function buildIndex<V>(m: OrderedMap<V>): HashIndex<V> {
  const index = new HashIndex<V>(m.size);
  const hamt = m.hamt!;
  vecForEach(m.order, (k) => {
    if (k !== null) index.set(k, hamtFind(hamt, hashString(k), k) as V);
  });
  m.index = index;
  return index;
}

/** `omGet(m, s.slice(start, end))` without making the substring. */
export function omGetRange<V>(m: OrderedMap<V>, s: string, start: number, end: number): V | undefined {
  if (m.hamt === null) {
    const keys = m.keys;
    const len = end - start;
    // siblings often differ only at the end (`c0`…`c7`, `vif/0`, `ring-ref0`…): their last char
    // rules most of them out before a whole compare
    const last = s.charCodeAt(end - 1);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k.length === len && k.charCodeAt(len - 1) === last && s.startsWith(k, start)) return m.vals[i];
    }
    return undefined;
  }
  if (m.index !== null) return m.index.getRange(s, start, end);
  if (++m.hits > (m.size >> 2) + 64) return buildIndex(m).getRange(s, start, end);
  return hamtFindRange(m.hamt, hashRange(s, start, end), s, start, end) as V | undefined;
}

export function omHas<V>(m: OrderedMap<V>, key: string): boolean {
  return omGet(m, key) !== undefined;
}

/** `m` itself when owned by `edit`, else a shallow copy owned by `edit`. */
function writable<V>(m: OrderedMap<V>, edit: Edit): OrderedMap<V> {
  if (m.edit === edit) return m;
  if (m.log !== null) flush(m);
  const small = m.hamt === null;
  return {
    edit,
    size: m.size,
    keys: small ? m.keys.slice() : NO_KEYS,
    vals: small ? m.vals.slice() : [],
    hamt: m.hamt,
    order: m.order,
    names: m.names,
    index: null,
    hits: 0,
    log: null,
  };
}

/** `m` with key → value; a new key goes last, an existing key keeps its position. */
export function omSet<V>(m: OrderedMap<V>, edit: Edit, key: string, value: V): OrderedMap<V> {
  // a copy starts from the trie: bring it up to date first (this may compact `m` to small)
  if (m.log !== null && m.edit !== edit) flush(m);
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
      w.names = null;
      return w;
    }
    return largeSet(toLarge(m, edit), edit, key, value);
  }
  return largeSet(m, edit, key, value);
}

function toLarge<V>(m: OrderedMap<V>, edit: Edit): OrderedMap<V> {
  const out: OrderedMap<V> = {
    edit,
    size: 0,
    keys: NO_KEYS,
    vals: [],
    hamt: null,
    order: emptyVec(),
    names: null,
    index: null,
    hits: 0,
    log: null,
  };
  for (let i = 0; i < m.keys.length; i++) largeSet(out, edit, m.keys[i]!, m.vals[i]!);
  return out;
}

/** Large-mode set in one descent of the trie (an existing key keeps its position). */
function largeSet<V>(m: OrderedMap<V>, edit: Edit, key: string, value: V): OrderedMap<V> {
  const index = m.index;
  if (index !== null && m.edit === edit) {
    // in place, deferred (see the top of the file)
    const r = index.set(key, value);
    if (r === 0) return m;
    if (r === 2) {
      m.size++;
      m.names = null;
    }
    logUpdate(m, key, value);
    return m;
  }
  const w = writable(m, edit);
  const hamt = hamtSet(m.hamt, edit, hashString(key), key, m.order.count, value);
  if (!setAdded) {
    if (hamt === m.hamt) {
      // unchanged, or changed in place in trie nodes `m` owns (then `w` is `m`)
      if (w === m) m.index?.set(key, value);
      return m;
    }
    w.hamt = hamt;
    w.index?.set(key, value);
    return w;
  }
  w.hamt = hamt;
  w.index?.set(key, value);
  w.order = vecPush(m.order, edit, key);
  w.size++;
  w.names = null;
  return w;
}

/** `m` without key (unchanged when absent). */
export function omDelete<V>(m: OrderedMap<V>, edit: Edit, key: string): OrderedMap<V> {
  if (m.size === 1 && omGet(m, key) !== undefined) return EMPTY;
  if (m.log !== null && m.edit !== edit) flush(m);
  if (m.hamt === null) {
    const i = m.keys.indexOf(key);
    if (i < 0) return m;
    const w = writable(m, edit);
    w.keys.splice(i, 1);
    w.vals.splice(i, 1);
    w.size--;
    w.names = null;
    return w;
  }
  const index = m.index;
  if (index !== null && m.edit === edit) {
    // in place, deferred (see the top of the file)
    if (!index.delete(key)) return m;
    m.size--;
    m.names = null;
    logUpdate(m, key, REMOVED);
    return m;
  }
  const hash = hashString(key);
  if (hamtFind(m.hamt!, hash, key) === undefined) return m;
  const w = writable(m, edit);
  w.hamt = hamtRemove(m.hamt, edit, hash, key);
  w.index?.delete(key);
  w.order = vecSet(m.order, edit, foundPosition, null);
  w.size--;
  w.names = null;
  const holes = w.order.count - w.size;
  return holes > 32 && holes > w.size ? compact(w, edit) : w;
}

/**
 * `log` of a map whose trie and order vector were dropped (more updates were deferred than half
 * the map's keys): they are rebuilt from the index, in time proportional to those updates.
 */
const STALE: unknown[] = [];
/** The trie of a stale map (a valid empty root owned by no token, never read). */
const STALE_TRIE: HNode = [0, null];

/** Appends a deferred update; once they pass half the keys, drops the log and the trie. */
function logUpdate<V>(m: OrderedMap<V>, key: string, value: unknown): void {
  let log = m.log;
  if (log === STALE) return;
  if (log === null) log = m.log = [];
  log.push(key, value);
  // (updates > size / 2: also true of a directory that only grows, where every update adds a key)
  if (log.length > m.size + 64) {
    m.log = STALE;
    m.hamt = STALE_TRIE;
    m.order = emptyVec();
  }
}

/**
 * Brings the trie and order vector up to date, in place with the map's own token (the trie
 * nodes it owns are this map object's alone): replays the log, or rebuilds them from the index
 * when stale or when removals left more holes than keys in the order vector.
 */
function flush<V>(m: OrderedMap<V>): void {
  const log = m.log!;
  const edit = m.edit!;
  m.log = null;
  if (log !== STALE) {
    let hamt = m.hamt;
    let order = m.order;
    for (let i = 0; i < log.length; i += 2) {
      const key = log[i] as string;
      const value = log[i + 1];
      const hash = hashString(key);
      if (value === REMOVED) {
        hamt = hamtRemove(hamt, edit, hash, key);
        if (foundPosition >= 0) order = vecSet(order, edit, foundPosition, null);
      } else {
        hamt = hamtSet(hamt, edit, hash, key, order.count, value);
        if (setAdded) order = vecPush(order, edit, key);
      }
    }
    m.hamt = hamt;
    m.order = order;
    const holes = order.count - m.size;
    if (holes <= 32 || holes <= m.size) return;
  }
  // rebuild from the index (complete, in order): the same map, compacted as omDelete would
  const index = m.index!;
  if (m.size <= SMALL_MAX) {
    const keys: string[] = [];
    const vals: V[] = [];
    index.forEachKey((k) => {
      keys.push(k);
      vals.push(index.get(k)!);
    });
    m.keys = keys;
    m.vals = vals;
    m.hamt = null;
    m.order = emptyVec();
    m.index = null;
    return;
  }
  let hamt: HNode | null = null;
  let order = emptyVec<string | null>();
  index.forEachKey((k) => {
    hamt = hamtSet(hamt, edit, hashString(k), k, order.count, index.get(k));
    order = vecPush(order, edit, k);
  });
  m.hamt = hamt;
  m.order = order;
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
  if (m.log !== null) flush(m);
  if (m.hamt === null) {
    const keys = m.keys.slice();
    const vals = m.vals.slice();
    for (let i = 0; i < keys.length; i++) f(keys[i]!, vals[i]!);
    return;
  }
  const hamt = m.hamt;
  vecForEach(m.order, (k) => {
    if (k !== null) f(k, hamtFind(hamt, hashString(k), k) as V);
  });
}

/** Visits the keys in insertion order. */
function omEachKey<V>(m: OrderedMap<V>, f: (key: string) => void): void {
  if (m.log !== null) {
    // the index holds the keys in the same order (no need to bring the trie up to date)
    m.index!.forEachKey(f);
    return;
  }
  if (m.hamt === null) {
    for (const k of m.keys) f(k);
    return;
  }
  vecForEach(m.order, (k) => {
    if (k !== null) f(k);
  });
}

/** Keys in insertion order. */
export function omKeys<V>(m: OrderedMap<V>): string[] {
  if (m.log !== null) {
    const out: string[] = [];
    m.index!.forEachKey((k) => {
      out.push(k);
    });
    return out;
  }
  if (m.hamt === null) return m.keys.slice();
  const out: string[] = new Array(m.size);
  let n = 0;
  vecForEach(m.order, (k) => {
    if (k !== null) out[n++] = k;
  });
  return out;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The keys in insertion order as latin1 bytes, each NUL-terminated (a DIRECTORY reply, as cx
 * keeps a node's child names in one buffer). Cached on the map until its key set changes: the
 * caller must not modify the result.
 */
export function omNames<V>(m: OrderedMap<V>): Uint8Array {
  if (m.size === 0) return NO_BYTES;
  if (m.names !== null) return m.names;
  let n = 0;
  omEachKey(m, (k) => {
    n += k.length + 1;
  });
  const out = new Uint8Array(n);
  let off = 0;
  omEachKey(m, (k) => {
    for (let i = 0; i < k.length; i++) out[off++] = k.charCodeAt(i);
    out[off++] = 0;
  });
  m.names = out;
  return out;
}
