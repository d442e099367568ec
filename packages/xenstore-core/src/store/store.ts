// The live store: the root of the persistent tree, cx's global generation counter, node
// ownership counts (cx domain->nbentry) and the special nodes' permissions.
import { type Edit, newEdit } from "../pds/edit.ts";
import { omDelete, omGet, omGetRange, omSet } from "../pds/ordered-map.ts";
import type { NodeAccess } from "./access.ts";
import { PERM_IGNORE, type PermEntry, type Perms } from "./permissions.ts";
import { EMPTY_VALUE, newNode, own, type XsNode } from "./tree.ts";

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
  /**
   * cx `struct domain` lifetimes, for XSA-419 (xenstored_domain.c): domid → the generation
   * count when its struct was allocated (alloc_domain()). A struct is made by INTRODUCE or by
   * SET_PERMS naming the domain (domain_alloc_permrefs()) and freed by RELEASE; dom0's exists
   * from the start.
   */
  readonly domainGens = new Map<number, number>();
  /**
   * Whether a domain struct was ever freed. Until then every domain an ACL names got its
   * struct before the node was written (SET_PERMS allocates it), so no entry can be stale and
   * effectivePerms() is the identity.
   */
  domainFreed = false;
  /** cx priv_domid: the owner a node gets when its owner's domain is gone. */
  privDomid = 0;
  /** Does the hypervisor report the domain (cx get_domain_info())? Set by the server. */
  domainExists: (domid: number) => boolean = () => true;
  /** Keep domain generations at all (the cxenstored profile; qemu has no XSA-419). */
  trackDomains = true;

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

  /** Nodes along the last walked path (index = depth) and their name ranges in the path. */
  private readonly stack: XsNode[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /**
   * The path of the last walk whose nodes are still in `stack` (null after any mutation), how
   * deep it got and where in the path the deepest node found ends: an operation reads a node
   * (or finds it missing), then reads its parent or writes it, and these reuse that walk.
   */
  private walked: string | null = null;
  private walkedDepth = 0;
  private walkedEnd = 0;
  private walkedFound = false;

  /** Walks to `path` (canonical, absolute) filling `stack`; returns the depth, or -1 if missing. */
  private walk(path: string): number {
    const w = this.walked;
    if (w !== null) {
      if (w === path) return this.walkedFound ? this.walkedDepth : -1;
      if (path.length === this.walkedEnd && w.startsWith(path)) return this.walkedDepth;
    }
    const st = this.stack;
    let n = this.root;
    st[0] = n;
    let d = 0;
    let i = 1;
    let end = 1;
    const len = path.length;
    let found = true;
    while (i < len) {
      let j = path.indexOf("/", i);
      if (j < 0) j = len;
      const c = omGetRange(n.children, path, i, j);
      if (c === undefined) {
        found = false;
        break;
      }
      d++;
      st[d] = c;
      this.starts[d] = i;
      this.ends[d] = j;
      end = j;
      n = c;
      i = j + 1;
    }
    this.walked = path;
    this.walkedDepth = d;
    this.walkedEnd = end;
    this.walkedFound = found;
    return found ? d : -1;
  }

  private walkOrThrow(path: string): number {
    const d = this.walk(path);
    if (d < 0) throw new Error(`store: missing ${path}`);
    return d;
  }

  /**
   * After `walk(path)` = d, makes `node` the node at depth d: re-links it into its ancestors,
   * copying those not owned by the live edit token. In the common case (everything owned, i.e.
   * no transaction or snapshot shares the path) `node` is the walked node and nothing happens.
   */
  private relink(path: string, d: number, node: XsNode): void {
    this.walked = null;
    const edit = this.edit;
    const st = this.stack;
    let child = node;
    for (let k = d; k > 0; k--) {
      if (child === st[k]) return;
      const p = own(st[k - 1]!, edit);
      p.children = omSet(p.children, edit, path.slice(this.starts[k], this.ends[k]), child);
      child = p;
    }
    this.root = child;
  }

  private mutate(path: string, f: (n: XsNode, edit: Edit) => XsNode): void {
    const d = this.walkOrThrow(path);
    this.dirty = true;
    this.relink(path, d, f(this.stack[d]!, this.edit));
    this.serial++;
  }

  nextGen(): number {
    return ++this.gen;
  }

  /** cx find_or_alloc_domain() (INTRODUCE): the domain's struct, made now if missing. */
  allocDomain(domid: number): void {
    if (domid !== 0 && !this.domainGens.has(domid)) this.domainGens.set(domid, this.gen);
  }

  /** RELEASE: cx frees the domain's struct with its connection. */
  freeDomain(domid: number): void {
    if (this.domainGens.delete(domid) && this.trackDomains) this.domainFreed = true;
  }

  perms(node: XsNode): Perms {
    return this.effectivePerms(node);
  }

  /**
   * cx chk_domain_generation(): does `domid` have a struct made no later than a node's last
   * write at `nodeGen`? No struct (released, not introduced again): no. A node written just
   * before the INTRODUCE (nothing written in between) counts, as in cx: its home, rewritten when
   * RELEASE deleted the domain's nodes, stays readable to the new domain. (Both checked against
   * cxenstored 4.17 by the guest differential; a struct is not made by reading a node, unlike
   * the XSA-419 patch as first published.)
   */
  private domainOlder(domid: number, nodeGen: number): boolean {
    if (domid === 0) return true;
    const g = this.domainGens.get(domid);
    return g !== undefined && g <= nodeGen;
  }

  /**
   * cx domain_adjust_node_perms(), applied by read_node() to every node it reads (and
   * written back with the node by write_node_raw(), so it sticks): an owner whose domain is
   * gone or younger than the node becomes priv_domid; such an ACL entry is marked
   * PERM_IGNORE. The node's own perms when nothing changes.
   */
  effectivePerms(node: XsNode): Perms {
    if (!this.domainFreed) return node.perms;
    const p = node.perms;
    let out: PermEntry[] | null = null;
    const owner = p[0];
    if (owner !== undefined && !this.domainOlder(owner.id, node.gen)) {
      out = p.slice();
      out[0] = { id: this.privDomid, perm: owner.perm };
    }
    for (let i = 1; i < p.length; i++) {
      const e = p[i]!;
      if ((e.perm & PERM_IGNORE) !== 0 || this.domainOlder(e.id, node.gen)) continue;
      out ??= p.slice();
      out[i] = { id: e.id, perm: e.perm | PERM_IGNORE };
    }
    return out ?? p;
  }

  /**
   * A node rewritten for another reason (its child list) keeps the perms it was read with:
   * cx writes back what read_node() adjusted. `m` is `old` or its copy. Returns the owner it
   * had when that changed (for node accounting), else -1.
   */
  keepEffectivePerms(old: XsNode, m: XsNode): number {
    const perms = this.effectivePerms(old);
    if (perms === old.perms) return -1;
    m.perms = perms;
    const was = old.perms[0]?.id ?? 0;
    return was === (perms[0]?.id ?? 0) ? -1 : was;
  }

  /**
   * cx domain_alloc_permrefs() for perms being set: structs for the domains they name; an
   * entry of a domain the hypervisor does not report is marked PERM_IGNORE.
   */
  permRefs(perms: Perms): Perms {
    if (!this.trackDomains) return perms;
    let out: PermEntry[] | null = null;
    for (let i = 0; i < perms.length; i++) {
      const e = perms[i]!;
      if (e.id === 0 || this.domainGens.has(e.id)) continue;
      if (this.domainExists(e.id)) this.domainGens.set(e.id, this.gen);
      else {
        out ??= perms.slice();
        out[i] = { id: e.id, perm: e.perm | PERM_IGNORE };
      }
    }
    return out ?? perms;
  }

  get(path: string): XsNode | undefined {
    const d = this.walk(path);
    return d < 0 ? undefined : this.stack[d];
  }

  setNode(path: string, value: string, perms: Perms): void {
    const gen = this.nextGen();
    const d = this.walkOrThrow(path);
    const n = this.stack[d]!;
    const oldOwner = n.perms[0]?.id ?? 0;
    const m = own(n, this.edit);
    m.value = value;
    m.perms = perms;
    m.gen = gen;
    this.dirty = true;
    this.relink(path, d, m);
    this.serial++;
    const newOwner = perms[0]?.id ?? 0;
    if (oldOwner !== newOwner) {
      this.countDelta(oldOwner, -1);
      this.countDelta(newOwner, 1);
    }
  }

  addChild(parent: string, name: string, value: string, perms: Perms): void {
    const child = newNode(this.edit, value, perms, this.nextGen());
    this.linkChild(parent, name, child);
    this.countDelta(perms[0]?.id ?? 0, 1);
  }

  /** Appends an existing subtree as `parent/name` (no accounting). */
  linkChild(parent: string, name: string, child: XsNode): void {
    const gen = this.nextGen();
    const d = this.walkOrThrow(parent);
    const edit = this.edit;
    const old = this.stack[d]!;
    const m = own(old, edit);
    this.ownerMoved(this.keepEffectivePerms(old, m), m);
    const before = m.children.size;
    m.children = omSet(m.children, edit, name, child);
    if (m.children.size !== before) m.childLen += name.length + 1;
    m.gen = gen;
    this.dirty = true;
    this.relink(parent, d, m);
    this.serial++;
  }

  removeChild(parent: string, name: string, account = true): void {
    const gen = this.nextGen();
    let removed: XsNode | undefined;
    this.mutate(parent, (n, edit) => {
      removed = omGet(n.children, name);
      if (removed === undefined) return n;
      const m = own(n, edit);
      this.ownerMoved(this.keepEffectivePerms(n, m), m);
      m.children = omDelete(m.children, edit, name);
      m.childLen -= name.length + 1;
      m.gen = gen;
      return m;
    });
    if (removed && account) this.countDelta(removed.perms[0]?.id ?? 0, -1);
  }

  /** Replaces a node's subtree pointer fields in place of a placeholder (commit). */
  replaceNode(path: string, f: (n: XsNode, edit: Edit) => XsNode): void {
    this.mutate(path, f);
  }

  private ownerMoved(was: number, m: XsNode): void {
    if (was < 0) return;
    this.countDelta(was, -1);
    this.countDelta(m.perms[0]?.id ?? 0, 1);
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
