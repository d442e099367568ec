// A persistent vector (32-way trie) with transient updates (see edit.ts): push and set only.
import type { Edit } from "./edit.ts";

export interface VNode<T> {
  edit: Edit | null;
  a: (T | VNode<T>)[];
}

export interface PVec<T> {
  readonly root: VNode<T>;
  readonly shift: number;
  readonly count: number;
}

export function emptyVec<T>(): PVec<T> {
  return { root: { edit: null, a: [] }, shift: 0, count: 0 };
}

export function vecGet<T>(v: PVec<T>, i: number): T {
  let node = v.root;
  for (let s = v.shift; s > 0; s -= 5) node = node.a[(i >>> s) & 31] as VNode<T>;
  return node.a[i & 31] as T;
}

function own<T>(node: VNode<T>, edit: Edit): VNode<T> {
  return node.edit === edit ? node : { edit, a: node.a.slice() };
}

function newPath<T>(edit: Edit, shift: number, x: T): VNode<T> {
  return shift === 0 ? { edit, a: [x] } : { edit, a: [newPath(edit, shift - 5, x)] };
}

function pushIn<T>(node: VNode<T>, edit: Edit, shift: number, i: number, x: T): VNode<T> {
  const n = own(node, edit);
  if (shift === 0) {
    n.a[i & 31] = x;
    return n;
  }
  const sub = (i >>> shift) & 31;
  const child = n.a[sub] as VNode<T> | undefined;
  n.a[sub] = child ? pushIn(child, edit, shift - 5, i, x) : newPath(edit, shift - 5, x);
  return n;
}

export function vecPush<T>(v: PVec<T>, edit: Edit, x: T): PVec<T> {
  if (v.count === 2 ** (v.shift + 5)) {
    const root: VNode<T> = { edit, a: [v.root, newPath(edit, v.shift, x)] };
    return { root, shift: v.shift + 5, count: v.count + 1 };
  }
  return { root: pushIn(v.root, edit, v.shift, v.count, x), shift: v.shift, count: v.count + 1 };
}

function setIn<T>(node: VNode<T>, edit: Edit, shift: number, i: number, x: T): VNode<T> {
  const n = own(node, edit);
  if (shift === 0) n.a[i & 31] = x;
  else {
    const sub = (i >>> shift) & 31;
    n.a[sub] = setIn(n.a[sub] as VNode<T>, edit, shift - 5, i, x);
  }
  return n;
}

export function vecSet<T>(v: PVec<T>, edit: Edit, i: number, x: T): PVec<T> {
  return { root: setIn(v.root, edit, v.shift, i, x), shift: v.shift, count: v.count };
}

/** Calls `f` for every element in index order. */
export function vecForEach<T>(v: PVec<T>, f: (x: T) => void): void {
  const walk = (node: VNode<T>, shift: number): void => {
    if (shift === 0) for (const x of node.a) f(x as T);
    else for (const c of node.a) walk(c as VNode<T>, shift - 5);
  };
  if (v.count > 0) walk(v.root, v.shift);
}
