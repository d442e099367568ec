// A persistent hash array mapped trie from string keys to (position, value) pairs, with
// transient updates (see edit.ts), laid out for few memory hops: a trie node is one plain array
// `[bitmap, edit, ...slots]` whose slots are triples `key, position, value` (an entry) or
// `undefined, sub-node, undefined` (a branch), in bitmap order. No wrapper objects, no entry
// objects: a lookup touches one array per level. Below the last hash bits (shift ≥ 35) a node is
// a collision list `[0, edit, key, position, value, …]` scanned linearly.
//
// Built for the ordered map (ordered-map.ts): `position` is the key's index in its insertion
// order vector; setting an existing key keeps its position.
import type { Edit } from "./edit.ts";

/** `[bitmap, edit, key | undefined, position | sub-node, value | undefined, …]` */
export type HNode = unknown[];

const MAX_SHIFT = 35;

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

/** Position of the key found by the last successful `hamtFind`/`hamtFindRange`/`hamtRemove`. */
export let foundPosition = -1;
/** Whether the last `hamtSet` added a new key. */
export let setAdded = false;

/** The value of `key` (hash `hash`), or undefined; sets `foundPosition`. */
export function hamtFind(root: HNode, hash: number, key: string): unknown {
  let node = root;
  let shift = 0;
  for (;;) {
    if (shift >= MAX_SHIFT) {
      for (let i = 2; i < node.length; i += 3) {
        if (node[i] === key) {
          foundPosition = node[i + 1] as number;
          return node[i + 2];
        }
      }
      return undefined;
    }
    const bitmap = node[0] as number;
    const bit = 1 << ((hash >>> shift) & 31);
    if ((bitmap & bit) === 0) return undefined;
    const idx = 2 + 3 * popcount(bitmap & (bit - 1));
    const k = node[idx];
    if (k === undefined) {
      node = node[idx + 1] as HNode;
      shift += 5;
      continue;
    }
    if (k !== key) return undefined;
    foundPosition = node[idx + 1] as number;
    return node[idx + 2];
  }
}

/** `hamtFind(root, hash, s.slice(start, end))` without making the substring. */
export function hamtFindRange(root: HNode, hash: number, s: string, start: number, end: number): unknown {
  const len = end - start;
  let node = root;
  let shift = 0;
  for (;;) {
    if (shift >= MAX_SHIFT) {
      for (let i = 2; i < node.length; i += 3) {
        const k = node[i] as string;
        if (k.length === len && s.startsWith(k, start)) {
          foundPosition = node[i + 1] as number;
          return node[i + 2];
        }
      }
      return undefined;
    }
    const bitmap = node[0] as number;
    const bit = 1 << ((hash >>> shift) & 31);
    if ((bitmap & bit) === 0) return undefined;
    const idx = 2 + 3 * popcount(bitmap & (bit - 1));
    const k = node[idx];
    if (k === undefined) {
      node = node[idx + 1] as HNode;
      shift += 5;
      continue;
    }
    const ks = k as string;
    if (ks.length !== len || !s.startsWith(ks, start)) return undefined;
    foundPosition = node[idx + 1] as number;
    return node[idx + 2];
  }
}

function editable(node: HNode, edit: Edit): HNode {
  if (node[1] === edit) return node;
  const n = node.slice();
  n[1] = edit;
  return n;
}

/** A node holding two entries whose hashes agree below `shift`. */
function pairNode(
  edit: Edit,
  shift: number,
  k1: string,
  h1: number,
  p1: unknown,
  v1: unknown,
  k2: string,
  h2: number,
  p2: unknown,
  v2: unknown,
): HNode {
  if (shift >= MAX_SHIFT) return [0, edit, k1, p1, v1, k2, p2, v2];
  const b1 = (h1 >>> shift) & 31;
  const b2 = (h2 >>> shift) & 31;
  if (b1 === b2) {
    return [1 << b1, edit, undefined, pairNode(edit, shift + 5, k1, h1, p1, v1, k2, h2, p2, v2), undefined];
  }
  const bitmap = (1 << b1) | (1 << b2);
  return b1 < b2 ? [bitmap, edit, k1, p1, v1, k2, p2, v2] : [bitmap, edit, k2, p2, v2, k1, p1, v1];
}

