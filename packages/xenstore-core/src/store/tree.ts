// The persistent node tree (QEMU xenstore_impl.c's copy-on-write design, without refcounts):
// nodes are shared between the live store, transactions and snapshots; a node owned by the
// writer's edit token is updated in place, any other is copied along the path (see pds/edit.ts).
import type { Edit } from "../pds/edit.ts";
import { type OrderedMap, omEmpty, omGet, omGetRange, omSet } from "../pds/ordered-map.ts";
import type { Perms } from "./permissions.ts";

export interface XsNode {
  /** owner token for in-place updates (null = frozen) */
  edit: Edit | null;
  /**
   * value bytes as a latin1 string, one char per byte (may be empty, may contain NULs): far
   * smaller and cheaper for the GC than a Uint8Array per node; encoded when a reply needs bytes
   */
  value: string;
  /** ACL, entry 0 = owner and default */
  perms: Perms;
  /** cx generation count: unique per write (global counter) */
  gen: number;
  /** children by name, in creation order */
  children: OrderedMap<XsNode>;
  /** cx node->childlen: total bytes of the child names with their NULs */
  childLen: number;
}

export const EMPTY_VALUE = "";

export function newNode(edit: Edit | null, value: string, perms: Perms, gen: number): XsNode {
  return { edit, value, perms, gen, children: omEmpty(), childLen: 0 };
}

/** The node itself if owned by `edit`, else a shallow copy owned by `edit`. */
export function own(node: XsNode, edit: Edit): XsNode {
  if (node.edit === edit) return node;
  return {
    edit,
    value: node.value,
    perms: node.perms,
    gen: node.gen,
    children: node.children,
    childLen: node.childLen,
  };
}

export function lookup(root: XsNode, comps: readonly string[]): XsNode | undefined {
  let n: XsNode | undefined = root;
  for (let i = 0; i < comps.length && n !== undefined; i++) n = omGet(n.children, comps[i]!);
  return n;
}

/**
 * Replaces the node at `comps` with `f(node)` (the node must exist), copying the path from
 * the root unless the nodes are owned by `edit`. Returns the new root.
 */
export function updateAt(
  root: XsNode,
  edit: Edit,
  comps: readonly string[],
  f: (node: XsNode) => XsNode,
  i = 0,
): XsNode {
  if (i === comps.length) return f(root);
  const name = comps[i]!;
  const child = omGet(root.children, name);
  if (child === undefined) throw new Error(`updateAt: missing ${comps.slice(0, i + 1).join("/")}`);
  const nc = updateAt(child, edit, comps, f, i + 1);
  if (nc === child) return root;
  const n = own(root, edit);
  n.children = omSet(n.children, edit, name, nc);
  return n;
}

/** Looks a canonical absolute path up without splitting it (no substrings are made). */
export function lookupPath(root: XsNode, path: string): XsNode | undefined {
  let n: XsNode | undefined = root;
  let i = 1;
  const len = path.length;
  while (i < len && n !== undefined) {
    let j = path.indexOf("/", i);
    if (j < 0) j = len;
    n = omGetRange(n.children, path, i, j);
    i = j + 1;
  }
  return n;
}
