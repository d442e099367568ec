// A persistent, insertion-ordered map from string to V: a HAMT for lookup (key → {position,
// value}) and a persistent vector of keys in insertion order (removed keys leave holes, compacted
// when they outnumber the live keys). All updates are O(log32 n) amortised and transient-aware.
import type { Edit } from "./edit.ts";
import { type Changed, type HNode, hamtGet, hamtRemove, hamtSet } from "./hamt.ts";
import { emptyVec, type PVec, vecForEach, vecPush, vecSet } from "./pvec.ts";

interface Entry<V> {
  readonly i: number;
  readonly v: V;
}

export interface OrderedMap<V> {
  readonly size: number;
  readonly hamt: HNode<Entry<V>> | null;
  readonly order: PVec<string | null>;
}

const EMPTY: OrderedMap<never> = { size: 0, hamt: null, order: emptyVec() };

export function omEmpty<V>(): OrderedMap<V> {
  return EMPTY;
}

export function omGet<V>(m: OrderedMap<V>, key: string): V | undefined {
  return hamtGet(m.hamt, key)?.v;
}

export function omHas<V>(m: OrderedMap<V>, key: string): boolean {
  return hamtGet(m.hamt, key) !== undefined;
}

/** `m` with key → value; a new key goes last, an existing key keeps its position. */
export function omSet<V>(m: OrderedMap<V>, edit: Edit, key: string, value: V): OrderedMap<V> {
  const old = hamtGet(m.hamt, key);
  const changed: Changed = { v: false };
  if (old !== undefined) {
    if (old.v === value) return m;
    return {
      size: m.size,
      hamt: hamtSet(m.hamt, edit, key, { i: old.i, v: value }, changed),
      order: m.order,
    };
  }
  const i = m.order.count;
  return {
    size: m.size + 1,
    hamt: hamtSet(m.hamt, edit, key, { i, v: value }, changed),
    order: vecPush(m.order, edit, key),
  };
}

/** `m` without key (unchanged when absent). */
export function omDelete<V>(m: OrderedMap<V>, edit: Edit, key: string): OrderedMap<V> {
  const old = hamtGet(m.hamt, key);
  if (old === undefined) return m;
  const removed: Changed = { v: false };
  const size = m.size - 1;
  if (size === 0) return EMPTY;
  const next: OrderedMap<V> = {
    size,
    hamt: hamtRemove(m.hamt, edit, key, removed),
    order: vecSet(m.order, edit, old.i, null),
  };
  const holes = next.order.count - size;
  return holes > 32 && holes > size ? compact(next, edit) : next;
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
  vecForEach(m.order, (k) => {
    if (k !== null) f(k, hamtGet(m.hamt, k)!.v);
  });
}

/** Keys in insertion order. */
export function omKeys<V>(m: OrderedMap<V>): string[] {
  const out: string[] = [];
  if (m.size === 0) return out;
  vecForEach(m.order, (k) => {
    if (k !== null) out.push(k);
  });
  return out;
}