function setIn(
  node: HNode,
  edit: Edit,
  shift: number,
  hash: number,
  key: string,
  pos: number,
  val: unknown,
): HNode {
  if (shift >= MAX_SHIFT) {
    for (let i = 2; i < node.length; i += 3) {
      if (node[i] === key) {
        if (node[i + 2] === val) return node;
        const n = editable(node, edit);
        n[i + 2] = val;
        return n;
      }
    }
    setAdded = true;
    const n = editable(node, edit);
    n.push(key, pos, val);
    return n;
  }
  const bitmap = node[0] as number;
  const bit = 1 << ((hash >>> shift) & 31);
  const idx = 2 + 3 * popcount(bitmap & (bit - 1));
  if ((bitmap & bit) === 0) {
    setAdded = true;
    const n = editable(node, edit);
    n.splice(idx, 0, key, pos, val);
    n[0] = bitmap | bit;
    return n;
  }
  const k = node[idx];
  if (k === undefined) {
    const sub = node[idx + 1] as HNode;
    const ns = setIn(sub, edit, shift + 5, hash, key, pos, val);
    if (ns === sub) return node;
    const n = editable(node, edit);
    n[idx + 1] = ns;
    return n;
  }
  if (k === key) {
    if (node[idx + 2] === val) return node;
    const n = editable(node, edit);
    n[idx + 2] = val;
    return n;
  }
  setAdded = true;
  const ks = k as string;
  const sub = pairNode(
    edit,
    shift + 5,
    ks,
    hashString(ks),
    node[idx + 1],
    node[idx + 2],
    key,
    hash,
    pos,
    val,
  );
  const n = editable(node, edit);
  n[idx] = undefined;
  n[idx + 1] = sub;
  n[idx + 2] = undefined;
  return n;
}

/**
 * The root with `key` → `val` (mutating nodes owned by `edit`): a new key gets position `pos`,
 * an existing key keeps its position. Sets `setAdded`.
 */
export function hamtSet(
  root: HNode | null,
  edit: Edit,
  hash: number,
  key: string,
  pos: number,
  val: unknown,
): HNode {
  setAdded = false;
  if (root === null) {
    setAdded = true;
    return [1 << (hash & 31), edit, key, pos, val];
  }
  return setIn(root, edit, 0, hash, key, pos, val);
}

function removeIn(node: HNode, edit: Edit, shift: number, hash: number, key: string): HNode | null {
  if (shift >= MAX_SHIFT) {
    for (let i = 2; i < node.length; i += 3) {
      if (node[i] === key) {
        foundPosition = node[i + 1] as number;
        if (node.length === 5) return null;
        const n = editable(node, edit);
        n.splice(i, 3);
        return n;
      }
    }
    return node;
  }
  const bitmap = node[0] as number;
  const bit = 1 << ((hash >>> shift) & 31);
  if ((bitmap & bit) === 0) return node;
  const idx = 2 + 3 * popcount(bitmap & (bit - 1));
  const k = node[idx];
  if (k === undefined) {
    const sub = node[idx + 1] as HNode;
    const ns = removeIn(sub, edit, shift + 5, hash, key);
    if (ns === sub) return node;
    if (ns !== null) {
      const n = editable(node, edit);
      n[idx + 1] = ns;
      return n;
    }
  } else if (k !== key) {
    return node;
  } else {
    foundPosition = node[idx + 1] as number;
  }
  if (bitmap === bit) return null;
  const n = editable(node, edit);
  n.splice(idx, 3);
  n[0] = bitmap & ~bit;
  return n;
}

/** The root without `key` (`null` when empty); `foundPosition` = its position, or -1. */
export function hamtRemove(root: HNode | null, edit: Edit, hash: number, key: string): HNode | null {
  foundPosition = -1;
  if (root === null) return null;
  return removeIn(root, edit, 0, hash, key);
}
