// The live store: the root of the persistent tree, cx's global generation counter, node
// ownership counts (cx domain->nbentry) and the special nodes' permissions.
import { type Edit, newEdit } from "../pds/edit.ts";
import { omDelete, omGet, omSet } from "../pds/ordered-map.ts";
import type { NodeAccess } from "./access.ts";
import { splitPath } from "./paths.ts";
import type { Perms } from "./permissions.ts";
import { EMPTY_VALUE, lookupPath, newNode, own, updateAt, type XsNode } from "./tree.ts";

export class XsStore implements NodeAccess {
  root: XsNode;
  private edit: Edit = newEdit();
  private dirty = false;
  /** cx `generation`: bumped before every node write, transaction start and commit. */
  gen = 0;
  /** Number of successful mutations of the live tree (qemu-style global conflict check). */
  serial = 0;
  /** Nodes per owner domid. */
  readonly counts = new Map<number, number>();
  /** Permissions of the special nodes `@introduceDomain`, `@releaseDomain`. */
  readonly special = new Map<string, Perms>();

  constructor(root?: XsNode) {
    this.root = root ?? newNode(null, EMPTY_VALUE, [{ id: 0, perm: 0 }], 0);
  }

  /** cx setup_structure(): `/`, `/tool`, `/tool/xenstored`, all `n0`; special nodes `n0`. */
  static initial(): XsStore {
    const s = new XsStore();
    s.counts.set(0, 1);
    s.addChild("/", "tool", EMPTY_VALUE, [{ id: 0, perm: 0 }]);
    s.addChild("/tool", "xenstored", EMPTY_VALUE, [{ id: 0, perm: 0 }]);
    s.special.set("@introduceDomain", [{ id: 0, perm: 0 }]);
    s.special.set("@releaseDomain", [{ id: 0, perm: 0 }]);
    s.serial = 0;
    return s;
  }

  /** Makes every current node immutable for the live store (before sharing the tree). */
  freeze(): XsNode {
    if (this.dirty) {
      this.edit = newEdit();
      this.dirty = false;
    }
    return this.root;
  }

  private mutate(comps: readonly string[], f: (n: XsNode, edit: Edit) => XsNode): void {
    const edit = this.edit;
    this.dirty = true;
    this.root = updateAt(this.root, edit, comps, (n) => f(n, edit));
    this.serial++;
  }

  nextGen(): number {
    return ++this.gen;
  }

  get(path: string): XsNode | undefined {
    return lookupPath(this.root, path);
  }

  setNode(path: string, value: Uint8Array, perms: Perms): void {
    const gen = this.nextGen();
    let oldOwner = -1;
    this.mutate(splitPath(path), (n, edit) => {
      oldOwner = n.perms[0]?.id ?? 0;
      const m = own(n, edit);
      m.value = value;
      m.perms = perms;
      m.gen = gen;
      return m;
    });
    const newOwner = perms[0]?.id ?? 0;
    if (oldOwner !== newOwner) {
      this.countDelta(oldOwner, -1);
      this.countDelta(newOwner, 1);
    }
  }

  addChild(parent: string, name: string, value: Uint8Array, perms: Perms): void {
    const child = newNode(null, value, perms, this.nextGen());
    this.linkChild(parent, name, child);
    this.countDelta(perms[0]?.id ?? 0, 1);
  }

  /** Appends an existing subtree as `parent/name` (no accounting). */
  linkChild(parent: string, name: string, child: XsNode): void {
    const gen = this.nextGen();
    this.mutate(splitPath(parent), (n, edit) => {
      const m = own(n, edit);
      if (omGet(m.children, name) === undefined) m.childLen += name.length + 1;
      m.children = omSet(m.children, edit, name, child);
      m.gen = gen;
      return m;
    });
  }

  removeChild(parent: string, name: string, account = true): void {
    const gen = this.nextGen();
    let removed: XsNode | undefined;
    this.mutate(splitPath(parent), (n, edit) => {
      removed = omGet(n.children, name);
      if (removed === undefined) return n;
      const m = own(n, edit);
      m.children = omDelete(m.children, edit, name);
      m.childLen -= name.length + 1;
      m.gen = gen;
      return m;
    });
    if (removed && account) this.countDelta(removed.perms[0]?.id ?? 0, -1);
  }

  /** Replaces a node's subtree pointer fields in place of a placeholder (commit). */
  replaceNode(path: string, f: (n: XsNode, edit: Edit) => XsNode): void {
    this.mutate(splitPath(path), f);
  }

  countDelta(owner: number, d: number): void {
    const v = (this.counts.get(owner) ?? 0) + d;
    if (v === 0) this.counts.delete(owner);
    else this.counts.set(owner, v);
  }

  ownedCount(domid: number): number {
    return this.counts.get(domid) ?? 0;
  }
}
