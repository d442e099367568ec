// A persistent hash array mapped trie (string keys) with transient updates (see edit.ts).
import type { Edit } from "./edit.ts";

/** Bitmap-indexed node: `a` holds pairs [key, value] or [undefined, sub-node]. */
interface BNode<V> {
  c: false;
  edit: Edit | null;
  bitmap: number;
  a: (string | V | HNode<V> | undefined)[];
}
/** Full-hash collision node: `a` holds pairs [key, value]. */
interface CNode<V> {
  c: true;
  edit: Edit | null;
  hash: number;
  a: (string | V)[];
}
export type HNode<V> = BNode<V> | CNode<V>;

/** FNV-1a over UTF-16 code units. */
export function hashString(s: string): number {
  return hashRange(s, 0, s.length);
}

/** FNV-1a of `s.slice(start, end)`, without making the substring. */
export function hashRange(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function hamtGet<V>(root: HNode<V> | null, key: string): V | undefined {
  if (root === null) return undefined;
  return hamtGetH(root, hashString(key), key);
}

/** hamtGet with the key's hash already computed. */
export function hamtGetH<V>(root: HNode<V>, hash: number, key: string): V | undefined {
  let node: HNode<V> = root;
  let shift = 0;
  for (;;) {
    if (node.c) {
      const a = node.a;
      for (let i = 0; i < a.length; i += 2) if (a[i] === key) return a[i + 1] as V;
      return undefined;
    }
    const bit = 1 << ((hash >>> shift) & 31);
    if ((node.bitmap & bit) === 0) return undefined;
    const idx = popcount(node.bitmap & (bit - 1)) << 1;
    const k = node.a[idx];
    if (k === undefined) {
      node = node.a[idx + 1] as HNode<V>;
      shift += 5;
      continue;
    }
    return k === key ? (node.a[idx + 1] as V) : undefined;
  }
}

/**
 * Looks up the key `s.slice(start, end)` (whose hash is `hash`) without making the substring.
 */
export function hamtGetRange<V>(
  root: HNode<V>,
  hash: number,
  s: string,
  start: number,
  end: number,
): V | undefined {
  const len = end - start;
  let node: HNode<V> = root;
  let shift = 0;
  for (;;) {
    if (node.c) {
      const a = node.a;
      for (let i = 0; i < a.length; i += 2) {
        const k = a[i] as string;
        if (k.length === len && s.startsWith(k, start)) return a[i + 1] as V;
      }
      return undefined;
    }
    const bit = 1 << ((hash >>> shift) & 31);
    if ((node.bitmap & bit) === 0) return undefined;
    const idx = popcount(node.bitmap & (bit - 1)) << 1;
    const k = node.a[idx];
    if (k === undefined) {
      node = node.a[idx + 1] as HNode<V>;
      shift += 5;
      continue;
    }
    const ks = k as string;
    return ks.length === len && s.startsWith(ks, start) ? (node.a[idx + 1] as V) : undefined;
  }
}

function editable<V>(node: BNode<V>, edit: Edit): BNode<V> {
  if (node.edit === edit) return node;
  return { c: false, edit, bitmap: node.bitmap, a: node.a.slice() };
}

function pairNode<V>(
  edit: Edit,
  shift: number,
  k1: string,
  h1: number,
  v1: V,
  k2: string,
  h2: number,
  v2: V,
): HNode<V> {
  if (h1 === h2) return { c: true, edit, hash: h1, a: [k1, v1, k2, v2] };
  const b1 = (h1 >>> shift) & 31;
  const b2 = (h2 >>> shift) & 31;
  if (b1 === b2) {
    return {
      c: false,
      edit,
      bitmap: 1 << b1,
      a: [undefined, pairNode(edit, shift + 5, k1, h1, v1, k2, h2, v2)],
    };
  }
  const a = b1 < b2 ? [k1, v1, k2, v2] : [k2, v2, k1, v1];
  return { c: false, edit, bitmap: (1 << b1) | (1 << b2), a };
}

/** Result flag of set/remove: whether a key was added/removed. */
export interface Changed {
  v: boolean;
}

function setIn<V>(
  node: HNode<V>,
  edit: Edit,
  shift: number,
  hash: number,
  key: string,
  val: V,
  added: Changed,
): HNode<V> {
  if (node.c) {
    if (hash === node.hash) {
      const a = node.a;
      for (let i = 0; i < a.length; i += 2) {
        if (a[i] === key) {
          if (a[i + 1] === val) return node;
          const n = node.edit === edit ? node : { c: true as const, edit, hash: node.hash, a: a.slice() };
          n.a[i + 1] = val;
          return n;
        }
      }
      added.v = true;
      const n = node.edit === edit ? node : { c: true as const, edit, hash: node.hash, a: a.slice() };
      n.a.push(key, val);
      return n;
    }
    // Different hash: push the collision node one level down.
    const wrapper: BNode<V> = {
      c: false,
      edit,
      bitmap: 1 << ((node.hash >>> shift) & 31),
      a: [undefined, node],
    };
    return setIn(wrapper, edit, shift, hash, key, val, added);
  }
  const bit = 1 << ((hash >>> shift) & 31);
  const idx = popcount(node.bitmap & (bit - 1)) << 1;
  if ((node.bitmap & bit) !== 0) {
    const k = node.a[idx];
    const v = node.a[idx + 1];
    if (k === undefined) {
      const sub = v as HNode<V>;
      const ns = setIn(sub, edit, shift + 5, hash, key, val, added);
      if (ns === sub) return node;
      const n = editable(node, edit);
      n.a[idx + 1] = ns;
      return n;
    }
    if (k === key) {
      if (v === val) return node;
      const n = editable(node, edit);
      n.a[idx + 1] = val;
      return n;
    }
    added.v = true;
    const sub = pairNode(edit, shift + 5, k as string, hashString(k as string), v as V, key, hash, val);
    const n = editable(node, edit);
    n.a[idx] = undefined;
    n.a[idx + 1] = sub;
    return n;
  }
  added.v = true;
  const n = editable(node, edit);
  n.a.splice(idx, 0, key, val);
  n.bitmap |= bit;
  return n;
}

/** Returns the root with `key` → `val` (mutating nodes owned by `edit`). */
export function hamtSet<V>(root: HNode<V> | null, edit: Edit, key: string, val: V, added: Changed): HNode<V> {
  return hamtSetH(root, edit, hashString(key), key, val, added);
}

/** hamtSet with the key's hash already computed. */
export function hamtSetH<V>(
  root: HNode<V> | null,
  edit: Edit,
  hash: number,
  key: string,
  val: V,
  added: Changed,
): HNode<V> {
  if (root === null) {
    added.v = true;
    return { c: false, edit, bitmap: 1 << (hash & 31), a: [key, val] };
  }
  return setIn(root, edit, 0, hash, key, val, added);
}

function removeIn<V>(
  node: HNode<V>,
  edit: Edit,
  shift: number,
  hash: number,
  key: string,
  removed: Changed,
): HNode<V> | null {
  if (node.c) {
    if (hash !== node.hash) return node;
    const a = node.a;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === key) {
        removed.v = true;
        if (a.length === 2) return null;
        const n = node.edit === edit ? node : { c: true as const, edit, hash: node.hash, a: a.slice() };
        n.a.splice(i, 2);
        return n;
      }
    }
    return node;
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if ((node.bitmap & bit) === 0) return node;
  const idx = popcount(node.bitmap & (bit - 1)) << 1;
  const k = node.a[idx];
  if (k === undefined) {
    const sub = node.a[idx + 1] as HNode<V>;
    const ns = removeIn(sub, edit, shift + 5, hash, key, removed);
    if (ns === sub) return node;
    if (ns !== null) {
      const n = editable(node, edit);
      n.a[idx + 1] = ns;
      return n;
    }
  } else if (k !== key) {
    return node;
  } else {
    removed.v = true;
  }
  if (node.bitmap === bit) return null;
  const n = editable(node, edit);
  n.a.splice(idx, 2);
  n.bitmap &= ~bit;
  return n;
}

/** Returns the root without `key` (`null` when empty). */
export function hamtRemove<V>(
  root: HNode<V> | null,
  edit: Edit,
  key: string,
  removed: Changed,
): HNode<V> | null {
  if (root === null) return null;
  return removeIn(root, edit, 0, hashString(key), key, removed);
}
